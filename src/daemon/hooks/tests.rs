use super::*;

#[test]
fn metrics_before_any_stored_scan_say_only_that_the_scan_failed() {
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let text = metrics(false, at, Duration::from_millis(1500), None);
    assert!(text.contains("dawgmon_last_scan_success 0\n"), "{text}");
    assert!(
        text.contains("dawgmon_last_scan_duration_seconds 1.500\n"),
        "{text}"
    );
    assert!(!text.contains("dawgmon_last_scan_changes"), "{text}");
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

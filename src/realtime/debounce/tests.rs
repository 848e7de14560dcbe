use super::*;

#[test]
fn a_burst_is_one_scan_started_quiet_after_its_last_event_and_at_most_max_wait_after_its_first() {
    let t0 = Instant::now();
    let mut d = Debounce::default();
    assert_eq!(d.deadline(), None);
    d.note(t0, ["check_etc"]);
    d.note(t0 + Duration::from_millis(100), ["sudo_rules"]);
    assert_eq!(d.deadline(), Some(t0 + Duration::from_millis(100) + QUIET));
    assert!(d.take(t0 + Duration::from_millis(200)).is_none());
    let due = d.take(t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(
        due.collectors.into_iter().collect::<Vec<_>>(),
        ["check_etc", "sudo_rules"]
    );
    assert!(d.take(t0 + Duration::from_secs(9)).is_none());
    // A burst that never pauses: due MAX_WAIT after its first event.
    for i in 0..100 {
        d.note(t0 + Duration::from_millis(i * 100), ["check_etc"]);
    }
    assert_eq!(d.deadline(), Some(t0 + MAX_WAIT));
}

#[test]
fn an_overflow_is_due_at_once() {
    let t0 = Instant::now();
    let mut d = Debounce::default();
    d.note(t0, ["check_etc"]);
    d.overflow(t0 + Duration::from_millis(10), ["list_suids"]);
    let due = d.take(t0 + Duration::from_millis(10)).unwrap();
    assert!(due.overflow);
    assert!(due.collectors.contains("list_suids"));
}

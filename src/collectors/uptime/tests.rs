use super::*;
use crate::model::Severity;

#[test]
fn boot_id_from_a_fixture_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path());
    assert!(matches!(
        Uptime.collect(&host),
        Err(CollectError::Unavailable(m)) if m.contains("boot_id")
    ));
    let p = dir.path().join("proc/sys/kernel/random");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("boot_id"), "0123\n").unwrap();
    let items = Uptime.collect(&host).unwrap();
    assert_eq!(items[0].key, "boot");
    assert_eq!(&items[0].fields["boot_id"], "0123");
}

#[test]
fn live_boot_id_is_a_stable_uuid() {
    let host = Host::new("/");
    let a = Uptime.collect(&host).unwrap();
    let id = &a[0].fields["boot_id"];
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.matches('-').count(), 4, "{id}");
    assert_eq!(a, Uptime.collect(&host).unwrap(), "same boot, same id");
}

#[test]
fn a_changed_id_reads_as_a_reboot() {
    let change = Change {
        collector: "uptime".into(),
        kind: ChangeKind::Modified,
        key: "boot".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: Some([("boot_id".to_string(), "a".to_string())].into()),
        after: Some([("boot_id".to_string(), "b".to_string())].into()),
    };
    assert_eq!(Uptime.message(&change), "system rebooted");
    assert_eq!(crate::rules::testing::severity(&change), Severity::Low);
}

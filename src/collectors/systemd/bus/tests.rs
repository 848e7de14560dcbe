use super::*;

#[test]
fn timespans_read_like_systemd() {
    assert_eq!(timespan(90_000_000), "1min 30s");
    assert_eq!(timespan(86_400_000_000 + 1_000), "1d 1ms");
    assert_eq!(timespan(0), "0");
    assert_eq!(timespan(u64::MAX), "infinity");
}

#[test]
fn ticking_properties_are_left_out() {
    for name in ["NNames", "NJobs", "Progress", "UserspaceTimestampMonotonic"] {
        assert!(!keep_property(name), "{name}");
    }
    for name in [
        "Version",
        "Virtualization",
        "DefaultTimeoutStartUSec",
        "UnitPath",
    ] {
        assert!(keep_property(name), "{name}");
    }
}

#[test]
fn values_render_as_text() {
    assert_eq!(render_value(&Value::from(true)).as_deref(), Some("yes"));
    assert_eq!(
        render_value(&Value::from(u64::MAX)).as_deref(),
        Some("infinity")
    );
    let paths = Value::from(vec!["/etc/systemd/user", "/usr/lib/systemd/user"]);
    assert_eq!(
        render_value(&paths).as_deref(),
        Some("/etc/systemd/user /usr/lib/systemd/user")
    );
}

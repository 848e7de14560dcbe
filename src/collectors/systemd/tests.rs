//! Tests of the D-Bus collectors that need no manager: availability, messages, severities.
//! The live checks against a real `systemd --user` manager are in `tests/systemd_live.rs`.

use super::*;
use crate::model::Severity;
use std::time::{Duration, Instant};

/// The severity the built-in rules give `change` as one of `collector`'s.
fn judge(collector: &dyn Collector, change: &Change) -> Severity {
    let mut c = change.clone();
    c.collector = collector.name().into();
    crate::rules::testing::severity(&c)
}

fn change(kind: ChangeKind, key: &str, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
    crate::collectors::testing::change("x", kind, key, before, after)
}

#[test]
fn another_root_is_unavailable_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path());
    let collectors: [&dyn Collector; 4] = [
        &SystemdUnits,
        &SystemdTimers,
        &SystemdSockets,
        &SystemdProps,
    ];
    for c in collectors {
        match c.collect(&host) {
            Err(CollectError::Unavailable(why)) => {
                assert!(why.contains("running host"), "{}: {why}", c.name())
            }
            other => panic!("{}: expected Unavailable, got {other:?}", c.name()),
        }
    }
}

#[test]
fn a_bus_without_a_manager_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("unix:path={}/no-such-bus", dir.path().display());
    let err = bus::fetch_with_deadline(bus::Bus::Address(addr.clone()), Duration::from_secs(30))
        .unwrap_err();
    assert!(
        err.contains(&addr) && err.contains("no systemd manager"),
        "{err}"
    );
    assert_eq!(bus::Bus::parse(None), bus::Bus::System);
    assert_eq!(bus::Bus::parse(Some("session".into())), bus::Bus::Session);
    assert_eq!(
        bus::Bus::parse(Some("unix:path=/x".into())),
        bus::Bus::Address("unix:path=/x".into())
    );
}

#[test]
fn a_silent_bus_cannot_stall_the_scan() {
    // A socket that accepts connections and never says a word.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent-bus");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let addr = format!("unix:path={}", path.display());
    let start = Instant::now();
    let err =
        bus::fetch_with_deadline(bus::Bus::Address(addr), Duration::from_millis(500)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("no answer within"), "{err}");
    drop(listener);
}

#[test]
fn unit_messages_use_short_labels() {
    let c = change(
        ChangeKind::Added,
        "vboxdrv.service",
        &[],
        &[("load_state", "loaded"), ("active_state", "active")],
    );
    assert_eq!(
        SystemdUnits.message(&c),
        "systemd unit 'vboxdrv.service' added (load=loaded, active=active)"
    );
    assert_eq!(judge(&SystemdUnits, &c), Severity::Medium);
    let m = change(
        ChangeKind::Modified,
        "x.service",
        &[("active_state", "inactive")],
        &[("active_state", "active")],
    );
    assert_eq!(
        SystemdUnits.message(&m),
        "systemd unit 'x.service' changed: active from inactive to active"
    );
    let t = change(
        ChangeKind::Added,
        "multi-user.target",
        &[],
        &[("load_state", "loaded"), ("active_state", "active")],
    );
    assert_eq!(judge(&SystemdUnits, &t), Severity::Low);
    let f = change(
        ChangeKind::Modified,
        "x.mount",
        &[("active_state", "active")],
        &[("active_state", "failed")],
    );
    assert_eq!(judge(&SystemdUnits, &f), Severity::Medium);
}

#[test]
fn socket_severity_follows_reachability() {
    let added = |key: &str| {
        change(
            ChangeKind::Added,
            key,
            &[],
            &[("unit", "ssh.socket"), ("active_state", "active")],
        )
    };
    assert_eq!(
        SystemdSockets.message(&added("Stream 0.0.0.0:22")),
        "systemd socket Stream 0.0.0.0:22 added (unit=ssh.socket, active=active)"
    );
    assert_eq!(
        judge(&SystemdSockets, &added("Stream 0.0.0.0:22")),
        Severity::High
    );
    assert_eq!(judge(&SystemdSockets, &added("Stream 22")), Severity::High);
    assert_eq!(
        judge(&SystemdSockets, &added("Stream [::]:22")),
        Severity::High
    );
    assert_eq!(
        judge(&SystemdSockets, &added("Datagram 127.0.0.1:53")),
        Severity::Low
    );
    assert_eq!(
        judge(&SystemdSockets, &added("Stream [::1]:631")),
        Severity::Low
    );
    assert_eq!(
        judge(
            &SystemdSockets,
            &added("Stream /run/dbus/system_bus_socket")
        ),
        Severity::Medium
    );
    assert_eq!(
        judge(&SystemdSockets, &added("Netlink route 0")),
        Severity::Medium
    );
}

#[test]
fn property_and_timer_messages() {
    let p = change(
        ChangeKind::Modified,
        "Virtualization",
        &[("value", "none")],
        &[("value", "kvm")],
    );
    assert_eq!(
        SystemdProps.message(&p),
        "systemd property Virtualization changed from none to kvm"
    );
    assert_eq!(judge(&SystemdProps, &p), Severity::Low);
    let t = change(
        ChangeKind::Modified,
        "apt-daily.timer",
        &[("calendar", "OnCalendar=daily")],
        &[("calendar", "OnCalendar=hourly")],
    );
    assert_eq!(
        SystemdTimers.message(&t),
        "systemd timer apt-daily.timer changed: calendar from OnCalendar=daily to OnCalendar=hourly"
    );
    assert_eq!(judge(&SystemdTimers, &t), Severity::Medium);
}

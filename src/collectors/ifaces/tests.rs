use super::*;
use crate::model::Fields;
use crate::model::Severity;

/// Lines copied from this machine's proc/net/if_inet6, plus a temporary, a deprecated and a
/// malformed one.
const IF_INET6: &str = "fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
20010db8000000001234567890abcdef 04 40 00 01     eth0
20010db8000000000000000000000bad 04 40 00 20     eth0
zz 04 40 00 80 eth0
";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, mac, mtu, ty, flags) in [
        ("eth0", "02:fc:00:00:00:01", "1400", "1", "0x1003"),
        ("ifb0", "b2:48:14:25:8c:9d", "1500", "1", "0x82"),
        ("lo", "00:00:00:00:00:00", "65536", "772", "0x9"),
    ] {
        let d = dir.path().join("sys/class/net").join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("address", mac),
            ("mtu", mtu),
            ("type", ty),
            ("flags", flags),
        ] {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        std::fs::write(d.join("operstate"), "up\n").unwrap();
    }
    std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
    std::fs::write(dir.path().join("proc/net/if_inet6"), IF_INET6).unwrap();
    dir
}

#[test]
fn fixture_interfaces() {
    let dir = root();
    let mut items = ListIfaces.collect(&Host::new(dir.path())).unwrap();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["eth0", "ifb0", "lo"]);
    let eth0 = &items[0].fields;
    assert_eq!(&eth0["mac"], "02:fc:00:00:00:01");
    assert_eq!(&eth0["mtu"], "1400");
    assert_eq!(&eth0["type"], "ether");
    assert_eq!(&eth0["state"], "up");
    // Not live: IPv6 from the file only, temporary and deprecated skipped.
    assert_eq!(&eth0["addresses"], "fd00::2/64,fe80::fc:ff:fe00:1/64");
    assert_eq!(&items[1].fields["state"], "down");
    assert!(!items[1].fields.contains_key("addresses"));
    assert_eq!(&items[2].fields["type"], "loopback");
    assert_eq!(&items[2].fields["addresses"], "::1/128");
    assert!(!eth0.contains_key("operstate"));
}

#[test]
fn missing_sysfs_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    match ListIfaces.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert!(m.contains("/sys/class/net"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn messages_and_severities() {
    let f = |v: &[(&str, &str)]| -> Option<Fields> {
        Some(
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    };
    let mut c = Change {
        collector: "list_ifaces".into(),
        kind: ChangeKind::Added,
        key: "tun0".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: f(&[
            ("mac", "aa:bb"),
            ("addresses", "10.8.0.2/24"),
            ("state", "up"),
        ]),
    };
    assert_eq!(
        ListIfaces.message(&c),
        "network interface tun0 added (mac=aa:bb, addresses=10.8.0.2/24, state=up)"
    );
    assert_eq!(crate::rules::testing::severity(&c), Severity::Medium);
    c.kind = ChangeKind::Modified;
    c.before = f(&[("addresses", "10.0.0.1/24")]);
    c.after = f(&[("addresses", "10.0.0.2/24")]);
    assert_eq!(
        ListIfaces.message(&c),
        "network interface tun0 changed: addresses from 10.0.0.1/24 to 10.0.0.2/24"
    );
}

#[test]
fn live_scan_lists_loopback_with_its_ipv4_address() {
    let items = ListIfaces.collect(&Host::new("/")).unwrap();
    let lo = items.iter().find(|i| i.key == "lo").expect("lo exists");
    assert_eq!(&lo.fields["type"], "loopback");
    assert_eq!(&lo.fields["state"], "up");
    assert!(
        lo.fields["addresses"]
            .split(',')
            .any(|a| a == "127.0.0.1/8"),
        "{:?}",
        lo.fields
    );
    // Two scans of an idle host agree.
    assert_eq!(items, ListIfaces.collect(&Host::new("/")).unwrap());
}

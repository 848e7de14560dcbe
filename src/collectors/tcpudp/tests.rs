use super::*;
use crate::model::Severity;

// Real lines from this machine's /proc/net files, plus made-up sockets in the same format.
const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1161 1 0000000039b2ab89 100 0 0 10 0                      
   1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 2001 1 0000000039b2ab89 100 0 0 10 0
   2: 0100007F:0016 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000039b2ab89 100 0 0 10 0
   3: garbage line
   4: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2003 1 0000000039b2ab89 100 0 0 10 0
";
const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3002 1 0000000000000000 100 0 0 10 0
";
const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4001 2 0000000000000000 0
  101: 0F02000A:9C40 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 4002 2 0000000000000000 0
  102: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4003 2 0000000000000000 0
  103: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4004 2 0000000000000000 0
";

fn fake_root(with_tcp: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("proc/net");
    std::fs::create_dir_all(&net).unwrap();
    if with_tcp {
        std::fs::write(net.join("tcp"), TCP).unwrap();
    }
    std::fs::write(net.join("tcp6"), TCP6).unwrap();
    std::fs::write(net.join("udp"), UDP).unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nsystemd-resolve:x:101:101::/:/bin/false\n",
    )
    .unwrap();
    // A process owning the sshd sockets.
    let fd = dir.path().join("proc/77/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::fs::write(dir.path().join("proc/77/comm"), "sshd\n").unwrap();
    std::os::unix::fs::symlink("socket:[3001]", fd.join("3")).unwrap();
    std::os::unix::fs::symlink("socket:[1161]", fd.join("4")).unwrap();
    dir
}

fn keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn fixture_tables_give_listeners_only() {
    let dir = fake_root(true);
    let items = ListTcpudpPorts.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(
        keys(&items),
        [
            "tcp 0.0.0.0:2024",
            "tcp 127.0.0.1:53",
            "tcp6 [::1]:631",
            "tcp6 [::]:22",
            "udp 0.0.0.0:68",
            "udp 127.0.0.53:53",
        ]
    );
    let by = |k: &str| items.iter().find(|i| i.key == k).unwrap();
    // Two sockets on one key: users merged, the readable owner kept.
    assert_eq!(&by("tcp 0.0.0.0:2024").fields["user"], "1000,root");
    assert_eq!(&by("tcp 0.0.0.0:2024").fields["process"], "sshd");
    assert_eq!(&by("tcp6 [::]:22").fields["process"], "sshd");
    assert_eq!(&by("udp 127.0.0.53:53").fields["user"], "systemd-resolve");
    assert!(!by("tcp 127.0.0.1:53").fields.contains_key("process"));
    assert!(items.iter().all(|i| !i.fields.contains_key("inode")));
}

#[test]
fn missing_tcp_table_is_unavailable() {
    let dir = fake_root(false);
    match ListTcpudpPorts.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert!(m.contains("/proc/net/tcp"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

fn change(kind: ChangeKind, key: &str, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
    crate::collectors::testing::change("list_tcpudp_ports", kind, key, before, after)
}

#[test]
fn messages_and_severities() {
    let c = ListTcpudpPorts;
    let added = change(
        ChangeKind::Added,
        "tcp 0.0.0.0:4455",
        &[],
        &[("process", "nc"), ("user", "root")],
    );
    assert_eq!(
        c.message(&added),
        "port 4455 tcp opened on 0.0.0.0 (process nc, user root)"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::High);
    let lo = change(
        ChangeKind::Added,
        "tcp6 [::1]:4455",
        &[],
        &[("user", "root")],
    );
    assert_eq!(c.message(&lo), "port 4455 tcp6 opened on ::1 (user root)");
    assert_eq!(crate::rules::testing::severity(&lo), Severity::Low);
    let gone = change(
        ChangeKind::Removed,
        "tcp 0.0.0.0:4455",
        &[("user", "root")],
        &[],
    );
    assert_eq!(c.message(&gone), "port 4455 tcp closed on 0.0.0.0");
    assert_eq!(crate::rules::testing::severity(&gone), Severity::Info);
    let m = change(
        ChangeKind::Modified,
        "tcp 0.0.0.0:22",
        &[("process", "a")],
        &[("process", "b")],
    );
    assert_eq!(
        c.message(&m),
        "port 22 tcp on 0.0.0.0 changed: process from a to b"
    );
    assert_eq!(crate::rules::testing::severity(&m), Severity::Medium);
    for key in [
        "tcp6 [::ffff:127.0.0.1]:25",
        "tcp6 [::1]:631",
        "udp 127.0.0.53:53",
    ] {
        let lo = change(ChangeKind::Added, key, &[], &[("process", "x")]);
        assert_eq!(crate::rules::testing::severity(&lo), Severity::Low, "{key}");
    }
    let any6 = change(ChangeKind::Added, "tcp6 [::]:22", &[], &[("process", "x")]);
    assert_eq!(crate::rules::testing::severity(&any6), Severity::High);
}

#[test]
fn live_listeners_appear_and_disappear() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tkey = format!("tcp {}", tcp.local_addr().unwrap());
    let ukey = format!("udp {}", udp.local_addr().unwrap());
    let items = ListTcpudpPorts.collect(&Host::new("/")).unwrap();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    for key in [&tkey, &ukey] {
        let item = items.iter().find(|i| &i.key == key);
        let item = item.unwrap_or_else(|| panic!("{key} not found in {:?}", keys(&items)));
        // Our own fd table is always readable, so the owner must be found.
        let procs = &item.fields["process"];
        assert!(procs.split(',').any(|p| p == comm.trim_end()), "{procs}");
        assert_eq!(
            item.fields["user"],
            Host::new("/").user_name(nix::unistd::geteuid().as_raw())
        );
    }
    drop((tcp, udp));
    let items = ListTcpudpPorts.collect(&Host::new("/")).unwrap();
    assert!(!items.iter().any(|i| i.key == tkey || i.key == ukey));
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated /proc/net/{tcp,tcp6,udp,udp6} never panic the
    /// parser.
    #[test]
    fn fuzz_proc_net_tables(
        proto in proptest::sample::select(vec!["tcp", "tcp6", "udp", "udp6"]),
        tcp in crate::collectors::fuzz::text(TCP),
        tcp6 in crate::collectors::fuzz::text(TCP6),
        udp in crate::collectors::fuzz::text(UDP),
    ) {
        for table in [&tcp, &tcp6, &udp] {
            for s in parse_table(proto, table) {
                proptest::prop_assert!(split_key(&s.key).is_some(), "{}", s.key);
            }
        }
    }
}

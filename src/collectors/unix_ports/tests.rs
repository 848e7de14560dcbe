use super::*;
use crate::model::Fields;
use crate::model::Severity;
use std::os::unix::ffi::OsStrExt;

// The first two data lines are real (this machine); the rest follow the kernel's format.
const HEAD: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
000000004187b2b3: 00000003 00000000 00000000 0001 03  1158\n\
00000000b6a5b4bd: 00000003 00000000 00000000 0001 03  1157\n\
not an entry at all\n\
0000000000000001: 00000002 00000000 00010000 0001 01  2001 /run/sshd.sock\n\
0000000000000002: 00000002 00000000 00010000 0005 01  2002 @abstract/name\n\
0000000000000003: 00000002 00000000 00000000 0001 03  2003 /run/connected.sock\n\
0000000000000004: 00000002 00000000 00010000 0002 01  2004 /run/dgram.sock\n\
0000000000000005: 00000002 00000000 00010000 0001 01  2005 /run/with space\n\
0000000000000006: 00000002 00000000 00010000 0001 01  2006 /run/new\nline\n\
0000000000000007: 00000002 00000000 00010000 0001 01  2007 /run/\xff\xfe\n\
0000000000000008: 00000002 00000000 00010000 0001 01  2008 /run/sshd.sock\n";

fn root(content: Option<&[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
    if let Some(c) = content {
        std::fs::write(dir.path().join("proc/net/unix"), c).unwrap();
    }
    let fd = dir.path().join("proc/9/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::fs::write(dir.path().join("proc/9/comm"), "sshd\n").unwrap();
    std::os::unix::fs::symlink("socket:[2001]", fd.join("3")).unwrap();
    dir
}

#[test]
fn fixture_gives_named_listeners() {
    let dir = root(Some(HEAD));
    let items = ListUnixPorts.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/run/\\xff\\xfe",
            "/run/new\\x0aline",
            "/run/sshd.sock",
            "/run/with space",
            "@abstract/name",
        ]
    );
    let by = |k: &str| &items.iter().find(|i| i.key == k).unwrap().fields;
    assert_eq!(&by("/run/sshd.sock")["type"], "stream");
    assert_eq!(&by("/run/sshd.sock")["process"], "sshd");
    assert_eq!(&by("@abstract/name")["type"], "seqpacket");
    assert!(!by("@abstract/name").contains_key("process"));
    assert!(items.iter().all(|i| !i.fields.contains_key("inode")));
}

#[test]
fn missing_table_is_unavailable() {
    let dir = root(None);
    match ListUnixPorts.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert!(m.contains("/proc/net/unix"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn messages_and_severities() {
    let fields = |v: &[(&str, &str)]| -> Fields {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let mut c = Change {
        collector: "list_unix_ports".into(),
        kind: ChangeKind::Added,
        key: "/run/x".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some(fields(&[("type", "stream"), ("process", "sshd")])),
    };
    assert_eq!(
        ListUnixPorts.message(&c),
        "listening UNIX socket /run/x opened (type=stream, process=sshd)"
    );
    assert_eq!(crate::rules::testing::severity(&c), Severity::Low);
    c.key = "@x".into();
    assert_eq!(crate::rules::testing::severity(&c), Severity::Medium);
    c.kind = ChangeKind::Removed;
    c.key = "/run/x".into();
    assert_eq!(
        ListUnixPorts.message(&c),
        "listening UNIX socket /run/x closed"
    );
    assert_eq!(crate::rules::testing::severity(&c), Severity::Info);
}

#[test]
fn live_listener_appears_and_disappears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dawgmon test.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let key = escape_bytes(path.as_os_str().as_bytes());
    let items = ListUnixPorts.collect(&Host::new("/")).unwrap();
    let item = items
        .iter()
        .find(|i| i.key == key)
        .expect("our socket is listed");
    assert_eq!(&item.fields["type"], "stream");
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert!(
        item.fields["process"]
            .split(',')
            .any(|p| p == comm.trim_end())
    );
    drop(listener);
    let items = ListUnixPorts.collect(&Host::new("/")).unwrap();
    assert!(!items.iter().any(|i| i.key == key));
}

const UNIX_SAMPLE: &str = "Num       RefCount Protocol Flags    Type St Inode Path\n\
    0000000000000001: 00000002 00000000 00010000 0001 01  2001 /run/sshd.sock\n\
    0000000000000002: 00000002 00000000 00010000 0005 01  2002 @abstract/name\n\
    0000000000000006: 00000002 00000000 00010000 0001 01  2006 /run/new\nline\n\
    000000004187b2b3: 00000003 00000000 00000000 0001 03  1158\n";

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated /proc/net/unix never panics the parser.
    #[test]
    fn fuzz_proc_net_unix(table in crate::collectors::fuzz::bytes(UNIX_SAMPLE)) {
        let _ = parse(&table);
    }
}

mod shared;

use super::*;

#[test]
fn escaping_round_trips_odd_names() {
    let names: [&[u8]; 6] = [
        b"/usr/bin/plain",
        b"/tmp/new\nline",
        b"/tmp/back\\slash\\x41",
        b"/tmp/\xff\xfe-not-utf8",
        b"/tmp/tab\there",
        "/tmp/ünïcødé".as_bytes(),
    ];
    for name in names {
        let escaped = escape_bytes(name);
        assert!(!escaped.contains('\n'), "{escaped:?} has a raw newline");
        assert_eq!(unescape_bytes(&escaped).as_deref(), Some(name), "{escaped}");
    }
    assert_eq!(escape_bytes("/tmp/ünïcødé".as_bytes()), "/tmp/ünïcødé");
}

/// Issue 15: format characters (Cf) and the line/paragraph separators reorder or break text
/// on screen; they are escaped byte by byte and still round-trip. Letters of other scripts
/// (Hebrew, Arabic) stay as they are.
#[test]
fn unicode_format_characters_are_escaped() {
    // The ASCII shortcut answers as the category table does.
    for b in 0u8..128 {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
        let c = char::from(b);
        let by_table = c.is_control()
            || matches!(
                c.general_category(),
                GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            );
        assert_eq!(is_unsafe_char(c), by_table, "{c:?}");
    }
    for c in [
        '\u{202e}',
        '\u{202a}',
        '\u{200b}',
        '\u{200f}',
        '\u{2066}',
        '\u{2069}',
        '\u{feff}',
        '\u{2028}',
        '\u{2029}',
        '\u{ad}',
        '\u{e0001}',
    ] {
        let name = format!("/tmp/a{c}b");
        let escaped = escape_bytes(name.as_bytes());
        assert!(!escaped.contains(c), "{c:?} raw in {escaped}");
        assert!(escaped.starts_with("/tmp/a\\x"), "{escaped}");
        assert_eq!(unescape_bytes(&escaped).as_deref(), Some(name.as_bytes()));
    }
    assert_eq!(
        escape_bytes("/usr/bin/\u{202e}fdp.sh".as_bytes()),
        "/usr/bin/\\xe2\\x80\\xaefdp.sh"
    );
    assert_eq!(
        escape_bytes("/srv/שלום/مرحبا".as_bytes()),
        "/srv/שלום/مرحبا"
    );
}

#[test]
fn paths_resolve_under_the_root() {
    let host = Host::new("/fake/root");
    assert_eq!(host.path("/etc/passwd"), Path::new("/fake/root/etc/passwd"));
    assert_eq!(host.path("etc/passwd"), Path::new("/fake/root/etc/passwd"));
    assert_eq!(
        host.display(Path::new("/fake/root/usr/bin/x")),
        "/usr/bin/x"
    );
    assert_eq!(
        Host::new("/").display(Path::new("/usr/bin/x")),
        "/usr/bin/x"
    );
    assert_eq!(host.display(Path::new("/fake/root")), "/");
}

#[test]
fn names_come_from_the_roots_own_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nbroken line\nalice:x:1234:1234::/home/a:/bin/sh\n",
    )
    .unwrap();
    let host = Host::new(dir.path());
    assert_eq!(host.user_name(1234), "alice");
    assert_eq!(host.user_name(999), "999");
    assert_eq!(host.group_name(0), "0", "no etc/group: numbers");
}

/// Issue 16: a source several collectors read is read once per scan: every reader sees
/// the content of the first read (a file rewritten mid-scan does not give two collectors two
/// views), and a missing one stays missing.
#[test]
fn sources_are_read_once_per_scan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let passwd = dir.path().join("etc/passwd");
    std::fs::write(&passwd, "root:x:0:0::/root:/bin/sh\n").unwrap();
    let host = Host::new(dir.path());
    let first = host.read_source("/etc/passwd").unwrap();
    std::fs::write(&passwd, "mallory:x:0:0::/root:/bin/sh\n").unwrap();
    assert!(Arc::ptr_eq(
        &first,
        &host.read_source("/etc/passwd").unwrap()
    ));
    assert_eq!(
        host.read_source_string("/etc/passwd").unwrap(),
        "root:x:0:0::/root:/bin/sh\n"
    );
    assert_eq!(host.user_name(0), "root");
    assert!(matches!(
        host.read_source_string("/etc/group"),
        Err(CollectError::Unavailable(_))
    ));
    std::fs::write(dir.path().join("etc/group"), "root:x:0:\n").unwrap();
    assert_eq!(host.group_name(0), "0", "still missing in this scan");
    // A new scan (a new Host) reads it again.
    assert_eq!(Host::new(dir.path()).user_name(0), "mallory");
}

#[test]
fn shared_work_is_computed_once() {
    struct Walk(u32);
    let host = Host::new("/");
    let calls = std::sync::atomic::AtomicU32::new(0);
    let a = host.shared(|| Walk(calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
    let b = host.shared(|| Walk(calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
    assert_eq!((a.0, b.0), (0, 0));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

use super::*;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::collectors::testing::write;
use crate::model::Fields;

fn md5(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

const MULTIARCH: &str = "usr/lib/x86_64-linux-gnu";

/// A fake package: files written, then dpkg's records (later, as dpkg does), then the
/// changes: one binary replaced, one conffile edited, one library removed; one file and one
/// conffile intact, one doc file changed (out of scope).
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let files: [(&str, &[u8]); 6] = [
        ("usr/bin/fake", b"original binary"),
        ("usr/sbin/fake-intact", b"intact binary"),
        ("usr/lib/x86_64-linux-gnu/libfake.so.1", b"library"),
        ("usr/share/doc/fake/README", b"docs"),
        ("etc/fake.conf", b"setting=1\n"),
        ("etc/fake-intact.conf", b"kept=1\n"),
    ];
    for (rel, content) in files {
        write(r, rel, content);
    }
    std::thread::sleep(Duration::from_millis(20));
    let md5sums: String = files[..4]
        .iter()
        .map(|(rel, c)| format!("{}  {rel}\n", md5(c)))
        .collect();
    write(r, "var/lib/dpkg/info/fake.md5sums", md5sums);
    write(
        r,
        "var/lib/dpkg/info/fake.list",
        "/.\n/usr\n/usr/bin/fake\n/usr/sbin/fake-intact\n",
    );
    write(
        r,
        "var/lib/dpkg/status",
        format!(
            "Package: fake\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\
             Conffiles:\n /etc/fake.conf {}\n /etc/fake-intact.conf {}\n \
             /etc/gone-obsolete.conf 0123456789abcdef0123456789abcdef obsolete\n\
             Description: fake\n second line\n\n\
             Package: removed\nStatus: deinstall ok config-files\n\
             Conffiles:\n /etc/removed.conf 0123456789abcdef0123456789abcdef\n",
            md5(files[4].1),
            md5(files[5].1)
        ),
    );
    std::thread::sleep(Duration::from_millis(20));
    write(r, "usr/bin/fake", b"trojan");
    write(r, "etc/fake.conf", b"setting=2\n");
    write(r, "usr/share/doc/fake/README", b"changed docs");
    std::fs::remove_file(r.join(MULTIARCH).join("libfake.so.1")).unwrap();
    dir
}

fn by_key(items: &[Item]) -> BTreeMap<&str, &Fields> {
    items.iter().map(|i| (i.key.as_str(), &i.fields)).collect()
}

fn fields(f: &Fields) -> (&str, &str, &str) {
    (&f["package"], &f["kind"], &f["state"])
}

#[test]
fn replaced_edited_and_missing_files_are_told_apart() {
    let dir = fixture();
    let items = PackageIntegrity.collect(&Host::new(dir.path())).unwrap();
    let m = by_key(&items);
    assert_eq!(items.len(), 3, "{m:#?}");
    assert_eq!(fields(m["/usr/bin/fake"]), ("fake", "file", "modified"));
    assert_eq!(
        fields(m["/etc/fake.conf"]),
        ("fake", "conffile", "modified")
    );
    assert_eq!(
        fields(m["/usr/lib/x86_64-linux-gnu/libfake.so.1"]),
        ("fake", "file", "missing")
    );
    // Put right again: nothing.
    write(dir.path(), "usr/bin/fake", b"original binary");
    write(dir.path(), "etc/fake.conf", b"setting=1\n");
    write(
        dir.path(),
        "usr/lib/x86_64-linux-gnu/libfake.so.1",
        b"library",
    );
    let items = PackageIntegrity.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(items, [], "restored files match");
}

#[test]
fn malformed_md5sums_lines_are_items() {
    let dir = fixture();
    let p = dir.path().join("var/lib/dpkg/info/fake.md5sums");
    let mut text = std::fs::read(&p).unwrap();
    text.extend_from_slice(
        b"not a digest  usr/bin/x\n0123456789abcdef0123456789abcdef\n\x1b[31m\n",
    );
    // A path that climbs out: never looked up, said so.
    text.extend_from_slice(b"0123456789abcdef0123456789abcdef  usr/bin/../../etc/shadow\n");
    std::fs::write(&p, text).unwrap();
    // Rewriting the record moved its time past the trojan's: write the trojan again later.
    std::thread::sleep(Duration::from_millis(20));
    write(dir.path(), "usr/bin/fake", b"trojan");
    let items = PackageIntegrity.collect(&Host::new(dir.path())).unwrap();
    let m = by_key(&items);
    let malformed: Vec<(&str, &str)> = m
        .iter()
        .filter(|(_, f)| &f["state"] == "malformed")
        .map(|(k, f)| (*k, &f["line"]))
        .collect();
    assert_eq!(
        malformed,
        [
            (
                "/var/lib/dpkg/info/fake.md5sums:5",
                "not a digest  usr/bin/x"
            ),
            (
                "/var/lib/dpkg/info/fake.md5sums:6",
                "0123456789abcdef0123456789abcdef"
            ),
            ("/var/lib/dpkg/info/fake.md5sums:7", "\\x1b[31m"),
        ]
    );
    assert_eq!(&m["/var/lib/dpkg/info/fake.md5sums:5"]["kind"], "md5sums");
    assert_eq!(
        fields(m["/usr/bin/../../etc/shadow"]),
        ("fake", "file", "unverified")
    );
    assert_eq!(items.len(), 7, "the three findings are still there");
}

/// The bound: a file unchanged since dpkg wrote the package's records is not read (its content
/// here disagrees with the record, which only raw disk writes or the clock could do); any change
/// of it (a write, a rename, a chmod) makes it read again.
#[test]
fn only_files_changed_since_dpkg_wrote_them_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "usr/bin/old", b"content");
    std::thread::sleep(Duration::from_millis(20));
    write(
        r,
        "var/lib/dpkg/info/p.md5sums",
        format!("{}  usr/bin/old\n", md5(b"other content")),
    );
    write(r, "var/lib/dpkg/info/p.list", "/usr/bin/old\n");
    let host = || Host::new(r);
    assert_eq!(PackageIntegrity.collect(&host()).unwrap(), []);
    std::thread::sleep(Duration::from_millis(20));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        r.join("usr/bin/old"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let items = PackageIntegrity.collect(&host()).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(fields(&items[0].fields), ("p", "file", "modified"));
}

#[test]
fn scope_lines_and_diversions() {
    for p in [
        "/bin/ls",
        "/usr/sbin/sshd",
        "/usr/libexec/sudo/sudoers.so",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/security/pam_unix.so",
        "/lib/systemd/systemd",
        "/usr/lib/apt/methods/http",
        "/etc/ssh/sshd_config",
        "/boot/vmlinuz-6.1",
        "/usr/lib64/ld-linux-x86-64.so.2",
    ] {
        assert!(in_scope(p.as_bytes()), "{p}");
    }
    for p in [
        "/usr/share/doc/x/README",
        "/usr/lib/python3/dist-packages/x.py",
        "/usr/lib/x86_64-linux-gnu/gconv/x.so",
        "/usr/lib/node_modules/npm/x.js",
        "/var/lib/x",
        "/usr",
    ] {
        assert!(!in_scope(p.as_bytes()), "{p}");
    }
    let sum = "0123456789abcdef0123456789ABCDEF";
    assert_eq!(
        parse_line(format!("{sum}  usr/bin/x").as_bytes()),
        Some((sum.as_bytes(), &b"usr/bin/x"[..]))
    );
    assert_eq!(
        parse_line(format!("{sum} */usr/bin/x").as_bytes()),
        Some((sum.as_bytes(), &b"usr/bin/x"[..]))
    );
    assert_eq!(parse_line(format!("{sum} usr/bin/x").as_bytes()), None);
    assert_eq!(parse_line(b"short  x"), None);

    // A file moved aside by another package is checked where it went.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "var/lib/dpkg/info/vendor.md5sums",
        format!("{}  usr/bin/tool\n", md5(b"vendor")),
    );
    std::thread::sleep(Duration::from_millis(20));
    // Both written after the records: both are read.
    write(r, "usr/bin/tool.distrib", b"vendor");
    write(r, "usr/bin/tool", b"the diverting package's own");
    write(
        r,
        "var/lib/dpkg/diversions",
        "/usr/bin/tool\n/usr/bin/tool.distrib\nother\n",
    );
    assert_eq!(PackageIntegrity.collect(&Host::new(r)).unwrap(), []);
    std::fs::remove_file(r.join("var/lib/dpkg/diversions")).unwrap();
    let items = PackageIntegrity.collect(&Host::new(r)).unwrap();
    assert_eq!(items.len(), 1, "without the diversion: modified");
}

#[test]
fn no_dpkg_is_unavailable_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    match PackageIntegrity.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(why)) => assert!(why.contains("rpm"), "{why}"),
        other => panic!("{other:?}"),
    }
    let change = crate::collectors::testing::change(
        "package_integrity",
        ChangeKind::Added,
        "/usr/bin/fake",
        &[],
        &[("package", "fake"), ("kind", "file"), ("state", "modified")],
    );
    assert_eq!(
        PackageIntegrity.message(&change),
        "package file /usr/bin/fake modified (package=fake)"
    );
}

/// The real host, when it has dpkg: `/usr/bin/dpkg` is read (whatever its age) and matches
/// the digest its package recorded; the collector does not list it.
#[test]
fn live_host_dpkg_binary_matches() {
    let Ok(sums) = std::fs::read_to_string("/var/lib/dpkg/info/dpkg.md5sums") else {
        eprintln!("no dpkg here");
        return;
    };
    let sum = sums
        .lines()
        .find_map(|l| l.strip_suffix("  usr/bin/dpkg"))
        .expect("dpkg records /usr/bin/dpkg");
    let host = Host::new("/");
    assert_eq!(
        check(&host, b"/usr/bin/dpkg", sum.as_bytes(), None).unwrap(),
        None
    );
    let wrong = "0".repeat(32);
    assert_eq!(
        check(&host, b"/usr/bin/dpkg", wrong.as_bytes(), None).unwrap(),
        Some("modified"),
        "a wrong digest would be seen"
    );
    let start = std::time::Instant::now();
    let items = PackageIntegrity.collect(&host).unwrap();
    eprintln!(
        "live package_integrity: {} items in {:?}: {:?}",
        items.len(),
        start.elapsed(),
        items.iter().take(5).collect::<Vec<_>>()
    );
    assert!(items.iter().all(|i| i.key != "/usr/bin/dpkg"));
}

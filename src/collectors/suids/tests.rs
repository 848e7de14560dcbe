use super::*;
use crate::model::Severity;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn make(path: &Path, mode: u32, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn fake_root_suids_with_owner_names_and_odd_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nmallory:x:3131:3131::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nmail:x:3232:\n").unwrap();
    make(&root.join("usr/bin/su"), 0o4755, b"su binary");
    make(&root.join("usr/bin/wall"), 0o2755, b"wall");
    make(&root.join("usr/bin/plain"), 0o755, b"plain");
    // chown clears the set-id bits: set the mode again afterwards.
    std::os::unix::fs::chown(root.join("usr/bin/wall"), Some(3131), Some(3232)).unwrap();
    make(&root.join("usr/bin/wall"), 0o2755, b"wall");
    let odd = root.join(OsStr::from_bytes(b"usr/bin/sneaky\n\xfe"));
    make(&odd, 0o6711, b"odd");
    std::os::unix::fs::symlink("su", root.join("usr/bin/su-link")).unwrap();

    let host = Host::new(root);
    let items = ListSuids.collect(&host).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["/usr/bin/sneaky\\x0a\\xfe", "/usr/bin/su", "/usr/bin/wall"]
    );
    let su = &items[1];
    assert_eq!(&su.fields["perm"], "-rwsr-xr-x");
    assert_eq!(&su.fields["owner"], "root");
    assert_eq!(&su.fields["size"], "9");
    assert_eq!(
        su.fields["sha256"],
        crate::sources::common::sha256_bytes(b"su binary")
    );
    let wall = &items[2];
    assert_eq!(
        (&wall.fields["owner"], &wall.fields["group"]),
        ("mallory", "mail")
    );
    assert_eq!(&wall.fields["perm"], "-rwxr-sr-x");
    let raw = crate::host::unescape_bytes(&items[0].key).unwrap();
    assert_eq!(host.path(OsStr::from_bytes(&raw)), odd);
}

/// Issue 15 item 6: `chmod u+s ~/x` by an ordinary user is high, not critical; a
/// root-owned set-id file in a home, a user's set-id file in a root directory, a setgid
/// file of a system group and a service account's set-id file stay critical.
#[test]
fn an_ordinary_users_own_setid_file_in_their_tree_is_high_not_critical() {
    use std::os::unix::fs::{DirBuilderExt, chown};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mkdir = |rel: &str, mode: u32, uid: u32| {
        let p = root.join(rel);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(&p)
            .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        chown(&p, Some(uid), Some(uid)).unwrap();
    };
    let setid = |rel: &str, mode: u32, uid: u32, gid: u32| {
        let p = root.join(rel);
        std::fs::write(&p, rel).unwrap();
        chown(&p, Some(uid), Some(gid)).unwrap();
        // chown clears the set-id bits: set the mode afterwards.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    crate::collectors::testing::write(
        root,
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n\
         alice:x:1000:1000::/home/alice:/bin/sh\nolduser:x:600:600::/home/old:/bin/sh\n",
    );
    crate::collectors::testing::write(
        root,
        "etc/group",
        "root:x:0:\nadm:x:4:\nwww-data:x:33:\nalice:x:1000:\n",
    );
    mkdir("usr/bin", 0o755, 0);
    mkdir("var/lib/dpkg/info", 0o755, 0); // a package database that owns none of them
    mkdir("home/alice/bin", 0o755, 1000);
    mkdir("home/old", 0o700, 600);
    mkdir("tmp", 0o1777, 0);
    mkdir("var/www", 0o755, 33);
    mkdir("home/alice/locked", 0o555, 1000);
    setid("home/alice/bin/mine", 0o4755, 1000, 1000);
    setid("home/alice/bin/mine-gid", 0o6755, 1000, 1000);
    setid("tmp/alice-tmp", 0o4755, 1000, 1000);
    setid("home/alice/bin/roots", 0o4755, 0, 0);
    setid("home/alice/bin/adm-gid", 0o2755, 1000, 4);
    setid("home/alice/locked/x", 0o4755, 1000, 1000);
    setid("usr/bin/alices", 0o4755, 1000, 1000);
    setid("var/www/shell", 0o4755, 33, 33);
    setid("home/old/x", 0o4755, 600, 600);
    // Read-only after the file is in it: alice may not write it.
    std::fs::set_permissions(
        root.join("home/alice/locked"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();

    let judge = |host: &Host| -> Vec<(String, Severity, Option<String>)> {
        let items = ListSuids.collect(host).unwrap();
        items
            .into_iter()
            .map(|i| {
                let c = crate::rules::testing::change("list_suids", None, Some(i.clone()));
                (i.key, c.severity, c.rule)
            })
            .collect()
    };
    let high = |rule: &str| (Severity::High, Some(rule.to_string()));
    let critical = (Severity::Critical, Some("suid.unowned".to_string()));
    let got = judge(&Host::new(root));
    let want = [
        ("/home/alice/bin/adm-gid", critical.clone()),
        ("/home/alice/bin/mine", high("suid.user-made")),
        ("/home/alice/bin/mine-gid", high("suid.user-made")),
        ("/home/alice/bin/roots", critical.clone()),
        ("/home/alice/locked/x", critical.clone()),
        ("/home/old/x", critical.clone()),
        ("/tmp/alice-tmp", high("suid.user-made")),
        ("/usr/bin/alices", critical.clone()),
        ("/var/www/shell", critical.clone()),
    ];
    let want: Vec<_> = want
        .into_iter()
        .map(|(k, (s, r))| (k.to_string(), s, r))
        .collect();
    assert_eq!(got, want);

    // A login.defs that starts ordinary users at 500 makes uid 600 one of them.
    crate::collectors::testing::write(root, "etc/login.defs", "# c\nUID_MIN\t 500\n");
    let got = judge(&Host::new(root));
    let old = got.iter().find(|(k, ..)| k == "/home/old/x").unwrap();
    assert_eq!(
        (old.1, old.2.as_deref()),
        (Severity::High, Some("suid.user-made"))
    );
}

#[test]
fn live_walk_sees_a_new_setuid_file_in_tmp() {
    // /tmp is on a local file system here (ext4 or tmpfs); fall back to /var/tmp otherwise.
    let base = if is_local(Path::new("/tmp")) {
        "/tmp"
    } else {
        "/var/tmp"
    };
    let dir = tempfile::Builder::new()
        .prefix("dawgmon-suid-test")
        .tempdir_in(base)
        .unwrap();
    let file = dir.path().join("escalate");
    make(&file, 0o4755, b"#!/bin/sh\n");
    let host = Host::new("/");
    let items = ListSuids.collect(&host).unwrap();
    let key = host.display(&file);
    let item = items
        .iter()
        .find(|i| i.key == key)
        .expect("live walk found it");
    assert_eq!(&item.fields["perm"], "-rwsr-xr-x");
    assert!(
        items
            .iter()
            .any(|i| i.key.ends_with("/bin/su") || i.key.ends_with("/bin/passwd")),
        "the system's own setuid binaries are listed too"
    );
}

/// Whether `p` lies on a file system type the walk covers, per the live mount table.
fn is_local(p: &Path) -> bool {
    use nix::sys::statfs::*;
    let t = statfs(p).unwrap().filesystem_type();
    [
        EXT4_SUPER_MAGIC,
        TMPFS_MAGIC,
        XFS_SUPER_MAGIC,
        BTRFS_SUPER_MAGIC,
    ]
    .contains(&t)
}

#[test]
fn messages_and_severity() {
    let f = |pairs: &[(&str, &str)]| -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let added = Change {
        collector: "list_suids".into(),
        kind: ChangeKind::Added,
        key: "/usr/bin/x".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some(f(&[
            ("owner", "root"),
            ("group", "root"),
            ("perm", "-rwsr-xr-x"),
            ("size", "281624"),
            ("sha256", "00ff"),
        ])),
    };
    assert_eq!(
        ListSuids.message(&added),
        "suid binary /usr/bin/x got created (owner=root, group=root, perm=-rwsr-xr-x, size=281624)"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::High);
    let removed = Change {
        kind: ChangeKind::Removed,
        before: Some(f(&[("perm", "-rwxr-sr-x")])),
        after: None,
        ..added.clone()
    };
    assert_eq!(
        ListSuids.message(&removed),
        "sgid binary /usr/bin/x got deleted"
    );
    assert_eq!(crate::rules::testing::severity(&removed), Severity::Low);
    let owner = Change {
        kind: ChangeKind::Modified,
        before: Some(f(&[("owner", "root")])),
        after: Some(f(&[("owner", "bin")])),
        ..added.clone()
    };
    assert_eq!(
        ListSuids.message(&owner),
        "suid binary /usr/bin/x changed: owner from root to bin"
    );
    assert_eq!(crate::rules::testing::severity(&owner), Severity::Medium);
    let content = Change {
        before: Some(f(&[("sha256", "aa")])),
        after: Some(f(&[("sha256", "bb")])),
        ..owner
    };
    assert_eq!(crate::rules::testing::severity(&content), Severity::High);
}

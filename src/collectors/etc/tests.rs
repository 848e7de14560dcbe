use super::*;
use crate::model::Severity;
use crate::model::{ChangeKind, Fields};
use crate::sources::fswalk;
use crate::sources::tree::has_content_id;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn change(kind: ChangeKind, key: &str, before: Option<Fields>, after: Option<Fields>) -> Change {
    Change {
        collector: "check_etc".into(),
        kind,
        key: key.into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before,
        after,
    }
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn find<'a>(items: &'a [Item], key: &str) -> &'a Item {
    items
        .iter()
        .find(|i| i.key == key)
        .unwrap_or_else(|| panic!("{key} missing"))
}

#[test]
fn etc_tree_has_types_owners_hashes_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("sudoers.d")).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0::/root:/bin/sh\nalice:x:4242:4242::/home/a:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nstaff:x:4343:\n").unwrap();
    std::fs::write(etc.join("sudoers.d/alice"), "alice ALL=(ALL) ALL\n").unwrap();
    std::os::unix::fs::chown(etc.join("sudoers.d/alice"), Some(4242), Some(4343)).unwrap();
    std::os::unix::fs::symlink("../proc/self/mounts", etc.join("mtab")).unwrap();
    let odd = OsStr::from_bytes(b"new\nline-\xff");
    std::fs::write(etc.join(odd), "x").unwrap();

    let host = Host::new(dir.path());
    let items = CheckEtc.collect(&host).unwrap();
    let top = find(&items, "/etc");
    assert_eq!(&top.fields["type"], "dir");
    let alice = find(&items, "/etc/sudoers.d/alice");
    assert_eq!(&alice.fields["owner"], "alice");
    assert_eq!(&alice.fields["group"], "staff");
    assert_eq!(&alice.fields["size"], "20");
    assert_eq!(
        alice.fields["sha256"],
        crate::sources::common::sha256_bytes(b"alice ALL=(ALL) ALL\n")
    );
    assert!(!alice.fields.contains_key("mtime"));
    let mtab = find(&items, "/etc/mtab");
    assert_eq!(&mtab.fields["type"], "symlink");
    assert_eq!(&mtab.fields["target"], "../proc/self/mounts");
    assert!(!mtab.fields.contains_key("sha256"));
    let odd_item = items
        .iter()
        .find(|i| i.key.contains("new"))
        .expect("odd name listed");
    assert!(!odd_item.key.contains('\n'));
    let raw = crate::host::unescape_bytes(&odd_item.key).unwrap();
    assert!(
        host.path(OsStr::from_bytes(&raw)).exists(),
        "{}",
        odd_item.key
    );
    for i in &items {
        if &i.fields["type"] == "file" {
            assert!(has_content_id(&i.fields), "{i:?}");
        }
    }
}

#[test]
fn live_etc_is_stable_between_two_scans() {
    let _live = crate::collectors::testing::live_etc();
    let first = CheckEtc.collect(&Host::new("/")).unwrap();
    let second = CheckEtc.collect(&Host::new("/")).unwrap();
    assert_eq!(first, second, "an idle /etc gives identical items");
    let passwd = find(&first, "/etc/passwd");
    assert_eq!(&passwd.fields["type"], "file");
    assert_eq!(passwd.fields["sha256"].len(), 64);
}

#[test]
fn missing_etc_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = CheckEtc.collect(&Host::new(dir.path())).unwrap_err();
    assert!(matches!(err, CollectError::Unavailable(ref m) if m.contains("/etc")));
}

#[test]
fn unreadable_file_falls_back_to_mtime_and_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path());
    let path = dir.path().join("etc/shadow");
    let mut f = Fields::new();
    let denied = Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
    fswalk::content_fields(&host, &path, 1_700_000_000, denied, &mut f);
    assert_eq!(f.get("mtime"), Some("1700000000"));
    assert!(!f.contains_key("sha256"));
    assert_eq!(host.denied().0, 1);
    assert_eq!(host.denied().1, ["/etc/shadow"]);
    let mut g = Fields::new();
    fswalk::content_fields(
        &host,
        Path::new("/x"),
        5,
        Ok(crate::hostfs::Hashed::Sha256("ab".into())),
        &mut g,
    );
    assert_eq!(g, fields(&[("sha256", "ab")]));
}

#[test]
fn messages_and_severities() {
    let after = fields(&[
        ("type", "file"),
        ("owner", "root"),
        ("group", "root"),
        ("perm", "-rw-r--r--"),
        ("size", "747"),
        ("sha256", "abcdef0123456789"),
    ]);
    let add = change(
        ChangeKind::Added,
        "/etc/udev/rules.d/60-x.rules",
        None,
        Some(after.clone()),
    );
    assert_eq!(
        tree_message(&add),
        "file /etc/udev/rules.d/60-x.rules got created (owner=root, group=root, perm=-rw-r--r--, size=747)"
    );
    assert_eq!(crate::rules::testing::severity(&add), Severity::High);
    let plain = change(ChangeKind::Added, "/etc/motd", None, Some(after.clone()));
    assert_eq!(crate::rules::testing::severity(&plain), Severity::Medium);
    let gone = change(ChangeKind::Removed, "/etc/motd", Some(after.clone()), None);
    assert_eq!(tree_message(&gone), "file /etc/motd got deleted");
    assert_eq!(crate::rules::testing::severity(&gone), Severity::Low);
    let modified = change(
        ChangeKind::Modified,
        "/etc/group",
        Some(fields(&[("size", "937"), ("sha256", "aa")])),
        Some(fields(&[("size", "954"), ("sha256", "bb")])),
    );
    assert_eq!(
        tree_message(&modified),
        "file /etc/group changed: content changed, size from 937 to 954"
    );
    assert_eq!(crate::rules::testing::severity(&modified), Severity::High);
    let opened = change(
        ChangeKind::Modified,
        "/etc/opt",
        Some(fields(&[("perm", "drwxr-xr-x")])),
        Some(fields(&[("perm", "drwxrwxrwx")])),
    );
    assert_eq!(
        tree_message(&opened),
        "directory /etc/opt changed: perm from drwxr-xr-x to drwxrwxrwx"
    );
    assert_eq!(crate::rules::testing::severity(&opened), Severity::High);
    let sticky = change(
        ChangeKind::Added,
        "/etc/tmpish",
        None,
        Some(fields(&[("type", "dir"), ("perm", "drwxrwxrwt")])),
    );
    assert_eq!(crate::rules::testing::severity(&sticky), Severity::Medium);
    // The sensitive paths are key globs of the rule etc.sensitive.
    let rule_of = |key: &str| {
        let file = Some(fields(&[("type", "file"), ("perm", "-rw-r--r--")]));
        crate::rules::testing::change(
            "check_etc",
            None,
            file.map(|f| Item {
                key: key.into(),
                fields: f,
            }),
        )
        .rule
    };
    for key in [
        "/etc/ssh/sshd_config.d/x.conf",
        "/etc/cron.daily/x",
        "/etc/sudoers.d/x",
    ] {
        assert_eq!(rule_of(key).as_deref(), Some("etc.sensitive"), "{key}");
    }
    for key in ["/etc/pam.dx", "/etc/passwd-"] {
        assert_eq!(rule_of(key).as_deref(), Some("etc.changed"), "{key}");
    }
    assert_eq!(
        rule_of("/etc/ld.so.preload").as_deref(),
        Some("etc.preload")
    );
}

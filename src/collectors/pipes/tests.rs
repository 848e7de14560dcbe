use super::*;
use crate::model::Severity;
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

#[test]
fn fake_root_fifos_with_odd_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("run/app")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "app:x:2727:2727::/:/bin/sh\n").unwrap();
    let pipe = root.join("run/app/ctl");
    nix::unistd::mkfifo(&pipe, Mode::from_bits_truncate(0o600)).unwrap();
    // mkfifo obeys the umask: set the mode the test expects explicitly.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &pipe,
        Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .unwrap();
    std::os::unix::fs::chown(&pipe, Some(2727), None).unwrap();
    let odd = root.join(OsStr::from_bytes(b"run/p\xff\ni"));
    nix::unistd::mkfifo(&odd, Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::write(root.join("run/not-a-pipe"), "x").unwrap();

    let host = Host::new(root);
    let items = ListPipes.collect(&host).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["/run/app/ctl", "/run/p\\xff\\x0ai"]);
    assert_eq!(&items[0].fields["perm"], "prw--w--w-");
    assert_eq!(&items[0].fields["owner"], "app");
    let raw = crate::host::unescape_bytes(&items[1].key).unwrap();
    assert_eq!(host.path(OsStr::from_bytes(&raw)), odd);

    let change = Change {
        collector: "list_pipes".into(),
        kind: ChangeKind::Added,
        key: items[0].key.clone(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some(items[0].fields.clone()),
    };
    assert_eq!(
        ListPipes.message(&change),
        "named pipe /run/app/ctl got created (owner=app, group=0, perm=prw--w--w-)"
    );
    assert_eq!(crate::rules::testing::severity(&change), Severity::Medium);
    let private = Change {
        after: Some(items[1].fields.clone()),
        ..change
    };
    assert_eq!(crate::rules::testing::severity(&private), Severity::Low);
}

#[test]
fn live_walk_sees_a_new_fifo() {
    let dir = tempfile::Builder::new()
        .prefix("dawgmon-fifo-test")
        .tempdir_in("/tmp")
        .unwrap();
    let pipe = dir.path().join("ctl");
    nix::unistd::mkfifo(&pipe, Mode::from_bits_truncate(0o600)).unwrap();
    let host = Host::new("/");
    let items = ListPipes.collect(&host).unwrap();
    let key = host.display(&pipe);
    let item = items
        .iter()
        .find(|i| i.key == key)
        .expect("live walk found the FIFO");
    assert_eq!(&item.fields["perm"], "prw-------");
    assert_eq!(&item.fields["owner"], "root");
}

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn world_writable_system_paths_only_and_sticky_dirs_spared() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for d in [
        "usr/local/bin",
        "usr/share/open",
        "tmp",
        "home/u/pub",
        "etc/sticky",
        "srv",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    crate::collectors::testing::write(r, "etc/passwd", "root:x:0:0::/:/bin/sh\n");
    crate::collectors::testing::write(r, "etc/writable.conf", "x");
    crate::collectors::testing::write(r, "home/u/pub/file", "x");
    crate::collectors::testing::write(r, "usr/bin/tool", "x");
    mode(&r.join("usr/share/open"), 0o777);
    mode(&r.join("etc/sticky"), 0o1777);
    mode(&r.join("tmp"), 0o777); // lost its sticky bit
    mode(&r.join("home/u/pub"), 0o777); // not a system path
    mode(&r.join("home/u/pub/file"), 0o666);
    mode(&r.join("etc/writable.conf"), 0o646);
    mode(&r.join("usr/bin/tool"), 0o755);
    std::os::unix::fs::symlink("/usr/bin/tool", r.join("usr/local/bin/link")).unwrap();
    let items = WorldWritable.collect(&Host::new(r)).unwrap();
    let got: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| (i.key.as_str(), &i.fields["what"], &i.fields["perm"]))
        .collect();
    assert_eq!(
        got,
        [
            ("/etc/writable.conf", "file", "-rw-r--rw-"),
            ("/tmp", "dir", "drwxrwxrwx"),
            ("/usr/share/open", "dir", "drwxrwxrwx"),
        ]
    );
    assert_eq!(&items[2].fields["owner"], "root");
    let change = crate::collectors::testing::change(
        "world_writable",
        ChangeKind::Added,
        "/usr/share/open",
        &[],
        &[
            ("what", "dir"),
            ("owner", "root"),
            ("group", "root"),
            ("perm", "drwxrwxrwx"),
        ],
    );
    assert_eq!(
        WorldWritable.message(&change),
        "world-writable dir /usr/share/open without sticky bit (owner=root, group=root, perm=drwxrwxrwx)"
    );
}

/// The real host: a world-writable directory without the sticky bit made under /var/lib
/// is found by the shared walk, and a sticky one beside it is not.
#[test]
fn live_host_world_writable_dir_is_found() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("needs root to write /var/lib");
        return;
    }
    let make = || {
        tempfile::Builder::new()
            .prefix("dawgmon-ww-")
            .tempdir_in("/var/lib")
            .unwrap()
    };
    let (open, sticky) = (make(), make());
    mode(open.path(), 0o777);
    mode(sticky.path(), 0o1777);
    let items = WorldWritable.collect(&Host::new("/")).unwrap();
    let find = |p: &Path| items.iter().find(|i| i.key == p.display().to_string());
    let item = find(open.path()).expect("found by the walk");
    assert_eq!(&item.fields["what"], "dir");
    assert_eq!(&item.fields["perm"], "drwxrwxrwx");
    assert!(find(sticky.path()).is_none(), "sticky: not listed");
}

//! Watch trees against fixture trees built at test time: what an item holds, digests carried
//! over by metadata (and when they are not), exclusions, the size bound, hostile entries, the
//! package verdict, and how changes read and are judged.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::collectors::testing::item;
use crate::hostfs::digests::{DigestCache, PackageMatch};
use crate::model::Severity;

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// root/opt/app: bin/tool, lib/x.so, link -> bin/tool, sub/deep/file, and a dpkg database
/// saying package `tool` installed bin/tool (recorded digest right) and lib/x.so (wrong).
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("opt/app");
    write(&app.join("bin/tool"), b"tool v1\n");
    write(&app.join("lib/x.so"), b"library\n");
    write(&app.join("sub/deep/file"), b"deep\n");
    std::os::unix::fs::symlink("bin/tool", app.join("link")).unwrap();
    let info = dir.path().join("var/lib/dpkg/info");
    write(
        &info.join("tool.list"),
        b"/.\n/opt\n/opt/app\n/opt/app/bin/tool\n/opt/app/lib/x.so\n",
    );
    let md5_tool = hex::encode(<md5::Md5 as md5::Digest>::digest(b"tool v1\n"));
    write(
        &info.join("tool.md5sums"),
        format!(
            "{md5_tool}  opt/app/bin/tool\n{}  opt/app/lib/x.so\n",
            "0".repeat(32)
        )
        .as_bytes(),
    );
    dir
}

fn sha(content: &[u8]) -> String {
    crate::sources::common::sha256_bytes(content)
}

fn collect(root: &Path, spec: WatchSpec, cache: DigestCache) -> Result<Vec<Item>, CollectError> {
    let tree = &collectors(&[spec]).unwrap()[0];
    let mut seeded = std::collections::HashMap::new();
    seeded.insert(tree.name().to_string(), std::sync::Arc::new(cache));
    let host = Host::new(root).with_digests(seeded);
    tree.collect(&host)
}

fn stat_of(path: &Path) -> crate::hostfs::Stat {
    nix::sys::stat::lstat(path).unwrap()
}

fn field<'a>(items: &'a [Item], key: &str, name: &str) -> Option<&'a str> {
    item(items, key).fields.get(name)
}

#[test]
fn a_tree_lists_every_entry_with_its_metadata_digest_and_package() {
    let dir = fixture();
    let items = collect(
        dir.path(),
        WatchSpec::new("/opt/app").unwrap(),
        DigestCache::default(),
    )
    .unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/opt/app",
            "/opt/app/bin",
            "/opt/app/bin/tool",
            "/opt/app/lib",
            "/opt/app/lib/x.so",
            "/opt/app/link",
            "/opt/app/sub",
            "/opt/app/sub/deep",
            "/opt/app/sub/deep/file",
        ]
    );
    assert_eq!(
        field(&items, "/opt/app/bin/tool", "sha256"),
        Some(&sha(b"tool v1\n")[..])
    );
    assert_eq!(field(&items, "/opt/app/bin/tool", "type"), Some("file"));
    assert_eq!(field(&items, "/opt/app/bin/tool", "size"), Some("8"));
    assert_eq!(field(&items, "/opt/app/bin/tool", "package"), Some("tool"));
    assert_eq!(
        field(&items, "/opt/app/bin/tool", "package_digest"),
        Some("tool: matches")
    );
    assert_eq!(
        field(&items, "/opt/app/lib/x.so", "package_digest"),
        Some("tool: differs")
    );
    // Not packaged: attributed to no package, and no verdict.
    assert_eq!(
        field(&items, "/opt/app/sub/deep/file", "package"),
        Some("none")
    );
    assert_eq!(
        field(&items, "/opt/app/sub/deep/file", "package_digest"),
        None
    );
    assert_eq!(field(&items, "/opt/app/link", "target"), Some("bin/tool"));
    assert_eq!(field(&items, "/opt/app/link", "sha256"), None);
    assert_eq!(field(&items, "/opt/app/sub", "type"), Some("dir"));
    assert!(
        field(&items, "/opt/app/sub", "perm")
            .unwrap()
            .starts_with('d')
    );
}

#[test]
fn same_metadata_is_not_read_again_a_changed_ctime_is_and_an_empty_cache_reads_all() {
    let dir = fixture();
    let tool = dir.path().join("opt/app/bin/tool");
    // A digest no file has, recorded for tool's exact identity: if the walk reports it, the
    // file was not read.
    let first = stat_of(&tool);
    let seed = || {
        let c = DigestCache::default();
        c.remember(&first, [0xab; 32], PackageMatch::Unknown);
        DigestCache::decode(&c.encode()).unwrap()
    };
    let spec = WatchSpec::new("/opt/app").unwrap();
    let items = collect(dir.path(), spec.clone(), seed()).unwrap();
    assert_eq!(
        field(&items, "/opt/app/bin/tool", "sha256"),
        Some(&"ab".repeat(32)[..]),
        "same inode, size, mtime and ctime: carried over, not read"
    );
    // chmod to the same mode changes only ctime: read again.
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
    let items = collect(dir.path(), spec.clone(), seed()).unwrap();
    assert_eq!(
        field(&items, "/opt/app/bin/tool", "sha256"),
        Some(&sha(b"tool v1\n")[..])
    );
    // Content replaced and mtime put back (touch -r): ctime still moved, so it is read.
    let before = stat_of(&tool);
    let seeded = {
        let c = DigestCache::default();
        c.remember(&before, [0xab; 32], PackageMatch::Unknown);
        DigestCache::decode(&c.encode()).unwrap()
    };
    std::fs::write(&tool, b"tool v2\n").unwrap();
    let mtime = nix::sys::time::TimeSpec::new(before.st_mtime, before.st_mtime_nsec);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &tool,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    let items = collect(dir.path(), spec.clone(), seeded).unwrap();
    assert_eq!(
        field(&items, "/opt/app/bin/tool", "sha256"),
        Some(&sha(b"tool v2\n")[..])
    );
    assert_eq!(
        field(&items, "/opt/app/bin/tool", "package_digest"),
        Some("tool: differs")
    );
    // A full re-hash (what the engine does when rehash_every is due) is an empty cache.
    let cache = std::sync::Arc::new(DigestCache::default());
    let tree = &collectors(&[spec]).unwrap()[0];
    let host = Host::new(dir.path()).with_digests(
        [(tree.name().to_string(), cache.clone())]
            .into_iter()
            .collect(),
    );
    tree.collect(&host).unwrap();
    assert_eq!(cache.counts(), (3, 0), "every regular file read");
    // ... and the next scan reads none of them.
    let next = std::sync::Arc::new(DigestCache::decode(&cache.encode()).unwrap());
    let host = Host::new(dir.path()).with_digests(
        [(tree.name().to_string(), next.clone())]
            .into_iter()
            .collect(),
    );
    let items = tree.collect(&host).unwrap();
    assert_eq!(next.counts(), (0, 3));
    assert_eq!(
        field(&items, "/opt/app/lib/x.so", "package_digest"),
        Some("tool: differs")
    );
}

#[test]
fn excluded_paths_are_left_out_and_excluded_directories_not_entered() {
    let dir = fixture();
    let mut spec = WatchSpec::new("/opt/app").unwrap();
    spec.exclude = vec!["/opt/app/sub".into(), "/opt/app/*/*.so".into()];
    let items = collect(dir.path(), spec, DigestCache::default()).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert!(
        !keys.iter().any(|k| k.starts_with("/opt/app/sub")),
        "{keys:?}"
    );
    assert!(!keys.contains(&"/opt/app/lib/x.so"), "{keys:?}");
    assert!(keys.contains(&"/opt/app/lib") && keys.contains(&"/opt/app/bin/tool"));
}

#[test]
fn a_tree_over_its_bound_is_unavailable_not_truncated() {
    let dir = fixture();
    let mut spec = WatchSpec::new("/opt/app").unwrap();
    spec.max_files = 4;
    match collect(dir.path(), spec, DigestCache::default()) {
        Err(CollectError::Unavailable(why)) => {
            assert!(
                why.contains("max_files") && why.contains("/opt/app"),
                "{why}"
            )
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn fifos_symlinks_out_and_missing_or_linked_tops_are_handled() {
    let dir = fixture();
    let app = dir.path().join("opt/app");
    nix::unistd::mkfifo(&app.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    write(&dir.path().join("secret"), b"outside\n");
    std::os::unix::fs::symlink(dir.path().join("secret"), app.join("out")).unwrap();
    let items = collect(
        dir.path(),
        WatchSpec::new("/opt/app").unwrap(),
        DigestCache::default(),
    )
    .unwrap();
    assert_eq!(field(&items, "/opt/app/pipe", "type"), Some("fifo"));
    assert_eq!(field(&items, "/opt/app/pipe", "sha256"), None);
    assert_eq!(field(&items, "/opt/app/out", "type"), Some("symlink"));
    assert_eq!(
        field(&items, "/opt/app/out", "sha256"),
        None,
        "never followed"
    );
    for (path, why) in [("/nope", "does not exist"), ("/opt/app/link", "symlink")] {
        match collect(
            dir.path(),
            WatchSpec::new(path).unwrap(),
            DigestCache::default(),
        ) {
            Err(CollectError::Unavailable(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn mounts_below_the_top_are_entered_only_when_asked() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    let dir = fixture();
    let mnt = dir.path().join("opt/app/mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&mnt)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (no CAP_SYS_ADMIN?)");
        return;
    }
    write(&mnt.join("inside"), b"on another file system\n");
    let keys = |follow: bool| {
        let mut spec = WatchSpec::new("/opt/app").unwrap();
        spec.follow_mounts = follow;
        collect(dir.path(), spec, DigestCache::default())
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect::<Vec<_>>()
    };
    let (stay, follow) = (keys(false), keys(true));
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    assert!(
        stay.contains(&"/opt/app/mnt".to_string()),
        "the mount point itself is listed"
    );
    assert!(
        !stay.contains(&"/opt/app/mnt/inside".to_string()),
        "{stay:?}"
    );
    assert!(
        follow.contains(&"/opt/app/mnt/inside".to_string()),
        "{follow:?}"
    );
}

#[test]
fn specs_refuse_what_cannot_be_meant() {
    for bad in [
        "usr/bin",
        "/usr/bin/",
        "/usr/../etc",
        "/usr//bin",
        "/usr/./bin",
        "",
    ] {
        assert!(WatchSpec::new(bad).is_err(), "{bad:?}");
    }
    assert!(WatchSpec::new("/").is_ok());
    let mut spec = WatchSpec::new("/usr").unwrap();
    spec.exclude = vec!["lib/**".into()];
    assert!(spec.check().unwrap_err().contains("absolute"));
    spec.exclude = vec!["/usr/[".into()];
    assert!(spec.check().is_err());
    let twice = [
        WatchSpec::new("/usr").unwrap(),
        WatchSpec::new("/usr").unwrap(),
    ];
    assert!(collectors(&twice).err().unwrap().contains("twice"));
    let parsed: Result<WatchSpec, _> = toml::from_str("path = \"/opt\"\nhashing = true\n");
    assert!(parsed.is_err(), "unknown keys are refused");
    let parsed: WatchSpec = toml::from_str("path = \"/opt\"\n").unwrap();
    assert!(parsed.hash && !parsed.follow_mounts && parsed.exclude.is_empty());
}

#[test]
fn selection_names_trees_alone_with_others_or_by_default() {
    let trees = collectors(&[
        WatchSpec::new("/opt").unwrap(),
        WatchSpec::new("/srv").unwrap(),
    ])
    .unwrap();
    let names = |sel: &[&str]| -> Vec<&'static str> {
        let sel: Vec<String> = sel.iter().map(|s| s.to_string()).collect();
        crate::collectors::Registry::new(crate::collectors::COLLECTORS, trees.clone(), Vec::new())
            .select(&sel)
            .unwrap()
            .iter()
            .map(|c| c.name())
            .collect()
    };
    let all = names(&[]);
    assert!(
        all.contains(&"check_etc") && all.contains(&"watch:/opt") && all.contains(&"watch:/srv")
    );
    assert_eq!(names(&["watch:/srv"]), ["watch:/srv"]);
    assert_eq!(names(&["watch"]), ["watch:/opt", "watch:/srv"]);
    assert_eq!(
        names(&["check_etc", "watch:/opt"]),
        ["check_etc", "watch:/opt"]
    );
    assert_eq!(names(&["check_etc"]), ["check_etc"]);
    let err =
        match crate::collectors::Registry::new(crate::collectors::COLLECTORS, trees, Vec::new())
            .select(&["watch:/usr".to_string()])
        {
            Err(e) => e,
            Ok(_) => panic!("an unconfigured tree was selected"),
        };
    assert!(err.contains("watch:/opt"), "{err}");
}

#[test]
fn a_replaced_packaged_file_reads_plainly_and_is_critical() {
    let sudo = |sha: &str, digest: &str| {
        Item::new("/usr/bin/sudo")
            .with("type", "file")
            .with("perm", "-rwxr-xr-x")
            .with("sha256", sha)
            .with("package", "sudo")
            .with("package_digest", format!("sudo: {digest}"))
    };
    // Through the diff and the built-in rules, as a scan judges it.
    let c = crate::rules::testing::change(
        "watch:/usr/bin",
        Some(sudo("aa", "matches")),
        Some(sudo("bb", "differs")),
    );
    assert_eq!(
        c.message,
        "file /usr/bin/sudo changed: content changed (package sudo: digest differs from the package's)"
    );
    assert_eq!(
        (c.severity, c.rule.as_deref()),
        (Severity::Critical, Some("watch.package-differs"))
    );
    let upgrade = crate::rules::testing::change(
        "watch:/usr/bin",
        Some(sudo("aa", "matches")),
        Some(sudo("bb", "matches")),
    );
    assert_eq!(
        (upgrade.severity, upgrade.rule.as_deref()),
        (Severity::Low, Some("watch.package-matches"))
    );
    // The verdict did not change: the message says what did.
    assert_eq!(
        upgrade.message,
        "file /usr/bin/sudo changed: content changed"
    );
    let restored = crate::rules::testing::change(
        "watch:/usr/bin",
        Some(sudo("bb", "differs")),
        Some(sudo("aa", "matches")),
    );
    assert!(
        restored
            .message
            .ends_with("(package sudo: digest matches the package's)"),
        "{}",
        restored.message
    );
    let stray = crate::rules::testing::change(
        "watch:/opt",
        None,
        Some(
            Item::new("/opt/x")
                .with("type", "file")
                .with("package", "none")
                .with("perm", "-rw-r--r--"),
        ),
    );
    assert_eq!(
        (stray.severity, stray.rule.as_deref()),
        (Severity::Medium, Some("watch.unowned-new"))
    );
}

#[test]
fn a_sparse_giant_is_not_read_and_a_tree_deeper_than_path_max_is_walked() {
    let dir = fixture();
    let giant = dir.path().join("opt/app/giant");
    std::fs::File::create(&giant)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    // Built with *at calls: no path this long can be passed to the kernel whole.
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = std::ffi::CString::new("d".repeat(200)).unwrap();
    let mut fd = crate::hostfs::open_root(&dir.path().join("opt/app")).unwrap();
    for _ in 0..25 {
        // SAFETY: valid descriptor and C string; results checked.
        unsafe {
            assert_eq!(libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755), 0);
            let next = libc::openat(
                fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY,
            );
            assert!(next >= 0);
            fd = OwnedFd::from_raw_fd(next);
        }
    }
    // SAFETY: valid descriptor and C string; results checked.
    unsafe {
        let f = libc::openat(
            fd.as_raw_fd(),
            c"bottom".as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        );
        assert!(f >= 0);
        assert_eq!(libc::write(f, b"found\n".as_ptr().cast(), 6), 6);
        libc::close(f);
    }
    let items = collect(
        dir.path(),
        WatchSpec::new("/opt/app").unwrap(),
        DigestCache::default(),
    )
    .unwrap();
    assert_eq!(field(&items, "/opt/app/giant", "sha256"), None);
    assert!(field(&items, "/opt/app/giant", "not_hashed").is_some());
    assert!(field(&items, "/opt/app/giant", "mtime").is_some());
    let bottom = items
        .iter()
        .find(|i| i.key.ends_with("/bottom"))
        .expect("the bottom of a 4 KB-deep tree");
    assert!(bottom.key.len() > 4096);
    assert_eq!(bottom.fields.get("sha256"), Some(&sha(b"found\n")[..]));
    // The temp dir's removal needs relative operations too.
    let _ = std::process::Command::new("rm")
        .arg("-rf")
        .arg(dir.path().join("opt/app").join("d".repeat(200)))
        .status();
}

/// Regression (issue 15): a file above `max_hash_mib` was recorded by size and mtime in whole
/// seconds, so a write with the mtime put back (`touch -d`) was "0 changes detected". Now its
/// ctime (to the nanosecond), device and inode are recorded too: the write is a change, and an
/// idle re-scan still reports nothing.
#[test]
fn an_unhashed_file_changed_with_its_mtime_put_back_is_a_change() {
    let dir = fixture();
    let big = dir.path().join("opt/app/big");
    write(&big, &[b'a'; 64]);
    let tree = &collectors(&[WatchSpec::new("/opt/app").unwrap()]).unwrap()[0];
    let scan = || {
        let host = Host::new(dir.path())
            .with_hashing(16, std::sync::Arc::new(crate::hostfs::HashCache::default()));
        let items = tree.collect(&host).unwrap();
        item(&items, "/opt/app/big").fields.clone()
    };
    let first = scan();
    assert!(first.get("not_hashed").is_some(), "{first:?}");
    let st = stat_of(&big);
    assert_eq!(
        first.get("ctime"),
        Some(&format!("{}.{:09}", st.st_ctime, st.st_ctime_nsec)[..])
    );
    assert_eq!(first.get("inode"), Some(&st.st_ino.to_string()[..]));
    assert_eq!(first.get("dev"), Some(&st.st_dev.to_string()[..]));
    assert_eq!(scan(), first, "an idle re-scan is identical");
    // Same size, new content, mtime put back to the nanosecond.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&big, [b'b'; 64]).unwrap();
    let mtime = nix::sys::time::TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &big,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    let after = scan();
    assert_eq!(
        (after.get("size"), after.get("mtime")),
        (first.get("size"), first.get("mtime"))
    );
    assert_ne!(after, first, "the write is a change");
    assert_ne!(after.get("ctime"), first.get("ctime"));
}

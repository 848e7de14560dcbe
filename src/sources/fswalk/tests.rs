//! Tests of the walks: fake roots built at test time, and the live host where it is meaningful.

use super::*;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;

fn mount(dev: &str, root: &str, point: &str, fstype: &str) -> Mount {
    Mount {
        dev: dev.into(),
        root: root.as_bytes().to_vec(),
        point: point.as_bytes().to_vec(),
        fstype: fstype.into(),
    }
}

#[test]
fn mountinfo_lines_parse_with_escapes_and_optional_fields() {
    let text = "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                garbage line\n\
                40 27 0:40 / /media/my\\040disk rw master:2 shared:3 - vfat /dev/sdb1 rw\n\
                41 27 0:41 /sub /srv/bind rw - ext4 /dev/vda rw\n";
    let m = parse_mountinfo(text.as_bytes());
    assert_eq!(
        m,
        [
            mount("254:0", "/", "/", "ext4"),
            mount("0:40", "/", "/media/my disk", "vfat"),
            mount("0:41", "/sub", "/srv/bind", "ext4"),
        ]
    );
    assert_eq!(
        crate::sources::mountinfo::unescape_octal(b"a\\012b\\134"),
        b"a\nb\\"
    );
    assert_eq!(
        crate::sources::mountinfo::unescape_octal(b"bad\\9x"),
        b"bad\\9x"
    );
}

#[test]
fn only_local_mounts_are_walked_once_each() {
    let mounts = [
        mount("254:0", "/", "/", "ext4"),
        mount("0:21", "/", "/proc", "proc"),
        mount("0:22", "/", "/sys", "sysfs"),
        mount("0:28", "/", "/sys/fs/cgroup", "tmpfs"),
        mount("0:6", "/", "/dev", "devtmpfs"),
        mount("0:23", "/", "/dev/shm", "tmpfs"),
        mount("0:24", "/", "/run", "tmpfs"),
        mount("8:1", "/", "/boot", "ext2"),
        mount("8:2", "/", "/boot/efi", "vfat"),
        mount("0:50", "/", "/mnt/nfs", "nfs4"),
        mount("0:51", "/", "/home/u/remote", "fuse.sshfs"),
        mount("0:52", "/", "/misc", "autofs"),
        mount("254:0", "/var/lib/x", "/srv/bind", "ext4"), // bind of a walked tree
        mount("0:60", "/", "/var/lib/docker/overlay2/m/merged", "overlay"),
        mount("0:70", "/", "/mnt/old", "ext4"),
        mount("0:71", "/", "/mnt/old", "xfs"), // mounted over: the xfs one is visible
    ];
    let got: Vec<String> = select_mounts(&mounts)
        .into_iter()
        .map(|p| String::from_utf8(p).unwrap())
        .collect();
    assert_eq!(
        got,
        ["/", "/run", "/boot", "/dev/shm", "/mnt/old", "/boot/efi"]
    );
    let overlay_root = [mount("0:60", "/", "/", "overlay")];
    assert_eq!(select_mounts(&overlay_root), [b"/".to_vec()]);
    assert!(is_under(b"/proc/1", b"/proc") && !is_under(b"/procx", b"/proc"));
}

fn touch(path: &Path, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"x").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn suid_keys(host: &Host) -> Vec<String> {
    walk_special(host, 2)
        .unwrap()
        .suid
        .iter()
        .map(|s| host.display(&s.path))
        .collect()
}

#[test]
fn a_mount_table_under_a_fake_root_steers_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch(&root.join("usr/bin/su"), 0o4755);
    touch(&root.join("proc/fake/suid"), 0o4755);
    touch(&root.join("boot/efi/EFI/evil"), 0o4755);
    touch(&root.join("mnt/nfs/remote-suid"), 0o4755);
    touch(&root.join("usr/bin/plain"), 0o755);

    let all = [
        "/boot/efi/EFI/evil",
        "/mnt/nfs/remote-suid",
        "/proc/fake/suid",
        "/usr/bin/su",
    ];
    let host = Host::new(root);
    assert_eq!(suid_keys(&host), all, "the whole root, on its device");

    // An image's own mount table is only a file its author wrote: it must not steer the
    // walk (here it would hide /mnt/nfs and /proc).
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::write(
        root.join("proc/self/mountinfo"),
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
         2 1 0:5 / /proc rw - proc proc rw\n\
         3 1 8:2 / /boot/efi rw - vfat /dev/sda2 rw\n\
         4 1 0:9 / /mnt/nfs rw - nfs4 srv:/x rw\n",
    )
    .unwrap();
    let host = Host::new(root);
    assert_eq!(suid_keys(&host), all, "the image's table is ignored");
}

/// Regression (issue 8): a mount point whose name is not UTF-8 was compared lossily, so
/// the walk entered mounts it should skip. Mounts below a fake root come from the
/// scanner's own table, and a directory on another device is never entered.
#[test]
fn mounts_below_a_fake_root_are_not_entered_even_with_odd_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch(&root.join("usr/bin/su"), 0o4755);
    let odd = root.join(OsStr::from_bytes(b"mnt/odd\xff\xfe"));
    std::fs::create_dir_all(&odd).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&odd)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs here (not root?): skipping the mount part");
        return;
    }
    touch(&odd.join("hidden-suid"), 0o4755);
    let host = Host::new(root);
    let keys = suid_keys(&host);
    let _ = std::process::Command::new("umount").arg(&odd).status();
    // The tmpfs below the root is walked from its own start (it is local), once.
    assert_eq!(
        keys,
        ["/mnt/odd\\xff\\xfe/hidden-suid", "/usr/bin/su"],
        "{keys:?}"
    );
}

#[test]
fn walk_counts_entries_and_finds_fifos() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..50 {
        touch(&root.join(format!("d{}/f{i}", i % 7)), 0o644);
    }
    nix::unistd::mkfifo(&root.join("d1/pipe"), nix::sys::stat::Mode::S_IRUSR).unwrap();
    std::os::unix::fs::symlink("/nonexistent", root.join("d2/link")).unwrap();
    let found = walk_special(&Host::new(root), 3).unwrap();
    assert_eq!(found.scanned, 50 + 7 + 2);
    assert_eq!(found.fifos.len(), 1);
    assert!(found.fifos[0].path.ends_with("d1/pipe"));
    assert!(found.suid.is_empty() && found.caps.is_empty());
}

#[test]
fn a_missing_root_is_unavailable_and_tree_lists_everything() {
    let host = Host::new("/nonexistent-dawgmon-root");
    assert!(matches!(
        special_files(&host),
        Err(CollectError::Unavailable(m)) if m.contains("cannot walk")
    ));
    let dir = tempfile::tempdir().unwrap();
    touch(&dir.path().join("etc/a/b/c"), 0o600);
    let host = Host::new(dir.path());
    let spec = |dir| TreeSpec {
        dir,
        hash: true,
        exclude: None,
        cross_mounts: true,
        max_entries: usize::MAX,
        verify_packages: false,
    };
    let cache = crate::hostfs::digests::DigestCache::default();
    let names: Vec<String> = walk_tree(&host, &spec("/etc"), &cache)
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(names, ["/etc", "/etc/a", "/etc/a/b", "/etc/a/b/c"]);
    assert!(matches!(
        walk_tree(&host, &spec("/boot"), &cache),
        Err(CollectError::Unavailable(_))
    ));
}

#[test]
fn hashing_refuses_fifos_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path());
    let fifo = dir.path().join("p");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert!(host.hash_walked(&fifo).is_err(), "must not block on a FIFO");
    std::os::unix::fs::symlink(&fifo, dir.path().join("l")).unwrap();
    assert!(host.hash_walked(&dir.path().join("l")).is_err());
    std::fs::write(dir.path().join("f"), b"abc").unwrap();
    assert_eq!(
        host.hash_walked(&dir.path().join("f")).unwrap(),
        Hashed::Sha256(crate::sources::common::sha256_bytes(b"abc"))
    );
}

/// Issue 8 (hostile names): a tree deeper than PATH_MAX, which any user can build in
/// /tmp, used to hide what lay below 4,096 bytes; it is walked to the bottom.
#[test]
fn a_tree_deeper_than_path_max_is_walked_to_the_bottom() {
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::CString::new("d".repeat(200)).unwrap();
    let mut fd = hostfs::open_root(dir.path()).unwrap();
    let mut depth_bytes = dir.path().as_os_str().len();
    for _ in 0..30 {
        // SAFETY: valid descriptor and C string; results checked.
        unsafe {
            assert_eq!(libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755), 0);
            let next = libc::openat(
                fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY,
            );
            assert!(next >= 0);
            fd = std::os::fd::FromRawFd::from_raw_fd(next);
        }
        depth_bytes += 201;
    }
    assert!(depth_bytes > 6000);
    let dirfd = hostfs::open_dir(fd.as_raw_fd(), Path::new(".")).unwrap();
    // SAFETY: valid descriptor and C string; results checked.
    unsafe {
        let f = libc::openat(
            dirfd.as_raw_fd(),
            c"deep-suid".as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        );
        assert!(f >= 0);
        assert_eq!(libc::fchmod(f, 0o4755), 0);
        libc::close(f);
    }
    let found = walk_special(&Host::new(dir.path()), 2).unwrap();
    assert_eq!(found.suid.len(), 1, "{:?}", found.suid);
    assert!(found.suid[0].path.as_os_str().len() > 6000);
    assert!(found.suid[0].path.ends_with("deep-suid"));
    // Removing it needs relative operations too.
    let _ = std::process::Command::new("rm")
        .arg("-rf")
        .arg(dir.path().join("d".repeat(200)))
        .status();
}

/// Regression (issue 8): only "gone" counts as gone. A walk that runs out of descriptors
/// (EMFILE) must fail, not report every file it could not open as deleted.
#[test]
fn running_out_of_descriptors_fails_the_walk_instead_of_losing_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    for i in 0..20 {
        touch(&root.join(format!("d{i}/sub/suid")), 0o4755);
    }
    // In a child process: lower the descriptor limit to what is open already.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sources::fswalk::tests::emfile_child",
            "--ignored",
            "--nocapture",
        ])
        .env("DAWGMON_EMFILE_ROOT", &root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("walk failed: cannot read") && text.contains("Too many open files"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore]
fn emfile_child() {
    let Ok(root) = std::env::var("DAWGMON_EMFILE_ROOT") else {
        return;
    };
    let host = Host::new(&root);
    host.open_walked_dir(Path::new(&root)).unwrap(); // root fd opened before the limit
    let plan = plan(&host).unwrap();
    // No descriptor left: the limit is the lowest free descriptor number.
    let free = std::fs::File::open("/dev/null").unwrap();
    let free = std::os::fd::AsRawFd::as_raw_fd(&free) as u64;
    let lim = libc::rlimit {
        rlim_cur: free,
        rlim_max: 4096,
    };
    // SAFETY: setrlimit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    match walk_planned(&host, &plan, 4) {
        Ok(f) => println!("walk succeeded with {} suid", f.suid.len()),
        Err(e) => println!("walk failed: {e}"),
    }
}

/// Timing of the live walk: `cargo test --release --lib fswalk::tests::live_walk_timing
/// -- --ignored --nocapture` (DAWGMON_WALK_ROOT=/some/tree to walk a tree as a fake root,
/// DAWGMON_WALK_THREADS=n to change the thread count).
#[test]
#[ignore]
fn live_walk_timing() {
    let root = std::env::var("DAWGMON_WALK_ROOT").unwrap_or_else(|_| "/".into());
    let threads = std::env::var("DAWGMON_WALK_THREADS").map_or(2, |t| t.parse().unwrap());
    let host = Host::new(root);
    let t = std::time::Instant::now();
    let found = walk_special(&host, threads).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "walked {} entries in {secs:.3}s ({:.0}/s): {} suid/sgid, {} fifos, {} with caps",
        found.scanned,
        found.scanned as f64 / secs,
        found.suid.len(),
        found.fifos.len(),
        found.caps.len()
    );
}

/// Regression (issue 15): the FIFO, setuid and world-writable lists had no cap (300,000 FIFOs
/// made by one user cost 125 MB in list_pipes alone; more, and the OOM killer ends the daemon).
/// Past `max_items` a list stops growing and its collector is an outage naming the cause and
/// the key; the other lists of the same walk are still whole.
#[test]
fn fifos_past_max_items_are_an_outage_and_stop_growing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    for i in 0..30 {
        let p = root.join(format!("tmp/p{i}"));
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRUSR).unwrap();
    }
    touch(&root.join("usr/bin/su"), 0o4755);
    let host = Host::new(root).with_max_items(10);
    let found = walk_special(&host, 3).unwrap();
    assert_eq!(found.fifos.len(), 10, "kept up to the cap, no more");
    let e = crate::collectors::by_name("list_pipes")
        .unwrap()
        .collect(&host)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("more than 10 named pipes") && e.contains("max_items"),
        "{e}"
    );
    let suids = crate::collectors::by_name("list_suids")
        .unwrap()
        .collect(&host)
        .unwrap();
    assert_eq!(suids.len(), 1, "{suids:?}");
    // Under the default cap the same walk lists them all.
    let all = crate::collectors::by_name("list_pipes")
        .unwrap()
        .collect(&Host::new(root))
        .unwrap();
    assert_eq!(all.len(), 30);
}

use super::*;
use std::os::unix::fs::symlink;

fn root(dir: &Path) -> OwnedFd {
    open_root(dir).unwrap()
}

#[test]
fn walked_paths_refuse_a_directory_swapped_for_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("tmp/a")).unwrap();
    std::fs::write(d.join("tmp/a/tool"), b"x").unwrap();
    let fd = root(d);
    let (_, st) = open_regular(
        fd.as_raw_fd(),
        Path::new("/tmp/a/tool"),
        Resolve::NoSymlinks,
    )
    .unwrap();
    assert_eq!(st.st_size, 1);
    // The attack: the directory becomes a symlink to /dev (where pts/ptmx live).
    std::fs::rename(d.join("tmp/a"), d.join("tmp/b")).unwrap();
    symlink("/dev", d.join("tmp/a")).unwrap();
    std::fs::write(d.join("tmp/b/null"), b"").unwrap();
    let e = open_regular(
        fd.as_raw_fd(),
        Path::new("/tmp/a/null"),
        Resolve::NoSymlinks,
    )
    .unwrap_err();
    // ELOOP from openat2; ENOTDIR from the fallback (see below).
    assert!(
        matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
        "{e}"
    );
    let e = open_by_components(fd.as_raw_fd(), &relative(Path::new("/tmp/a/null")).unwrap())
        .unwrap_err();
    // O_NOFOLLOW | O_DIRECTORY on a symlink: ENOTDIR.
    assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "fallback: {e}");
}

#[test]
fn an_image_symlink_stays_inside_the_image_and_devices_are_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(d.join("etc/shadow"), b"image shadow\n").unwrap();
    symlink("/etc/shadow", d.join("etc/passwd")).unwrap();
    symlink("/dev/zero", d.join("etc/zero")).unwrap();
    let fd = root(d);
    let (f, _) = open_regular(fd.as_raw_fd(), Path::new("/etc/passwd"), Resolve::InRoot).unwrap();
    assert_eq!(read_capped(f, 100).unwrap(), b"image shadow\n");
    // /dev/zero resolved inside the image does not exist; the host's is never reached.
    let e = open_regular(fd.as_raw_fd(), Path::new("/etc/zero"), Resolve::InRoot).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    // A device node inside the image (made as root) is refused without being opened.
    std::fs::create_dir(d.join("dev")).unwrap();
    let null = nix::sys::stat::makedev(1, 3);
    if nix::sys::stat::mknod(
        &d.join("dev/watch"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::S_IRUSR,
        null,
    )
    .is_ok()
    {
        symlink("/dev/watch", d.join("etc/watch")).unwrap();
        let e = open_regular(fd.as_raw_fd(), Path::new("/etc/watch"), Resolve::InRoot).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
    let e = open_regular(fd.as_raw_fd(), Path::new("/dev/../../etc"), Resolve::InRoot).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

/// Without openat2 (the shipped unit's seccomp filter refuses it), configuration paths
/// still follow their symlinks, inside the root only.
#[test]
fn the_fallback_follows_symlinks_inside_the_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("usr/lib")).unwrap();
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(d.join("usr/lib/os-release"), b"ID=image\n").unwrap();
    symlink("../usr/lib/os-release", d.join("etc/os-release")).unwrap();
    symlink("/etc/os-release", d.join("etc/abs")).unwrap();
    symlink("../../../../../../etc/os-release", d.join("etc/climb")).unwrap();
    symlink("loop2", d.join("etc/loop1")).unwrap();
    symlink("loop1", d.join("etc/loop2")).unwrap();
    symlink("/etc/shadow", d.join("etc/host-shadow")).unwrap();
    let fd = root(d);
    let read = |p: &str| {
        let rel = relative(Path::new(p)).unwrap();
        let o = resolve_in_root_by_components(fd.as_raw_fd(), &rel)?;
        let again = CString::new(format!("/proc/self/fd/{}", o.as_raw_fd())).unwrap();
        // SAFETY: a C string; checked.
        let raw = unsafe { libc::open(again.as_ptr(), read_flags()) };
        assert!(raw >= 0);
        // SAFETY: a fresh descriptor.
        read_capped(File::from(unsafe { OwnedFd::from_raw_fd(raw) }), 100)
    };
    for p in ["/etc/os-release", "/etc/abs", "/etc/climb"] {
        assert_eq!(read(p).unwrap(), b"ID=image\n", "{p}");
    }
    assert_eq!(
        read("/etc/loop1").unwrap_err().raw_os_error(),
        Some(libc::ELOOP)
    );
    // The host's /etc/shadow is never reached: the image has none.
    assert_eq!(
        read("/etc/host-shadow").unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let fd = root(dir.path());
    for how in [Resolve::NoSymlinks, Resolve::InRoot] {
        let e = open_regular(fd.as_raw_fd(), Path::new("p"), how).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{how:?}: {e}");
    }
    let dev = open_root(Path::new("/")).unwrap();
    let e = open_regular(dev.as_raw_fd(), Path::new("/dev/null"), Resolve::NoSymlinks).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn hashing_is_capped_and_cancellable_and_reads_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big");
    let f = File::create(&p).unwrap();
    f.set_len(1 << 40).unwrap(); // a sparse terabyte
    let no = || false;
    let open = || File::open(&p).unwrap();
    assert_eq!(
        hash_file(open(), 1 << 40, 1 << 20, &no).unwrap(),
        Hashed::TooLarge {
            size: 1 << 40,
            cap: 1 << 20
        }
    );
    std::fs::write(&p, b"abc").unwrap();
    assert_eq!(
        hash_file(open(), 3, 1 << 20, &no).unwrap(),
        Hashed::Sha256(crate::sources::common::sha256_bytes(b"abc"))
    );
    let yes = || true;
    assert!(hash_file(open(), 3, 1 << 20, &yes).is_err());
    assert_eq!(read_capped(open(), 3).unwrap(), b"abc");
    assert_eq!(
        read_capped(open(), 2).unwrap_err().kind(),
        io::ErrorKind::FileTooLarge
    );
    assert_eq!(human_size(256 << 20), "256 MiB");
    assert_eq!(human_size(1 << 40), "1 TiB");
    assert_eq!(human_size(1536), "1.5 KiB");
}

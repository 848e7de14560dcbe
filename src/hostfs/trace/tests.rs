use super::*;
use std::os::unix::fs::symlink;

fn kinds(t: &Trace) -> Vec<(String, StepKind)> {
    t.steps
        .iter()
        .map(|s| (s.path.display().to_string(), s.kind))
        .collect()
}

#[test]
fn symlinks_are_followed_inside_the_root_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("usr/bin")).unwrap();
    std::fs::create_dir_all(d.join("opt/tool")).unwrap();
    std::fs::write(d.join("opt/tool/run"), b"x").unwrap();
    symlink("usr/bin", d.join("bin")).unwrap();
    symlink("/opt/tool/run", d.join("usr/bin/tool")).unwrap();
    symlink("../../../../../../etc", d.join("usr/bin/climb")).unwrap();
    symlink("loop", d.join("usr/bin/loop")).unwrap();
    let root = super::super::open_root(d).unwrap();
    let t = trace(root.as_raw_fd(), Path::new("/bin/tool")).unwrap();
    assert!(t.complete);
    use StepKind::*;
    assert_eq!(
        kinds(&t),
        [
            ("/".into(), Dir),
            ("/bin".into(), Symlink),
            ("/usr".into(), Dir),
            ("/usr/bin".into(), Dir),
            ("/usr/bin/tool".into(), Symlink),
            ("/opt".into(), Dir),
            ("/opt/tool".into(), Dir),
            ("/opt/tool/run".into(), Target),
        ]
    );
    // `..` stops at the root: the host's /etc is never reached; the image has none.
    let t = trace(root.as_raw_fd(), Path::new("/usr/bin/climb/passwd")).unwrap();
    assert!(!t.complete);
    assert_eq!(t.steps.last().unwrap().path, Path::new("/"));
    let t = trace(
        root.as_raw_fd(),
        Path::new("/opt/../../usr/./bin/../bin/tool"),
    )
    .unwrap();
    assert_eq!(t.steps.last().unwrap().path, Path::new("/opt/tool/run"));
    let e = trace(root.as_raw_fd(), Path::new("/usr/bin/loop")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    let t = trace(root.as_raw_fd(), Path::new("/usr/bin/missing")).unwrap();
    assert!(!t.complete);
    assert_eq!(t.steps.last().unwrap().path, Path::new("/usr/bin"));

    // lstat: links on the way followed in the root, the last one described; with and
    // without openat2 alike.
    let by_hand = |p: &str| {
        let c = super::super::relative(Path::new(p)).unwrap();
        super::super::lstat_by_components(root.as_raw_fd(), &c)
    };
    for p in ["/bin/tool", "/bin", "/usr/bin/tool", "/", "/bin/climb"] {
        let a = super::super::lstat_in_root(root.as_raw_fd(), Path::new(p)).unwrap();
        let b = by_hand(p).unwrap();
        assert_eq!((a.st_ino, a.st_mode), (b.st_ino, b.st_mode), "{p}");
    }
    let st = by_hand("/bin/tool").unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    let st = by_hand("/bin/climb/opt").unwrap_err();
    assert_eq!(
        st.kind(),
        io::ErrorKind::NotFound,
        "the climb ends in the image, which has no /etc"
    );
    assert!(by_hand("/usr/bin/missing").is_err());
}

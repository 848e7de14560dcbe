use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::*;

fn open_path(p: &Path) -> OwnedFd {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string; the descriptor is ours.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0, "open {}", p.display());
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[test]
fn climbing_names_a_directory_by_the_inodes_of_its_parents() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a").join("b c").join("d\u{202e}e");
    std::fs::create_dir_all(&deep).unwrap();
    let real = std::fs::canonicalize(&deep).unwrap();
    let fd = open_path(&deep);
    let st = fstat(fd.as_raw_fd()).unwrap();
    assert_eq!(climb(&fd, (st.st_dev, st.st_ino)).unwrap(), real);
    assert_eq!(dir_path(&fd).unwrap(), real);
    // The root itself.
    let root = open_path(Path::new("/"));
    let st = fstat(root.as_raw_fd()).unwrap();
    assert_eq!(
        climb(&root, (st.st_dev, st.st_ino)).unwrap(),
        PathBuf::from("/")
    );
}

#[test]
fn a_directory_removed_since_is_not_given_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let fd = open_path(&gone);
    std::fs::remove_dir(&gone).unwrap();
    // The kernel's name ends in " (deleted)" and leads nowhere; climbing finds no entry.
    assert!(dir_path(&fd).is_err());
}

use super::*;
use crate::collectors::testing::write;

#[test]
fn a_file_is_read_once_by_identity_per_context_and_the_budget_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etc/a.conf", "x\n");
    std::os::unix::fs::symlink("a.conf", dir.path().join("etc/b.conf")).unwrap();
    let host = Host::new(dir.path()).with_max_items(5);
    let mut walk = Includes::new(&host, "test files");
    assert!(matches!(walk.read("/etc/a.conf", "").unwrap(), Read::Bytes(b) if b == b"x\n"));
    assert!(matches!(walk.read("/etc/b.conf", "").unwrap(), Read::Again));
    assert!(matches!(
        walk.read("/etc/a.conf", "Match x").unwrap(),
        Read::Bytes(_)
    ));
    assert!(matches!(
        walk.read("/etc/none", "").unwrap(),
        Read::Failed(_)
    ));
    walk.count(1).unwrap();
    let e = walk.count(1).unwrap_err().to_string();
    assert!(
        e.contains("test files: more than 5") && e.contains("max_items"),
        "{e}"
    );
}

#[test]
fn a_cancelled_scan_stops_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etc/a.conf", "x\n");
    let host = Host::new(dir.path());
    let mut walk = Includes::new(&host, "test files");
    host.cancel_flag()
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let e = walk.read("/etc/a.conf", "").err().unwrap().to_string();
    assert!(e.contains("gave up"), "{e}");
}

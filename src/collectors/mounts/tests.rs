use super::*;
use crate::host::escape_bytes;
use crate::model::Fields;
use crate::model::Severity;
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

// Real lines from this machine, then a stacked mount, odd names, a bind mount that is
// read-only on a writable superblock and vice versa, and malformed lines.
const MOUNTINFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683656k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,mode=755
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
29 26 0:26 / /dev/pts rw,nosuid,relatime shared:5 - devpts devpts rw,mode=600,ptmxmode=000
30 27 0:27 / /mnt/with\\040space rw,relatime master:1 shared:2 - tmpfs my\\040src rw,noexec
31 27 0:28 / /mnt/new\\012line rw - tmpfs tmpfs ro
34 27 254:0 /srv/data /mnt/bind rw,nosuid - ext4 /dev/vda rw
not a mountinfo line
32 27 0:29 / relative rw - tmpfs tmpfs rw
33 27 0:30 / /mnt/nosep rw tmpfs tmpfs rw
";

fn root(content: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
    if let Some(c) = content {
        std::fs::write(dir.path().join("proc/self/mountinfo"), c).unwrap();
    }
    dir
}

#[test]
fn fixture_mounts() {
    let dir = root(Some(MOUNTINFO));
    let items = ListMount.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/mnt/bind",
            "/mnt/new\\x0aline",
            "/mnt/sandboxing/model_tools_env/v1/python",
            "/mnt/with space",
            "/proc",
            "/sys",
        ]
    );
    let by = |k: &str| &items.iter().find(|i| i.key == k).unwrap().fields;
    assert_eq!(&by("/")["fstype"], "ext4");
    assert_eq!(&by("/")["source"], "/dev/vda");
    assert_eq!(&by("/")["options"], "relatime,rw");
    // The top of the stack wins.
    assert_eq!(&by("/dev/pts")["options"], "nosuid,relatime,rw");
    assert_eq!(&by("/mnt/with space")["source"], "my src");
    assert_eq!(&by("/mnt/bind")["source"], "/dev/vda[/srv/data]");
    assert_eq!(&by("/mnt/with space")["options"], "noexec,relatime,rw");
    assert_eq!(&by("/mnt/new\\x0aline")["options"], "ro");
    assert_eq!(
        &by("/mnt/sandboxing/model_tools_env/v1/python")["options"],
        "nodev,nosuid,relatime,ro"
    );
    assert!(!by("/dev/shm")["options"].contains("size"));
}

#[test]
fn missing_mountinfo_is_unavailable() {
    let dir = root(None);
    match ListMount.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert!(m.contains("/proc/self/mountinfo"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn messages_and_severities() {
    let f = |o: &str| -> Option<Fields> { Some([("options".to_string(), o.to_string())].into()) };
    let mut c = Change {
        collector: "list_mount".into(),
        kind: ChangeKind::Modified,
        key: "/".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: f("nosuid,rw"),
        after: f("rw"),
    };
    assert_eq!(
        ListMount.message(&c),
        "mount / changed: options from nosuid,rw to rw"
    );
    assert_eq!(crate::rules::testing::severity(&c), Severity::Medium);
    c.before = f("relatime,rw");
    c.after = f("noatime,rw");
    assert_eq!(crate::rules::testing::severity(&c), Severity::Low);
    c.kind = ChangeKind::Added;
    c.key = "/mnt/x".into();
    c.after = Some(
        [
            ("fstype", "tmpfs"),
            ("source", "tmpfs"),
            ("options", "nosuid,rw"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into(),
    );
    assert_eq!(
        ListMount.message(&c),
        "mount /mnt/x added (fstype=tmpfs, source=tmpfs, options=nosuid,rw)"
    );
    assert_eq!(crate::rules::testing::severity(&c), Severity::Low);
}

/// Unmounts when the test ends, pass or fail.
struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn live_tmpfs_mount_appears_and_disappears() {
    let dir = tempfile::tempdir().unwrap();
    let point = dir.path().join("dawgmon mnt");
    std::fs::create_dir(&point).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,nosuid,nodev", "dawgmon-test"])
        .arg(&point)
        .status()
        .unwrap();
    assert!(st.success(), "mount failed");
    let guard = Unmount(point.clone());
    let key = escape_bytes(point.as_os_str().as_bytes());
    let items = ListMount.collect(&Host::new("/")).unwrap();
    let item = items
        .iter()
        .find(|i| i.key == key)
        .expect("the tmpfs is listed");
    assert_eq!(&item.fields["fstype"], "tmpfs");
    assert_eq!(&item.fields["source"], "dawgmon-test");
    let opts: BTreeSet<&str> = item.fields["options"].split(',').collect();
    assert!(
        opts.is_superset(&BTreeSet::from(["rw", "nosuid", "nodev"])),
        "{opts:?}"
    );
    drop(guard);
    let items = ListMount.collect(&Host::new("/")).unwrap();
    assert!(!items.iter().any(|i| i.key == key));
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated mountinfo never panics the parser, and the
    /// mounts it keeps are printable.
    #[test]
    fn fuzz_mountinfo(text in crate::collectors::fuzz::bytes(MOUNTINFO)) {
        let items: Vec<Item> = text.split(|&b| b == b'\n').filter_map(parse_line).collect();
        crate::collectors::fuzz::assert_printable(&items);
    }
}

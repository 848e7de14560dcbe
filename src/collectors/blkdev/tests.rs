use super::*;
use crate::model::Fields;
use crate::model::Severity;

use crate::collectors::testing::write;

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // As on this machine: vda with no model, an unused loop pool, an unused zram.
    write(d, "sys/block/vda/size", "536870912\n");
    write(d, "sys/block/vda/ro", "0\n");
    write(d, "sys/block/vda/removable", "0\n");
    write(d, "sys/block/loop0/size", "0\n");
    write(d, "sys/block/loop0/ro", "0\n");
    write(d, "sys/block/zram0/size", "0\n");
    // A USB stick with a partition, and an attached loop image.
    write(d, "sys/block/sdb/size", "30031872\n");
    write(d, "sys/block/sdb/ro", "0\n");
    write(d, "sys/block/sdb/removable", "1\n");
    write(d, "sys/block/sdb/device/model", "Cruzer Blade    \n");
    write(d, "sys/block/sdb/sdb1/size", "30029824\n");
    write(d, "sys/block/sdb/sdb1/ro", "0\n");
    write(d, "sys/block/sdb/sdb1/partition", "1\n");
    write(d, "sys/block/sdb/queue/size", "not a partition\n");
    write(d, "sys/block/loop1/size", "2048\n");
    write(d, "sys/block/loop1/ro", "1\n");
    // Malformed: no size.
    write(d, "sys/block/sdz/ro", "0\n");
    dir
}

#[test]
fn fixture_devices() {
    let dir = root();
    let mut items = ListBlkdev.collect(&Host::new(dir.path())).unwrap();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["loop1", "sdb", "sdb1", "vda"]);
    let by = |k: &str| &items.iter().find(|i| i.key == k).unwrap().fields;
    assert_eq!(&by("vda")["size"], "274877906944");
    assert_eq!(&by("vda")["type"], "disk");
    assert!(!by("vda").contains_key("model"));
    assert_eq!(&by("sdb")["model"], "Cruzer Blade");
    assert_eq!(&by("sdb")["removable"], "yes");
    assert_eq!(&by("sdb1")["type"], "partition");
    assert_eq!(&by("sdb1")["size"], "15375269888");
    assert_eq!(&by("loop1")["type"], "loop");
    assert_eq!(&by("loop1")["ro"], "yes");
}

#[test]
fn missing_sys_block_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    match ListBlkdev.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert!(m.contains("/sys/block"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[test]
fn added_message() {
    let after: Fields = [("size", "1024"), ("model", "X"), ("type", "disk")]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into();
    let c = Change {
        collector: "list_blkdev".into(),
        kind: ChangeKind::Added,
        key: "sdb".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some(after),
    };
    assert_eq!(
        ListBlkdev.message(&c),
        "block device sdb added (size=1024, model=X, type=disk)"
    );
    assert_eq!(crate::rules::testing::severity(&c), Severity::Low);
}

/// Live tests that change or compare the set of loop devices run one at a time.
static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn live_scan_matches_sysfs_and_is_stable() {
    let _one = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let items = ListBlkdev.collect(&Host::new("/")).unwrap();
    // Every non-pooled device in /sys/block is listed, with its real size.
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        let sectors: u64 = std::fs::read_to_string(e.path().join("size"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let item = items.iter().find(|i| i.key == name);
        if sectors == 0 && POOLED.contains(&disk_type(&name)) {
            assert!(item.is_none(), "{name} is an unused pool device");
        } else {
            let size = &item.unwrap_or_else(|| panic!("{name} missing")).fields["size"];
            assert_eq!(size, &(sectors * 512).to_string());
        }
    }
    assert_eq!(items, ListBlkdev.collect(&Host::new("/")).unwrap());
}

/// Detaches a loop device when the test ends, pass or fail.
struct Detach(String);
impl Drop for Detach {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.0])
            .status();
    }
}

#[test]
fn live_loop_device_appears_and_disappears() {
    let _one = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(3 << 20)
        .unwrap();
    let out = std::process::Command::new("losetup")
        .args(["-f", "--show", "-r"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "losetup: {out:?}");
    let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let guard = Detach(dev.clone());
    let name = dev.trim_start_matches("/dev/").to_string();
    let items = ListBlkdev.collect(&Host::new("/")).unwrap();
    let item = items
        .iter()
        .find(|i| i.key == name)
        .expect("attached loop listed");
    assert_eq!(item.fields["size"], (3u64 << 20).to_string());
    assert_eq!(&item.fields["type"], "loop");
    assert_eq!(&item.fields["ro"], "yes");
    drop(guard);
    let items = ListBlkdev.collect(&Host::new("/")).unwrap();
    assert!(!items.iter().any(|i| i.key == name), "{name} still listed");
}

//! Block devices and their partitions, from `sys/block/*` under the host root.
//!
//! A new disk, USB stick or loop-mounted image is new storage that can be mounted, read or
//! written. Items are keyed by kernel device name (`sda`, `sda1`, `nvme0n1p2`); fields are the
//! size in bytes (the `size` attribute is always in 512-byte sectors), read-only and removable
//! flags, the model (trimmed) and a type (disk, partition, loop, ram, zram, nbd, raid, dm, rom).
//! Unused loop, ram, zram and nbd devices (size 0) are skipped: the kernel keeps a pool of them,
//! and attaching one (`losetup`) then shows up as a device added. I/O statistics are left out.

use std::path::Path;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes, escape_os};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::render_modified;

/// The `list_blkdev` collector.
pub struct ListBlkdev;

/// Device types that exist unused in pools; skipped while their size is 0.
const POOLED: [&str; 4] = ["loop", "ram", "zram", "nbd"];

impl Collector for ListBlkdev {
    fn name(&self) -> &'static str {
        "list_blkdev"
    }
    fn description(&self) -> &'static str {
        "block devices and partitions: size, type, model, read-only and removable flags"
    }
    fn noun(&self) -> &'static str {
        "block device"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let root = host.path("/sys/block");
        let dir = match host.read_dir_real(&root) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::Unavailable(format!(
                    "/sys/block does not exist under {}: sysfs is not mounted there; scan a live \
                     host or mount /sys",
                    host.root().display()
                )));
            }
            Err(e) => return Err(CollectError::io(root, e)),
        };
        let mut items = Vec::new();
        for entry in dir.flatten() {
            let name = escape_os(&entry.file_name());
            let path = entry.path();
            let kind = disk_type(&name);
            let Some(item) = device(host, &path, name, kind) else {
                continue;
            };
            if POOLED.contains(&kind) && item.fields.get("size").is_some_and(|s| s == "0") {
                continue;
            }
            items.push(item);
            // Partitions are subdirectories holding a `partition` attribute.
            for sub in host.read_dir_real(&path).into_iter().flatten().flatten() {
                let sub_path = sub.path();
                if sub_path.join("partition").is_file()
                    && let Some(part) =
                        device(host, &sub_path, escape_os(&sub.file_name()), "partition")
                {
                    items.push(part);
                }
            }
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let noun = self.noun();
        match change.kind {
            ChangeKind::Added => {
                let f = change.after.clone().unwrap_or_default();
                let about = crate::sources::common::render_named(
                    &f,
                    &["size", "model", "type", "ro", "removable"],
                );
                format!("{noun} {} added ({})", change.key, about)
            }
            ChangeKind::Removed => format!("{noun} {} removed", change.key),
            ChangeKind::Modified => {
                format!("{noun} {} changed: {}", change.key, render_modified(change))
            }
        }
    }
}

/// One device or partition directory as an item; `None` without a readable `size`.
fn device(host: &Host, path: &Path, name: String, kind: &str) -> Option<Item> {
    let sectors: u64 = attr(host, path, "size")?.parse().ok()?;
    let flag = |a: &str| attr(host, path, a).map(|v| if v == "0" { "no" } else { "yes" });
    Some(
        Item::new(name)
            .with("size", sectors.saturating_mul(512))
            .with("type", kind)
            .with_opt("ro", flag("ro"))
            // Partitions have no `removable` of their own.
            .with_opt("removable", flag("removable"))
            .with_opt(
                "model",
                attr(host, path, "device/model").filter(|m| !m.is_empty()),
            ),
    )
}

/// The type of a whole device, from its name (as `lsblk` reports it).
fn disk_type(name: &str) -> &'static str {
    let prefixes = [
        ("loop", "loop"),
        ("zram", "zram"),
        ("ram", "ram"),
        ("nbd", "nbd"),
        ("md", "raid"),
        ("dm-", "dm"),
        ("sr", "rom"),
    ];
    prefixes
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map_or("disk", |(_, t)| t)
}

/// A sysfs attribute, trimmed and escaped (a device's model is whatever its firmware, or a
/// crafted image, says: control characters must not reach a terminal); `None` when absent or
/// unreadable.
fn attr(host: &Host, dev: &Path, name: &str) -> Option<String> {
    host.read_real(&dev.join(name))
        .ok()
        .map(|s| escape_bytes(s.trim_ascii()))
}

#[cfg(test)]
mod tests {
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
}

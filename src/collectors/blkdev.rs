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
mod tests;

//! Mounted file systems, from `proc/self/mountinfo` under the host root.
//!
//! A new mount brings new files (and maybe setuid binaries or device nodes) into the tree, and a
//! mount losing `nosuid`, `nodev` or `noexec` widens what its files can do. Items are keyed by
//! mount point; fields are the file-system type, the source (`/dev/sda1[/srv]` for a bind
//! mount of a subdirectory, as `findmnt` shows it) and the options: the per-mount
//! options, sorted, plus the security-relevant flags of the superblock (read-only, nosuid, nodev,
//! noexec; a read-only superblock turns `rw` into `ro`). Other superblock options (sizes, inode
//! counts, uid=) are left out, and so are mount ids and device numbers, which change across
//! reboots. When several mounts are stacked on one point, the last one listed (the one on top,
//! which is what a path lookup sees) is kept.

use std::collections::BTreeMap;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::render_modified;
use crate::sources::mountinfo::parse_line;

/// The `list_mount` collector.
pub struct ListMount;

impl Collector for ListMount {
    fn name(&self) -> &'static str {
        "list_mount"
    }
    fn description(&self) -> &'static str {
        "mounted file systems by mount point: type, source, options (ro, nosuid, nodev, noexec...)"
    }
    fn noun(&self) -> &'static str {
        "mount"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let file = host.mountinfo();
        let real = host.path(file);
        let bytes = match host.read_source(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::Unavailable(format!(
                    "{file} does not exist under {}: procfs is not mounted there; scan a live \
                     host or mount /proc",
                    host.root().display()
                )));
            }
            Err(e) => return Err(CollectError::io(real, e)),
        };
        // Later lines replace earlier ones on the same point: the top of a stack wins.
        let mut mounts = BTreeMap::new();
        for line in bytes.split(|&b| b == b'\n') {
            if let Some(item) = parse_line(line) {
                mounts.insert(item.key.clone(), item);
            }
        }
        Ok(mounts.into_values().collect())
    }

    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Added => {
                let f = change.after.clone().unwrap_or_default();
                let about =
                    crate::sources::common::render_named(&f, &["fstype", "source", "options"]);
                format!("mount {} added ({})", change.key, about)
            }
            ChangeKind::Removed => format!("mount {} removed", change.key),
            ChangeKind::Modified => {
                format!("mount {} changed: {}", change.key, render_modified(change))
            }
        }
    }
}

#[cfg(test)]
mod tests;

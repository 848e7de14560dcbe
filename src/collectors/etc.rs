//! `check_etc`: every entry under `/etc` (directories included), keyed by its host path.
//!
//! `/etc` is where an install changes who may log in (passwd, shadow, sudoers, PAM), what runs
//! as root (cron, systemd units, init scripts, udev rules) and what every process loads
//! (ld.so.preload, profile.d). Fields: type, owner, group, perm, size and symlink target, and
//! the SHA-256 of regular files. No mtime when a hash exists: content is what matters and
//! mtime-only touches are noise. A file that cannot be read (not root: /etc/shadow) is noted as
//! denied and carries `mtime` instead of the hash, so a change is still seen.
//! The tree walk and messages are [`crate::sources::tree`], shared with `check_boot`.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, Item};
use crate::sources::tree::{tree_items, tree_message};

/// Checks every file, directory and link under /etc.
pub struct CheckEtc;

impl Collector for CheckEtc {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc"])
    }
    fn name(&self) -> &'static str {
        "check_etc"
    }
    fn description(&self) -> &'static str {
        "files under /etc: owner, mode, symlink target and content hash"
    }
    fn noun(&self) -> &'static str {
        "file"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        tree_items(host, self.name(), "/etc")
    }
    fn message(&self, change: &Change) -> String {
        tree_message(change)
    }
}

#[cfg(test)]
mod tests;

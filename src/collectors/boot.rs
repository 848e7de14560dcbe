//! `check_boot`: every entry under `/boot` (the EFI system partition mounted beneath it
//! included), keyed by its host path.
//!
//! Kernels, initramfs images and boot loader files run before the OS and its defences: a
//! changed one is persistence that survives everything else. Same fields and messages as
//! `check_etc` (type, owner, group, perm, size, symlink target, SHA-256 of regular files, or
//! `mtime` when a file cannot be read).

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, Item};
use crate::sources::tree::{tree_items, tree_message};

/// Checks kernels, initramfs and boot loader files under /boot.
pub struct CheckBoot;

impl Collector for CheckBoot {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/boot"])
    }
    fn name(&self) -> &'static str {
        "check_boot"
    }
    fn description(&self) -> &'static str {
        "files under /boot (kernels, initramfs, boot loader, EFI partition): owner, mode, content hash"
    }
    fn noun(&self) -> &'static str {
        "file"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        tree_items(host, self.name(), "/boot")
    }
    fn message(&self, change: &Change) -> String {
        tree_message(change)
    }
}

#[cfg(test)]
mod tests;

//! `world_writable`: world-writable directories without the sticky bit, and world-writable
//! regular files, in system paths (`/usr`, `/etc`, `/boot`, `/opt`, `/lib*`, `/bin`, `/sbin`,
//! `/srv`, `/var/lib`, `/var/spool`, and the directories `/`, `/var`, `/tmp`, `/var/tmp`,
//! `/dev/shm` themselves: see [`fswalk::SYSTEM_TREES`]). Anyone can replace what is in such a
//! directory, or rewrite such a file. Found by the same walk as `list_suids` (one mode test per
//! entry it already `stat`s: no extra system call). A host with a sane setup has none.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::mode_string;
use crate::sources::fswalk;
use std::borrow::Cow;

/// World-writable entries of system paths.
pub struct WorldWritable;

impl Collector for WorldWritable {
    fn name(&self) -> &'static str {
        "world_writable"
    }
    fn description(&self) -> &'static str {
        "world-writable files, and world-writable directories without the sticky bit, in system paths"
    }
    fn noun(&self) -> &'static str {
        "world-writable path"
    }
    /// The file itself (a directory is shared by packages: it names none).
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        (item.fields.get("what") == Some("file")).then_some(Cow::Borrowed(item.key.as_str()))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let found = fswalk::special_files(host)?;
        Ok(found
            .list(fswalk::List::Writable)?
            .iter()
            .map(|s| {
                let dir = s.mode & libc::S_IFMT == libc::S_IFDIR;
                Item::new(host.display(&s.path))
                    .with("what", if dir { "dir" } else { "file" })
                    .with("owner", host.user_name(s.uid))
                    .with("group", host.group_name(s.gid))
                    .with("perm", mode_string(s.mode))
            })
            .collect())
    }
    /// `world-writable dir /usr/local/bin without sticky bit (owner=root, group=root, perm=drwxrwxrwx)`.
    fn message(&self, change: &Change) -> String {
        let shown = match change.kind {
            ChangeKind::Removed => change.before.as_ref(),
            _ => change.after.as_ref(),
        };
        let get = |f: &str| shown.and_then(|s| s.get(f)).unwrap_or("");
        let subject = match get("what") {
            "dir" => format!("world-writable dir {} without sticky bit", change.key),
            _ => format!("world-writable file {}", change.key),
        };
        match change.kind {
            ChangeKind::Added => format!(
                "{subject} (owner={}, group={}, perm={})",
                get("owner"),
                get("group"),
                get("perm")
            ),
            ChangeKind::Removed => format!("{subject}: fixed (or removed)"),
            ChangeKind::Modified => format!(
                "{subject} changed: {}",
                crate::sources::common::render_modified(change)
            ),
        }
    }
}

#[cfg(test)]
mod tests;

//! A walked file tree as items (`check_etc`, `check_boot`, `watch:PATH`): every entry with its
//! type, owner, group, perm, size, symlink target and the SHA-256 of regular files, and the
//! messages for their changes.

use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::common::{render_fields, render_modified};
use crate::sources::fswalk;

/// The items of one tree: every entry with its fields (see the module documentation), walked
/// on several threads, mounts below it entered, digests carried over by collector `name`.
pub(crate) fn tree_items(
    host: &Host,
    name: &str,
    host_dir: &str,
) -> Result<Vec<Item>, CollectError> {
    let spec = fswalk::TreeSpec {
        dir: host_dir,
        hash: true,
        exclude: None,
        cross_mounts: true,
        // Only root writes under /etc and /boot: no bound needed against a hostile user.
        max_entries: usize::MAX,
        verify_packages: false,
    };
    fswalk::walk_tree(host, &spec, &host.digests(name))
}

/// What an item is called in messages, from its `type` field (or the perm string's first
/// character when only other fields changed).
fn noun_of(fields: Option<&Fields>) -> &'static str {
    let Some(f) = fields else { return "file" };
    let t = f.get("type").or_else(|| {
        f.get("perm").and_then(|p| match p.chars().next() {
            Some('d') => Some("dir"),
            Some('l') => Some("symlink"),
            Some('p') => Some("fifo"),
            Some('s') => Some("socket"),
            _ => None,
        })
    });
    match t {
        Some("dir") => "directory",
        Some("symlink") => "symlink",
        Some("fifo") => "named pipe",
        Some("socket") => "socket",
        Some("char" | "block") => "device",
        _ => "file",
    }
}

/// `file /etc/x got created (owner=root, group=root, perm=-rw-r--r--, size=747)`,
/// `file /etc/x got deleted`, `file /etc/group changed: content changed, size from 937 to 954`.
pub(crate) fn tree_message(change: &Change) -> String {
    match change.kind {
        ChangeKind::Added => {
            let mut f = change.after.clone().unwrap_or_default();
            let noun = noun_of(Some(&f));
            for hidden in ["type", "sha256", "mtime"] {
                f.remove(hidden);
            }
            format!("{noun} {} got created ({})", change.key, render_fields(&f))
        }
        ChangeKind::Removed => {
            format!(
                "{} {} got deleted",
                noun_of(change.before.as_ref()),
                change.key
            )
        }
        ChangeKind::Modified => format!(
            "{} {} changed: {}",
            noun_of(change.after.as_ref()),
            change.key,
            render_modified(change)
        ),
    }
}

/// Whether regular files are hashed (`sha256`) or, unreadable, carry `mtime`.
#[cfg(test)]
pub(crate) fn has_content_id(f: &Fields) -> bool {
    f.contains_key("sha256") != f.contains_key("mtime")
}

//! `list_suids`: every regular file with the setuid or setgid bit on the local file systems,
//! keyed by its host path.
//!
//! A setuid file runs with its owner's rights whoever starts it: each one is a privilege
//! escalation entry point, so a new one is what a reviewer most wants to hear about. Found by
//! the shared walk of [`fswalk::special_files`] (the equivalent of `find / -xdev -perm /6000` on
//! every local mount). Fields: owner, group, perm, size and the SHA-256 of the content — they
//! are few, and the hash catches a binary replaced in place (`mtime` stands in when unreadable).
//!
//! `user_made=yes` marks a file an ordinary user could have made set-id themselves: its owner
//! is an ordinary user (a uid in `UID_MIN`..`UID_MAX` of the root's `etc/login.defs`, by
//! default 1000..60000), its setgid bit (if any) names an ordinary group (`GID_MIN`..
//! `GID_MAX`), and that owner may write the directory holding it (owns it with write
//! permission, or it is world-writable). Such a file grants only that user's rights, never
//! root's: `chmod u+s ~/x` is not a way to root, and the rules judge it below a set-id file
//! nobody can explain. System accounts (a service's uid) are never "ordinary": a set-id file
//! of theirs is a way into that service.

use crate::sources::common::{mode_string, render_fields, render_modified};
use std::ops::RangeInclusive;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::fswalk;

/// Lists setuid and setgid files.
pub struct ListSuids;

impl Collector for ListSuids {
    fn watches_setid(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "list_suids"
    }
    fn description(&self) -> &'static str {
        "setuid and setgid files on local file systems, with owner, mode and content hash"
    }
    fn noun(&self) -> &'static str {
        "suid binary"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let found = fswalk::special_files(host)?;
        let list = found.list(fswalk::List::Suid)?;
        let ordinary = OrdinaryIds::read(host);
        let mut items = Vec::with_capacity(list.len());
        for s in list {
            let mut fields = Fields::new();
            fields.insert("owner", host.user_name(s.uid));
            fields.insert("group", host.group_name(s.gid));
            fields.insert("perm", mode_string(s.mode));
            fields.insert("size", s.size.to_string());
            let hashed = host.hash_walked(&s.path);
            fswalk::content_fields(host, &s.path, s.mtime, hashed, &mut fields);
            let key = host.display(&s.path);
            crate::sources::pkgdb::attribute(host, &key, &mut fields);
            if ordinary.user_made(s) {
                fields.insert("user_made", "yes");
            }
            items.push(Item { key, fields });
        }
        Ok(items)
    }
    /// `suid binary /usr/bin/x got created (owner=root, group=root, perm=-rwsr-xr-x, size=1)`;
    /// "sgid binary" when only the setgid bit is set.
    fn message(&self, change: &Change) -> String {
        let shown = match change.kind {
            ChangeKind::Removed => change.before.as_ref(),
            _ => change.after.as_ref(),
        };
        let noun = match shown.and_then(|f| f.get("perm")) {
            Some(p) if !matches!(p.as_bytes().get(3), Some(b's' | b'S')) => "sgid binary",
            _ => "suid binary",
        };
        match change.kind {
            ChangeKind::Added => {
                let mut f = change.after.clone().unwrap_or_default();
                f.remove("sha256");
                f.remove("mtime");
                format!("{noun} {} got created ({})", change.key, render_fields(&f))
            }
            ChangeKind::Removed => format!("{noun} {} got deleted", change.key),
            ChangeKind::Modified => {
                format!("{noun} {} changed: {}", change.key, render_modified(change))
            }
        }
    }
}

/// The ids of ordinary users and groups, from the root's `etc/login.defs` (shadow's defaults
/// when it is missing or does not say).
struct OrdinaryIds {
    uids: RangeInclusive<u32>,
    gids: RangeInclusive<u32>,
}

impl OrdinaryIds {
    fn read(host: &Host) -> OrdinaryIds {
        let text = host.read_bytes("/etc/login.defs").unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let get = |name: &str, default: u32| {
            text.lines()
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
                })
                .next_back()
                .unwrap_or(default)
        };
        OrdinaryIds {
            uids: get("UID_MIN", 1000)..=get("UID_MAX", 60000),
            gids: get("GID_MIN", 1000)..=get("GID_MAX", 60000),
        }
    }

    /// Whether an ordinary user could have made `s` set-id in a directory they may write,
    /// granting no rights beyond their own (see the module documentation).
    fn user_made(&self, s: &fswalk::Special) -> bool {
        let Some(dir) = s.dir else {
            return false;
        };
        let setgid_ordinary = s.mode & 0o2000 == 0 || self.gids.contains(&s.gid);
        let writes_dir = (dir.uid == s.uid && dir.mode & 0o200 != 0) || dir.mode & 0o002 != 0;
        self.uids.contains(&s.uid) && setgid_ordinary && writes_dir
    }
}

#[cfg(test)]
mod tests;

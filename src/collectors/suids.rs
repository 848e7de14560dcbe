//! `list_suids`: every regular file with the setuid or setgid bit on the local file systems,
//! keyed by its host path.
//!
//! A setuid file runs with its owner's rights whoever starts it: each one is a privilege
//! escalation entry point, so a new one is what a reviewer most wants to hear about. Found by
//! the shared walk of [`fswalk::special_files`] (the equivalent of `find / -xdev -perm /6000` on
//! every local mount). Fields: owner, group, perm, size and the SHA-256 of the content — they
//! are few, and the hash catches a binary replaced in place (`mtime` stands in when unreadable).

use crate::collectors::common::{mode_string, render_fields, render_modified};
use crate::collectors::{Collector, fswalk};
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};

/// Lists setuid and setgid files.
pub struct ListSuids;

impl Collector for ListSuids {
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
            super::pkgdb::attribute(host, &key, &mut fields);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn make(path: &Path, mode: u32, content: &[u8]) {
        std::fs::write(path, content).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn fake_root_suids_with_owner_names_and_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\nmallory:x:3131:3131::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nmail:x:3232:\n").unwrap();
        make(&root.join("usr/bin/su"), 0o4755, b"su binary");
        make(&root.join("usr/bin/wall"), 0o2755, b"wall");
        make(&root.join("usr/bin/plain"), 0o755, b"plain");
        // chown clears the set-id bits: set the mode again afterwards.
        std::os::unix::fs::chown(root.join("usr/bin/wall"), Some(3131), Some(3232)).unwrap();
        make(&root.join("usr/bin/wall"), 0o2755, b"wall");
        let odd = root.join(OsStr::from_bytes(b"usr/bin/sneaky\n\xfe"));
        make(&odd, 0o6711, b"odd");
        std::os::unix::fs::symlink("su", root.join("usr/bin/su-link")).unwrap();

        let host = Host::new(root);
        let items = ListSuids.collect(&host).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["/usr/bin/sneaky\\x0a\\xfe", "/usr/bin/su", "/usr/bin/wall"]
        );
        let su = &items[1];
        assert_eq!(&su.fields["perm"], "-rwsr-xr-x");
        assert_eq!(&su.fields["owner"], "root");
        assert_eq!(&su.fields["size"], "9");
        assert_eq!(
            su.fields["sha256"],
            crate::collectors::common::sha256_bytes(b"su binary")
        );
        let wall = &items[2];
        assert_eq!(
            (&wall.fields["owner"], &wall.fields["group"]),
            ("mallory", "mail")
        );
        assert_eq!(&wall.fields["perm"], "-rwxr-sr-x");
        let raw = crate::host::unescape_bytes(&items[0].key).unwrap();
        assert_eq!(host.path(OsStr::from_bytes(&raw)), odd);
    }

    #[test]
    fn live_walk_sees_a_new_setuid_file_in_tmp() {
        // /tmp is on a local file system here (ext4 or tmpfs); fall back to /var/tmp otherwise.
        let base = if is_local(Path::new("/tmp")) {
            "/tmp"
        } else {
            "/var/tmp"
        };
        let dir = tempfile::Builder::new()
            .prefix("dawgmon-suid-test")
            .tempdir_in(base)
            .unwrap();
        let file = dir.path().join("escalate");
        make(&file, 0o4755, b"#!/bin/sh\n");
        let host = Host::new("/");
        let items = ListSuids.collect(&host).unwrap();
        let key = host.display(&file);
        let item = items
            .iter()
            .find(|i| i.key == key)
            .expect("live walk found it");
        assert_eq!(&item.fields["perm"], "-rwsr-xr-x");
        assert!(
            items
                .iter()
                .any(|i| i.key.ends_with("/bin/su") || i.key.ends_with("/bin/passwd")),
            "the system's own setuid binaries are listed too"
        );
    }

    /// Whether `p` lies on a file system type the walk covers, per the live mount table.
    fn is_local(p: &Path) -> bool {
        use nix::sys::statfs::*;
        let t = statfs(p).unwrap().filesystem_type();
        [
            EXT4_SUPER_MAGIC,
            TMPFS_MAGIC,
            XFS_SUPER_MAGIC,
            BTRFS_SUPER_MAGIC,
        ]
        .contains(&t)
    }

    #[test]
    fn messages_and_severity() {
        let f = |pairs: &[(&str, &str)]| -> Fields {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let added = Change {
            collector: "list_suids".into(),
            kind: ChangeKind::Added,
            key: "/usr/bin/x".into(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: None,
            after: Some(f(&[
                ("owner", "root"),
                ("group", "root"),
                ("perm", "-rwsr-xr-x"),
                ("size", "281624"),
                ("sha256", "00ff"),
            ])),
        };
        assert_eq!(
            ListSuids.message(&added),
            "suid binary /usr/bin/x got created (owner=root, group=root, perm=-rwsr-xr-x, size=281624)"
        );
        assert_eq!(crate::rules::testing::severity(&added), Severity::High);
        let removed = Change {
            kind: ChangeKind::Removed,
            before: Some(f(&[("perm", "-rwxr-sr-x")])),
            after: None,
            ..added.clone()
        };
        assert_eq!(
            ListSuids.message(&removed),
            "sgid binary /usr/bin/x got deleted"
        );
        assert_eq!(crate::rules::testing::severity(&removed), Severity::Low);
        let owner = Change {
            kind: ChangeKind::Modified,
            before: Some(f(&[("owner", "root")])),
            after: Some(f(&[("owner", "bin")])),
            ..added.clone()
        };
        assert_eq!(
            ListSuids.message(&owner),
            "suid binary /usr/bin/x changed: owner from root to bin"
        );
        assert_eq!(crate::rules::testing::severity(&owner), Severity::Medium);
        let content = Change {
            before: Some(f(&[("sha256", "aa")])),
            after: Some(f(&[("sha256", "bb")])),
            ..owner
        };
        assert_eq!(crate::rules::testing::severity(&content), Severity::High);
    }
}

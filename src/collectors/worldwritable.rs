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
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn world_writable_system_paths_only_and_sticky_dirs_spared() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in [
            "usr/local/bin",
            "usr/share/open",
            "tmp",
            "home/u/pub",
            "etc/sticky",
            "srv",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        crate::collectors::testing::write(r, "etc/passwd", "root:x:0:0::/:/bin/sh\n");
        crate::collectors::testing::write(r, "etc/writable.conf", "x");
        crate::collectors::testing::write(r, "home/u/pub/file", "x");
        crate::collectors::testing::write(r, "usr/bin/tool", "x");
        mode(&r.join("usr/share/open"), 0o777);
        mode(&r.join("etc/sticky"), 0o1777);
        mode(&r.join("tmp"), 0o777); // lost its sticky bit
        mode(&r.join("home/u/pub"), 0o777); // not a system path
        mode(&r.join("home/u/pub/file"), 0o666);
        mode(&r.join("etc/writable.conf"), 0o646);
        mode(&r.join("usr/bin/tool"), 0o755);
        std::os::unix::fs::symlink("/usr/bin/tool", r.join("usr/local/bin/link")).unwrap();
        let items = WorldWritable.collect(&Host::new(r)).unwrap();
        let got: Vec<(&str, &str, &str)> = items
            .iter()
            .map(|i| (i.key.as_str(), &i.fields["what"], &i.fields["perm"]))
            .collect();
        assert_eq!(
            got,
            [
                ("/etc/writable.conf", "file", "-rw-r--rw-"),
                ("/tmp", "dir", "drwxrwxrwx"),
                ("/usr/share/open", "dir", "drwxrwxrwx"),
            ]
        );
        assert_eq!(&items[2].fields["owner"], "root");
        let change = crate::collectors::testing::change(
            "world_writable",
            ChangeKind::Added,
            "/usr/share/open",
            &[],
            &[
                ("what", "dir"),
                ("owner", "root"),
                ("group", "root"),
                ("perm", "drwxrwxrwx"),
            ],
        );
        assert_eq!(
            WorldWritable.message(&change),
            "world-writable dir /usr/share/open without sticky bit (owner=root, group=root, perm=drwxrwxrwx)"
        );
    }

    /// The real host: a world-writable directory without the sticky bit made under /var/lib
    /// is found by the shared walk, and a sticky one beside it is not.
    #[test]
    fn live_host_world_writable_dir_is_found() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("needs root to write /var/lib");
            return;
        }
        let make = || {
            tempfile::Builder::new()
                .prefix("dawgmon-ww-")
                .tempdir_in("/var/lib")
                .unwrap()
        };
        let (open, sticky) = (make(), make());
        mode(open.path(), 0o777);
        mode(sticky.path(), 0o1777);
        let items = WorldWritable.collect(&Host::new("/")).unwrap();
        let find = |p: &Path| items.iter().find(|i| i.key == p.display().to_string());
        let item = find(open.path()).expect("found by the walk");
        assert_eq!(&item.fields["what"], "dir");
        assert_eq!(&item.fields["perm"], "drwxrwxrwx");
        assert!(find(sticky.path()).is_none(), "sticky: not listed");
    }
}

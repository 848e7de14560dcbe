//! `list_pipes`: every named pipe (FIFO) on the local file systems, keyed by its host path.
//!
//! A FIFO is an IPC endpoint: a root daemon reading commands from a pipe that others may
//! write is a way in. Found by the shared walk of [`fswalk::special_files`]; fields are owner,
//! group and perm (a pipe has no content worth hashing).

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::common::{mode_string, render_fields, render_modified};
use crate::sources::fswalk;

/// Lists named pipes.
pub struct ListPipes;

impl Collector for ListPipes {
    fn name(&self) -> &'static str {
        "list_pipes"
    }
    fn description(&self) -> &'static str {
        "named pipes (FIFOs) on local file systems, with owner and mode"
    }
    fn noun(&self) -> &'static str {
        "named pipe"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let found = fswalk::special_files(host)?;
        Ok(found
            .list(fswalk::List::Fifos)?
            .iter()
            .map(|s| {
                let mut fields = Fields::new();
                fields.insert("owner", host.user_name(s.uid));
                fields.insert("group", host.group_name(s.gid));
                fields.insert("perm", mode_string(s.mode));
                Item {
                    key: host.display(&s.path),
                    fields,
                }
            })
            .collect())
    }
    /// `named pipe /run/x got created (owner=root, group=root, perm=prw-------)`.
    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Added => format!(
                "named pipe {} got created ({})",
                change.key,
                render_fields(change.after.as_ref().unwrap_or(&Fields::new()))
            ),
            ChangeKind::Removed => format!("named pipe {} got deleted", change.key),
            ChangeKind::Modified => format!(
                "named pipe {} changed: {}",
                change.key,
                render_modified(change)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use nix::sys::stat::Mode;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn fake_root_fifos_with_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("run/app")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "app:x:2727:2727::/:/bin/sh\n").unwrap();
        let pipe = root.join("run/app/ctl");
        nix::unistd::mkfifo(&pipe, Mode::from_bits_truncate(0o600)).unwrap();
        // mkfifo obeys the umask: set the mode the test expects explicitly.
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &pipe,
            Mode::from_bits_truncate(0o622),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .unwrap();
        std::os::unix::fs::chown(&pipe, Some(2727), None).unwrap();
        let odd = root.join(OsStr::from_bytes(b"run/p\xff\ni"));
        nix::unistd::mkfifo(&odd, Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::write(root.join("run/not-a-pipe"), "x").unwrap();

        let host = Host::new(root);
        let items = ListPipes.collect(&host).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["/run/app/ctl", "/run/p\\xff\\x0ai"]);
        assert_eq!(&items[0].fields["perm"], "prw--w--w-");
        assert_eq!(&items[0].fields["owner"], "app");
        let raw = crate::host::unescape_bytes(&items[1].key).unwrap();
        assert_eq!(host.path(OsStr::from_bytes(&raw)), odd);

        let change = Change {
            collector: "list_pipes".into(),
            kind: ChangeKind::Added,
            key: items[0].key.clone(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: None,
            after: Some(items[0].fields.clone()),
        };
        assert_eq!(
            ListPipes.message(&change),
            "named pipe /run/app/ctl got created (owner=app, group=0, perm=prw--w--w-)"
        );
        assert_eq!(crate::rules::testing::severity(&change), Severity::Medium);
        let private = Change {
            after: Some(items[1].fields.clone()),
            ..change
        };
        assert_eq!(crate::rules::testing::severity(&private), Severity::Low);
    }

    #[test]
    fn live_walk_sees_a_new_fifo() {
        let dir = tempfile::Builder::new()
            .prefix("dawgmon-fifo-test")
            .tempdir_in("/tmp")
            .unwrap();
        let pipe = dir.path().join("ctl");
        nix::unistd::mkfifo(&pipe, Mode::from_bits_truncate(0o600)).unwrap();
        let host = Host::new("/");
        let items = ListPipes.collect(&host).unwrap();
        let key = host.display(&pipe);
        let item = items
            .iter()
            .find(|i| i.key == key)
            .expect("live walk found the FIFO");
        assert_eq!(&item.fields["perm"], "prw-------");
        assert_eq!(&item.fields["owner"], "root");
    }
}

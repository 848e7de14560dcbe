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
use std::borrow::Cow;

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
    /// The named pipe itself (packages do not ship them: `none` unless one lists it).
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        Some(Cow::Borrowed(item.key.as_str()))
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
mod tests;

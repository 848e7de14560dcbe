//! System V IPC objects: message queues, semaphore arrays and shared memory segments, from
//! `proc/sysvipc/{msg,sem,shm}`.
//!
//! Any process whose credentials the permissions allow can attach to these, so a new object
//! with a weak mode is an exposure. Items are keyed by the IPC key in hex (`0x0000162e`), which
//! the creating program picks and which stays the same across restarts; objects created with
//! `IPC_PRIVATE` (key 0) have no other name than their id (`private id 5`), which is not stable
//! across reboots. Fields: perms (octal), owner, group, creator, plus size (shm) and nsems
//! (sem). Attach counts, pids, times and queue fill levels change on an idle host and are left
//! out. Columns are found by their header names, since kernels add and reorder columns.

use std::collections::HashMap;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::common::render_modified;

/// What differs between the three kinds of object.
struct Kind {
    /// File under `proc/sysvipc`.
    file: &'static str,
    /// Column holding the object's id.
    id: &'static str,
    /// An extra column worth comparing, and its field name.
    extra: Option<(&'static str, &'static str)>,
}

const MSG: Kind = Kind {
    file: "msg",
    id: "msqid",
    extra: None,
};
const SEM: Kind = Kind {
    file: "sem",
    id: "semid",
    extra: Some(("nsems", "nsems")),
};
const SHM: Kind = Kind {
    file: "shm",
    id: "shmid",
    extra: Some(("size", "size")),
};

/// The `list_msq` collector.
pub struct ListMsq;
/// The `list_sem` collector.
pub struct ListSem;
/// The `list_shm` collector.
pub struct ListShm;

macro_rules! ipc_collector {
    ($ty:ident, $name:literal, $noun:literal, $desc:literal, $kind:expr) => {
        impl Collector for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn description(&self) -> &'static str {
                $desc
            }
            fn noun(&self) -> &'static str {
                $noun
            }
            fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
                collect(host, &$kind)
            }
            fn message(&self, change: &Change) -> String {
                message($noun, change)
            }
        }
    };
}

ipc_collector!(
    ListMsq,
    "list_msq",
    "message queue",
    "System V message queues, by IPC key: permissions, owner, group, creator",
    MSG
);
ipc_collector!(
    ListSem,
    "list_sem",
    "semaphore array",
    "System V semaphore arrays, by IPC key: permissions, owner, group, creator, nsems",
    SEM
);
ipc_collector!(
    ListShm,
    "list_shm",
    "shared memory segment",
    "System V shared memory segments, by IPC key: permissions, owner, group, creator, size",
    SHM
);

fn collect(host: &Host, kind: &Kind) -> Result<Vec<Item>, CollectError> {
    let file = format!("/proc/sysvipc/{}", kind.file);
    let text = match host.read_to_string(&file) {
        Err(CollectError::Unavailable(_)) => {
            return Err(CollectError::Unavailable(format!(
                "{file} does not exist under {}: procfs is not mounted there or the kernel was \
                 built without System V IPC (CONFIG_SYSVIPC)",
                host.root().display()
            )));
        }
        other => other?,
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<&str> = header.split_whitespace().collect();
    let mut items = Vec::new();
    for line in lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() != header.len() {
            continue;
        }
        let row: HashMap<&str, &str> = header.iter().copied().zip(cols).collect();
        if let Some(item) = item(host, kind, &row) {
            items.push(item);
        }
    }
    Ok(items)
}

/// One row as an item; `None` when a needed column is missing or malformed.
fn item(host: &Host, kind: &Kind, row: &HashMap<&str, &str>) -> Option<Item> {
    let num = |col: &str| row.get(col)?.parse::<u64>().ok();
    let key: i32 = row.get("key")?.parse().ok()?;
    let id = num(kind.id)?;
    // SHM_DEST/SHM_LOCKED share the column with the mode; they are state, not permission.
    let perms = u32::from_str_radix(row.get("perms")?, 8).ok()? & 0o777;
    let uid = |col: &str| num(col).and_then(|n| u32::try_from(n).ok());
    let name = if key == 0 {
        format!("private id {id}")
    } else {
        format!("0x{:08x}", key as u32)
    };
    let mut item = Item::new(name)
        .with("perms", format!("{perms:04o}"))
        .with("owner", host.user_name(uid("uid")?))
        .with("group", host.group_name(uid("gid")?))
        .with_opt("creator", uid("cuid").map(|u| host.user_name(u)));
    if let Some((col, field)) = kind.extra {
        item = item.with(field, num(col)?);
    }
    Some(item)
}

/// `owner=root, group=root, perms=0600, size=4096, creator=root`.
fn render(f: &Fields) -> String {
    crate::sources::common::render_named(
        f,
        &["owner", "group", "perms", "size", "nsems", "creator"],
    )
}

fn message(noun: &str, change: &Change) -> String {
    match change.kind {
        ChangeKind::Added => {
            let fields = change.after.as_ref().map(render).unwrap_or_default();
            format!("{noun} {} added ({fields})", change.key)
        }
        ChangeKind::Removed => format!("{noun} {} removed", change.key),
        ChangeKind::Modified => {
            format!("{noun} {} changed: {}", change.key, render_modified(change))
        }
    }
}

#[cfg(test)]
mod tests;

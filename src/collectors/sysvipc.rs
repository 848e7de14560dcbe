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
mod tests {
    use super::*;
    use crate::model::Severity;
    use std::collections::BTreeSet;

    // Headers copied from this machine; the rows are the ones `ipcmk` produced here (keys are
    // printed in decimal and may be negative), plus a private one and malformed lines.
    const SHM_FILE: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
1713751311          0   666                  4096  8362     0      0     0     0     0     0          0          0 1795707329                     0                     0
         0          7  1600                 65536  8362     0      2  1000   100  1000   100          0          0 1795707329                     0                     0
 -17 8 600 1 1 1 1 1 1 1 1 1 1 1 0 0
garbage
";
    const SEM_FILE: &str =
        "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime
1097652172          0   644          3     0     0     0     0          0 1795707329
1097652173          x   644          3     0     0     0     0          0 1795707329
";
    // A kernel with the columns in another order: found by name.
    const MSG_FILE: &str = "       key      msqid perms   uid   gid  cuid  cgid      cbytes       qnum lspid lrpid      stime      rtime      ctime
 327145530          0   622     0     0  1000     0         12          1     0     0          0          0 1795707329
";

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("proc/sysvipc");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("shm"), SHM_FILE).unwrap();
        std::fs::write(p.join("sem"), SEM_FILE).unwrap();
        std::fs::write(p.join("msg"), MSG_FILE).unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nusers:x:100:\n").unwrap();
        dir
    }

    fn fields(item: &Item) -> String {
        render(&item.fields)
    }

    #[test]
    fn fixtures_parse_by_column_name() {
        let dir = root();
        let host = Host::new(dir.path());
        let shm = ListShm.collect(&host).unwrap();
        let keys: Vec<_> = shm.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["0x6625c50f", "private id 7", "0xffffffef"]);
        assert_eq!(
            fields(&shm[0]),
            "owner=root, group=root, perms=0666, size=4096, creator=root"
        );
        // SHM_DEST (01000) is masked off.
        assert_eq!(
            fields(&shm[1]),
            "owner=alice, group=users, perms=0600, size=65536, creator=alice"
        );
        let sem = ListSem.collect(&host).unwrap();
        assert_eq!(sem.len(), 1, "the row with a bad id is skipped");
        assert_eq!(sem[0].key, "0x416cd7cc");
        assert_eq!(&sem[0].fields["nsems"], "3");
        let msg = ListMsq.collect(&host).unwrap();
        assert_eq!(msg[0].key, "0x137fd83a");
        assert_eq!(
            fields(&msg[0]),
            "owner=root, group=root, perms=0622, creator=alice"
        );
        assert!(!msg[0].fields.contains_key("cbytes") && !msg[0].fields.contains_key("qnum"));
    }

    #[test]
    fn missing_files_are_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        for (c, f) in [
            (&ListMsq as &dyn Collector, "msg"),
            (&ListSem, "sem"),
            (&ListShm, "shm"),
        ] {
            match c.collect(&host) {
                Err(CollectError::Unavailable(m)) => {
                    assert!(m.contains(&format!("/proc/sysvipc/{f}")), "{m}")
                }
                other => panic!("expected unavailable, got {other:?}"),
            }
        }
    }

    #[test]
    fn messages_and_severities() {
        let dir = root();
        let shm = ListShm.collect(&Host::new(dir.path())).unwrap();
        let mut c = Change {
            collector: "list_shm".into(),
            kind: ChangeKind::Added,
            key: shm[0].key.clone(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: None,
            after: Some(shm[0].fields.clone()),
        };
        assert_eq!(
            ListShm.message(&c),
            "shared memory segment 0x6625c50f added (owner=root, group=root, perms=0666, size=4096, creator=root)"
        );
        assert_eq!(crate::rules::testing::severity(&c), Severity::Medium);
        c.after = Some(shm[1].fields.clone());
        assert_eq!(crate::rules::testing::severity(&c), Severity::Info);
        c.kind = ChangeKind::Modified;
        c.before = Some([("perms".to_string(), "0600".to_string())].into());
        c.after = Some([("perms".to_string(), "0606".to_string())].into());
        assert_eq!(
            ListShm.message(&c),
            "shared memory segment 0x6625c50f changed: perms from 0600 to 0606"
        );
        assert_eq!(crate::rules::testing::severity(&c), Severity::Medium);
    }

    /// Removes an IPC object by id when the test ends, pass or fail.
    struct Ipcrm(&'static str, String);
    impl Drop for Ipcrm {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ipcrm")
                .args([self.0, &self.1])
                .status();
        }
    }

    /// Creates an object with `ipcmk ARGS`, returns its removal guard.
    fn ipcmk(args: &[&str], rm_flag: &'static str) -> Ipcrm {
        let out = std::process::Command::new("ipcmk")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ipcmk {args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.rsplit(':').next().unwrap().trim().to_string();
        assert!(id.parse::<u64>().is_ok(), "ipcmk said {text:?}");
        Ipcrm(rm_flag, id)
    }

    fn keys(c: &dyn Collector) -> BTreeSet<String> {
        c.collect(&Host::new("/"))
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect()
    }

    fn live(c: &dyn Collector, args: &[&str], rm_flag: &'static str, expect: &[(&str, &str)]) {
        let before = keys(c);
        let guard = ipcmk(args, rm_flag);
        let items = c.collect(&Host::new("/")).unwrap();
        let new: Vec<&Item> = items.iter().filter(|i| !before.contains(&i.key)).collect();
        assert_eq!(new.len(), 1, "{new:?}");
        assert!(
            new[0].key.starts_with("0x") && new[0].key.len() == 10,
            "{}",
            new[0].key
        );
        for (k, v) in expect {
            assert_eq!(&new[0].fields[*k], *v, "{k}");
        }
        let key = new[0].key.clone();
        drop(guard);
        assert!(!keys(c).contains(&key), "{key} still listed after ipcrm");
    }

    #[test]
    fn live_shm() {
        live(
            &ListShm,
            &["-M", "8192", "-p", "0606"],
            "-m",
            &[("size", "8192"), ("perms", "0606")],
        );
    }

    #[test]
    fn live_sem() {
        live(
            &ListSem,
            &["-S", "3", "-p", "0640"],
            "-s",
            &[("nsems", "3"), ("perms", "0640")],
        );
    }

    #[test]
    fn live_msq() {
        live(&ListMsq, &["-Q", "-p", "0600"], "-q", &[("perms", "0600")]);
    }

    proptest::proptest! {
        #![proptest_config(crate::collectors::fuzz::config())]
        /// Fault matrix: random and truncated /proc/sysvipc/{shm,sem,msg} never panic the
        /// collectors.
        #[test]
        fn fuzz_sysvipc(
            shm in crate::collectors::fuzz::bytes(SHM_FILE),
            sem in crate::collectors::fuzz::bytes(SEM_FILE),
            msg in crate::collectors::fuzz::bytes(MSG_FILE),
        ) {
            let dir = tempfile::tempdir().unwrap();
            crate::collectors::testing::write(dir.path(), "proc/sysvipc/shm", &shm);
            crate::collectors::testing::write(dir.path(), "proc/sysvipc/sem", &sem);
            crate::collectors::testing::write(dir.path(), "proc/sysvipc/msg", &msg);
            let host = Host::new(dir.path());
            for c in [&ListShm as &dyn Collector, &ListSem, &ListMsq] {
                crate::collectors::fuzz::assert_printable(&c.collect(&host).unwrap());
            }
        }
    }
}

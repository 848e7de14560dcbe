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

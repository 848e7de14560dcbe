//! `list_processes`: the programs running on the host, by user and name.
//!
//! Reads `proc/<pid>/status` and the `exe` link under the scanned root (not the `procfs`
//! crate, which always reads the absolute `/proc`). Kernel threads are skipped. Processes are
//! keyed `user:name` (real user, command name), never by pid, and several processes of one key
//! (worker pools) make one item, so an idle host gives the same output scan after scan; worker
//! counts are left out for the same reason. Fields: the executable(s), the effective user when
//! it differs (setuid programs), and the effective capabilities (`full`, `none` or the mask).
//!
//! Off by default: short-lived processes (cron jobs, shells, package hooks, this scan's own
//! helpers) come and go on an idle host, so the list is for debugging rather than reports.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes, escape_os};
use crate::model::{Change, ChangeKind, Item};

pub struct ListProcesses;

/// One process's `status` facts.
pub(super) struct Status {
    pub name: String,
    pub ppid: u32,
    pub ruid: u32,
    pub euid: u32,
    pub cap_eff: Option<u64>,
}

/// One user-space process of the table (kernel threads are left out).
pub(super) struct Process {
    /// Its `proc/<pid>` directory under the root.
    pub dir: PathBuf,
    pub status: Status,
}

/// The process table: the user-space processes under the root's `proc` with their `status`,
/// sorted by pid, read once per scan and shared by every collector that lists processes
/// (`list_processes`, `needs_restart`). `Unavailable` when there is no `proc` with processes
/// under the root (an image, a fixture without one).
pub(super) fn table(host: &Host, collector: &str) -> Result<Arc<Vec<Process>>, CollectError> {
    struct Table(Result<Arc<Vec<Process>>, Option<i32>>);
    let shared = host.shared(|| {
        Table(pids(host).map(|pids| {
            Arc::new(
                pids.into_iter()
                    .filter_map(|(pid, dir)| {
                        let status = read_status(host, &dir)?;
                        (!is_kernel_thread(pid, &status)).then_some(Process { dir, status })
                    })
                    .collect(),
            )
        }))
    });
    let proc = host.path("/proc");
    match &shared.0 {
        Ok(table) => Ok(table.clone()),
        Err(None) => Err(CollectError::Unavailable(format!(
            "no processes under {}: proc is not mounted there ({collector} only runs on a live host)",
            proc.display()
        ))),
        Err(Some(errno)) => Err(CollectError::io(
            &proc,
            io::Error::from_raw_os_error(*errno),
        )),
    }
}

/// The numeric entries of the root's `proc` (pid, directory), sorted by pid. `Err(None)` when
/// there is none, else the error number listing it failed with.
fn pids(host: &Host) -> Result<Vec<(u32, PathBuf)>, Option<i32>> {
    let proc = host.path("/proc");
    let entries = host.read_dir_real(&proc).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => None,
        _ => Some(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let mut out: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, e.path()))
        })
        .collect();
    if out.is_empty() {
        return Err(None);
    }
    out.sort();
    Ok(out)
}

/// Parses `proc/<pid>/status`; `None` when it is gone (the process exited) or malformed.
fn read_status(host: &Host, dir: &std::path::Path) -> Option<Status> {
    let text = host.read_real(&dir.join("status")).ok()?;
    let text = String::from_utf8_lossy(&text);
    let (mut name, mut ppid, mut uids, mut cap_eff) = (None, None, None, None);
    for line in text.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match field {
            "Name" => name = Some(value.to_string()),
            "PPid" => ppid = value.parse::<u32>().ok(),
            "Uid" => {
                let ids: Vec<u32> = value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                if ids.len() >= 2 {
                    uids = Some((ids[0], ids[1]));
                }
            }
            "CapEff" => cap_eff = u64::from_str_radix(value, 16).ok(),
            _ => {}
        }
    }
    let (ruid, euid) = uids?;
    Some(Status {
        name: name?,
        ppid: ppid?,
        ruid,
        euid,
        cap_eff,
    })
}

/// A kernel thread: kthreadd itself (pid 2) or one of its children.
fn is_kernel_thread(pid: u32, status: &Status) -> bool {
    pid == 2 || status.ppid == 2
}

impl Collector for ListProcesses {
    fn name(&self) -> &'static str {
        "list_processes"
    }
    fn description(&self) -> &'static str {
        "running programs by user and name, with executable and capabilities (proc/*/status)"
    }
    fn noun(&self) -> &'static str {
        "process"
    }
    fn default_enabled(&self) -> bool {
        false
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let full = full_caps(host);
        let mut by_key: std::collections::BTreeMap<String, [BTreeSet<String>; 3]> =
            Default::default();
        let mut denied = false;
        for Process { dir, status, .. } in table(host, self.name())?.iter() {
            let exe = match std::fs::read_link(dir.join("exe")) {
                Ok(p) => {
                    let text = escape_os(p.as_os_str());
                    // An upgraded binary shows as "... (deleted)": needs_restart reports that;
                    // here the program is still the same one.
                    Some(text.strip_suffix(" (deleted)").unwrap_or(&text).to_string())
                }
                Err(e) => {
                    if e.kind() == io::ErrorKind::PermissionDenied && !denied {
                        denied = true;
                        host.note_denied(&host.display(&dir.join("exe")));
                    }
                    None
                }
            };
            let user = host.user_name(status.ruid);
            let key = format!("{user}:{}", escape_bytes(status.name.as_bytes()));
            let sets = by_key.entry(key).or_default();
            sets[0].extend(exe);
            if status.euid != status.ruid {
                sets[1].insert(host.user_name(status.euid));
            }
            if let Some(cap) = status.cap_eff {
                sets[2].insert(caps_text(cap, full));
            }
        }
        let join = |s: &BTreeSet<String>| {
            (!s.is_empty()).then(|| s.iter().cloned().collect::<Vec<_>>().join(", "))
        };
        Ok(by_key
            .into_iter()
            .map(|(key, [exe, euser, caps])| {
                Item::new(key)
                    .with_opt("exe", join(&exe))
                    .with_opt("effective_user", join(&euser))
                    .with_opt("capabilities", join(&caps))
            })
            .collect())
    }

    fn message(&self, change: &Change) -> String {
        let (user, name) = change.key.split_once(':').unwrap_or(("?", &change.key));
        match change.kind {
            ChangeKind::Added => format!("process {name} ({user}) started"),
            ChangeKind::Removed => format!("process {name} ({user}) stopped"),
            ChangeKind::Modified => format!(
                "process {name} ({user}) changed: {}",
                crate::collectors::common::render_modified(change)
            ),
        }
    }
}

/// The mask of every capability this kernel knows (`proc/sys/kernel/cap_last_cap`).
fn full_caps(host: &Host) -> Option<u64> {
    let last: u32 = host
        .read_optional("/proc/sys/kernel/cap_last_cap")
        .ok()??
        .trim()
        .parse()
        .ok()?;
    (last < 64).then(|| {
        if last == 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        }
    })
}

/// `none`, `full` (every capability the kernel has), or the hex mask as the kernel prints it.
fn caps_text(cap: u64, full: Option<u64>) -> String {
    match cap {
        0 => "none".into(),
        c if full.is_some_and(|f| c & f == f) => "full".into(),
        c => format!("{c:016x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    use crate::collectors::testing::write;

    fn status(name: &str, ppid: u32, uid: &str, cap: &str) -> String {
        format!("Name:\t{name}\nUmask:\t0022\nPPid:\t{ppid}\nUid:\t{uid}\nCapEff:\t{cap}\n")
    }

    #[test]
    fn fixture_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(
            r,
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n",
        );
        write(r, "proc/sys/kernel/cap_last_cap", "40\n");
        write(
            r,
            "proc/2/status",
            status("kthreadd", 0, "0\t0\t0\t0", "000001ffffffffff"),
        );
        write(
            r,
            "proc/15/status",
            status("kworker/0:1", 2, "0\t0\t0\t0", "000001ffffffffff"),
        );
        write(
            r,
            "proc/100/status",
            status("nginx", 1, "0\t0\t0\t0", "000001ffffffffff"),
        );
        write(
            r,
            "proc/101/status",
            status("nginx", 100, "33\t33\t33\t33", "0000000000000000"),
        );
        write(
            r,
            "proc/102/status",
            status("nginx", 100, "33\t33\t33\t33", "0000000000000000"),
        );
        write(
            r,
            "proc/200/status",
            status("passwd", 1, "33\t0\t0\t0", "0000000000003000"),
        );
        write(r, "proc/300/status", "Name:\tbroken\n");
        write(r, "proc/self/status", "not a pid dir\n");
        std::os::unix::fs::symlink("/usr/sbin/nginx (deleted)", r.join("proc/100/exe")).unwrap();
        std::os::unix::fs::symlink("/usr/sbin/nginx", r.join("proc/101/exe")).unwrap();
        let items = ListProcesses.collect(&Host::new(r)).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["root:nginx", "www-data:nginx", "www-data:passwd"]);
        assert_eq!(&items[0].fields["exe"], "/usr/sbin/nginx");
        assert_eq!(&items[0].fields["capabilities"], "full");
        assert_eq!(&items[1].fields["capabilities"], "none");
        assert!(!items[1].fields.contains_key("effective_user"));
        assert_eq!(&items[2].fields["effective_user"], "root");
        assert_eq!(&items[2].fields["capabilities"], "0000000000003000");
        assert!(!items[2].fields.contains_key("exe"));
    }

    #[test]
    fn no_proc_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            ListProcesses.collect(&Host::new(dir.path())),
            Err(CollectError::Unavailable(m)) if m.contains("proc")
        ));
    }

    #[test]
    fn live_finds_this_test_process() {
        let me = std::fs::read_to_string("/proc/self/status").unwrap();
        let name = me
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap()
            .trim()
            .to_string();
        let host = Host::new("/");
        let user = host.user_name(nix::unistd::getuid().as_raw());
        let items = ListProcesses.collect(&host).unwrap();
        let key = format!("{user}:{}", escape_bytes(name.as_bytes()));
        let item = items
            .iter()
            .find(|i| i.key == key)
            .unwrap_or_else(|| panic!("{key} missing"));
        let exe = std::env::current_exe().unwrap();
        assert!(
            item.fields["exe"].contains(&escape_os(exe.as_os_str())),
            "{item:?}"
        );
        if nix::unistd::geteuid().is_root() {
            assert_eq!(user, "root");
            assert_ne!(&item.fields["capabilities"], "none");
        }
        assert!(
            items
                .iter()
                .all(|i| !i.key.contains("kthreadd") && !i.key.contains("kworker"))
        );
    }

    #[test]
    fn messages() {
        let c = Change {
            collector: "list_processes".into(),
            kind: ChangeKind::Added,
            key: "root:sshd".into(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: None,
            after: Some([("exe".to_string(), "/usr/sbin/sshd".to_string())].into()),
        };
        assert_eq!(ListProcesses.message(&c), "process sshd (root) started");
        assert_eq!(crate::rules::testing::severity(&c), Severity::Low);
        let stopped = Change {
            kind: ChangeKind::Removed,
            ..c
        };
        assert_eq!(
            ListProcesses.message(&stopped),
            "process sshd (root) stopped"
        );
    }
}

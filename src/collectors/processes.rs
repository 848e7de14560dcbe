//! `list_processes`: the programs running on the host, by user and name.
//!
//! Reads `proc/<pid>/status` and the `exe` link under the scanned root (not the `procfs`
//! crate, which always reads the absolute `/proc`). Kernel threads are skipped. Processes are
//! keyed `user:name` (real user, command name), never by pid, and several processes of one key
//! (worker pools) make one item, so an idle host gives the same output scan after scan; worker
//! counts are left out for the same reason. Fields: the executable(s) and their `package`, the
//! effective user when it differs (setuid programs), and the effective capabilities (`full`,
//! `none` or the mask).
//!
//! Off by default: short-lived processes (cron jobs, shells, package hooks, this scan's own
//! helpers) come and go on an idle host, so the list is for debugging rather than reports.

use std::collections::BTreeSet;
use std::io;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes, escape_os};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::procfs::{Process, table};

pub struct ListProcesses;

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
        let packages = std::cell::OnceCell::new();
        Ok(by_key
            .into_iter()
            .map(|(key, [exe, euser, caps])| {
                // The program's package: that of its executable(s).
                let package = (!exe.is_empty())
                    .then(|| {
                        packages
                            .get_or_init(|| crate::sources::pkgdb::Packages::of(host, false))
                            .package_of_all(exe.iter().map(String::as_str))
                    })
                    .flatten();
                Item::new(key)
                    .with_opt("package", package)
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
                crate::sources::common::render_modified(change)
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
mod tests;

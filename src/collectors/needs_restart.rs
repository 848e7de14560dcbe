//! `needs_restart`: what still runs outdated code after an upgrade.
//!
//! Two kinds of item. `reboot`: the package system asked for a reboot (`run/reboot-required`,
//! written by Debian/Ubuntu maintainer scripts), with the packages of `reboot-required.pkgs`.
//! `process NAME`: processes that still map executable code from a file that has since been
//! deleted or replaced (the ` (deleted)` mappings of `proc/<pid>/maps`), i.e. they run the
//! old copy of an upgraded library or binary until restarted. Keyed by process name, not pid,
//! so the item stays the same until the restart; memfd, shared memory and temporary files
//! (which are deleted by design) are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::procfs::{Process, table};

pub struct NeedsRestart;

/// At most this many deleted files are listed per process name (a glibc upgrade touches many).
const MAX_FILES: usize = 10;

/// Deleted-by-design mappings: anonymous files, shared memory, scratch space.
const NOT_CODE: &[&str] = &[
    "/memfd:",
    "/dev/",
    "/SYSV",
    "/tmp/",
    "/var/tmp/",
    "/run/",
    "/proc/",
    "/[",
];

impl Collector for NeedsRestart {
    fn name(&self) -> &'static str {
        "needs_restart"
    }
    fn description(&self) -> &'static str {
        "pending reboot (run/reboot-required) and processes running deleted (upgraded) code"
    }
    fn noun(&self) -> &'static str {
        "restart need"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let procs = table(host, self.name())?;
        let mut items = Vec::new();
        if let Some(item) = reboot_item(host)? {
            items.push(item);
        }
        let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut denied = false;
        for Process { dir, status, .. } in procs.iter() {
            let maps = match host.read_real(&dir.join("maps")) {
                Ok(m) => m,
                Err(e) => {
                    if e.kind() == io::ErrorKind::PermissionDenied && !denied {
                        denied = true;
                        host.note_denied(&host.display(&dir.join("maps")));
                    }
                    continue;
                }
            };
            let deleted = deleted_code(&maps);
            if !deleted.is_empty() {
                by_name
                    .entry(escape_bytes(status.name.as_bytes()))
                    .or_default()
                    .extend(deleted);
            }
        }
        for (name, files) in by_name {
            let total = files.len();
            let mut list: Vec<String> = files.into_iter().take(MAX_FILES).collect();
            if total > MAX_FILES {
                list.push(format!("and {} more", total - MAX_FILES));
            }
            items.push(Item::new(format!("process {name}")).with("files", list.join(", ")));
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let field = |n: &str| change.after.as_ref().and_then(|f| f.get(n));
        let key = &change.key;
        match (key.as_str(), change.kind) {
            ("reboot", ChangeKind::Removed) => "reboot no longer required".into(),
            ("reboot", _) => match field("packages") {
                Some(p) => format!("reboot required (packages: {p})"),
                None => "reboot required".into(),
            },
            (_, ChangeKind::Removed) => format!("{key} no longer needs a restart"),
            (_, _) => format!(
                "{key} needs a restart (deleted: {})",
                field("files").unwrap_or_default()
            ),
        }
    }
}

/// The `reboot` item when the package system asked for a reboot.
fn reboot_item(host: &Host) -> Result<Option<Item>, CollectError> {
    for dir in ["/run", "/var/run"] {
        if host
            .read_optional(&format!("{dir}/reboot-required"))?
            .is_none()
        {
            continue;
        }
        let pkgs = host
            .read_optional(&format!("{dir}/reboot-required.pkgs"))?
            .unwrap_or_default();
        let pkgs: BTreeSet<String> = pkgs
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| escape_bytes(l.as_bytes()))
            .collect();
        let list = (!pkgs.is_empty()).then(|| pkgs.into_iter().collect::<Vec<_>>().join(", "));
        return Ok(Some(Item::new("reboot").with_opt("packages", list)));
    }
    Ok(None)
}

/// The deleted files a `maps` text maps executable: `addr perms offset dev inode path`.
fn deleted_code(maps: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in maps.split(|b| *b == b'\n') {
        let Some(path) = line.strip_suffix(b" (deleted)") else {
            continue;
        };
        let mut cols = path.splitn(6, |b| *b == b' ');
        let perms = cols.nth(1).unwrap_or_default();
        if perms.get(2) != Some(&b'x') {
            continue;
        }
        // The path column is padded with spaces after the inode.
        let Some(rest) = cols.nth(3) else { continue };
        let path = rest.trim_ascii_start();
        if path.first() != Some(&b'/') || NOT_CODE.iter().any(|p| path.starts_with(p.as_bytes())) {
            continue;
        }
        out.insert(escape_bytes(path));
    }
    out
}

#[cfg(test)]
mod tests;

//! SysV init scripts (`list_sysvinit_jobs`): every script in `etc/init.d` (or RHEL's
//! `etc/rc.d/init.d`), keyed by its name, with its content hash, owner, mode and the runlevels
//! whose `rcN.d/S??name` links start it (and whose `K??name` links stop it), plus an executable
//! `etc/rc.local`, which init (or systemd's rc-local generator) runs as root at boot.
//!
//! Read from disk under the scanned root, so it works on images and without the `service`
//! command. dawgmon 1.1 ran `service --status-all` and compared which jobs were running; that
//! runs every script as root and its status is what the systemd collectors already report for
//! the units systemd generates from these scripts, so only what is installed is compared here.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_os};
use crate::hostfs::{Hashed, not_hashed};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::{file_fields, render_fields, render_modified};

/// Where the scripts live: Debian's path first, then RHEL's.
const INIT_DIRS: [&str; 2] = ["etc/init.d", "etc/rc.d/init.d"];
/// Where the `rcN.d` link directories live, likewise.
const RC_PARENTS: [&str; 2] = ["etc", "etc/rc.d"];
const RUNLEVELS: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "S"];
/// The key of `etc/rc.local`; no script in init.d is called that.
const RC_LOCAL: &str = "rc.local";

/// Installed SysV init scripts and the runlevels that start them.
pub struct ListSysvinitJobs;

impl Collector for ListSysvinitJobs {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/init.d", "/etc/rc*.d"])
    }
    fn name(&self) -> &'static str {
        "list_sysvinit_jobs"
    }
    fn description(&self) -> &'static str {
        "SysV init scripts in etc/init.d with their start/stop runlevels, and etc/rc.local"
    }
    fn noun(&self) -> &'static str {
        "SysV init job"
    }
    /// The script in etc/init.d, or etc/rc.local.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        Some(Cow::Owned(if item.key == RC_LOCAL {
            "/etc/rc.local".to_string()
        } else {
            format!("/etc/init.d/{}", item.key)
        }))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let Some(init_dir) = INIT_DIRS.iter().map(|d| host.path(d)).find(|p| p.is_dir()) else {
            return Err(CollectError::Unavailable(format!(
                "no {} under {}: this host has no SysV init scripts",
                INIT_DIRS.join(" or "),
                host.root().display()
            )));
        };
        let (start, stop) = links(host)?;
        let mut items = Vec::new();
        for (name, path) in entries(host, &init_dir)? {
            let text = name.to_string_lossy();
            if text == "README" || text == "skeleton" || text.starts_with('.') {
                continue;
            }
            let Some(mut item) = file_item(host, escape_os(&name), &path) else {
                continue;
            };
            let levels = |m: &BTreeMap<OsString, BTreeSet<&str>>| {
                m.get(&name)
                    .map(|l| l.iter().copied().collect::<Vec<_>>().join(","))
            };
            item = item
                .with_opt("runlevels", levels(&start))
                .with_opt("stop_runlevels", levels(&stop));
            items.push(item);
        }
        let rc_local = host.path("etc/rc.local");
        if let Ok(meta) = std::fs::metadata(&rc_local)
            && meta.is_file()
            && meta.mode() & 0o111 != 0
            && let Some(item) = file_item(host, RC_LOCAL.to_string(), &rc_local)
        {
            items.push(item);
        }
        Ok(items)
    }
    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Added => {
                // The runlevels say whether it starts at boot: show them first.
                let after = change.after.clone().unwrap_or_default();
                let mut parts = Vec::new();
                if let Some(r) = after.get("runlevels") {
                    parts.push(format!("runlevels={r}"));
                }
                let mut rest = after.clone();
                rest.remove("runlevels");
                let rest = render_fields(&rest);
                if !rest.is_empty() {
                    parts.push(rest);
                }
                format!(
                    "{} {} added ({})",
                    self.noun(),
                    change.key,
                    parts.join(", ")
                )
            }
            ChangeKind::Removed => format!("{} {} removed", self.noun(), change.key),
            ChangeKind::Modified => format!(
                "{} {} changed: {}",
                self.noun(),
                change.key,
                render_modified(change)
            ),
        }
    }
}

/// Owner, group, mode, size, link target and content hash of one script. `None` for
/// directories and entries that vanished; unreadable content is noted and left unhashed.
fn file_item(host: &Host, key: String, path: &Path) -> Option<Item> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_dir() {
        return None;
    }
    let mut item = Item::new(key);
    item.fields = file_fields(host, path, &meta);
    // A symlink in init.d whose target is absolute points inside the scanned root.
    let content = match std::fs::read_link(path) {
        Ok(t) if t.is_absolute() => host.path(&t),
        _ => path.to_path_buf(),
    };
    match host.hash_in_root(&content) {
        Ok(Hashed::Sha256(h)) => item = item.with("sha256", h),
        Ok(Hashed::TooLarge { cap, .. }) => item = item.with("not_hashed", not_hashed(cap)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            host.note_denied(&host.display(path))
        }
        Err(_) => {}
    }
    Some(item)
}

/// The entries of a directory, sorted by name (`.depend.*` and other dot files included; the
/// caller filters).
fn entries(host: &Host, dir: &Path) -> Result<Vec<(OsString, PathBuf)>, CollectError> {
    host.list_dir(dir)
}

/// Script name → runlevels with an `S` link, and → runlevels with a `K` link, from every
/// `rcN.d` directory found.
type Levels = BTreeMap<OsString, BTreeSet<&'static str>>;

fn links(host: &Host) -> Result<(Levels, Levels), CollectError> {
    let (mut start, mut stop) = (Levels::new(), Levels::new());
    for parent in RC_PARENTS {
        for level in RUNLEVELS {
            let dir = host.path(format!("{parent}/rc{level}.d"));
            for (name, _) in entries(host, &dir)? {
                let bytes = name.as_bytes();
                let map = match bytes.first() {
                    Some(b'S') => &mut start,
                    Some(b'K') => &mut stop,
                    _ => continue,
                };
                // `S01apache2`: the priority digits, then the script's name.
                let rest = &bytes[1..];
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                if digits == 0 || digits == rest.len() {
                    continue;
                }
                let script = OsStr::from_bytes(&rest[digits..]).to_os_string();
                map.entry(script).or_default().insert(level);
            }
        }
    }
    Ok((start, stop))
}

#[cfg(test)]
mod tests;

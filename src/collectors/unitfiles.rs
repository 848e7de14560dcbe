//! systemd unit files on disk (`systemd_unitfiles`): every unit systemd could load, whether it
//! is enabled, masked or only installed, what it runs and which drop-ins change it. Read from
//! the unit directories under the scanned root, so it works on a mounted image and on hosts
//! where systemd is not running; the D-Bus collectors report what is live.
//!
//! Directories are searched in systemd's precedence order (`etc/systemd/system`, then
//! `run/...`, `usr/local/lib/...`, `usr/lib/...`, `lib/...`); a directory reached twice through
//! symlinks (`lib -> usr/lib` on merged-/usr systems) is read once. The key is the unit name of
//! the winning file (`ssh.service`, `getty@.service`); user units from `etc/systemd/user`,
//! `usr/lib/systemd/user`... are keyed `user/NAME` so the two managers' units never collide
//! (per-user units under home directories are not read).
//!
//! State, as far as the disk tells, matching `systemctl list-unit-files`: `masked` (symlink to
//! /dev/null), `enabled` (linked from a `*.wants/`, `*.requires/` or `*.upholds/` directory
//! under etc/ or run/, where `systemctl enable` puts links), `alias` (a symlink to a unit of
//! another name: `alias_of`), `bad` (dangling symlink), `disabled` (an [Install] section,
//! not linked), `static` (no [Install] section). `wanted_by` lists every unit pulling it in,
//! vendor links under usr/lib included (those start it at boot too, while systemctl calls the
//! unit static); instances such as `getty@tty1.service` count for their template.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::Path;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes, escape_os};
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::common::sha256_bytes;
use crate::sources::unitfiles::{
    Parsed, SYSTEM_DIRS, Scope, USER_DIRS, read, rel_to_root, resolve, system_scope,
};

/// Unit files in systemd's unit directories, with their enablement state.
pub struct SystemdUnitfiles;

impl Collector for SystemdUnitfiles {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&[
            "/etc/systemd/system",
            "/run/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
            "/usr/local/lib/systemd/system",
        ])
    }
    fn name(&self) -> &'static str {
        "systemd_unitfiles"
    }
    fn description(&self) -> &'static str {
        "systemd unit files on disk: state (enabled/disabled/static/masked), content, drop-ins, ExecStart"
    }
    fn noun(&self) -> &'static str {
        "systemd unit file"
    }
    /// The unit file the unit is read from (a masked unit's link included).
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "path")
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let shared = system_scope(host);
        let (system, mut seen) = (&shared.0, shared.1.clone());
        let user = Scope::read(host, &USER_DIRS, &mut seen);
        if system.dirs == 0 && user.dirs == 0 {
            return Err(CollectError::Unavailable(format!(
                "no systemd unit directories under {} (looked for {} and {}): systemd is not installed there",
                host.root().display(),
                SYSTEM_DIRS.join(", "),
                USER_DIRS.join(", ")
            )));
        }
        if let Some(why) = system.failed.as_ref().or(user.failed.as_ref()) {
            return Err(CollectError::Unavailable(why.clone()));
        }
        let mut out = items(system, host, "");
        out.extend(items(&user, host, "user/"));
        Ok(out)
    }
    fn message(&self, change: &Change) -> String {
        let subject = format!("systemd unit file {}", change.key);
        let empty = Fields::new();
        let before = change.before.as_ref().unwrap_or(&empty);
        let after = change.after.as_ref().unwrap_or(&empty);
        match change.kind {
            ChangeKind::Added => {
                let parts: Vec<String> = ["state", "wanted_by", "alias_of", "exec"]
                    .iter()
                    .filter_map(|f| after.get(f).map(|v| format!("{f}={v}")))
                    .collect();
                format!("{subject} added ({})", parts.join(", "))
            }
            ChangeKind::Removed => format!("{subject} removed"),
            ChangeKind::Modified => {
                let none = "(none)".to_string();
                let order = [
                    "state",
                    "wanted_by",
                    "alias_of",
                    "path",
                    "sha256",
                    "dropins",
                    "exec",
                ];
                let mut names: Vec<&str> = order.to_vec();
                names.extend(
                    before
                        .keys()
                        .chain(after.keys())
                        .filter(|n| !order.contains(n)),
                );
                names.dedup();
                let parts: Vec<String> = names
                    .into_iter()
                    .filter(|n| before.get(n) != after.get(n))
                    .map(|n| match n {
                        "sha256" => "content changed".to_string(),
                        _ => format!(
                            "{n} from {} to {}",
                            before.get(n).unwrap_or(&none),
                            after.get(n).unwrap_or(&none)
                        ),
                    })
                    .collect();
                format!("{subject} changed: {}", parts.join(", "))
            }
        }
    }
}

/// The items of one manager's units, keyed `PREFIX` + unit name.
fn items(scope: &Scope, host: &Host, prefix: &str) -> Vec<Item> {
    scope
        .units
        .iter()
        .map(|(name, path)| item(scope, host, prefix, name, path))
        .collect()
}

/// One unit's item: state, content hash, drop-ins, what pulls it in and what it runs.
fn item(scope: &Scope, host: &Host, prefix: &str, name: &OsString, path: &Path) -> Item {
    let mut item =
        Item::new(format!("{prefix}{}", escape_os(name))).with("path", host.display(path));
    let link = std::fs::read_link(path).ok();
    if link.as_deref() == Some(Path::new("/dev/null")) {
        return item.with("state", "masked");
    }
    let Some(real) = resolve(host.root(), &rel_to_root(host, path)) else {
        return item.with("state", "bad");
    };
    if real == host.path("/dev/null") || real == Path::new("/dev/null") {
        return item.with("state", "masked");
    }
    let alias_of = link
        .is_some()
        .then(|| real.file_name().map(|f| f.to_os_string()))
        .flatten()
        .filter(|target| target != name);
    let mut parsed = Parsed::default();
    match read(host, &real) {
        Some(bytes) => {
            item = item.with("sha256", sha256_bytes(&bytes));
            parsed.apply(&String::from_utf8_lossy(&bytes));
        }
        None => item = item.with("state", "unreadable"),
    }
    let mut dropins = Vec::new();
    for (conf, conf_path) in scope.dropins.get(name).into_iter().flatten() {
        let hash = match read(host, conf_path) {
            Some(bytes) => {
                parsed.apply(&String::from_utf8_lossy(&bytes));
                sha256_bytes(&bytes)[..12].to_string()
            }
            None => "?".to_string(),
        };
        dropins.push(format!("{}:{hash}", escape_os(conf)));
    }
    let (wanted_by, linked_by_admin) = scope.wanted_by_of(name);
    if alias_of.is_none() && !wanted_by.is_empty() {
        let list: Vec<String> = wanted_by.into_iter().collect();
        item = item.with("wanted_by", list.join(","));
    }
    let state = if let Some(target) = &alias_of {
        item = item.with("alias_of", escape_os(target));
        "alias"
    } else if linked_by_admin {
        "enabled"
    } else if parsed.install {
        "disabled"
    } else {
        "static"
    };
    if !item.fields.contains_key("state") {
        item = item.with("state", state);
    }
    item.with_opt("dropins", (!dropins.is_empty()).then(|| dropins.join(", ")))
        .with_opt(
            "exec",
            // Escaped: a unit file is text anyone who can write it controls.
            (!parsed.exec.is_empty()).then(|| escape_bytes(parsed.exec.join(" ; ").as_bytes())),
        )
}

#[cfg(test)]
mod tests;

//! `check_groups`: the groups of `etc/group`, with their `etc/gshadow` administrators and
//! password state.
//!
//! Keyed by group name (the first entry of a duplicated name wins, as `getgrnam` does). Fields:
//! gid, members (sorted, comma-joined, omitted when empty), and from gshadow (when readable)
//! the administrators and whether a group password is `locked`, `none` or `set` (plus a short
//! fingerprint of the hash, never the hash). A new member of a group that grants root-level
//! access (sudo, wheel, docker, disk...) is the change a reviewer most needs to see.

use std::collections::BTreeSet;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Item};
use crate::sources::passwd::{fingerprint, password_state, text};

pub struct CheckGroups;

impl Collector for CheckGroups {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/group", "/etc/gshadow"])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "check_groups"
    }
    fn description(&self) -> &'static str {
        "groups of etc/group and etc/gshadow (gid, members, administrators, password state)"
    }
    fn noun(&self) -> &'static str {
        "group"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let group = host.read_source_string("/etc/group").map_err(|e| match e {
            CollectError::Unavailable(_) => CollectError::Unavailable(format!(
                "etc/group does not exist under {}: not the root of a Linux system?",
                host.root().display()
            )),
            other => other,
        })?;
        // Unreadable or absent gshadow only loses its fields (a denial is already noted).
        let gshadow = host.read_to_string("/etc/gshadow").ok().unwrap_or_default();
        let gshadow: Vec<Vec<&str>> = gshadow
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|c| c.len() == 4 && !c[0].is_empty())
            .collect();

        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        for line in group.lines() {
            let cols: Vec<&str> = line.split(':').collect();
            if cols.len() != 4 || cols[0].is_empty() || cols[0].starts_with(['+', '-', '#']) {
                continue;
            }
            let Ok(gid) = cols[2].parse::<u32>() else {
                continue;
            };
            if !seen.insert(cols[0]) {
                continue;
            }
            let mut item = Item::new(text(cols[0])).with("gid", gid);
            let members = list(cols[3]);
            if !members.is_empty() {
                item = item.with("members", members);
            }
            let shadow = gshadow.iter().find(|c| c[0] == cols[0]);
            let hash = if cols[1] != "x" {
                Some(cols[1])
            } else {
                shadow.map(|c| c[1])
            };
            if let Some(hash) = hash {
                item = item.with("password", password_state(hash));
                if !hash.is_empty() {
                    item = item.with("password_fingerprint", fingerprint(hash));
                }
            }
            if let Some(c) = shadow {
                let admins = list(c[2]);
                if !admins.is_empty() {
                    item = item.with("admins", admins);
                }
            }
            items.push(item);
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let key = &change.key;
        match change.kind {
            ChangeKind::Added => {
                let after = change.after.clone().unwrap_or_default();
                let mut parts = Vec::new();
                for name in ["gid", "members", "admins"] {
                    if let Some(v) = after.get(name) {
                        parts.push(format!("{name}={v}"));
                    }
                }
                format!("group {key} added ({})", parts.join(", "))
            }
            _ => crate::collectors::default_message(self.noun(), change),
        }
    }
}

/// A comma list as sorted, de-duplicated, comma-joined text.
fn list(s: &str) -> String {
    let set: BTreeSet<String> = s
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(text)
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests;

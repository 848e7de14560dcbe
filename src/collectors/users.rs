//! `check_users`: the accounts of `etc/passwd`, joined with their `etc/shadow` entries.
//!
//! Keyed by user name (what `getpwnam` looks up; the first entry of a duplicated name wins, as
//! in glibc). Fields: uid, gid, gecos, home, shell, and from the shadow file (when readable):
//! the password state (`locked`, `none`, `set`), a short fingerprint of the hash so a new
//! password shows as a change, and the aging columns. The hash itself is never stored: only
//! the first 16 hex digits of its SHA-256, which a reviewer cannot reverse into anything useful
//! (crypt hashes are salted) but which changes whenever the hash does.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::common::render_modified;
use crate::sources::passwd::{fingerprint, password_state, read_passwd, text};

pub struct CheckUsers;

/// Fields that describe the password; messages fold their changes into "password changed".
const PASSWORD_FIELDS: [&str; 4] = ["password", "password_fingerprint", "password_in", "lastchg"];

/// The aging columns of a shadow line, in file order after the hash.
const SHADOW_AGING: [&str; 6] = ["lastchg", "min", "max", "warn", "inactive", "expire"];

impl Collector for CheckUsers {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/passwd", "/etc/shadow"])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "check_users"
    }
    fn description(&self) -> &'static str {
        "user accounts of etc/passwd and their etc/shadow state (uid, shell, password changes; never the hash)"
    }
    fn noun(&self) -> &'static str {
        "user"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let passwd = read_passwd(host)?;
        // An unreadable shadow (not root, or no shadow file at all) only loses the password
        // fields; `read_to_string` has already noted a permission problem.
        let shadow = host.read_to_string("/etc/shadow").ok();
        let shadow = shadow.as_deref().map(parse_shadow).unwrap_or_default();

        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        for line in passwd.lines() {
            let cols: Vec<&str> = line.split(':').collect();
            if cols.len() != 7 || cols[0].is_empty() || cols[0].starts_with(['+', '-', '#']) {
                continue;
            }
            let (Ok(uid), Ok(gid)) = (cols[2].parse::<u32>(), cols[3].parse::<u32>()) else {
                continue;
            };
            if !seen.insert(cols[0]) {
                continue;
            }
            let mut item = Item::new(text(cols[0]))
                .with("uid", uid)
                .with("gid", gid)
                .with("gecos", text(cols[4]))
                .with("home", text(cols[5]))
                .with("shell", text(cols[6]));
            if cols[1] != "x" {
                // A hash (or nothing) right in passwd: glibc uses it and ignores shadow.
                item = with_password(item, cols[1], "passwd");
            } else if let Some(sh) = shadow.iter().find(|s| s[0] == cols[0]) {
                item = with_password(item, sh[1], "shadow");
                for (i, name) in SHADOW_AGING.iter().enumerate() {
                    let v = sh[2 + i].trim();
                    if !v.is_empty() {
                        item = item.with(name, text(v));
                    }
                }
            } else if !shadow.is_empty() {
                item = item.with("password", "no shadow entry");
            }
            items.push(item);
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let key = &change.key;
        let empty = Fields::new();
        let after = change.after.as_ref().unwrap_or(&empty);
        match change.kind {
            ChangeKind::Added => {
                let parts: Vec<String> = ["uid", "gid", "home", "shell"]
                    .iter()
                    .filter_map(|n| after.get(n).map(|v| format!("{n}={v}")))
                    .collect();
                format!("user {key} added ({})", parts.join(", "))
            }
            ChangeKind::Removed => format!("user {key} removed"),
            ChangeKind::Modified => {
                let (pw, rest) = split_password(change);
                let password = pw.then(|| password_text(change));
                match (rest, password) {
                    (Some(rest), Some(pw)) => {
                        format!(
                            "user {key} changed: {}, password {pw}",
                            render_modified(&rest)
                        )
                    }
                    (Some(rest), None) => format!("user {key} changed: {}", render_modified(&rest)),
                    (None, Some(pw)) => format!("password of user {key} {pw}"),
                    (None, None) => format!("user {key} changed"),
                }
            }
        }
    }
}

fn with_password(item: Item, hash: &str, source: &str) -> Item {
    let item = item
        .with("password", password_state(hash))
        .with("password_in", source);
    if hash.is_empty() {
        item
    } else {
        item.with("password_fingerprint", fingerprint(hash))
    }
}

/// The 9 columns of each well-formed shadow line.
fn parse_shadow(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|c| c.len() == 9 && !c[0].is_empty())
        .collect()
}

/// Whether a password field changed, and the change restricted to the other fields (`None`
/// when only password fields changed).
fn split_password(change: &Change) -> (bool, Option<Change>) {
    let pw_changed = PASSWORD_FIELDS.iter().any(|n| {
        *n != "lastchg"
            && (change.before.as_ref().is_some_and(|f| f.contains_key(n))
                || change.after.as_ref().is_some_and(|f| f.contains_key(n)))
    });
    let unreadable = visibility(change).is_some();
    let strip = |f: &Option<Fields>| {
        f.as_ref().map(|f| {
            f.iter()
                .filter(|&(k, _)| {
                    // When shadow became (un)readable, its aging columns come and go with it.
                    !(pw_changed && PASSWORD_FIELDS.contains(&k)
                        || unreadable && SHADOW_AGING.contains(&k))
                })
                .collect::<Fields>()
        })
    };
    let rest = Change {
        before: strip(&change.before),
        after: strip(&change.after),
        ..change.clone()
    };
    let any_left = rest.before.as_ref().is_some_and(|f| !f.is_empty())
        || rest.after.as_ref().is_some_and(|f| !f.is_empty());
    (pw_changed, any_left.then_some(rest))
}

/// `changed`, or `changed from set to locked` when the state moved.
fn password_text(change: &Change) -> String {
    match visibility(change) {
        Some(false) => return "no longer readable (etc/shadow cannot be read)".to_string(),
        Some(true) => return "readable again".to_string(),
        None => {}
    }
    fn state(f: &Option<Fields>) -> Option<&str> {
        f.as_ref().and_then(|f| f.get("password"))
    }
    match (state(&change.before), state(&change.after)) {
        (Some(a), Some(b)) if a != b => format!("changed from {a} to {b}"),
        _ => "changed".to_string(),
    }
}

/// `Some(false)` when the password fields vanished, `Some(true)` when they appeared: the
/// password state is always set when shadow (or a passwd hash) could be read, so this is a
/// scan that could not read etc/shadow (not root) next to one that could, not a password
/// change.
fn visibility(change: &Change) -> Option<bool> {
    let has = |f: &Option<Fields>| f.as_ref().is_some_and(|f| f.contains_key("password"));
    match (has(&change.before), has(&change.after)) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

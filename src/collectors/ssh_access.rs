//! `ssh_access`: who can log in with which key, and how sshd is set up.
//!
//! - **Authorized keys of every account** of the root's `etc/passwd` (the files named by
//!   sshd's `AuthorizedKeysFile`, `%h`, `%u`, `%U` and `%%` expanded; by default
//!   `.ssh/authorized_keys` and `.ssh/authorized_keys2`): one item per key line, keyed
//!   `USER:SHA256:...` (the fingerprint `ssh-keygen -lf` prints), with `type`, `comment`,
//!   `options`, `forced_command` and `from` when set, `file`. The same key on a later line of
//!   the account's files is an item of its own, `USER:SHA256:...#2`, `#3`, ... in the order
//!   sshd reads them, with `duplicate = yes` and `first_file`. The first occurrence keeps the
//!   plain key, so a host without duplicates keys its items as before and a line inserted
//!   above renames nothing but copies of its own key. Each line of a key with several lines
//!   that lacks a restriction another line of it has gets `lifts` (`from,command,no-pty`; see
//!   `Account::finish` for what counts): sshd moves on to the next matching line when a
//!   `from=` refuses the connection, so a less restricted copy, above or below, lifts the
//!   restrictions. Never the key itself, and never an
//!   `environment="NAME=value"` value (only the name). These files belong to their users, so
//!   they are read without following any symlink, only when regular and at most
//!   [`MAX_KEYS_FILE`] bytes and [`MAX_KEYS`] keys; a file refused is an item
//!   (`USER:not read:FILE`, field `not_read`) and a file sshd's `StrictModes` would refuse
//!   (owned by someone else, writable by group or others, or such a directory on the way up to
//!   the home) gets a `strict_modes` field saying why.
//! - **sshd's effective settings** from `etc/ssh/sshd_config` and what it `Include`s (relative
//!   to `etc/ssh`, globs in the last component), the first value winning as in sshd (lists
//!   such as `Port` and `AllowUsers` accumulate): one item per setting that matters
//!   (`sshd PermitRootLogin`), with `value` and `source` (the file, or `default` for
//!   OpenSSH's built-in value). Settings inside `Match` blocks are items of their own
//!   (`sshd Match User x: PasswordAuthentication`). Without an `sshd_config` there is no sshd
//!   to describe, so no setting items.
//!
//! Unavailable when `etc/passwd` cannot be read, or when `sshd_config` and its includes hold
//! more than `max_items` files and lines (each file is read once per `Match` block, see
//! [`crate::sources::includes`]).

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::{not_read_why, read_untrusted};

mod keys;
mod sshd;

pub struct SshAccess;

/// Largest authorized_keys file read.
pub const MAX_KEYS_FILE: u64 = 1 << 20;
/// Most keys listed from one file; the rest are counted in one item.
pub const MAX_KEYS: usize = 1000;

impl Collector for SshAccess {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/root/.ssh", "/home/*/.ssh", "/etc/ssh"])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "ssh_access"
    }
    fn description(&self) -> &'static str {
        "authorized SSH keys of every account (fingerprints, options) and sshd's effective settings"
    }
    fn noun(&self) -> &'static str {
        "ssh access"
    }

    /// The key file or sshd configuration file an item comes from.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file").or_else(|| super::field_path(item, "source"))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let passwd = crate::sources::passwd::read_passwd(host)?;
        let config = sshd::Config::read(host)?;
        let mut items = config.items();
        let patterns = config.authorized_keys_files();
        let mut seen = std::collections::HashSet::new();
        for line in passwd.lines() {
            let cols: Vec<&str> = line.split(':').collect();
            if cols.len() < 7 || cols[0].is_empty() || cols[0].starts_with(['+', '-', '#']) {
                continue;
            }
            let (user, home) = (cols[0], cols[5]);
            let Ok(uid) = cols[2].parse::<u32>() else {
                continue;
            };
            // The first entry of a name wins, as getpwnam does.
            if !seen.insert(user) || !home.starts_with('/') {
                continue;
            }
            // The lines already met per fingerprint, across the account's files.
            let mut account = Account::default();
            for pattern in &patterns {
                let path = expand(pattern, user, uid, home);
                // A file named twice is read once (sshd would only find the same lines again).
                if account.files.insert(path.clone()) {
                    account_file(host, user, uid, home, &path, &mut account, &mut items);
                }
            }
            account.finish(&mut items);
        }
        let mut keys = std::collections::HashSet::new();
        items.retain(|i| keys.insert(i.key.clone()));
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let f = change.after.as_ref().or(change.before.as_ref());
        let get = |n: &str| f.and_then(|f| f.get(n)).unwrap_or_default();
        let verb = match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "",
        };
        match (get("kind"), change.kind) {
            ("key", ChangeKind::Added | ChangeKind::Removed) => {
                let mut parts = vec![format!("type={}", get("type"))];
                for n in [
                    "comment",
                    "forced_command",
                    "from",
                    "options",
                    "file",
                    "strict_modes",
                ] {
                    // The options in full where they are the point (a copy of a key), else
                    // the two that matter most.
                    let copy = !get("lifts").is_empty() || get("duplicate") == "yes";
                    let shown = match n {
                        "options" => copy,
                        "forced_command" | "from" => !copy,
                        _ => true,
                    };
                    if shown && f.is_some_and(|f| f.contains_key(n)) {
                        parts.push(format!("{n}={}", get(n)));
                    }
                }
                let again = match get("duplicate") {
                    "yes" if change.kind == ChangeKind::Added => {
                        format!(" again (also in {})", get("first_file"))
                    }
                    _ => String::new(),
                };
                let lifts = match get("lifts") {
                    "" => String::new(),
                    l if change.kind == ChangeKind::Added => format!(
                        ", without the {} that another line of this key has: sshd tries each matching line",
                        l.replace(',', ", ")
                    ),
                    _ => String::new(),
                };
                format!(
                    "authorized key {} for {} {verb}{again} ({}){lifts}",
                    get("fingerprint"),
                    get("user"),
                    parts.join(", ")
                )
            }
            // A modification carries only the changed fields: a key line is known by its key.
            (_, ChangeKind::Modified)
                if change
                    .key
                    .split_once(':')
                    .is_some_and(|(_, k)| k.starts_with("SHA256:")) =>
            {
                let now = |n: &str| change.after.as_ref().and_then(|f| f.get(n));
                let was = |n: &str| change.before.as_ref().and_then(|f| f.get(n));
                let lifts = match (was("lifts"), now("lifts")) {
                    (w, Some(l)) if w != Some(l) => format!(
                        "now without the {} that another line of this key has (sshd tries each matching line); ",
                        l.replace(',', ", ")
                    ),
                    (Some(_), None) => "no longer lifts another line's restrictions; ".to_string(),
                    _ => String::new(),
                };
                let mut rest = change.clone();
                for side in [&mut rest.before, &mut rest.after].into_iter().flatten() {
                    side.remove("lifts");
                }
                let rest = crate::sources::common::render_modified(&rest);
                let (user, fp) = change.key.split_once(':').unwrap_or(("", &change.key));
                format!("authorized key {fp} for {user} changed: {lifts}{rest}")
                    .trim_end_matches("; ")
                    .to_string()
            }
            ("setting" | "match", ChangeKind::Added) => {
                format!("{} is {} ({})", change.key, get("value"), get("source"))
            }
            // A modification carries only the changed fields: known by its key.
            (_, ChangeKind::Modified) if change.key.starts_with("sshd ") => format!(
                "{} changed: {}",
                change.key,
                crate::sources::common::render_modified(change)
            ),
            _ => crate::collectors::default_message(self.noun(), change),
        }
    }
}

/// An `AuthorizedKeysFile` pattern for one account: `%%`, `%h`, `%u`, `%U` expanded, a relative
/// path taken from the home directory.
fn expand(pattern: &str, user: &str, uid: u32, home: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(home),
            Some('u') => out.push_str(user),
            Some('U') => out.push_str(&uid.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if out.starts_with('/') {
        out
    } else {
        format!("{}/{out}", home.trim_end_matches('/'))
    }
}

/// Why sshd's StrictModes would refuse the file at `real` for `uid`: it, or a directory
/// between it and the home (`real_home`), is owned by someone but the user and root, or
/// writable by group or others.
fn strict_modes(
    host: &Host,
    uid: u32,
    real_home: &Path,
    real: &Path,
    st: &libc::stat,
) -> Option<String> {
    let bad = |what: &Path, st: &libc::stat| -> Option<String> {
        let what = host.display(what);
        if st.st_uid != uid && st.st_uid != 0 {
            return Some(format!("{what} is owned by {}", host.user_name(st.st_uid)));
        }
        if st.st_mode & 0o022 != 0 {
            return Some(format!("{what} is writable by group or others"));
        }
        None
    };
    if let Some(why) = bad(real, st) {
        return Some(why);
    }
    let mut dir = real.parent();
    while let Some(d) = dir {
        if !d.starts_with(real_home) {
            break;
        }
        let dst = host
            .open_walked_dir(d)
            .and_then(|fd| crate::hostfs::fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)));
        if let Ok(dst) = dst
            && let Some(why) = bad(d, &dst)
        {
            return Some(why);
        }
        if d == real_home {
            break;
        }
        dir = d.parent();
    }
    None
}

/// The real path of a key file: the directory root controls (the home for a file under it,
/// else the file's directory) resolved with its symlinks, the rest (`.ssh/authorized_keys`,
/// which the user controls) appended, to be opened without following any symlink.
fn real_path(host: &Host, home: &str, path: &str) -> io::Result<(PathBuf, PathBuf)> {
    let home_t = home.trim_end_matches('/');
    let (anchor, rest) = match path.strip_prefix(home_t).and_then(|r| r.strip_prefix('/')) {
        Some(rest) if !home_t.is_empty() => (home_t, rest),
        _ => path
            .rsplit_once('/')
            .map(|(d, f)| (if d.is_empty() { "/" } else { d }, f))
            .unwrap_or(("/", path)),
    };
    let real_anchor = host.real_dir(anchor)?;
    Ok((real_anchor.join(rest), real_anchor))
}

/// What one account's key files held so far: the files read, per fingerprint how many lines
/// had it and the first one's file, and each key line's item (its index in the collector's
/// list) with its restrictions.
#[derive(Default)]
struct Account {
    files: std::collections::HashSet<String>,
    keys: std::collections::HashMap<String, (usize, String)>,
    lines: Vec<Line>,
}

/// A key line of an account: its item's index, fingerprint, whether it is a `cert-authority`
/// line, and its restrictions ([`keys::Key::restrictions`]).
struct Line {
    index: usize,
    fingerprint: String,
    ca: bool,
    restrictions: Vec<&'static str>,
}

impl Account {
    /// The item of one more key line: the first with a fingerprint keeps its key, a later one
    /// becomes `KEY#N` and says where the first is.
    fn place(&mut self, item: Item) -> Item {
        let fp = item
            .fields
            .get("fingerprint")
            .unwrap_or_default()
            .to_string();
        let file = item.fields.get("file").unwrap_or_default().to_string();
        let seen = self.keys.entry(fp).or_insert((0, file));
        seen.0 += 1;
        if seen.0 == 1 {
            return item;
        }
        let mut item = item.with("duplicate", "yes").with("first_file", &seen.1);
        item.key = format!("{}#{}", item.key, seen.0);
        item
    }

    /// Once every file of the account is read: each line of a key that lacks a restriction
    /// another line of the same key has gets `lifts` naming them. sshd tries the matching
    /// lines in order, and a line whose `from=` or `expiry-time` refuses sends it on to the
    /// next, so such a line widens what the key may do, whichever line comes first. Judged
    /// across the lines regardless of order (a copy below a line that always accepts is dead
    /// today, but one edit away); restrictions are compared by name (`from=` A and `from=` B
    /// are both restricted), `cert-authority` lines only with each other.
    fn finish(self, items: &mut [Item]) {
        let mut all: std::collections::HashMap<(&str, bool), Vec<&str>> = Default::default();
        let mut count: std::collections::HashMap<(&str, bool), usize> = Default::default();
        for l in &self.lines {
            let k = (l.fingerprint.as_str(), l.ca);
            *count.entry(k).or_default() += 1;
            let union = all.entry(k).or_default();
            for r in &l.restrictions {
                if !union.contains(r) {
                    union.push(r);
                }
            }
        }
        for l in &self.lines {
            let k = (l.fingerprint.as_str(), l.ca);
            if count[&k] < 2 {
                continue;
            }
            let mut lifts: Vec<&str> = keys::RESTRICTIONS
                .iter()
                .copied()
                .filter(|r| all[&k].contains(r) && !l.restrictions.contains(r))
                .collect();
            // Forwarding allowed at all says more than the limits on it.
            if lifts.contains(&"no-port-forwarding") {
                lifts.retain(|r| !matches!(*r, "permitopen" | "permitlisten"));
            }
            if let Some(item) = items.get_mut(l.index)
                && !lifts.is_empty()
            {
                item.fields.insert("lifts", lifts.join(","));
            }
        }
    }
}

fn account_file(
    host: &Host,
    user: &str,
    uid: u32,
    home: &str,
    path: &str,
    account: &mut Account,
    items: &mut Vec<Item>,
) {
    let user_t = escape_bytes(user.as_bytes());
    let file = escape_bytes(path.as_bytes());
    let unread = |e: &io::Error| {
        Item::new(format!("{user_t}:not read:{file}"))
            .with("kind", "unread")
            .with("user", &user_t)
            .with("file", &file)
            .with("not_read", not_read_why(e))
    };
    let read = real_path(host, home, path).and_then(|(real, anchor)| {
        let (bytes, st) = read_untrusted(host, &real, MAX_KEYS_FILE)?;
        Ok((bytes, st, real, anchor))
    });
    let (bytes, st, real, anchor) = match read {
        Ok(x) => x,
        Err(e) if crate::hostfs::gone(&e) => return,
        Err(e) => {
            if e.kind() == io::ErrorKind::PermissionDenied {
                host.note_denied(&file);
            }
            items.push(unread(&e));
            return;
        }
    };
    let strict = strict_modes(host, uid, &anchor, &real, &st);
    let text = String::from_utf8_lossy(&bytes);
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        if count > MAX_KEYS {
            let rest = text
                .lines()
                .skip(n)
                .filter(|l| !l.trim().is_empty())
                .count();
            items.push(
                Item::new(format!("{user_t}:too many keys:{file}"))
                    .with("kind", "unread")
                    .with("user", &user_t)
                    .with("file", &file)
                    .with(
                        "not_read",
                        format!("{rest} lines after the first {MAX_KEYS} keys"),
                    ),
            );
            return;
        }
        let item = match keys::parse(line) {
            Ok(k) => {
                let (ca, restrictions) = k.restrictions();
                account.lines.push(Line {
                    index: items.len(),
                    fingerprint: k.fingerprint.clone(),
                    ca,
                    restrictions,
                });
                account.place(
                    k.item(&user_t)
                        .with("uid", uid)
                        .with("file", &file)
                        .with_opt(
                            "strict_modes",
                            strict.as_ref().map(|s| format!("refused: {s}")),
                        ),
                )
            }
            Err(why) => {
                let digest = hex::encode(&Sha256::digest(line.as_bytes())[..8]);
                Item::new(format!("{user_t}:malformed:{file}:{digest}"))
                    .with("kind", "malformed")
                    .with("user", &user_t)
                    .with("file", &file)
                    .with("line", n + 1)
                    .with("malformed", why)
            }
        };
        items.push(item);
    }
}

#[cfg(test)]
mod tests;

//! `root_run_writable`: write access that leads to root. For everything root runs, and the
//! files that tell root what to run, this asks of the file and of every directory the kernel
//! goes through to reach it (symlinks followed, each link's directory included): can anyone
//! but root change it? An item is one path that someone else can write; a host with a sane
//! setup has none, so the output stays small and every item is a finding.
//!
//! What root runs (see [`sources`]): the commands of system units that run as root (`User=`
//! unset, `root` or `0`, no `DynamicUser=`; `+`-prefixed commands of any unit) and every system
//! unit file and drop-in (whoever edits a unit file chooses its `User=`), parsed by
//! `unitfiles.rs`; the commands of root's lines in `etc/crontab`, `etc/cron.d/*` and root's
//! spool crontab, the crontab files themselves and the scripts `run-parts` runs from
//! `etc/cron.{hourly,daily,weekly,monthly}`; `etc/init.d/*` and `etc/rc.local`; the programs of
//! udev rules' `RUN`, `PROGRAM` and `IMPORT{program}` and the rules files. A command that is not
//! an absolute path is looked up as its runner would: systemd's fixed search path, cron's
//! `PATH=` (default `/usr/bin:/bin`), udev's library directory. Commands holding specifiers or
//! variables (`%i`, `$VAR`) cannot be resolved from the files and are skipped. Of a command,
//! not only the program counts: the script a known interpreter runs (`/usr/bin/python3
//! /srv/app/main.py`, `/bin/sh /srv/job.sh`), what `env` runs, and the `#!` interpreter of
//! every file executed (see [`commands`]).
//!
//! Writable means: owned by someone other than root; or group-writable (the group is named,
//! `root` included: its other members can write); or writable by others (then `other` alone
//! is named: it says it all); or a POSIX ACL
//! (`system.posix_acl_access`) granting write to a named user or group, within the mask. A
//! directory with the sticky bit protects the entries root owns in it, so it counts only when
//! it is the last directory of a path that does not exist yet (anyone could create it).
//!
//! Fields: `writable_by` (`user:NAME`, `group:NAME`, `other`, comma-joined), `used_by` (who
//! runs it: `systemd:NAME`, `cron:FILE`, `run-parts:DIR`, `init.d:NAME`, `rc.local`,
//! `udev:FILE`, sorted, at most [`MAX_USERS`] then a count), `what` (`file`, `dir`), and the
//! owner, group and mode that make it so. Judgement is in the rules, not here.
//! `sudo` commands are another collector's.

mod commands;
mod sources;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_os};
use crate::hostfs::trace::{Step, StepKind};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::mode_string;

/// `used_by` names at most this many users of one path (a writable `/usr` is used by all).
pub const MAX_USERS: usize = 12;

/// Paths root runs that someone else can write.
pub struct RootRunWritable;

impl Collector for RootRunWritable {
    fn name(&self) -> &'static str {
        "root_run_writable"
    }
    fn description(&self) -> &'static str {
        "files root runs (units, cron, init scripts, udev) and their directories that others can write"
    }
    fn noun(&self) -> &'static str {
        "root-run path"
    }
    /// The file itself (a directory is shared by packages: it names none).
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        (item.fields.get("what") == Some("file")).then_some(Cow::Borrowed(item.key.as_str()))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let uses = sources::gather(host)?;
        let mut found: BTreeMap<PathBuf, Finding> = BTreeMap::new();
        for (path, users) in &uses {
            if host.cancelled() {
                return Err(CollectError::Unavailable("scan abandoned".into()));
            }
            let trace = match host.trace(path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    host.note_denied(&escape_os(path.as_os_str()));
                    continue;
                }
                // A symlink loop runs nothing.
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => continue,
                Err(e) => return Err(CollectError::io(escape_os(path.as_os_str()), e)),
            };
            let last_dir = trace.steps.len() - 1;
            for (i, step) in trace.steps.iter().enumerate() {
                if step.kind == StepKind::Symlink {
                    continue;
                }
                let creatable = !trace.complete && i == last_dir;
                let writers = writers(host, step, creatable);
                if writers.is_empty() {
                    continue;
                }
                let f = found.entry(step.path.clone()).or_insert_with(|| Finding {
                    writers,
                    dir: step.stat.st_mode & libc::S_IFMT == libc::S_IFDIR,
                    owner: host.user_name(step.stat.st_uid),
                    group: host.group_name(step.stat.st_gid),
                    perm: mode_string(step.stat.st_mode),
                    used_by: BTreeSet::new(),
                });
                f.used_by.extend(users.iter().cloned());
            }
        }
        Ok(found
            .into_iter()
            .map(|(path, f)| {
                Item::new(escape_os(path.as_os_str()))
                    .with("writable_by", f.writers.join(","))
                    .with("used_by", used_by(&f.used_by))
                    .with("what", if f.dir { "dir" } else { "file" })
                    .with("owner", f.owner)
                    .with("group", f.group)
                    .with("perm", f.perm)
            })
            .collect())
    }
    /// `root-run dir /opt/x is writable by group:staff (perm=drwxrwxr-x, used_by=systemd:x.service)`.
    fn message(&self, change: &Change) -> String {
        let shown = match change.kind {
            ChangeKind::Removed => change.before.as_ref(),
            _ => change.after.as_ref(),
        };
        let get = |f: &str| shown.and_then(|s| s.get(f)).unwrap_or("");
        let what = match get("what") {
            "" => "path",
            w => w,
        };
        match change.kind {
            ChangeKind::Added => format!(
                "root-run {what} {} is writable by {} (owner={}, group={}, perm={}, used_by={})",
                change.key,
                get("writable_by"),
                get("owner"),
                get("group"),
                get("perm"),
                get("used_by")
            ),
            ChangeKind::Removed => format!(
                "root-run {what} {} is no longer writable by others (or no longer run)",
                change.key
            ),
            ChangeKind::Modified => format!(
                "root-run {what} {} changed: {}",
                change.key,
                crate::sources::common::render_modified(change)
            ),
        }
    }
}

/// What makes one path a finding.
struct Finding {
    writers: Vec<String>,
    dir: bool,
    owner: String,
    group: String,
    perm: String,
    used_by: BTreeSet<String>,
}

fn used_by(users: &BTreeSet<String>) -> String {
    let mut shown: Vec<&str> = users.iter().take(MAX_USERS).map(String::as_str).collect();
    let more = users.len().saturating_sub(MAX_USERS);
    let tail = format!("and {more} more");
    if more > 0 {
        shown.push(&tail);
    }
    shown.join(",")
}

/// Who besides root can write what a step names: `user:NAME`, `group:NAME`, `other`. A sticky
/// directory counts only when `creatable` (the path ends missing in it).
fn writers(host: &Host, step: &Step, creatable: bool) -> Vec<String> {
    let st = &step.stat;
    let mut out = Vec::new();
    if st.st_uid != 0 {
        out.push(format!("user:{}", host.user_name(st.st_uid)));
    }
    let sticky_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR && st.st_mode & 0o1000 != 0;
    if sticky_dir && !creatable {
        return out;
    }
    if st.st_mode & 0o002 != 0 {
        // Anyone: naming the owner or groups too would say less, not more.
        return vec!["other".to_string()];
    }
    match step.acl.as_deref().and_then(parse_acl) {
        Some(acl) => {
            for (tag, id) in acl.writers() {
                let w = match tag {
                    AclTag::User if id != 0 => format!("user:{}", host.user_name(id)),
                    AclTag::User => continue,
                    AclTag::OwningGroup => format!("group:{}", host.group_name(st.st_gid)),
                    AclTag::Group => format!("group:{}", host.group_name(id)),
                    AclTag::Other => "other".to_string(),
                };
                if !out.contains(&w) {
                    out.push(w);
                }
            }
        }
        None => {
            if st.st_mode & 0o020 != 0 {
                out.push(format!("group:{}", host.group_name(st.st_gid)));
            }
            if st.st_mode & 0o002 != 0 {
                out.push("other".into());
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AclTag {
    User,
    OwningGroup,
    Group,
    Other,
}

/// The entries of a `system.posix_acl_access` xattr (version 2: a little-endian u32 version,
/// then entries of u16 tag, u16 permissions, u32 id).
struct Acl {
    entries: Vec<(u16, u16, u32)>,
}

fn parse_acl(raw: &[u8]) -> Option<Acl> {
    let version = u32::from_le_bytes(raw.get(..4)?.try_into().ok()?);
    if version != 2 || !(raw.len() - 4).is_multiple_of(8) {
        return None;
    }
    let entries = raw[4..]
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect();
    Some(Acl { entries })
}

impl Acl {
    /// The entries (besides the owner's) that grant write, within the mask where it applies.
    fn writers(&self) -> Vec<(AclTag, u32)> {
        const USER: u16 = 0x02;
        const GROUP_OBJ: u16 = 0x04;
        const GROUP: u16 = 0x08;
        const MASK: u16 = 0x10;
        const OTHER: u16 = 0x20;
        const WRITE: u16 = 0x02;
        let mask = self
            .entries
            .iter()
            .find(|e| e.0 == MASK)
            .map_or(WRITE, |e| e.1);
        let mut out = Vec::new();
        for &(tag, perm, id) in &self.entries {
            let masked = perm & mask & WRITE != 0;
            match tag {
                USER if masked => out.push((AclTag::User, id)),
                GROUP_OBJ if masked => out.push((AclTag::OwningGroup, 0)),
                GROUP if masked => out.push((AclTag::Group, id)),
                OTHER if perm & WRITE != 0 => out.push((AclTag::Other, 0)),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;

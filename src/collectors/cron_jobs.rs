//! `cron_jobs`: what runs on a timer, entry by entry: `etc/crontab`, `etc/cron.d/*`, the
//! per-user spools (`var/spool/cron/crontabs/USER` on Debian, `var/spool/cron/USER` on RHEL),
//! `etc/anacrontab`, at jobs (`var/spool/cron/atjobs`, `var/spool/at`) and the
//! `etc/cron.{hourly,daily,weekly,monthly}` scripts.
//!
//! Every item has a `kind`: `entry` (keyed `SOURCE: USER SCHEDULE COMMAND`, so a changed
//! command is a removal and an addition; fields `schedule`, `user`, `command`, `source`),
//! `anacron` (the same, with `job`), `env` (`SOURCE: env NAME`; the value is stored only for
//! variables that are not secrets, such as `PATH`, `SHELL`, `MAILTO`, and is otherwise a keyed
//! fingerprint), `crontab` (a per-user spool file: `crontab PATH`, with `user`, `owner`),
//! `at` (`at JOBFILE`: `user`, `queue`, `run_at`, the `command`'s first line), `script`
//! (`script PATH`: `period`, owner, group, perm, `sha256`, `executable`), `malformed` (a line
//! cron would reject, with the line) and `unread` (a file that could not be read, and why).
//! Files in `cron.d` and the `cron.*` directories follow run-parts' naming rule (letters,
//! digits, `_` and `-` only), as Debian's cron does: `x.dpkg-old` is not run, so not listed.
//! Spool files are read without following symlinks, at most [`MAX_SPOOL`] bytes.

use std::borrow::Cow;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::hostfs::{Hashed, not_hashed};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::{mode_string, not_read_why, read_untrusted};

pub struct CronJobs;

/// Largest spool file (crontab, at job) read.
pub const MAX_SPOOL: u64 = 1 << 20;

/// Environment variables whose values are configuration, not secrets: stored as they are.
const PLAIN_ENV: [&str; 12] = [
    "PATH",
    "SHELL",
    "MAILTO",
    "MAILFROM",
    "HOME",
    "CRON_TZ",
    "TZ",
    "LANG",
    "LC_ALL",
    "RANDOM_DELAY",
    "START_HOURS_RANGE",
    "LOGNAME",
];

const SPECIAL: [&str; 8] = [
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

impl Collector for CronJobs {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&[
            "/etc/crontab",
            "/etc/cron.d",
            "/etc/cron.hourly",
            "/etc/cron.daily",
            "/etc/cron.weekly",
            "/etc/cron.monthly",
            "/var/spool/cron",
            "/var/spool/at",
            "/etc/anacrontab",
        ])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "cron_jobs"
    }
    fn description(&self) -> &'static str {
        "cron and at jobs entry by entry (crontab, cron.d, user spools, anacrontab, at, cron.* scripts)"
    }
    fn noun(&self) -> &'static str {
        "cron job"
    }

    /// The crontab, cron.d file or script a job comes from.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "source")
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut items = Vec::new();
        let mut tabs = vec![("/etc/crontab".to_string(), Tab::System)];
        for (name, real) in host.list_dir(&host.path("/etc/cron.d"))? {
            if run_parts_name(name.as_bytes()) {
                tabs.push((host.display(&real), Tab::System));
            }
        }
        tabs.push(("/etc/anacrontab".into(), Tab::Anacron));
        for (source, tab) in tabs {
            match host.read_bytes(&source) {
                Ok(b) => parse_tab(host, &source, &String::from_utf8_lossy(&b), tab, &mut items),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // A directory or FIFO in cron.d: cron does not read it either.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
                Err(e) => items.push(unread(&source, &e)),
            }
        }
        for dir in ["/var/spool/cron/crontabs", "/var/spool/cron"] {
            for (name, real) in host.list_dir(&host.path(dir))? {
                if name.as_bytes().starts_with(b".") || host.open_walked_dir(&real).is_ok() {
                    continue;
                }
                let source = host.display(&real);
                let user = escape_bytes(name.as_bytes());
                match read_untrusted(host, &real, MAX_SPOOL) {
                    Ok((bytes, st)) => {
                        items.push(
                            Item::new(format!("crontab {source}"))
                                .with("kind", "crontab")
                                .with("user", &user)
                                .with("owner", host.user_name(st.st_uid))
                                .with("source", &source),
                        );
                        let text = String::from_utf8_lossy(&bytes);
                        parse_tab(host, &source, &text, Tab::User(&user), &mut items);
                    }
                    Err(e) if crate::hostfs::gone(&e) => {}
                    Err(e) => items.push(unread(&source, &e)),
                }
            }
        }
        for dir in ["/var/spool/cron/atjobs", "/var/spool/at"] {
            for (name, real) in host.list_dir(&host.path(dir))? {
                if name.as_bytes().starts_with(b".") || host.open_walked_dir(&real).is_ok() {
                    continue;
                }
                items.extend(at_job(host, name.as_bytes(), &real));
            }
        }
        for period in ["hourly", "daily", "weekly", "monthly"] {
            let dir = host.path(format!("/etc/cron.{period}"));
            for (name, real) in host.list_dir(&dir)? {
                if run_parts_name(name.as_bytes()) {
                    items.extend(script(host, period, &real));
                }
            }
        }
        Ok(crate::sources::common::unique_keys(items))
    }

    fn message(&self, change: &Change) -> String {
        let f = change.after.as_ref().or(change.before.as_ref());
        // A modification carries only the changed fields: the key's form tells the kind then.
        let kind = f.and_then(|f| f.get("kind")).unwrap_or_else(|| {
            let k = &change.key;
            [
                ("crontab ", "crontab"),
                ("script ", "script"),
                ("at ", "at"),
            ]
            .iter()
            .find(|(p, _)| k.starts_with(p))
            .map_or(
                if k.contains(": env ") { "env" } else { "entry" },
                |(_, n)| n,
            )
        });
        let noun = match kind {
            "entry" | "anacron" => "cron job",
            "env" => "cron setting",
            "crontab" => "user crontab",
            "at" => "at job",
            "script" => "cron script",
            "malformed" => "malformed cron line",
            _ => "cron source",
        };
        let verb = match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "changed",
        };
        let what = ["crontab ", "script ", "at ", "unread "]
            .iter()
            .find_map(|p| change.key.strip_prefix(p))
            .unwrap_or(&change.key);
        let user = f.and_then(|f| f.get("user")).filter(|_| kind == "at");
        match user {
            _ if change.kind == ChangeKind::Modified => format!(
                "{noun} {what} changed: {}",
                crate::sources::common::render_modified(change)
            ),
            Some(u) => format!("{noun} {what} {verb} (user={u})"),
            None => format!("{noun} {what} {verb}"),
        }
    }
}

/// Which crontab format a file has.
#[derive(Clone, Copy)]
enum Tab<'a> {
    /// `etc/crontab`, `etc/cron.d`: schedule, user, command.
    System,
    /// A spool file: schedule, command; the user is the file's name.
    User(&'a str),
    /// `etc/anacrontab`: period, delay, job id, command (run as root).
    Anacron,
}

/// run-parts' rule for names it runs (without `--lsbsysinit`): letters, digits, `_`, `-`.
fn run_parts_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

fn unread(source: &str, e: &io::Error) -> Item {
    Item::new(format!("unread {source}"))
        .with("kind", "unread")
        .with("not_read", not_read_why(e))
        .with("source", source)
}

/// The first `n` whitespace-separated words of `s`, and the rest (leading blanks removed).
fn words(s: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut out = Vec::with_capacity(n);
    let mut rest = s.trim_start();
    for _ in 0..n {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    Some((out, rest))
}

/// A time field cron accepts at position `i` (minute, hour, day of month, month, day of
/// week): `*`, numbers in range, month and day names, joined by `,`, `-` and `/` (`~` and `?`
/// of other crons pass).
fn time_field(i: usize, f: &str) -> bool {
    const MAX: [u32; 5] = [59, 23, 31, 12, 7];
    const NAMES: [&str; 19] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "sun",
        "mon", "tue", "wed", "thu", "fri", "sat",
    ];
    let atom = |a: &str| match a {
        "*" | "?" => true,
        a if !a.is_empty() && a.len() <= 2 && a.bytes().all(|b| b.is_ascii_digit()) => {
            a.parse::<u32>().is_ok_and(|n| n <= MAX[i])
        }
        a => i >= 3 && NAMES.contains(&a.to_ascii_lowercase().as_str()),
    };
    f.split(',').all(|element| {
        let (range, step) = element.split_once('/').unwrap_or((element, "1"));
        let step_ok =
            !step.is_empty() && step.len() <= 3 && step.bytes().all(|b| b.is_ascii_digit());
        step_ok && range.split(['-', '~']).all(atom)
    })
}

/// `NAME=value` or `NAME = "value"`: the name and the unquoted value.
fn env_line(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || name.contains([' ', '\t']) || name.starts_with(['*', '@']) {
        return None;
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let v = value.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(v);
    Some((name, v))
}

fn parse_tab(host: &Host, source: &str, text: &str, tab: Tab, items: &mut Vec<Item>) {
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let escaped = escape_bytes(line.as_bytes());
        if let Some((name, value)) = env_line(line) {
            let name = escape_bytes(name.as_bytes());
            let mut item = Item::new(format!("{source}: env {name}"))
                .with("kind", "env")
                .with("name", &name)
                .with("source", source);
            if let Tab::User(u) = tab {
                item = item.with("user", u);
            }
            item = if PLAIN_ENV.contains(&name.as_str()) {
                item.with("value", escape_bytes(value.as_bytes()))
            } else {
                match host.secret() {
                    Some(k) => item.with("value_fingerprint", k.fingerprint(value.as_bytes())),
                    None => item.with("value", "(not stored: may be a secret)"),
                }
            };
            items.push(item);
            continue;
        }
        match entry(line, tab) {
            Ok((kind, schedule, user, job, command)) => {
                let command = escape_bytes(command.as_bytes());
                let user = escape_bytes(user.as_bytes());
                let schedule = escape_bytes(schedule.as_bytes());
                let mut item = Item::new(format!("{source}: {user} {schedule} {command}"))
                    .with("kind", kind)
                    .with("schedule", schedule)
                    .with("user", user)
                    .with("command", command)
                    .with("source", source);
                if let Some(job) = job {
                    item = item.with("job", escape_bytes(job.as_bytes()));
                }
                items.push(item);
            }
            Err(why) => {
                let short: String = escaped.chars().take(200).collect();
                items.push(
                    Item::new(format!("{source}: malformed: {short}"))
                        .with("kind", "malformed")
                        .with("malformed", why)
                        .with("line", escaped)
                        .with("source", source),
                );
            }
        }
    }
}

type Entry<'a> = (&'static str, String, &'a str, Option<&'a str>, &'a str);

/// One job line: kind, normalised schedule, user, anacron job id, command.
fn entry<'a>(line: &'a str, tab: Tab<'a>) -> Result<Entry<'a>, &'static str> {
    if let Tab::Anacron = tab {
        let (w, command) = words(line, 3).ok_or("expected PERIOD DELAY JOB-ID COMMAND")?;
        let period_ok = w[0].bytes().all(|b| b.is_ascii_digit())
            || ["@daily", "@weekly", "@monthly", "@yearly", "@annually"].contains(&w[0]);
        if !period_ok || !w[1].bytes().all(|b| b.is_ascii_digit()) {
            return Err("bad period or delay");
        }
        if command.is_empty() {
            return Err("no command");
        }
        let schedule = format!("{} {}", w[0], w[1]);
        return Ok(("anacron", schedule, "root", Some(w[2]), command));
    }
    let fields = if line.starts_with('@') { 1 } else { 5 };
    let (mut w, mut rest) = words(line, fields).ok_or("fewer than five time fields")?;
    if fields == 1 && !SPECIAL.contains(&w[0]) {
        return Err("unknown @ schedule");
    }
    if fields == 5 && !w.iter().enumerate().all(|(i, f)| time_field(i, f)) {
        return Err("bad time field");
    }
    let user = match tab {
        Tab::User(u) => u,
        _ => {
            let (u, r) = words(rest, 1).ok_or("no user")?;
            rest = r;
            u[0]
        }
    };
    if rest.is_empty() {
        return Err("no command");
    }
    let schedule = std::mem::take(&mut w).join(" ");
    Ok(("entry", schedule, user, None, rest))
}

/// An at job file: `# atrun uid=N` names the user; the command follows at's here-document
/// marker (`<< 'marcinDELIMITER...'`).
fn at_job(host: &Host, name: &[u8], real: &Path) -> Option<Item> {
    let source = host.display(real);
    let (bytes, st) = match read_untrusted(host, real, MAX_SPOOL) {
        Ok(x) => x,
        Err(e) if crate::hostfs::gone(&e) => return None,
        Err(e) => return Some(unread(&source, &e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let uid = text
        .lines()
        .find_map(|l| l.strip_prefix("# atrun uid="))
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(st.st_uid);
    let mut lines = text.lines();
    let command = match lines.position(|l| l.contains("<< 'marcinDELIMITER")) {
        Some(_) => lines.find(|l| !l.trim().is_empty()).unwrap_or(""),
        None => text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or(""),
    };
    let command: String = escape_bytes(command.trim().as_bytes())
        .chars()
        .take(200)
        .collect();
    let mut item = Item::new(format!("at {}", escape_bytes(name)))
        .with("kind", "at")
        .with("user", host.user_name(uid))
        .with("command", command)
        .with("source", &source);
    // Job files are named QNNNNNMMMMMMMM: queue, job number, start minute since the epoch (hex).
    if name.len() == 14 {
        item = item.with("queue", escape_bytes(&name[..1]));
        let minutes = std::str::from_utf8(&name[6..])
            .ok()
            .and_then(|m| i64::from_str_radix(m, 16).ok());
        if let Some(t) = minutes.and_then(|m| chrono::DateTime::from_timestamp(m * 60, 0)) {
            item = item.with("run_at", t.format("%Y-%m-%d %H:%M UTC"));
        }
    }
    Some(item)
}

/// A `cron.PERIOD` script: owner, mode and content digest (of its target, for a symlink
/// inside the root).
fn script(host: &Host, period: &str, real: &Path) -> Option<Item> {
    let source = host.display(real);
    let (st, hashed) = match host.open_walked(real) {
        Ok((_, st)) => (st, host.hash_walked(real)),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => match host.open_file(&source) {
            Ok((_, st)) => (st, host.hash_in_root(real)),
            Err(e) if crate::hostfs::gone(&e) => return None,
            Err(e) => return Some(unread(&source, &e)),
        },
        Err(e) if e.kind() == io::ErrorKind::InvalidInput || crate::hostfs::gone(&e) => {
            return None;
        }
        Err(e) => return Some(unread(&source, &e)),
    };
    let mut item = Item::new(format!("script {source}"))
        .with("kind", "script")
        .with("period", period)
        .with("user", "root")
        .with("owner", host.user_name(st.st_uid))
        .with("group", host.group_name(st.st_gid))
        .with("perm", mode_string(st.st_mode))
        .with(
            "executable",
            if st.st_mode & 0o100 != 0 { "yes" } else { "no" },
        );
    match hashed {
        Ok(Hashed::Sha256(h)) => item = item.with("sha256", h),
        Ok(Hashed::TooLarge { cap, .. }) => item = item.with("not_hashed", not_hashed(cap)),
        Err(e) => item = item.with("not_hashed", not_read_why(&e)),
    }
    Some(item)
}

#[cfg(test)]
mod tests;

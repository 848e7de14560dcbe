//! What root runs, as host paths with who runs them (see the parent module for the list).
//!
//! The cron part is deliberately minimal (the cron collector parses crontabs fully): root's
//! lines of the system crontabs and root's spool crontab, the command's program and what it
//! leads to (see [`commands`]: an interpreter's script, `#!` lines), not the rest of a shell
//! line (`cd / && run-parts ...` gives nothing; the `run-parts` directories are read instead).
//! Environment lines other than `PATH=` and malformed lines are skipped here: the cron collector
//! reports them.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::CollectError;
use crate::host::{Host, escape_os};

use super::commands::Tracer;

/// systemd's search path for commands that are not absolute (fixed, whatever `PATH` says).
const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// cron's `PATH` when a crontab sets none.
const CRON_PATH: &str = "/usr/bin:/bin";
/// udev rules directories, highest precedence first.
const UDEV_DIRS: [&str; 5] = [
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
];
/// Where udev looks for a program named without a path.
const UDEV_LIBEXEC: &str = "/usr/lib/udev:/lib/udev";
/// The directories `run-parts` runs from cron.
const RUN_PARTS: [&str; 4] = [
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
];

/// Host path → who runs it (or reads it to decide what root runs).
pub type Uses = BTreeMap<PathBuf, BTreeSet<String>>;

/// Everything root runs on the host.
pub fn gather(host: &Host) -> Result<Uses, CollectError> {
    let mut uses = Uses::new();
    let mut tracer = Tracer::default();
    systemd(host, &mut tracer, &mut uses)?;
    cron(host, &mut tracer, &mut uses)?;
    sysvinit(host, &mut tracer, &mut uses)?;
    udev(host, &mut tracer, &mut uses)?;
    Ok(uses)
}

fn add(uses: &mut Uses, path: PathBuf, by: &str) {
    uses.entry(path).or_default().insert(by.to_string());
}

fn systemd(host: &Host, tracer: &mut Tracer, uses: &mut Uses) -> Result<(), CollectError> {
    for unit in crate::sources::unitfiles::root_units(host)? {
        let by = format!("systemd:{}", unit.name);
        for file in unit.files {
            add(uses, file, &by);
        }
        for command in &unit.commands {
            let prefix = command.len() - command.trim_start_matches(|c| "@-:+!|".contains(c)).len();
            let argv0 = command[..prefix].contains('@');
            for path in tracer.command(host, &command[prefix..], SYSTEMD_PATH, argv0)? {
                add(uses, path, &by);
            }
        }
    }
    Ok(())
}

fn cron(host: &Host, tracer: &mut Tracer, uses: &mut Uses) -> Result<(), CollectError> {
    let mut tables = vec![(PathBuf::from("/etc/crontab"), true)];
    for (name, _) in list(host, "/etc/cron.d")? {
        if run_parts_name(&name) {
            tables.push((Path::new("/etc/cron.d").join(name), true));
        }
    }
    // Root's own crontab: Debian's spool, then RHEL's; no user column.
    tables.push((PathBuf::from("/var/spool/cron/crontabs/root"), false));
    tables.push((PathBuf::from("/var/spool/cron/root"), false));
    for (table, system) in tables {
        let Some(text) = read(host, &table)? else {
            continue;
        };
        let by = format!("cron:{}", escape_os(table.as_os_str()));
        add(uses, table.clone(), &by);
        for (command, path) in root_cron_commands(&text, system) {
            for p in tracer.command(host, &command, &path, false)? {
                add(uses, p, &by);
            }
        }
    }
    for dir in RUN_PARTS {
        for (name, _) in list(host, dir)? {
            if run_parts_name(&name) {
                let by = format!("run-parts:{dir}");
                for p in tracer.executed(host, &Path::new(dir).join(name))? {
                    add(uses, p, &by);
                }
            }
        }
    }
    Ok(())
}

/// The commands of root's lines in a crontab (`system`: with a user column), each with the
/// `PATH` in force at that line.
pub fn root_cron_commands(text: &str, system: bool) -> Vec<(String, String)> {
    let mut path = CRON_PATH.to_string();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.split_once('=')
            && !name.trim().is_empty()
            && name
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            if name.trim() == "PATH" {
                path = value.trim().trim_matches(['"', '\'']).to_string();
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let time_fields = if line.starts_with('@') { 1 } else { 5 };
        if words.by_ref().take(time_fields).count() < time_fields {
            continue;
        }
        if system && words.next() != Some("root") {
            continue;
        }
        // The command: the rest of the line after the columns.
        if let Some(at) = nth_word_start(line, time_fields + usize::from(system)) {
            out.push((line[at..].to_string(), path.clone()));
        }
    }
    out
}

/// The byte offset where the `n`th (0-based) whitespace-separated word of `line` starts.
fn nth_word_start(line: &str, n: usize) -> Option<usize> {
    let mut count = 0;
    let mut in_word = false;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            in_word = false;
        } else if !in_word {
            if count == n {
                return Some(i);
            }
            count += 1;
            in_word = true;
        }
    }
    None
}

fn sysvinit(host: &Host, tracer: &mut Tracer, uses: &mut Uses) -> Result<(), CollectError> {
    for dir in ["/etc/init.d", "/etc/rc.d/init.d"] {
        for (name, _) in list(host, dir)? {
            let text = name.to_string_lossy();
            if text == "README" || text == "skeleton" || text.starts_with('.') {
                continue;
            }
            let by = format!("init.d:{}", escape_os(&name));
            for p in tracer.executed(host, &Path::new(dir).join(name))? {
                add(uses, p, &by);
            }
        }
    }
    if host.lstat("/etc/rc.local").is_ok() {
        for p in tracer.executed(host, Path::new("/etc/rc.local"))? {
            add(uses, p, "rc.local");
        }
    }
    Ok(())
}

fn udev(host: &Host, tracer: &mut Tracer, uses: &mut Uses) -> Result<(), CollectError> {
    // A rules file of a name overrides those of the same name in later directories.
    let mut winners: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    for dir in UDEV_DIRS {
        for (name, _) in list(host, dir)? {
            if name.as_bytes().ends_with(b".rules") {
                winners
                    .entry(name.clone())
                    .or_insert_with(|| Path::new(dir).join(&name));
            }
        }
    }
    for file in winners.into_values() {
        let Some(text) = read(host, &file)? else {
            continue;
        };
        let by = format!("udev:{}", escape_os(file.as_os_str()));
        add(uses, file.clone(), &by);
        for program in udev_programs(&text) {
            for p in tracer.command(host, &program, UDEV_LIBEXEC, false)? {
                add(uses, p, &by);
            }
        }
    }
    Ok(())
}

/// The values of `RUN` (`RUN{program}`), `PROGRAM` and `IMPORT{program}` assignments in udev
/// rules text. `RUN{builtin}` runs no program.
pub fn udev_programs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(['R', 'P', 'I']) {
            let tail = &rest[at..];
            let key_len = ["RUN{program}", "RUN", "PROGRAM", "IMPORT{program}"]
                .iter()
                .find(|k| tail.starts_with(*k))
                .map(|k| k.len());
            // The key must start a token: line start, after a comma or blank.
            let starts_token = at == 0 || rest[..at].ends_with([',', ' ', '\t']);
            let Some(len) = key_len.filter(|_| starts_token) else {
                rest = &rest[at + 1..];
                continue;
            };
            let after = tail[len..].trim_start();
            let after = ["+=", ":=", "="]
                .iter()
                .find_map(|op| after.strip_prefix(op))
                .map(str::trim_start);
            match after.and_then(|a| a.strip_prefix('"')) {
                Some(value) => {
                    let end = value.find('"').unwrap_or(value.len());
                    out.push(value[..end].to_string());
                    rest = &value[end.min(value.len())..];
                    rest = rest.strip_prefix('"').unwrap_or(rest);
                }
                None => rest = &rest[at + len..],
            }
        }
    }
    out
}

/// Whether `run-parts` (and Debian's cron for cron.d) would use a file of this name.
fn run_parts_name(name: &OsStr) -> bool {
    !name.is_empty()
        && name
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// The entries of a host directory (missing: none; denied: noted, none).
fn list(host: &Host, dir: &str) -> Result<Vec<(std::ffi::OsString, PathBuf)>, CollectError> {
    host.list_dir(&host.path(dir))
}

/// A whole host file; `None` when missing or denied (noted).
fn read(host: &Host, path: &Path) -> Result<Option<String>, CollectError> {
    match host.read_bytes(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if crate::hostfs::gone(&e) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            host.note_denied(&escape_os(path.as_os_str()));
            Ok(None)
        }
        // A FIFO or device where a crontab should be runs nothing.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
        Err(e) => Err(CollectError::io(escape_os(path.as_os_str()), e)),
    }
}

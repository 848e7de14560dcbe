//! systemd's unit directories under the scanned root: which unit files exist (the winning file
//! of each name, by systemd's precedence), their drop-ins, the links that pull them in, and what
//! a unit file and its drop-ins say ([`Parsed`]). Read by `systemd_unitfiles` (state and content
//! of every unit) and `root_run_writable` (what each system unit runs as root, [`root_units`]).
//!
//! Directories are searched in systemd's precedence order (`etc/systemd/system`, then
//! `run/...`, `usr/local/lib/...`, `usr/lib/...`, `lib/...`); a directory reached twice through
//! symlinks (`lib -> usr/lib` on merged-/usr systems) is read once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::CollectError;
use crate::host::{Host, escape_os};

/// System unit directories, highest precedence first.
pub(crate) const SYSTEM_DIRS: [&str; 5] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// User unit directories (shared by all users), highest precedence first.
pub(crate) const USER_DIRS: [&str; 7] = [
    "etc/systemd/user",
    "run/systemd/user",
    "usr/local/share/systemd/user",
    "usr/share/systemd/user",
    "usr/local/lib/systemd/user",
    "usr/lib/systemd/user",
    "lib/systemd/user",
];

const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
];

/// The settings of [Service] and [Socket] whose values are command lines (besides ExecStart).
const COMMAND_KEYS: [&str; 7] = [
    "ExecCondition",
    "ExecStartPre",
    "ExecStartPost",
    "ExecReload",
    "ExecStop",
    "ExecStopPre",
    "ExecStopPost",
];

/// Directories of links that pull a unit in ("enable" it).
const LINK_DIRS: [&str; 3] = [".wants", ".requires", ".upholds"];

/// What the unit directories of one manager (system or user) hold.
#[derive(Default)]
pub(crate) struct Scope {
    /// How many of the directories exist.
    pub dirs: usize,
    /// Unit name → the file that wins by precedence.
    pub units: BTreeMap<OsString, PathBuf>,
    /// Unit name → the units whose `.wants/` (etc.) name it → whether one of those links is in
    /// an administrator's directory (etc/, run/) rather than the vendor's.
    pub wanted_by: BTreeMap<OsString, BTreeMap<String, bool>>,
    /// Unit name → drop-in file name → the file that wins by precedence.
    pub dropins: BTreeMap<OsString, BTreeMap<OsString, PathBuf>>,
    /// The first directory that could not be listed for another reason than absence.
    pub failed: Option<String>,
}

impl Scope {
    pub(crate) fn read(host: &Host, dirs: &[&str], seen: &mut HashSet<PathBuf>) -> Scope {
        let mut scope = Scope::default();
        for (i, dir) in dirs.iter().enumerate() {
            let Some(real) = resolve(host.root(), Path::new(dir)) else {
                continue;
            };
            if !real.is_dir() || !seen.insert(real.clone()) {
                continue;
            }
            scope.dirs += 1;
            // The first two directories (etc/, run/) are where `systemctl enable` links.
            scope.read_dir(host, &real, i < 2);
        }
        scope
    }

    fn read_dir(&mut self, host: &Host, dir: &Path, admin: bool) {
        for (name, path) in self.list(host, dir) {
            let text = name.to_string_lossy();
            if let Some(stem) = text.strip_suffix(".d")
                && is_unit_name(stem)
                && path.is_dir()
            {
                let stem = OsString::from(stem);
                for (conf, conf_path) in self.list(host, &path) {
                    if conf.to_string_lossy().ends_with(".conf") {
                        let slot = self.dropins.entry(stem.clone()).or_default();
                        slot.entry(conf).or_insert(conf_path);
                    }
                }
            } else if let Some(target) = LINK_DIRS.iter().find_map(|s| text.strip_suffix(s))
                && path.is_dir()
            {
                for (linked, _) in self.list(host, &path) {
                    let by = self.wanted_by.entry(linked).or_default();
                    *by.entry(target.to_string()).or_default() |= admin;
                }
            } else if is_unit_name(&text)
                && let Ok(meta) = std::fs::symlink_metadata(&path)
                && !meta.is_dir()
            {
                self.units.entry(name).or_insert(path);
            }
        }
    }

    /// A directory's entries; an error other than "gone" or "denied" is kept in `failed`
    /// (the collector is then unavailable rather than reporting the units as removed).
    fn list(&mut self, host: &Host, dir: &Path) -> Vec<(OsString, PathBuf)> {
        match host.list_dir(dir) {
            Ok(v) => v,
            Err(e) => {
                self.failed.get_or_insert(e.to_string());
                Vec::new()
            }
        }
    }

    /// The units pulling `name` in, and whether an administrator's link is among them; for a
    /// template (`getty@.service`), those pulling in any of its instances (`getty@tty1.service`).
    pub(crate) fn wanted_by_of(&self, name: &OsString) -> (BTreeSet<String>, bool) {
        let mut out = BTreeSet::new();
        let mut admin = false;
        let mut add = |by: &BTreeMap<String, bool>| {
            for (target, a) in by {
                out.insert(target.clone());
                admin |= *a;
            }
        };
        if let Some(by) = self.wanted_by.get(name) {
            add(by);
        }
        let text = name.to_string_lossy();
        if let Some((base, suffix)) = text.split_once("@.") {
            let (prefix, suffix) = (format!("{base}@"), format!(".{suffix}"));
            for (linked, by) in &self.wanted_by {
                let l = linked.to_string_lossy();
                if l.len() > prefix.len() + suffix.len()
                    && l.starts_with(&prefix)
                    && l.ends_with(&suffix)
                    && !self.units.contains_key(linked)
                {
                    add(by);
                }
            }
        }
        (out, admin)
    }
}

/// A system unit's files and the command lines it runs as root (for `root_run_writable`).
pub(crate) struct RootUnit {
    /// The unit's name (`ssh.service`), escaped.
    pub name: String,
    /// The unit file (as found in its unit directory) and its drop-ins, as host paths.
    pub files: Vec<PathBuf>,
    /// Command lines run as root, as written (prefixes such as `-` or `+` kept).
    pub commands: Vec<String>,
}

/// The system units systemd could load, with what each runs as root: every command of a unit
/// without `User=` (or with `User=root` or `0`) and without `DynamicUser=`; of other units, the
/// commands with the `+` prefix only (systemd runs those with full privileges whatever `User=`
/// says). Masked, dangling and alias entries run nothing of their own. No unit directories:
/// no units.
pub(crate) fn root_units(host: &Host) -> Result<Vec<RootUnit>, CollectError> {
    let shared = system_scope(host);
    let system = &shared.0;
    if let Some(why) = &system.failed {
        return Err(CollectError::Unavailable(why.clone()));
    }
    let mut out = Vec::new();
    for (name, path) in &system.units {
        let link = std::fs::read_link(path).ok();
        if link.as_deref() == Some(Path::new("/dev/null")) {
            continue;
        }
        let Some(real) = resolve(host.root(), &rel_to_root(host, path)) else {
            continue;
        };
        if real == host.path("/dev/null") {
            continue;
        }
        let is_alias = link.is_some()
            && real.file_name().is_some_and(|f| f != name.as_os_str())
            && real
                .file_name()
                .is_some_and(|f| system.units.contains_key(f));
        if is_alias {
            continue;
        }
        let mut parsed = Parsed::default();
        let mut files = vec![Path::new("/").join(rel_to_root(host, path))];
        if let Some(bytes) = read(host, &real) {
            parsed.apply(&String::from_utf8_lossy(&bytes));
        }
        for conf_path in system
            .dropins
            .get(name)
            .into_iter()
            .flatten()
            .map(|(_, p)| p)
        {
            files.push(Path::new("/").join(rel_to_root(host, conf_path)));
            if let Some(bytes) = read(host, conf_path) {
                parsed.apply(&String::from_utf8_lossy(&bytes));
            }
        }
        let as_root = !parsed.dynamic_user
            && parsed
                .user
                .as_deref()
                .is_none_or(|u| u == "root" || u == "0");
        let commands = parsed
            .commands
            .values()
            .flatten()
            .filter(|c| as_root || privileged(c))
            .cloned()
            .collect();
        out.push(RootUnit {
            name: escape_os(name),
            files,
            commands,
        });
    }
    Ok(out)
}

/// Whether a command line carries systemd's `+` prefix (full privileges), among the prefixes
/// `@ - : + !` that may lead it in any order.
fn privileged(command: &str) -> bool {
    command
        .chars()
        .take_while(|c| "@-:+!".contains(*c))
        .any(|c| c == '+')
}

/// What the unit file and its drop-ins say, as far as compared here.
#[derive(Default)]
pub(crate) struct Parsed {
    /// An [Install] section that can link the unit somewhere.
    pub install: bool,
    /// `ExecStart=` values of [Service], after drop-ins (an empty assignment resets the list).
    pub exec: Vec<String>,
    /// Every command setting of [Service] and [Socket] (`ExecStartPre=`, `ExecStop=`...) with
    /// its values, after drop-ins; ExecStart included.
    pub commands: BTreeMap<String, Vec<String>>,
    /// `User=` of [Service] (the last assignment wins; empty resets).
    pub user: Option<String>,
    /// `DynamicUser=` of [Service] set to a true value.
    pub dynamic_user: bool,
}

impl Parsed {
    /// Applies one file (unit or drop-in). Lines that are neither sections nor assignments are
    /// skipped, so a malformed file still yields what it can.
    pub(crate) fn apply(&mut self, text: &str) {
        let mut section = String::new();
        let mut logical = String::new();
        for raw in text.lines() {
            // A trailing backslash continues the assignment on the next line.
            if let Some(part) = raw.strip_suffix('\\') {
                logical.push_str(part);
                logical.push(' ');
                continue;
            }
            logical.push_str(raw);
            let line = std::mem::take(&mut logical);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                section = line[1..line.len() - 1].to_string();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match (section.as_str(), key) {
                ("Service", "ExecStart") if value.is_empty() => {
                    self.exec.clear();
                    self.commands.remove(key);
                }
                ("Service", "ExecStart") => {
                    self.exec.push(value.to_string());
                    self.commands
                        .entry(key.to_string())
                        .or_default()
                        .push(value.to_string());
                }
                ("Service" | "Socket", _) if COMMAND_KEYS.contains(&key) => {
                    if value.is_empty() {
                        self.commands.remove(key);
                    } else {
                        let list = self.commands.entry(key.to_string()).or_default();
                        list.push(value.to_string());
                    }
                }
                ("Service", "User") => {
                    self.user = (!value.is_empty()).then(|| value.to_string());
                }
                ("Service", "DynamicUser") => {
                    self.dynamic_user = matches!(value, "yes" | "true" | "on" | "1");
                }
                ("Install", "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias" | "Also") => {
                    self.install |= !value.is_empty()
                }
                _ => {}
            }
        }
    }
}

pub(crate) fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// The system manager's unit directories, listed once per scan and shared by
/// `systemd_unitfiles` and `root_run_writable` (through [`root_units`]), with the directories
/// they took (the user scope skips those).
pub(crate) fn system_scope(host: &Host) -> Arc<(Scope, HashSet<PathBuf>)> {
    host.shared(|| {
        let mut seen = HashSet::new();
        let system = Scope::read(host, &SYSTEM_DIRS, &mut seen);
        (system, seen)
    })
}

/// The unit files and drop-ins read in this scan, by real path: each is read once and shared
/// by the collectors that parse it.
#[derive(Default)]
struct Contents(Mutex<HashMap<PathBuf, Option<Arc<Vec<u8>>>>>);

/// A unit file or drop-in's bytes, read once per scan; `None` when it cannot be read (a
/// denial is noted).
pub(crate) fn read(host: &Host, real: &Path) -> Option<Arc<Vec<u8>>> {
    let cache = host.shared(Contents::default);
    if let Some(known) = cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(real) {
        return known.clone();
    }
    let read = match host.read_real(real) {
        Ok(b) => Some(Arc::new(b)),
        Err(e) => {
            if e.kind() == io::ErrorKind::PermissionDenied {
                host.note_denied(&host.display(real));
            }
            None
        }
    };
    cache
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(real.to_path_buf(), read.clone());
    read
}

pub(crate) fn rel_to_root(host: &Host, real: &Path) -> PathBuf {
    real.strip_prefix(host.root()).unwrap_or(real).to_path_buf()
}

/// Resolves a host path under `root`, following symlinks as the host would see them (absolute
/// targets start again at `root`, never at the scanning machine's `/`). `None` when some part
/// is missing or the links loop.
pub(crate) fn resolve(root: &Path, host_path: &Path) -> Option<PathBuf> {
    // Components still to walk, last first; `None` stands for `..`.
    let mut todo: Vec<Option<OsString>> = Vec::new();
    let push = |todo: &mut Vec<Option<OsString>>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => todo.push(Some(n.to_os_string())),
                Component::ParentDir => todo.push(None),
                _ => {}
            }
        }
    };
    push(&mut todo, host_path);
    let mut cur = PathBuf::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        let Some(c) = c else {
            cur.pop();
            continue;
        };
        let next = cur.join(&c);
        let real = root.join(&next);
        let meta = std::fs::symlink_metadata(&real).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&real).ok()?;
            if target.is_absolute() {
                cur = PathBuf::new();
            }
            push(&mut todo, &target);
        } else {
            cur = next;
        }
    }
    Some(root.join(cur))
}

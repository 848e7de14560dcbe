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

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::collectors::Collector;
use crate::collectors::common::sha256_bytes;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes, escape_os};
use crate::model::{Change, ChangeKind, Fields, Item};

/// System unit directories, highest precedence first.
const SYSTEM_DIRS: [&str; 5] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// User unit directories (shared by all users), highest precedence first.
const USER_DIRS: [&str; 7] = [
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

/// Unit files in systemd's unit directories, with their enablement state.
pub struct SystemdUnitfiles;

impl Collector for SystemdUnitfiles {
    fn name(&self) -> &'static str {
        "systemd_unitfiles"
    }
    fn description(&self) -> &'static str {
        "systemd unit files on disk: state (enabled/disabled/static/masked), content, drop-ins, ExecStart"
    }
    fn noun(&self) -> &'static str {
        "systemd unit file"
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
        let mut items = system.items(host, "");
        items.extend(user.items(host, "user/"));
        Ok(items)
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

/// What the unit directories of one manager (system or user) hold.
#[derive(Default)]
struct Scope {
    /// How many of the directories exist.
    dirs: usize,
    /// Unit name → the file that wins by precedence.
    units: BTreeMap<OsString, PathBuf>,
    /// Unit name → the units whose `.wants/` (etc.) name it → whether one of those links is in
    /// an administrator's directory (etc/, run/) rather than the vendor's.
    wanted_by: BTreeMap<OsString, BTreeMap<String, bool>>,
    /// Unit name → drop-in file name → the file that wins by precedence.
    dropins: BTreeMap<OsString, BTreeMap<OsString, PathBuf>>,
    /// The first directory that could not be listed for another reason than absence.
    failed: Option<String>,
}

impl Scope {
    fn read(host: &Host, dirs: &[&str], seen: &mut HashSet<PathBuf>) -> Scope {
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

    fn items(&self, host: &Host, prefix: &str) -> Vec<Item> {
        self.units
            .iter()
            .map(|(name, path)| self.item(host, prefix, name, path))
            .collect()
    }

    fn item(&self, host: &Host, prefix: &str, name: &OsString, path: &Path) -> Item {
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
        for (conf, conf_path) in self.dropins.get(name).into_iter().flatten() {
            let hash = match read(host, conf_path) {
                Some(bytes) => {
                    parsed.apply(&String::from_utf8_lossy(&bytes));
                    sha256_bytes(&bytes)[..12].to_string()
                }
                None => "?".to_string(),
            };
            dropins.push(format!("{}:{hash}", escape_os(conf)));
        }
        let (wanted_by, linked_by_admin) = self.wanted_by_of(name);
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

    /// The units pulling `name` in, and whether an administrator's link is among them; for a
    /// template (`getty@.service`), those pulling in any of its instances (`getty@tty1.service`).
    fn wanted_by_of(&self, name: &OsString) -> (BTreeSet<String>, bool) {
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
pub(super) struct RootUnit {
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
pub(super) fn root_units(host: &Host) -> Result<Vec<RootUnit>, CollectError> {
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
struct Parsed {
    /// An [Install] section that can link the unit somewhere.
    install: bool,
    /// `ExecStart=` values of [Service], after drop-ins (an empty assignment resets the list).
    exec: Vec<String>,
    /// Every command setting of [Service] and [Socket] (`ExecStartPre=`, `ExecStop=`...) with
    /// its values, after drop-ins; ExecStart included.
    commands: BTreeMap<String, Vec<String>>,
    /// `User=` of [Service] (the last assignment wins; empty resets).
    user: Option<String>,
    /// `DynamicUser=` of [Service] set to a true value.
    dynamic_user: bool,
}

impl Parsed {
    /// Applies one file (unit or drop-in). Lines that are neither sections nor assignments are
    /// skipped, so a malformed file still yields what it can.
    fn apply(&mut self, text: &str) {
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

fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// The system manager's unit directories, listed once per scan and shared by
/// `systemd_unitfiles` and `root_run_writable` (through [`root_units`]), with the directories
/// they took (the user scope skips those).
fn system_scope(host: &Host) -> std::sync::Arc<(Scope, HashSet<PathBuf>)> {
    host.shared(|| {
        let mut seen = HashSet::new();
        let system = Scope::read(host, &SYSTEM_DIRS, &mut seen);
        (system, seen)
    })
}

/// The unit files and drop-ins read in this scan, by real path: each is read once and shared
/// by the collectors that parse it.
#[derive(Default)]
struct Contents(std::sync::Mutex<std::collections::HashMap<PathBuf, Option<Bytes>>>);

type Bytes = std::sync::Arc<Vec<u8>>;

fn read(host: &Host, real: &Path) -> Option<std::sync::Arc<Vec<u8>>> {
    let cache = host.shared(Contents::default);
    if let Some(known) = cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(real) {
        return known.clone();
    }
    let read = match host.read_real(real) {
        Ok(b) => Some(std::sync::Arc::new(b)),
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

fn rel_to_root(host: &Host, real: &Path) -> PathBuf {
    real.strip_prefix(host.root()).unwrap_or(real).to_path_buf()
}

/// Resolves a host path under `root`, following symlinks as the host would see them (absolute
/// targets start again at `root`, never at the scanning machine's `/`). `None` when some part
/// is missing or the links loop.
fn resolve(root: &Path, host_path: &Path) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    use crate::collectors::testing::write;

    fn link(root: &Path, rel: &str, target: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    const SSH: &str = "[Unit]\nDescription=ssh\n[Service]\nExecStart=/usr/sbin/sshd -D\n\
                       [Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n";

    /// A merged-/usr tree with enabled, aliased, masked, static, disabled, dangling and
    /// malformed units, a drop-in, a template instance and a user unit.
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let sys = "usr/lib/systemd/system";
        write(r, &format!("{sys}/ssh.service"), SSH);
        write(
            r,
            &format!("{sys}/getty@.service"),
            "[Service]\nExecStart=-/sbin/agetty %I\n[Install]\nWantedBy=getty.target\n",
        );
        write(
            r,
            &format!("{sys}/static.service"),
            "[Service]\nExecStart=/bin/true\n",
        );
        write(
            r,
            &format!("{sys}/disabled.service"),
            "[Service]\nExecStart=/opt/x \\\n  --flag\n[Install]\nWantedBy=multi-user.target\n",
        );
        write(
            r,
            &format!("{sys}/masked.service"),
            "[Service]\nExecStart=/bin/x\n",
        );
        write(
            r,
            &format!("{sys}/broken.service"),
            "garbage without equals\n[Service\n\u{1}\u{2}=\n[Service]\nExecStart=/bin/ok\n",
        );
        write(
            r,
            &format!("{sys}/multi-user.target"),
            "[Unit]\nDescription=x\n",
        );
        write(r, &format!("{sys}/README"), "not a unit");
        link(r, "lib", "usr/lib");
        link(
            r,
            &format!("{sys}/sysinit.target.wants/static.service"),
            "../static.service",
        );
        let etc = "etc/systemd/system";
        link(
            r,
            &format!("{etc}/multi-user.target.wants/ssh.service"),
            "/usr/lib/systemd/system/ssh.service",
        );
        link(
            r,
            &format!("{etc}/getty.target.wants/getty@tty1.service"),
            "/lib/systemd/system/getty@.service",
        );
        link(
            r,
            &format!("{etc}/sshd.service"),
            "/lib/systemd/system/ssh.service",
        );
        link(r, &format!("{etc}/masked.service"), "/dev/null");
        link(
            r,
            &format!("{etc}/dangling.service"),
            "/nowhere/dangling.service",
        );
        write(
            r,
            &format!("{etc}/ssh.service.d/override.conf"),
            "[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -p 2222\n",
        );
        write(r, &format!("{etc}/ssh.service.d/ignored.txt"), "x");
        write(
            r,
            "usr/lib/systemd/user/dbus.service",
            "[Service]\nExecStart=/usr/bin/dbus-daemon\n[Install]\nAlso=dbus.socket\n",
        );
        dir
    }

    fn by_key(items: &[Item]) -> BTreeMap<&str, &Fields> {
        items.iter().map(|i| (i.key.as_str(), &i.fields)).collect()
    }

    #[test]
    fn states_come_from_links_and_install_sections() {
        let dir = fixture();
        let items = SystemdUnitfiles.collect(&Host::new(dir.path())).unwrap();
        let m = by_key(&items);
        let ssh = m["ssh.service"];
        assert_eq!(&ssh["state"], "enabled");
        assert_eq!(&ssh["wanted_by"], "multi-user.target");
        assert_eq!(&ssh["path"], "/usr/lib/systemd/system/ssh.service");
        assert_eq!(ssh["sha256"], sha256_bytes(SSH.as_bytes()));
        assert_eq!(
            &ssh["exec"], "/usr/sbin/sshd -D -p 2222",
            "drop-in resets ExecStart"
        );
        let (conf, hash) = ssh["dropins"].split_once(':').unwrap();
        assert_eq!(conf, "override.conf");
        assert_eq!(hash.len(), 12);
        assert_eq!(&m["getty@.service"]["state"], "enabled");
        assert_eq!(&m["getty@.service"]["wanted_by"], "getty.target");
        assert_eq!(&m["sshd.service"]["state"], "alias");
        assert_eq!(&m["sshd.service"]["alias_of"], "ssh.service");
        assert_eq!(&m["masked.service"]["state"], "masked");
        assert_eq!(
            &m["masked.service"]["path"],
            "/etc/systemd/system/masked.service"
        );
        assert!(!m["masked.service"].contains_key("sha256"));
        assert_eq!(&m["dangling.service"]["state"], "bad");
        assert_eq!(
            &m["static.service"]["state"], "static",
            "vendor links do not enable"
        );
        assert_eq!(&m["static.service"]["wanted_by"], "sysinit.target");
        assert!(!m["disabled.service"].contains_key("wanted_by"));
        assert_eq!(&m["disabled.service"]["state"], "disabled");
        assert_eq!(&m["disabled.service"]["exec"], "/opt/x    --flag");
        assert_eq!(
            &m["broken.service"]["exec"], "/bin/ok",
            "malformed lines skipped"
        );
        assert_eq!(&m["multi-user.target"]["state"], "static");
        assert_eq!(&m["user/dbus.service"]["state"], "disabled");
        assert!(!m.contains_key("README"));
        assert!(
            items.iter().all(|i| !i.fields["path"].starts_with("/lib/")),
            "lib -> usr/lib read twice"
        );
    }

    #[test]
    fn merged_usr_is_read_once_but_a_real_lib_is_read() {
        let dir = fixture();
        let mut seen = HashSet::new();
        let host = Host::new(dir.path());
        assert_eq!(Scope::read(&host, &SYSTEM_DIRS, &mut seen).dirs, 2);

        let split = tempfile::tempdir().unwrap();
        write(
            split.path(),
            "lib/systemd/system/old.service",
            "[Service]\nExecStart=/x\n",
        );
        write(split.path(), "usr/lib/systemd/system/new.service", "");
        let items = SystemdUnitfiles.collect(&Host::new(split.path())).unwrap();
        let m = by_key(&items);
        assert_eq!(&m["old.service"]["path"], "/lib/systemd/system/old.service");
        assert!(m.contains_key("new.service"));
    }

    #[test]
    fn enabling_and_editing_show_as_changes() {
        let dir = fixture();
        let host = || Host::new(dir.path());
        let before = SystemdUnitfiles.collect(&host()).unwrap();
        assert_eq!(before, SystemdUnitfiles.collect(&host()).unwrap(), "quiet");
        link(
            dir.path(),
            "etc/systemd/system/multi-user.target.wants/disabled.service",
            "/usr/lib/systemd/system/disabled.service",
        );
        write(
            dir.path(),
            "usr/lib/systemd/system/static.service",
            "[Service]\nExecStart=/bin/false\n",
        );
        let after = SystemdUnitfiles.collect(&host()).unwrap();
        let (b, a) = (by_key(&before), by_key(&after));
        assert_eq!(&a["disabled.service"]["state"], "enabled");
        assert_eq!(&a["disabled.service"]["wanted_by"], "multi-user.target");
        assert_ne!(b["static.service"]["sha256"], a["static.service"]["sha256"]);
        assert_eq!(&a["static.service"]["exec"], "/bin/false");
    }

    #[test]
    fn odd_names_are_escaped_keys() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("etc/systemd/system");
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::write(sys.join("new\nline.service"), "").unwrap();
        let raw = std::ffi::OsStr::from_bytes(b"bad\xffname.service");
        std::fs::write(sys.join(raw), "").unwrap();
        let items = SystemdUnitfiles.collect(&Host::new(dir.path())).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["bad\\xffname.service", "new\\x0aline.service"]);
    }

    #[test]
    fn no_unit_directories_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        match SystemdUnitfiles.collect(&Host::new(dir.path())) {
            Err(CollectError::Unavailable(why)) => {
                assert!(why.contains("no systemd unit"), "{why}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    fn change(kind: ChangeKind, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
        crate::collectors::testing::change(
            "systemd_unitfiles",
            kind,
            "vboxdrv.service",
            before,
            after,
        )
    }

    #[test]
    fn messages_and_severities() {
        let added = change(
            ChangeKind::Added,
            &[],
            &[
                ("state", "enabled"),
                ("wanted_by", "multi-user.target"),
                ("path", "/x"),
                ("exec", "/opt/vbox start"),
            ],
        );
        assert_eq!(
            SystemdUnitfiles.message(&added),
            "systemd unit file vboxdrv.service added (state=enabled, wanted_by=multi-user.target, exec=/opt/vbox start)"
        );
        assert_eq!(crate::rules::testing::severity(&added), Severity::High);
        let plain = change(ChangeKind::Added, &[], &[("state", "static")]);
        assert_eq!(crate::rules::testing::severity(&plain), Severity::Medium);
        let enabled = change(
            ChangeKind::Modified,
            &[("state", "disabled"), ("sha256", "a")],
            &[
                ("state", "enabled"),
                ("sha256", "b"),
                ("wanted_by", "multi-user.target"),
            ],
        );
        assert_eq!(
            SystemdUnitfiles.message(&enabled),
            "systemd unit file vboxdrv.service changed: state from disabled to enabled, \
             wanted_by from (none) to multi-user.target, content changed"
        );
        assert_eq!(crate::rules::testing::severity(&enabled), Severity::High);
        let content = change(ChangeKind::Modified, &[("sha256", "a")], &[("sha256", "b")]);
        assert_eq!(
            SystemdUnitfiles.message(&content),
            "systemd unit file vboxdrv.service changed: content changed"
        );
        assert_eq!(crate::rules::testing::severity(&content), Severity::Medium);
        let removed = change(ChangeKind::Removed, &[("state", "enabled")], &[]);
        assert_eq!(crate::rules::testing::severity(&removed), Severity::Low);
    }

    proptest::proptest! {
        #![proptest_config(crate::collectors::fuzz::config())]
        /// Fault matrix: random and truncated unit files and drop-ins never panic the parser or
        /// the collector.
        #[test]
        fn fuzz_unit_files(
            unit in crate::collectors::fuzz::bytes(SSH),
            dropin in crate::collectors::fuzz::bytes("[Service]\nExecStart=\nExecStart=/bin/x \\\n  -y\n[Install]\nAlias=z.service\n"),
        ) {
            let mut parsed = Parsed::default();
            parsed.apply(&String::from_utf8_lossy(&unit));
            parsed.apply(&String::from_utf8_lossy(&dropin));
            let dir = tempfile::tempdir().unwrap();
            let w = |rel: &str, b: &[u8]| crate::collectors::testing::write(dir.path(), rel, b);
            w("etc/systemd/system/fuzz.service", &unit);
            w("etc/systemd/system/fuzz.service.d/override.conf", &dropin);
            w("usr/lib/systemd/system/other.socket", &dropin);
            let items = SystemdUnitfiles.collect(&Host::new(dir.path())).unwrap();
            crate::collectors::fuzz::assert_printable(&items);
        }
    }
}

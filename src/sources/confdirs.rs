//! Helpers shared by the parsed configuration collectors (PAM, dynamic loader, polkit, D-Bus,
//! udev, sysctl, AppArmor, mount options): drop-in directories merged by file name the way
//! udev, systemd-sysctl and polkit merge them, files read through [`Host`] with every failure
//! kept as a fact, shell-style globs, and who besides root may write a path.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::hostfs::{self, Stat};
use crate::sources::common::sha256_bytes;

/// One file of a merged set of drop-in directories.
pub struct ConfFile {
    /// The real path under the scanned root.
    pub real: PathBuf,
    /// The host path as stored text (`/etc/udev/rules.d/60-x.rules`).
    pub path: String,
    /// The file name as stored text.
    pub name: String,
    /// Host paths of same-named files in lower-precedence directories, which this one hides.
    pub hides: Vec<String>,
}

/// The files of `dirs` (host paths, highest precedence first) whose names end in `suffix`
/// (`""`: every name not starting with a dot), merged by name: a name in an earlier directory
/// hides the same name in later ones. Sorted by name in byte order, which is the order udev,
/// systemd-sysctl and polkit process them in. A directory reached twice (`/lib` a symlink to
/// `/usr/lib`) is listed once; a missing directory is empty.
pub fn merged(host: &Host, dirs: &[&str], suffix: &str) -> Result<Vec<ConfFile>, CollectError> {
    let mut seen_dirs = HashSet::new();
    let mut by_name: BTreeMap<OsString, ConfFile> = BTreeMap::new();
    for dir in dirs {
        match host.stat(dir) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                if !seen_dirs.insert((st.st_dev, st.st_ino)) {
                    continue;
                }
            }
            _ => continue,
        }
        for (name, real) in host.list_dir(&host.path(dir))? {
            let bytes = name.as_bytes();
            if bytes.starts_with(b".") || !bytes.ends_with(suffix.as_bytes()) {
                continue;
            }
            let path = host.display(&real);
            match by_name.get_mut(&name) {
                Some(winner) => winner.hides.push(path),
                None => {
                    let file = ConfFile {
                        name: escape_bytes(bytes),
                        real,
                        path,
                        hides: Vec::new(),
                    };
                    by_name.insert(name, file);
                }
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// What reading one configuration file gave.
pub enum Content {
    /// Its text (invalid UTF-8 replaced) and the SHA-256 of its bytes.
    Text(String, String),
    /// Why it could not be read: kept as a field, so an unreadable file is never "no entries".
    Failed(String),
}

/// Reads a file a collector found (a real path under the root). `None` when it vanished since
/// it was listed; a file that is not a regular file (a FIFO, a symlink to `/dev/null` masking a
/// lower one) or cannot be read is `Failed` with the reason.
pub fn read(host: &Host, real: &std::path::Path) -> Option<Content> {
    match host.read_real(real) {
        Ok(bytes) => {
            let sha = sha256_bytes(&bytes);
            Some(Content::Text(
                String::from_utf8_lossy(&bytes).into_owned(),
                sha,
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            if e.kind() == io::ErrorKind::PermissionDenied {
                host.note_denied(&host.display(real));
            }
            Some(Content::Failed(reason(&e)))
        }
    }
}

/// A short, stable reason for an I/O error (no path: the item names it).
pub fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::InvalidInput => "not a regular file".into(),
        io::ErrorKind::FileTooLarge => "too large to read".into(),
        _ if e.raw_os_error() == Some(libc::ELOOP) => "symlink refused".into(),
        _ => escape_bytes(e.to_string().as_bytes()),
    }
}

/// Whether a listed entry is a mask: a symlink to `/dev/null` (in an image, where `/dev/null`
/// may not exist, the link text says it), or anything resolving to a character device.
pub fn masked(host: &Host, real: &std::path::Path) -> bool {
    // Only the link text is read, never what it points to.
    if std::fs::read_link(real).is_ok_and(|t| t == std::path::Path::new("/dev/null")) {
        return true;
    }
    stat_real(host, real).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR)
}

/// [`Host::stat`] of a real path under the root (one a listing gave).
pub fn stat_real(host: &Host, real: &std::path::Path) -> io::Result<Stat> {
    let rel = real.strip_prefix(host.root()).unwrap_or(real);
    host.stat(std::path::Path::new("/").join(rel))
}

/// Shell-style matching of one name: `*`, `?`, `[abc]`, `[a-z]`, `[!x]` / `[^x]`.
pub fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(&pattern[p..], name[n]) {
                        if matched {
                            p += next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the start of `pattern`: whether `c` matches, and the class's length.
/// `None` when the bracket is not closed (then it is a plain `[`).
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        let ch = pattern[i];
        if ch == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            if (ch..=pattern[i + 2]).contains(&c) {
                matched = true;
            }
            i += 3;
        } else {
            if ch == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// Who besides root may write the file or directory `st` describes, as a neutral fact:
/// `user:NAME` (a non-root owner), `group:NAME` (group-writable, a group other than root's),
/// `others` (world-writable); comma-joined; `None` when only root may.
pub fn writable_by(host: &Host, st: &Stat) -> Option<String> {
    let mut who = Vec::new();
    if st.st_uid != 0 {
        who.push(format!("user:{}", host.user_name(st.st_uid)));
    }
    if st.st_mode & 0o020 != 0 && st.st_gid != 0 {
        who.push(format!("group:{}", host.group_name(st.st_gid)));
    }
    if st.st_mode & 0o002 != 0 {
        who.push("others".into());
    }
    (!who.is_empty()).then(|| who.join(","))
}

/// The `ls`-style permission string of a status.
pub fn perm(st: &Stat) -> String {
    crate::sources::common::mode_string(st.st_mode)
}

/// A line of a configuration file as stored text: whitespace runs collapsed, control
/// characters escaped, at most 200 characters (a hostile line must not make a huge key).
pub fn line_text(line: &str) -> String {
    let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut text = escape_bytes(collapsed.as_bytes());
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// Keys made unique within one collector's output: the second `k` becomes `k#2`, and so on.
/// Stable as long as the order of the repeated entries is.
#[derive(Default)]
pub struct Keys(std::collections::HashMap<String, usize>);

impl Keys {
    pub fn unique(&mut self, key: String) -> String {
        let n = self.0.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n == 1 { key } else { format!("{key}#{n}") }
    }
}

/// Whether `st` is a directory.
pub fn is_dir(st: &Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether an error means "not there" rather than "could not look".
pub fn absent(e: &io::Error) -> bool {
    hostfs::gone(e)
}

#[cfg(test)]
mod tests;

//! `package_integrity`: does a file dpkg installed still match the digest its package recorded?
//! So "conffile edited by the admin" and "binary replaced" are told apart. Items only for what
//! does not match: a clean host has none.
//!
//! Sources, read natively once per scan: `var/lib/dpkg/info/*.md5sums` (one `MD5  path` line per
//! packaged file; a line that is not one is an item with `state=malformed`, never dropped) and
//! the `Conffiles:` field of `var/lib/dpkg/status` for installed packages (`obsolete`,
//! `remove-on-upgrade` and not yet configured `newconffile` entries skipped). A path a package
//! lists in both is judged as a conffile. A file diverted by another package
//! (`var/lib/dpkg/diversions`) is checked where the diversion moved it. The rpm database is
//! out of scope.
//!
//! Cost is bounded twice, because dpkg records about 92,000 files on a desktop (4.5 GB, 20 s for
//! `dpkg --verify` here):
//! - **Scope**: only files where a replacement gives root ([`in_scope`]): everything under
//!   `/etc` and `/boot`, `bin`, `sbin`, `libexec`, and in the library directories the files
//!   right in them or in their multiarch directory (`libc.so.6`, `ld-linux`), and the trees
//!   `security` (PAM modules), `systemd`, `udev`, `apt/methods`, `openssh`, `dbus-1.0`,
//!   `polkit-1`, `sudo`. About 2,000 files on a Debian 12 desktop.
//! - **Only changed files are read**: dpkg writes a package's `.list` after unpacking its files,
//!   so a file whose status-change time (`ctime`, which no one but root can set back: any write,
//!   rename or chmod moves it to now) is older than the package's `.list` and `.md5sums` (the
//!   later of their mtime and ctime) is as dpkg left it, and is not hashed. Conffiles
//!   (rewritten at configure time) and symlinks standing where a file was (their target may
//!   change without them) are always hashed. On an idle host that is a few hundred small files.
//!
//! Fields: `package`, `kind` (`conffile`, `file`, or `md5sums` for a malformed line), `state`
//! (`modified`, `missing`, `malformed`, `unverified` for a file above `max_hash_mib` or a
//! recorded path that cannot name a file, such as one with `..`). Keys: the
//! path as dpkg records it; a malformed line is keyed `MD5SUMS-FILE:LINE`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::Path;

use md5::{Digest, Md5};

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::hostfs::{Stat, gone};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::pkgdb::parse_line;

const INFO: &str = "/var/lib/dpkg/info";

/// Packaged files that no longer match their recorded digest.
pub struct PackageIntegrity;

impl Collector for PackageIntegrity {
    fn name(&self) -> &'static str {
        "package_integrity"
    }
    fn description(&self) -> &'static str {
        "dpkg-installed files in system paths (bin, sbin, lib, /etc, /boot) that no longer match their package's md5"
    }
    fn noun(&self) -> &'static str {
        "package file"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let info = host.path(INFO);
        if host.lstat(INFO).is_err() {
            return Err(CollectError::Unavailable(format!(
                "no dpkg database ({INFO}) under {}: package files cannot be verified (rpm databases are not read)",
                host.root().display()
            )));
        }
        let conffiles = match host.read_optional("/var/lib/dpkg/status")? {
            Some(text) => conffiles(&text),
            None => BTreeMap::new(),
        };
        let diversions = host
            .read_optional("/var/lib/dpkg/diversions")?
            .map(|t| diversions(&t))
            .unwrap_or_default();
        let mut items = Vec::new();
        for (name, real) in host.list_dir(&info)? {
            if host.cancelled() {
                return Err(CollectError::Unavailable("scan abandoned".into()));
            }
            let bytes = name.as_encoded_bytes();
            let Some(stem) = bytes.strip_suffix(b".md5sums") else {
                continue;
            };
            let package = escape_bytes(stem);
            let mut list = stem.to_vec();
            list.extend_from_slice(b".list");
            let records = [
                Path::new(INFO)
                    .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&list)),
                Path::new(INFO).join(&name),
            ];
            // When dpkg finished writing this package's files: looked up at the first file
            // in scope (most packages have none).
            let mut written: Option<Option<(i64, i64)>> = None;
            let text = match host.read_real(&real) {
                Ok(b) => b,
                Err(e) if gone(&e) => continue,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    host.note_denied(&host.display(&real));
                    continue;
                }
                Err(e) => return Err(CollectError::io(host.display(&real), e)),
            };
            for (n, line) in text.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let Some((sum, rel)) = parse_line(line) else {
                    items.push(
                        Item::new(format!("{}:{}", host.display(&real), n + 1))
                            .with("package", &package)
                            .with("kind", "md5sums")
                            .with("state", "malformed")
                            .with("line", escape_bytes(&line[..line.len().min(120)])),
                    );
                    continue;
                };
                if !in_scope(rel) {
                    continue;
                }
                let mut path = b"/".to_vec();
                path.extend_from_slice(rel);
                let key = escape_bytes(&path);
                if conffiles.contains_key(&key) {
                    continue;
                }
                let written = *written.get_or_insert_with(|| {
                    records
                        .iter()
                        .filter_map(|p| host.lstat(p).ok())
                        .map(|st| changed(&st).max((st.st_mtime, st.st_mtime_nsec)))
                        .max()
                });
                let at = diverted(&diversions, &key, &package);
                if let Some(state) = check(host, at.unwrap_or(&path), sum, written)? {
                    items.push(item(key, &package, "file", state));
                }
            }
        }
        for (key, (package, sum)) in &conffiles {
            let Some(path) = crate::host::unescape_bytes(key) else {
                continue;
            };
            if let Some(state) = check(host, &path, sum.as_bytes(), None)? {
                items.push(item(key.clone(), package, "conffile", state));
            }
        }
        Ok(items)
    }
    /// `package file /usr/bin/x modified (package=coreutils, kind=file)`.
    fn message(&self, change: &Change) -> String {
        let shown = match change.kind {
            ChangeKind::Removed => change.before.as_ref(),
            _ => change.after.as_ref(),
        };
        let get = |f: &str| shown.and_then(|s| s.get(f)).unwrap_or("");
        let noun = match get("kind") {
            "conffile" => "conffile",
            "md5sums" => "md5sums line",
            _ => "package file",
        };
        match change.kind {
            ChangeKind::Added => format!(
                "{noun} {} {} (package={})",
                change.key,
                get("state"),
                get("package")
            ),
            ChangeKind::Removed => {
                format!("{noun} {} matches its package again", change.key)
            }
            ChangeKind::Modified => format!(
                "{noun} {} changed: {}",
                change.key,
                crate::sources::common::render_modified(change)
            ),
        }
    }
}

fn item(key: String, package: &str, kind: &str, state: &str) -> Item {
    Item::new(key)
        .with("package", package)
        .with("kind", kind)
        .with("state", state)
}

fn changed(st: &Stat) -> (i64, i64) {
    (st.st_ctime, st.st_ctime_nsec)
}

/// Whether a packaged path is one where a changed file gives root (see the module docs).
pub fn in_scope(path: &[u8]) -> bool {
    const TREES: [&[u8]; 8] = [
        b"security",
        b"systemd",
        b"udev",
        b"apt",
        b"openssh",
        b"dbus-1.0",
        b"polkit-1",
        b"sudo",
    ];
    let rel = path.strip_prefix(b"/").unwrap_or(path);
    if rel.starts_with(b"etc/") || rel.starts_with(b"boot/") {
        return true;
    }
    let mut parts = rel
        .strip_prefix(b"usr/")
        .unwrap_or(rel)
        .split(|b| *b == b'/');
    let top = parts.next().unwrap_or_default();
    if matches!(top, b"bin" | b"sbin" | b"libexec") {
        return parts.next().is_some();
    }
    if !top.starts_with(b"lib") {
        return false;
    }
    match (parts.next(), parts.next()) {
        // Right in the library directory.
        (Some(_), None) => true,
        // The multiarch directory: right in it, or one of the trees in it.
        (Some(arch), Some(sub)) if arch.windows(7).any(|w| w == b"-linux-") => {
            parts.next().is_none() || TREES.contains(&sub)
        }
        (Some(sub), Some(_)) => TREES.contains(&sub),
        _ => false,
    }
}

/// Checks one file against its recorded digest: `None` when it matches (or vanished from
/// view for lack of permission, which is noted), else the state. `written`: when dpkg wrote
/// it; an unchanged regular file older than that is not read.
fn check(
    host: &Host,
    path: &[u8],
    sum: &[u8],
    written: Option<(i64, i64)>,
) -> Result<Option<&'static str>, CollectError> {
    let host_path = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
    let st = match host.lstat(host_path) {
        Ok(st) => st,
        Err(e) if gone(&e) || e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(Some("missing"));
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            host.note_denied(&escape_bytes(path));
            return Ok(None);
        }
        // A recorded path no file system path can be (`..`, NUL): not checked, and said so.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(Some("unverified")),
        Err(e) => return Err(CollectError::io(escape_bytes(path), e)),
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            if written.is_some_and(|w| changed(&st) < w) {
                return Ok(None);
            }
        }
        libc::S_IFLNK => {}
        // A directory, FIFO or device where dpkg put a file.
        _ => return Ok(Some("modified")),
    }
    let (file, st) = match host.open_file(host_path) {
        Ok(f) => f,
        Err(e) if gone(&e) || e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(Some("missing"));
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(Some("modified")),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            host.note_denied(&escape_bytes(path));
            return Ok(None);
        }
        Err(e) => return Err(CollectError::io(escape_bytes(path), e)),
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > host.max_hash() {
        return Ok(Some("unverified"));
    }
    let digest = md5_file(file, host).map_err(|e| CollectError::io(escape_bytes(path), e))?;
    Ok(
        (!digest.eq_ignore_ascii_case(std::str::from_utf8(sum).unwrap_or("")))
            .then_some("modified"),
    )
}

/// The MD5 of an open file, as lowercase hex; stops when the scan is abandoned.
fn md5_file(mut file: std::fs::File, host: &Host) -> io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if host.cancelled() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "scan abandoned while hashing",
            ));
        }
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Conffiles of installed packages from the status file: path (escaped) → (package, md5).
pub fn conffiles(status: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        let mut conf: Vec<&str> = Vec::new();
        let mut in_conffiles = false;
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                if in_conffiles {
                    conf.push(line.trim());
                }
                continue;
            }
            in_conffiles = false;
            if let Some((name, value)) = line.split_once(':') {
                fields.insert(name.trim(), value.trim());
                in_conffiles = name.trim() == "Conffiles";
            }
        }
        let (Some(package), Some(status)) = (fields.get("Package"), fields.get("Status")) else {
            continue;
        };
        if status.ends_with("not-installed") || status.ends_with("config-files") {
            continue;
        }
        let name = match (fields.get("Multi-Arch"), fields.get("Architecture")) {
            (Some(&"same"), Some(arch)) => format!("{package}:{arch}"),
            _ => package.to_string(),
        };
        for entry in conf {
            let words: Vec<&str> = entry.split_whitespace().collect();
            let [path, sum, flags @ ..] = words.as_slice() else {
                continue;
            };
            let skip = sum == &"newconffile"
                || flags
                    .iter()
                    .any(|f| *f == "obsolete" || *f == "remove-on-upgrade");
            if !skip && path.starts_with('/') {
                out.insert(
                    escape_bytes(path.as_bytes()),
                    (escape_bytes(name.as_bytes()), sum.to_string()),
                );
            }
        }
    }
    out
}

/// `var/lib/dpkg/diversions`: triples of lines (diverted path, where it went, diverting
/// package, `:` for a local one) → path (escaped) → (where it went, diverting package).
pub fn diversions(text: &str) -> HashMap<String, (Vec<u8>, String)> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks_exact(3)
        .map(|c| {
            (
                escape_bytes(c[0].as_bytes()),
                (c[1].as_bytes().to_vec(), c[2].to_string()),
            )
        })
        .collect()
}

/// Where `package`'s file at `key` really is when another package (or the admin) diverted it.
fn diverted<'a>(
    diversions: &'a HashMap<String, (Vec<u8>, String)>,
    key: &str,
    package: &str,
) -> Option<&'a [u8]> {
    let (to, by) = diversions.get(key)?;
    let owner = package.split(':').next().unwrap_or(package);
    (by != owner).then_some(to.as_slice())
}

#[cfg(test)]
mod tests;

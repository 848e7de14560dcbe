//! Which package owns a file, from dpkg's file lists (`var/lib/dpkg/info/*.list`).
//!
//! Shared by the file collectors (a setuid binary that no package owns deserves a second look).
//! The lists are read once per scan through [`Host::shared`] into a path → packages map. Paths
//! are stored as the same escaped text `Host::display` produces, so a collector can look up the
//! key it already has. On merged-/usr systems dpkg still records many files under their old
//! paths (`/bin/ip` for what is found at `/usr/bin/ip`), so a miss retries the alias.
//!
//! Not handled: dpkg diversions (`var/lib/dpkg/diversions`) and the rpm database.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

use crate::host::{Host, escape_bytes};

/// The loaded file lists of one scan.
struct PkgDb {
    /// Whether `var/lib/dpkg/info` could be read at all.
    present: bool,
    /// Package names (the `.list` file stem, `libc6:amd64` for Multi-Arch: same packages).
    names: Vec<String>,
    /// Host path (escaped text) → indexes into `names`.
    owners: HashMap<String, Vec<u32>>,
}

fn load(host: &Host) -> PkgDb {
    let dir = host.path("/var/lib/dpkg/info");
    let mut db = PkgDb {
        present: false,
        names: Vec::new(),
        owners: HashMap::new(),
    };
    let entries = match host.read_dir_real(&dir) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                host.note_denied("/var/lib/dpkg/info");
            }
            return db;
        }
    };
    db.present = true;
    let mut lists: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.as_bytes().ends_with(b".list"))
        .collect();
    // Sorted so the owner order of shared paths (directories) is the same on every scan.
    lists.sort();
    for name in lists {
        let bytes = match host.read_real(&dir.join(&name)) {
            Ok(b) => b,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    host.note_denied(&format!("/var/lib/dpkg/info/{}", name.to_string_lossy()));
                }
                continue;
            }
        };
        let stem = &name.as_bytes()[..name.len() - ".list".len()];
        let index = db.names.len() as u32;
        db.names.push(escape_bytes(stem));
        for line in bytes.split(|b| *b == b'\n') {
            if line.first() != Some(&b'/') {
                continue;
            }
            // "/." is how dpkg lists the root directory.
            let path = if line == b"/." { &b"/"[..] } else { line };
            let owners = db.owners.entry(escape_bytes(path)).or_default();
            if owners.last() != Some(&index) {
                owners.push(index);
            }
        }
    }
    db
}

/// The package(s) dpkg says own `host_path` (as `Host::display` renders it), comma-separated (no spaces) in
/// name order when several share it (directories); `None` when no package does, or when the
/// host has no dpkg database (see [`has_database`]).
///
/// The first call of a scan loads every list: on a Debian 12 host with 707 packages (108k
/// paths, 7 MB) that takes about 0.25 s optimised (1.7 s in a debug build); later calls are
/// hash look-ups.
pub fn owner(host: &Host, host_path: &str) -> Option<String> {
    owner_in(&host.shared(|| load(host)), host_path)
}

fn owner_in(db: &PkgDb, host_path: &str) -> Option<String> {
    let hit = db
        .owners
        .get(host_path)
        .or_else(|| alias(host_path).and_then(|a| db.owners.get(&a)))?;
    Some(
        hit.iter()
            .map(|i| db.names[*i as usize].as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Adds the `package` field: the owning package(s), or `none` when the host has a package
/// database that does not know the path (a file no package installed: worth a look). Nothing
/// when the host has no database.
pub fn attribute(host: &Host, host_path: &str, fields: &mut crate::model::Fields) {
    Packages::of(host, false).attribute(host_path, fields);
}

/// The package database of one scan, fetched once for a walk that asks about every file (each
/// free function here takes the host's shared-state lock per call).
pub struct Packages {
    db: std::sync::Arc<PkgDb>,
    sums: Option<std::sync::Arc<PackageSums>>,
}

impl Packages {
    /// The file lists, and the recorded digests too when `sums` (they are read only then).
    pub fn of(host: &Host, sums: bool) -> Self {
        Packages {
            db: host.shared(|| load(host)),
            sums: sums.then(|| host.shared(|| load_sums(host))),
        }
    }

    /// [`attribute`] with the lists already at hand.
    pub fn attribute(&self, host_path: &str, fields: &mut crate::model::Fields) {
        if let Some(pkg) = self.package_of(host_path) {
            fields.insert("package", pkg);
        }
    }

    /// The `package` field [`attribute`] sets: the owner(s), `none`, or nothing without a
    /// package database.
    pub fn package_of(&self, host_path: &str) -> Option<String> {
        self.db
            .present
            .then(|| owner_in(&self.db, host_path).unwrap_or_else(|| "none".to_string()))
    }

    /// The `package` field of an item made from several files (the executables of the
    /// processes holding a port): the owners of each, sorted and unique, joined with `,`
    /// (`none` among them for a file no package lists). Nothing when there is no file or no
    /// package database.
    pub fn package_of_all<'p>(
        &self,
        host_paths: impl IntoIterator<Item = &'p str>,
    ) -> Option<String> {
        let mut names = std::collections::BTreeSet::new();
        for path in host_paths {
            names.extend(self.package_of(path)?.split(',').map(str::to_string));
        }
        (!names.is_empty()).then(|| names.into_iter().collect::<Vec<_>>().join(","))
    }

    /// The MD5 dpkg recorded for the file at `host_path` (or its merged-/usr alias), and the
    /// package that recorded it, if a package installed it and listed its digest (`None` too
    /// when the digests were not asked for).
    pub fn recorded_md5(&self, host_path: &str) -> Option<([u8; 16], std::sync::Arc<str>)> {
        let sums = self.sums.as_ref()?;
        sums.0
            .get(host_path)
            .or_else(|| alias(host_path).and_then(|a| sums.0.get(&a)))
            .cloned()
    }
}

/// Whether the host has a dpkg file database, so "no owner" means "not from a package".
pub fn has_database(host: &Host) -> bool {
    host.shared(|| load(host)).present
}

/// The other name of a path across the merged-/usr split: `/usr/bin/x` ↔ `/bin/x`,
/// `/usr/sbin/x` ↔ `/sbin/x`, `/usr/lib*/x` ↔ `/lib*/x`.
fn alias(path: &str) -> Option<String> {
    const MERGED: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
    let (rest, to_usr) = match path.strip_prefix("/usr/") {
        Some(rest) => (rest, false),
        None => (path.strip_prefix('/')?, true),
    };
    let top = rest.split('/').next()?;
    if !MERGED.contains(&top) {
        return None;
    }
    Some(if to_usr {
        format!("/usr/{rest}")
    } else {
        format!("/{rest}")
    })
}

/// The MD5 digests dpkg recorded for packaged files (`var/lib/dpkg/info/*.md5sums`), by host
/// path as [`Host::display`] renders it, loaded once per scan when a watch tree asks.
struct PackageSums(HashMap<String, ([u8; 16], std::sync::Arc<str>)>);

fn load_sums(host: &Host) -> PackageSums {
    let dir = host.path("/var/lib/dpkg/info");
    let mut sums = HashMap::new();
    let Ok(entries) = host.read_dir_real(&dir) else {
        return PackageSums(sums);
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.as_bytes().ends_with(b".md5sums"))
        .collect();
    // Sorted: when two packages record one path, the same one wins on every scan.
    files.sort();
    for name in files {
        let Ok(bytes) = host.read_real(&dir.join(&name)) else {
            continue; // unreadable: its files get no verdict (package_integrity reports it)
        };
        let stem = &name.as_bytes()[..name.len() - ".md5sums".len()];
        let package: std::sync::Arc<str> = escape_bytes(stem).into();
        for line in bytes.split(|b| *b == b'\n') {
            let Some((sum, rel)) = parse_line(line) else {
                continue;
            };
            let mut md5 = [0u8; 16];
            if hex::decode_to_slice(sum, &mut md5).is_err() {
                continue;
            }
            let mut path = b"/".to_vec();
            path.extend_from_slice(rel);
            sums.entry(escape_bytes(&path))
                .or_insert_with(|| (md5, package.clone()));
        }
    }
    PackageSums(sums)
}

#[cfg(test)]
mod tests;

/// `MD5  path` (two spaces; dpkg also accepts `MD5 *path`): the digest and the path without
/// its leading `/`. `None` for anything else.
pub fn parse_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let sum = line.get(..32)?;
    if !sum.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let rest = line.get(32..)?;
    let rel = rest
        .strip_prefix(b"  ")
        .or_else(|| rest.strip_prefix(b" *"))?;
    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
    (!rel.is_empty()).then_some((sum, rel))
}

//! `mount_options`: the hardening options of the mounts where they matter.
//!
//! `list_mount` lists every mount with its option string; this collector answers a narrower
//! question with one flag per field, so a rule can say "`/tmp` lost `nosuid`": for the paths
//! attackers write to or boot from (`/tmp`, `/var/tmp`, `/dev/shm`, `/home`, `/boot`) and for
//! every mount that allows setuid (no `nosuid`) while someone besides root may write its top
//! directory, one item keyed by the path, with:
//! `mount` (the mount point holding it: `/` when `/tmp` is no mount of its own), `fstype`,
//! `nosuid`, `noexec`, `nodev`, `ro` (each `yes` or `no`), `perm` of the directory and
//! `writable_by` (who besides root may write it). A watched path that does not exist is no
//! item. It reads the same mount table as `list_mount` (init's on a live host) and is
//! unavailable when that table is missing.

use std::collections::BTreeMap;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, unescape_bytes};
use crate::model::{Fields, Item};
use crate::sources::confdirs;
use crate::sources::mountinfo::parse_line;

pub struct MountOptions;

/// Paths whose options are always reported.
const WATCHED: [&str; 5] = ["/tmp", "/var/tmp", "/dev/shm", "/home", "/boot"];
const FLAGS: [&str; 4] = ["nosuid", "noexec", "nodev", "ro"];

impl Collector for MountOptions {
    fn name(&self) -> &'static str {
        "mount_options"
    }
    fn description(&self) -> &'static str {
        "nosuid/noexec/nodev/ro of /tmp, /var/tmp, /dev/shm, /home, /boot and of writable mounts that allow setuid"
    }
    fn noun(&self) -> &'static str {
        "mount options of"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let file = host.mountinfo();
        let bytes = match host.read_source(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::Unavailable(format!(
                    "{file} does not exist under {}: procfs is not mounted there; scan a live \
                     host or mount /proc",
                    host.root().display()
                )));
            }
            Err(e) => return Err(CollectError::io(host.path(file), e)),
        };
        // The top of each stack, by mount point.
        let mut mounts: BTreeMap<String, Fields> = BTreeMap::new();
        for line in bytes.split(|&b| b == b'\n') {
            if let Some(item) = parse_line(line) {
                mounts.insert(item.key, item.fields);
            }
        }
        let mut out: BTreeMap<String, Item> = BTreeMap::new();
        for path in WATCHED {
            let Ok(st) = host.stat(path) else {
                continue;
            };
            let Some(point) = holder(&mounts, path) else {
                continue;
            };
            out.insert(path.into(), item(host, path, point, &mounts[point], &st));
        }
        for (point, fields) in &mounts {
            if out.contains_key(point) || has(fields, "nosuid") {
                continue;
            }
            // Keys are escaped text; a name that does not round-trip cannot be looked up.
            let Some(raw) = unescape_bytes(point) else {
                continue;
            };
            let path = std::path::Path::new(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&raw),
            );
            let Ok(st) = host.stat(path) else {
                continue;
            };
            if confdirs::is_dir(&st) && confdirs::writable_by(host, &st).is_some() {
                out.insert(point.clone(), item(host, point, point, fields, &st));
            }
        }
        Ok(out.into_values().collect())
    }
}

/// The mount point that holds `path`: the longest one that is `path` or a parent of it.
fn holder<'a>(mounts: &'a BTreeMap<String, Fields>, path: &str) -> Option<&'a str> {
    mounts
        .keys()
        .filter(|m| {
            m.as_str() == "/"
                || path == m.as_str()
                || path
                    .strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|m| m.len())
        .map(String::as_str)
}

fn has(fields: &Fields, flag: &str) -> bool {
    fields
        .get("options")
        .is_some_and(|o| o.split(',').any(|x| x == flag))
}

fn item(host: &Host, key: &str, point: &str, fields: &Fields, st: &crate::hostfs::Stat) -> Item {
    let mut item = Item::new(key).with("mount", point);
    if let Some(t) = fields.get("fstype") {
        item = item.with("fstype", t);
    }
    for flag in FLAGS {
        item = item.with(flag, if has(fields, flag) { "yes" } else { "no" });
    }
    item.with("perm", confdirs::perm(st))
        .with_opt("writable_by", confdirs::writable_by(host, st))
}

#[cfg(test)]
mod tests;

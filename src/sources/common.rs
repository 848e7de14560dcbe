//! Helpers shared by collectors: file metadata as fields, `ls`-style permission strings,
//! content hashes, and rendering of fields in change messages.

use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::host::Host;
use crate::model::{Change, Fields, Item};

/// `ls -l` style type and permission string: `-rwsr-xr-x`, `lrwxrwxrwx`, `prw-r--r--`.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    let special =
        |x: u32, sp: u32, set_x: char, set_nox: char| match (mode & x != 0, mode & sp != 0) {
            (true, true) => set_x,
            (false, true) => set_nox,
            (true, false) => 'x',
            (false, false) => '-',
        };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(0o001, 0o1000, 't', 'T'));
    s
}

/// A short name of the file type: file, dir, symlink, fifo, socket, char, block.
pub fn type_name(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else {
        "file"
    }
}

/// The fields every file-like item has: owner, group, perm, size (regular files and symlinks)
/// and the symlink target. Owner names come from the scanned root's own account files.
pub fn file_fields(host: &Host, path: &Path, meta: &Metadata) -> Fields {
    let mut f = Fields::new();
    f.insert("owner", host.user_name(meta.uid()));
    f.insert("group", host.group_name(meta.gid()));
    f.insert("perm", mode_string(meta.mode()));
    let ft = meta.file_type();
    if ft.is_file() || ft.is_symlink() {
        f.insert("size", meta.size().to_string());
    }
    if ft.is_symlink()
        && let Ok(target) = std::fs::read_link(path)
    {
        f.insert("target", crate::host::escape_os(target.as_os_str()));
    }
    f
}

/// The SHA-256 of everything `reader` yields, as lowercase hex.
pub fn sha256_read(mut reader: impl Read) -> io::Result<String> {
    // io::copy's stack buffer: no 64 KiB allocation and memset per file (a million small
    // files under /etc-style trees made that a visible cost).
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The SHA-256 of bytes, as lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Fields that hold hashes or fingerprints: messages say they changed, not their values.
fn is_digest(name: &str) -> bool {
    name == "sha256" || name.ends_with("_sha256") || name.ends_with("fingerprint")
}

/// `owner=root, group=root, perm=-rwsr-xr-x, size=281624`: fields in a fixed, readable order
/// (the common file fields first), digests shortened.
pub fn render_fields(fields: &Fields) -> String {
    const FIRST: [&str; 4] = ["owner", "group", "perm", "size"];
    let mut parts = Vec::with_capacity(fields.len());
    for name in FIRST {
        if let Some(v) = fields.get(name) {
            parts.push(format!("{name}={v}"));
        }
    }
    for (name, v) in fields {
        if FIRST.contains(&name) {
            continue;
        }
        if is_digest(name) {
            parts.push(format!("{name}={}", v.get(..12).unwrap_or(v)));
        } else {
            parts.push(format!("{name}={v}"));
        }
    }
    parts.join(", ")
}

/// `mac=..., mtu=1500`: the named fields that are present, in the given order.
pub fn render_named(fields: &Fields, names: &[&str]) -> String {
    names
        .iter()
        .filter_map(|n| fields.get(n).map(|v| format!("{n}={v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `size from 937 to 954, content changed`: the changed fields of a modification.
pub fn render_modified(change: &Change) -> String {
    let empty = Fields::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let mut names: Vec<&str> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            if is_digest(n) {
                if n == "sha256" {
                    "content changed".to_string()
                } else {
                    format!("{n} changed")
                }
            } else {
                format!(
                    "{n} from {} to {}",
                    before.get(n).unwrap_or("(none)"),
                    after.get(n).unwrap_or("(none)")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a file a local user may control (an `authorized_keys`, a spool file) at a real path
/// under the root: any symlink on the way is refused (`~/.ssh/authorized_keys -> /etc/shadow`
/// is never read), so is anything but a regular file (a FIFO never blocks the scan), and so is
/// a file over `cap` bytes. The error text of [`not_read_why`] says which.
pub fn read_untrusted(
    host: &Host,
    real: &Path,
    cap: u64,
) -> io::Result<(Vec<u8>, crate::hostfs::Stat)> {
    let (file, st) = host.open_walked(real)?;
    Ok((crate::hostfs::read_capped(file, cap)?, st))
}

/// Why [`read_untrusted`] refused a file, as a terse field value.
pub fn not_read_why(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ELOOP) => "a symlink (not followed)".into(),
        Some(libc::EACCES | libc::EPERM) => "permission denied".into(),
        _ if e.kind() == io::ErrorKind::InvalidInput => "not a regular file".into(),
        _ => e.to_string(),
    }
}

/// Makes keys unique in order: the second item with key `K` becomes `K #2`, and so on (two
/// identical cron entries or sudo rules both act, and removing one is a change worth seeing).
pub fn unique_keys(items: Vec<Item>) -> Vec<Item> {
    let mut count = std::collections::HashMap::<String, u32>::new();
    items
        .into_iter()
        .map(|mut item| {
            let n = count.entry(item.key.clone()).or_default();
            *n += 1;
            if *n > 1 {
                item.key = format!("{} #{n}", item.key);
            }
            item
        })
        .collect()
}

/// Test support: checks the shipped severity rules against what a collector really emits.
#[cfg(test)]
pub(crate) mod rules_check {
    use crate::model::Item;

    use crate::rules::testing::glob;

    /// Every rule of `dist/config/rules.toml` for `collector` names fields the items have and
    /// has an item its `key`, `item` and `missing` conditions hold for: no rule waits for a
    /// fact the collector never produces.
    pub fn assert_rules_fit(collector: &str, items: &[Item]) {
        let doc: toml::Value =
            toml::from_str(include_str!("../../dist/config/rules.toml")).expect("rules.toml");
        let mut checked = 0;
        for rule in doc["rule"].as_array().expect("[[rule]] tables") {
            if rule["collector"].as_str() != Some(collector) {
                continue;
            }
            checked += 1;
            let id = rule["id"].as_str().unwrap();
            let strs = |name: &str| -> Vec<String> {
                rule.get(name)
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default()
            };
            for name in strs("changed").iter().chain(&strs("missing")) {
                assert!(
                    items.iter().any(|i| i.fields.contains_key(name)),
                    "{id}: no item has a field {name}"
                );
            }
            let conds: Vec<(String, String)> = rule
                .get("item")
                .and_then(|t| t.as_table())
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let (keys, missing) = (strs("key"), strs("missing"));
            let fits = items.iter().any(|i| {
                (keys.is_empty() || keys.iter().any(|k| glob(k, &i.key)))
                    && conds
                        .iter()
                        .all(|(f, g)| i.fields.get(f).is_some_and(|v| glob(g, v)))
                    && missing.iter().all(|m| !i.fields.contains_key(m))
            });
            assert!(fits, "{id}: no {collector} item fits it");
        }
        assert!(checked > 0, "no rules for {collector}");
    }
}

#[cfg(test)]
mod tests;

//! Listening UNIX sockets with a name, from `proc/net/unix`.
//!
//! A socket counts when it accepts connections (flag `__SO_ACCEPTCON`, stream or seqpacket) and
//! is bound to a name: a file-system path, or an abstract name shown as `@name` (abstract
//! sockets have no file permissions, anyone in the network namespace can connect). Unnamed
//! sockets cannot be reached and are skipped. The key is the name, escaped reversibly; fields
//! are the socket type and the owning processes. Inodes are left out: they change whenever a
//! service restarts, which is not a change of the attack surface.
//!
//! On the live host the table comes from netlink `sock_diag` (see [`crate::sources::sockdiag`]): names
//! as exact bytes, one message per socket. `proc/net/unix` prints names raw, so a local user
//! who binds a path holding a newline can forge whole lines there; it is read only under a
//! root other than `/`, or when the kernel offers no `sock_diag` for UNIX sockets
//! (`unix_diag` not built), where a line that is not an entry continues the previous name.

use std::collections::{BTreeMap, BTreeSet};

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::render_modified;
use crate::sources::sockproc::socket_owners;

/// The `list_unix_ports` collector.
pub struct ListUnixPorts;

/// `__SO_ACCEPTCON`: the socket is listening.
const SO_ACCEPTCON: u32 = 0x10000;

/// One entry of `proc/net/unix`, as much as we use.
#[derive(Debug)]
struct UnixEntry {
    flags: u32,
    kind: u16,
    inode: u64,
    name: Option<Vec<u8>>,
}

impl Collector for ListUnixPorts {
    fn name(&self) -> &'static str {
        "list_unix_ports"
    }
    fn description(&self) -> &'static str {
        "named listening UNIX sockets (paths and abstract names), with type and process"
    }
    fn noun(&self) -> &'static str {
        "listening UNIX socket"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let live = if host.is_live() {
            match crate::sources::sockdiag::unix_listeners() {
                Ok(list) => Some(list),
                Err(e) => {
                    tracing::debug!(
                        "sock_diag for UNIX sockets failed ({e}): reading /proc/net/unix"
                    );
                    None
                }
            }
        } else {
            None
        };
        let entries = match live {
            Some(list) => list
                .into_iter()
                .map(|l| UnixEntry {
                    flags: SO_ACCEPTCON,
                    kind: u16::from(l.kind),
                    inode: l.inode,
                    name: l.name,
                })
                .collect(),
            None => parse(&self.table(host)?),
        };
        let owners = socket_owners(host);
        // Name → socket types, process names, executables.
        type Listener<'k> = (BTreeSet<&'k str>, BTreeSet<String>, BTreeSet<String>);
        let mut merged: BTreeMap<String, Listener> = BTreeMap::new();
        for e in entries {
            let kind = match e.kind {
                1 => "stream",
                5 => "seqpacket",
                _ => continue,
            };
            let Some(name) = e.name.filter(|_| e.flags & SO_ACCEPTCON != 0) else {
                continue;
            };
            let (kinds, procs, exes) = merged.entry(escape_bytes(&name)).or_default();
            kinds.insert(kind);
            procs.extend(owners.name_set(e.inode).cloned());
            exes.extend(owners.exe_set(e.inode).cloned());
        }
        let packages = std::cell::OnceCell::new();
        Ok(merged
            .into_iter()
            .map(|(key, (kinds, procs, exes))| {
                let procs = (!procs.is_empty()).then(|| procs.into_iter().collect::<Vec<_>>());
                // The listener's package: that of its processes' executables.
                let package = (!exes.is_empty())
                    .then(|| {
                        packages
                            .get_or_init(|| crate::sources::pkgdb::Packages::of(host, false))
                            .package_of_all(exes.iter().map(String::as_str))
                    })
                    .flatten();
                Item::new(key)
                    .with("type", kinds.into_iter().collect::<Vec<_>>().join(","))
                    .with_opt("process", procs.map(|p| p.join(",")))
                    .with_opt("package", package)
            })
            .collect())
    }

    fn message(&self, change: &Change) -> String {
        let noun = self.noun();
        match change.kind {
            ChangeKind::Added => {
                let f = change.after.clone().unwrap_or_default();
                let about = crate::sources::common::render_named(&f, &["type", "process"]);
                if about.is_empty() {
                    format!("{noun} {} opened", change.key)
                } else {
                    format!("{noun} {} opened ({about})", change.key)
                }
            }
            ChangeKind::Removed => format!("{noun} {} closed", change.key),
            ChangeKind::Modified => {
                format!("{noun} {} changed: {}", change.key, render_modified(change))
            }
        }
    }
}

impl ListUnixPorts {
    /// The text of `proc/net/unix` under the root.
    fn table(&self, host: &Host) -> Result<Vec<u8>, CollectError> {
        let real = host.path("/proc/net/unix");
        match host.read_real(&real) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(CollectError::Unavailable(format!(
                    "/proc/net/unix does not exist under {}: procfs is not mounted there or the \
                 kernel has no UNIX sockets; scan a live host or mount /proc",
                    host.root().display()
                )))
            }
            Err(e) => Err(CollectError::io(real, e)),
        }
    }
}

/// Parses the table: `Num: RefCount Protocol Flags Type St Inode [Path]`, the header first.
/// Malformed lines with no entry before them are skipped.
fn parse(bytes: &[u8]) -> Vec<UnixEntry> {
    let mut out: Vec<UnixEntry> = Vec::new();
    for line in bytes.split(|&b| b == b'\n').skip(1) {
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(e) => out.push(e),
            None => {
                // A newline inside the previous entry's name.
                if let Some(name) = out.last_mut().and_then(|e| e.name.as_mut()) {
                    name.push(b'\n');
                    name.extend_from_slice(line);
                }
            }
        }
    }
    out
}

fn parse_line(line: &[u8]) -> Option<UnixEntry> {
    let mut rest = line;
    let mut cols: Vec<&str> = Vec::with_capacity(7);
    for _ in 0..7 {
        let start = rest.iter().position(|&b| b != b' ')?;
        rest = &rest[start..];
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        cols.push(std::str::from_utf8(&rest[..end]).ok()?);
        rest = &rest[end..];
    }
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let slot = cols[0].strip_suffix(':')?;
    u64::from_str_radix(slot, 16).ok()?;
    hex(cols[1])?;
    let flags = hex(cols[3])?;
    let kind = u16::from_str_radix(cols[4], 16).ok()?;
    hex(cols[5])?;
    let inode = cols[6].parse().ok()?;
    // One space separates the inode from the name, which may itself hold spaces.
    let name = rest
        .strip_prefix(b" ")
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec);
    Some(UnixEntry {
        flags,
        kind,
        inode,
        name,
    })
}

#[cfg(test)]
mod tests;

//! Listening TCP and UDP ports, from `proc/net/{tcp,tcp6,udp,udp6}`.
//!
//! A TCP socket counts when it is in LISTEN state; a UDP socket when it is bound to a port and
//! not connected (state 07 with a zero remote address): those are the ones a remote peer can
//! reach. Items are keyed by protocol, local address and port (`tcp 0.0.0.0:22`,
//! `tcp6 [::]:22`, `udp 127.0.0.1:53`), because a port opened on loopback and the same port on
//! every address are different exposures. Sockets sharing a key (SO_REUSEPORT, forked workers)
//! collapse into one item. Fields: the owning process names (when their fd tables are
//! readable) and the socket's user; never inodes or queue sizes, which change on an idle host.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::net::SocketAddr;

use procfs::net::{TcpNetEntries, TcpState, UdpNetEntries, UdpState};
use procfs::{FromReadSI, current_system_info};

use crate::collectors::{Collector, default_message};
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Item};
use crate::sources::common::render_modified;
use crate::sources::sockproc::socket_owners;

/// The `list_tcpudp_ports` collector.
pub struct ListTcpudpPorts;

/// One socket worth reporting, before merging by key.
struct Socket {
    key: String,
    uid: u32,
    inode: u64,
}

impl Collector for ListTcpudpPorts {
    fn name(&self) -> &'static str {
        "list_tcpudp_ports"
    }
    fn description(&self) -> &'static str {
        "listening TCP and unconnected bound UDP ports, by protocol, address and port, with their process"
    }
    fn noun(&self) -> &'static str {
        "port"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut sockets = Vec::new();
        for proto in ["tcp", "tcp6", "udp", "udp6"] {
            let file = format!("/proc/net/{proto}");
            let text = match host.read_to_string(&file) {
                Ok(t) => t,
                // Without IPv6 (or UDP) the other tables are legitimately absent; without
                // proc/net/tcp there is no network table at all.
                Err(CollectError::Unavailable(_)) if proto != "tcp" => continue,
                Err(CollectError::Unavailable(_)) => {
                    return Err(CollectError::Unavailable(format!(
                        "{file} does not exist under {}: procfs is not mounted there (or the \
                         kernel has no networking); scan a live host or mount /proc",
                        host.root().display()
                    )));
                }
                Err(e) => return Err(e),
            };
            sockets.extend(parse_table(proto, &text));
        }
        let owners = socket_owners(host);
        let mut merged: BTreeMap<String, [BTreeSet<String>; 3]> = BTreeMap::new();
        for s in sockets {
            let [procs, users, exes] = merged.entry(s.key).or_default();
            procs.extend(owners.name_set(s.inode).cloned());
            users.insert(host.user_name(s.uid));
            exes.extend(owners.exe_set(s.inode).cloned());
        }
        let packages = std::cell::OnceCell::new();
        Ok(merged
            .into_iter()
            .map(|(key, [procs, users, exes])| {
                // The port's package: that of its processes' executables.
                let package = (!exes.is_empty())
                    .then(|| {
                        packages
                            .get_or_init(|| crate::sources::pkgdb::Packages::of(host, false))
                            .package_of_all(exes.iter().map(String::as_str))
                    })
                    .flatten();
                let join = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>().join(",");
                let procs = (!procs.is_empty()).then(|| join(procs));
                Item::new(key)
                    .with_opt("process", procs)
                    .with("user", join(users))
                    .with_opt("package", package)
            })
            .collect())
    }

    fn message(&self, change: &Change) -> String {
        let Some((proto, addr)) = split_key(&change.key) else {
            return default_message(self.noun(), change);
        };
        let (ip, port) = (addr.ip(), addr.port());
        match change.kind {
            ChangeKind::Added => {
                let f = change.after.clone().unwrap_or_default();
                let about: Vec<String> = ["process", "user"]
                    .iter()
                    .filter_map(|n| f.get(n).map(|v| format!("{n} {v}")))
                    .collect();
                let mut msg = format!("port {port} {proto} opened on {ip}");
                if !about.is_empty() {
                    msg.push_str(&format!(" ({})", about.join(", ")));
                }
                msg
            }
            ChangeKind::Removed => format!("port {port} {proto} closed on {ip}"),
            ChangeKind::Modified => {
                format!(
                    "port {port} {proto} on {ip} changed: {}",
                    render_modified(change)
                )
            }
        }
    }
}

/// The reachable sockets of one table. Lines are parsed one at a time (procfs's parser gives
/// up on the whole table at the first bad line), and malformed ones are skipped.
fn parse_table(proto: &str, text: &str) -> Vec<Socket> {
    let mut out = Vec::new();
    let si = current_system_info();
    for line in text.lines().skip(1) {
        // procfs skips the first line as a header.
        let one = Cursor::new(format!("header\n{line}\n"));
        let (local, uid, inode, reachable) = if proto.starts_with("tcp") {
            let Ok(TcpNetEntries(entries)) = TcpNetEntries::from_read(one, si) else {
                continue;
            };
            let Some(e) = entries.into_iter().next() else {
                continue;
            };
            let listen = e.state == TcpState::Listen;
            (e.local_address, e.uid, e.inode, listen)
        } else {
            let Ok(UdpNetEntries(entries)) = UdpNetEntries::from_read(one, si) else {
                continue;
            };
            let Some(e) = entries.into_iter().next() else {
                continue;
            };
            let unconnected = e.state == UdpState::Close
                && e.remote_address.ip().is_unspecified()
                && e.remote_address.port() == 0;
            (e.local_address, e.uid, e.inode, unconnected)
        };
        // Port 0: created but never bound, nothing can reach it.
        if !reachable || local.port() == 0 {
            continue;
        }
        out.push(Socket {
            key: format!("{proto} {local}"),
            uid,
            inode,
        });
    }
    out
}

/// `tcp6 [::1]:22` → ("tcp6", [::1]:22).
fn split_key(key: &str) -> Option<(&str, SocketAddr)> {
    let (proto, addr) = key.split_once(' ')?;
    Some((proto, addr.parse().ok()?))
}

#[cfg(test)]
mod tests;

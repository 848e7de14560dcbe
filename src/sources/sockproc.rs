//! Which processes hold which sockets: a map from socket inode to the names (`comm`) of the
//! processes that have it open, built by one walk of `proc/*/fd` under the host root.
//!
//! Both socket collectors (TCP/UDP and UNIX) need it, so it is computed once per scan through
//! [`Host::shared`]. Reading another process's fd links can fail (not root, a sandbox that hides
//! pid 1 even from root, a process that exited mid-walk): such processes are skipped and their
//! sockets simply get no process name. Pids never leave this module, only names, and the
//! executables (`proc/PID/exe`, as host paths) whose package the socket collectors record.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::host::{Host, escape_bytes, escape_os};

/// Socket inode → names of the processes holding it.
#[derive(Debug, Default)]
pub(crate) struct SocketOwners {
    by_inode: HashMap<u64, BTreeSet<String>>,
    /// Socket inode → the executables of the processes holding it (those readable).
    exes: HashMap<u64, BTreeSet<String>>,
}

impl SocketOwners {
    /// The processes holding socket `inode`, sorted and joined with ',', if any was readable.
    #[cfg(test)]
    fn names(&self, inode: u64) -> Option<String> {
        let names = self.by_inode.get(&inode)?;
        Some(names.iter().cloned().collect::<Vec<_>>().join(","))
    }

    /// The set of names holding `inode` (empty when unknown), for merging several sockets.
    pub(crate) fn name_set(&self, inode: u64) -> impl Iterator<Item = &String> {
        self.by_inode.get(&inode).into_iter().flatten()
    }

    /// The executables of the processes holding `inode` (empty when unknown).
    pub(crate) fn exe_set(&self, inode: u64) -> impl Iterator<Item = &String> {
        self.exes.get(&inode).into_iter().flatten()
    }
}

/// The socket owners of this scan, walking `proc` on first use.
pub(crate) fn socket_owners(host: &Host) -> Arc<SocketOwners> {
    host.shared(|| scan(host))
}

fn scan(host: &Host) -> SocketOwners {
    let mut owners = SocketOwners::default();
    let Ok(dir) = host.read_dir_real(&host.path("/proc")) else {
        return owners;
    };
    let mut denied = 0u64;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        match process_sockets(&entry.path()) {
            Ok(inodes) if inodes.is_empty() => {}
            Ok(inodes) => {
                let comm = host
                    .read_real(&entry.path().join("comm"))
                    .map(|c| escape_bytes(c.strip_suffix(b"\n").unwrap_or(&c)))
                    .unwrap_or_else(|_| format!("pid {pid}"));
                // An upgraded binary shows as "... (deleted)": still the same program.
                let exe = std::fs::read_link(entry.path().join("exe")).ok().map(|p| {
                    let text = escape_os(p.as_os_str());
                    text.strip_suffix(" (deleted)").unwrap_or(&text).to_string()
                });
                for inode in inodes {
                    owners
                        .by_inode
                        .entry(inode)
                        .or_default()
                        .insert(comm.clone());
                    if let Some(exe) = &exe {
                        owners.exes.entry(inode).or_default().insert(exe.clone());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => denied += 1,
            // The process exited during the walk, or is a kernel oddity: nothing to learn.
            Err(_) => {}
        }
    }
    // Only worth telling a non-root user: root being refused is the sandbox's doing, and the
    // advice "run as root" would be wrong.
    if denied > 0 && !nix::unistd::geteuid().is_root() {
        host.note_denied(&format!(
            "/proc/<pid>/fd of {denied} processes (socket owners)"
        ));
    }
    owners
}

/// The socket inodes among one process's open files. The first refused fd link ends the walk
/// of that process (the rest would be refused too).
fn process_sockets(proc_dir: &Path) -> io::Result<Vec<u64>> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(proc_dir.join("fd"))? {
        let fd = fd?;
        let target = match std::fs::read_link(fd.path()) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                if inodes.is_empty() {
                    return Err(e);
                }
                break;
            }
            // Closed between listing and reading.
            Err(_) => continue,
        };
        if let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) {
            inodes.push(inode);
        }
    }
    Ok(inodes)
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;

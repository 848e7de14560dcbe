//! Who is on the other end of the socket, and what they may do.
//!
//! Reaching the socket at all is governed by its owner, group and mode (`socket_group`,
//! `socket_mode`): that is the permission to read. Scanning and changing data (baselines) also
//! need uid 0 or membership of `admin_group`, checked against the credentials the kernel gives
//! for the connecting process: `SO_PEERCRED` (uid, gid, pid) and `SO_PEERGROUPS` (its
//! supplementary groups), taken once when the connection is accepted. The process's own groups
//! count, not the group database: a user added to the group must log in again, as for files.

use std::os::fd::AsRawFd;

use tokio::net::UnixStream;

/// The credentials of a connected client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
    /// Supplementary groups, when the kernel could tell them.
    pub groups: Option<Vec<u32>>,
}

impl Peer {
    /// A peer whose credentials could not be read: trusted with nothing.
    fn unknown() -> Self {
        Peer {
            uid: u32::MAX,
            gid: u32::MAX,
            pid: None,
            groups: Some(Vec::new()),
        }
    }

    /// The credentials of the process at the other end of `stream`, read once at accept.
    pub fn of(stream: &UnixStream) -> Peer {
        match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
                groups: peer_groups(stream.as_raw_fd()),
            },
            Err(e) => {
                tracing::warn!("cannot read the credentials of a client: {e}");
                Peer::unknown()
            }
        }
    }
}

/// The group whose members may scan and change data.
#[derive(Debug, Clone)]
pub struct AdminGroup {
    pub name: String,
    pub gid: u32,
}

/// Whether `peer` may scan or change data; the error is the message for a 403.
pub fn check_admin(peer: &Peer, admin: Option<&AdminGroup>) -> Result<(), String> {
    if peer.uid == 0 {
        return Ok(());
    }
    if let Some(group) = admin {
        let member = peer.gid == group.gid
            || match &peer.groups {
                Some(groups) => groups.contains(&group.gid),
                None => in_group_database(peer.uid, group),
            };
        if member {
            return Ok(());
        }
    }
    let who = match admin {
        Some(g) => format!("root or members of group {}", g.name),
        None => "root (no admin_group is configured)".to_string(),
    };
    Err(format!(
        "permission denied: scanning and changing baselines are for {who}, and you are uid {}; \
         read-only requests (status, history, diff of stored scans) work: ask an admin to add \
         you to the admin group, or run as root",
        peer.uid
    ))
}

/// Fallback when `SO_PEERGROUPS` is unavailable: the user's memberships in the group database.
fn in_group_database(uid: u32, group: &AdminGroup) -> bool {
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return false;
    };
    let Ok(Some(g)) = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(group.gid)) else {
        return false;
    };
    g.mem.contains(&user.name)
}

/// `SO_PEERGROUPS` (Linux 4.13): the supplementary groups of the peer at connect time.
#[cfg(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "s390x",
    target_arch = "loongarch64"
))]
fn peer_groups(fd: std::os::fd::RawFd) -> Option<Vec<u32>> {
    const SO_PEERGROUPS: libc::c_int = 59; // asm-generic/socket.h
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..2 {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is valid for `len` bytes and the kernel writes at most that many,
        // updating `len` to what it wrote (or to what it needs, with ERANGE).
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return Some(groups);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return None;
        }
        groups = vec![0; n.max(groups.len() * 2)];
    }
    None
}

#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "s390x",
    target_arch = "loongarch64"
)))]
fn peer_groups(_fd: std::os::fd::RawFd) -> Option<Vec<u32>> {
    None
}

#[cfg(test)]
mod tests;

//! One look at each polled surface, as a digest of what its collectors compare (so a use
//! count or a queue length that ticks is no change): listening sockets by protocol, address,
//! port, socket inode and owner; kernel modules by name, size, state and taint letters, with
//! the kernel's taint mask; the mount table as the collectors read it.
//!
//! On the live host sockets come from sock_diag, asked for listeners only (the kernel then
//! skips established connections: a look costs the same on a server with 100,000
//! connections); under another root, and when sock_diag fails, the proc tables are read.

use std::io;

use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use sha2::{Digest as _, Sha256};

use crate::host::Host;
use crate::sources::sockdiag::{InetStates as StateFlags, inet_sockets};

/// What one look saw, hashed.
pub type Digest = [u8; 32];

/// TCP_CLOSE: the state of an unconnected UDP socket.
const TCP_CLOSE: u8 = 7;

fn digest(lines: impl IntoIterator<Item = Vec<u8>>) -> Digest {
    let mut lines: Vec<Vec<u8>> = lines.into_iter().collect();
    lines.sort_unstable();
    let mut h = Sha256::new();
    for l in lines {
        h.update((l.len() as u64).to_le_bytes());
        h.update(&l);
    }
    h.finalize().into()
}

/// Listening TCP sockets, unconnected bound UDP sockets and listening UNIX sockets.
pub fn listeners(host: &Host) -> io::Result<Digest> {
    if host.is_live()
        && let Ok(lines) = live_listeners()
    {
        return Ok(digest(lines));
    }
    let mut lines = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6", "unix"] {
        match std::fs::read(host.path(format!("/proc/net/{table}"))) {
            Ok(b) => {
                lines.push(table.as_bytes().to_vec());
                lines.push(b);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && table != "tcp" => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("proc/net/{table}: {e}"))),
        }
    }
    Ok(digest(lines))
}

fn live_listeners() -> io::Result<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    for family in [AF_INET, AF_INET6] {
        for (proto, states) in [
            (IPPROTO_TCP, StateFlags::LISTEN),
            (IPPROTO_UDP, StateFlags::all()),
        ] {
            for s in inet_sockets(family, proto, states)? {
                let unconnected = proto == IPPROTO_UDP
                    && s.state == TCP_CLOSE
                    && s.remote_port == 0
                    && s.remote.is_unspecified();
                if (proto == IPPROTO_TCP || unconnected) && s.port != 0 {
                    lines.push(
                        format!(
                            "{family} {proto} {} {} {} {}",
                            s.local, s.port, s.inode, s.uid
                        )
                        .into_bytes(),
                    );
                }
            }
        }
    }
    for l in crate::sources::sockdiag::unix_listeners()? {
        let mut line = format!("unix {} {} ", l.kind, l.inode).into_bytes();
        line.extend(l.name.unwrap_or_default());
        lines.push(line);
    }
    Ok(lines)
}

/// Loaded modules (name, size, state, taint letters; not the use count or users) and the
/// kernel's taint mask. A kernel without module support has no `proc/modules`: then the mask
/// alone.
pub fn modules(host: &Host) -> io::Result<Digest> {
    let mut lines = Vec::new();
    match std::fs::read(host.path("/proc/modules")) {
        Ok(text) => {
            for line in text.split(|&b| b == b'\n') {
                let f: Vec<&[u8]> = line
                    .split(|&b| b == b' ')
                    .filter(|f| !f.is_empty())
                    .collect();
                if f.is_empty() {
                    continue;
                }
                // name size refcount users state address [taint]
                let mut kept = vec![f[0], f.get(1).copied().unwrap_or_default()];
                kept.extend(f.get(4).copied());
                kept.extend(f.iter().skip(6).copied());
                lines.push(kept.join(&b' '));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => lines.push(b"no modules".to_vec()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("proc/modules: {e}"))),
    }
    match std::fs::read(host.path("/proc/sys/kernel/tainted")) {
        Ok(mut mask) => {
            mask.splice(0..0, b"tainted ".iter().copied());
            lines.push(mask);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("proc/sys/kernel/tainted: {e}"),
            ));
        }
    }
    Ok(digest(lines))
}

/// The mount table the mount collectors read (PID 1's on the live host).
pub fn mounts(host: &Host) -> io::Result<Digest> {
    let file = host.mountinfo();
    let text = std::fs::read(host.path(file))
        .map_err(|e| io::Error::new(e.kind(), format!("{file}: {e}")))?;
    Ok(digest([text]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP listener opened on the live host changes the digest, and closing it changes it
    /// back.
    #[test]
    fn a_live_listener_changes_the_digest() {
        let host = Host::new(std::path::PathBuf::from("/"));
        let before = listeners(&host).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let during = listeners(&host).unwrap();
        // Another test may open or close a listener at the same time: the digest with ours
        // differs from the one without it in any case.
        assert_ne!(before, during);
        assert!(
            live_listeners()
                .unwrap()
                .iter()
                .any(|s| String::from_utf8_lossy(s)
                    .contains(&format!(" 127.0.0.1 {} ", l.local_addr().unwrap().port()))),
            "sock_diag lists the listener"
        );
        drop(l);
    }

    #[test]
    fn a_connected_udp_socket_is_no_listener() {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        let has = |port: u16| {
            live_listeners()
                .unwrap()
                .iter()
                .any(|s| String::from_utf8_lossy(s).contains(&format!(" 127.0.0.1 {port} ")))
        };
        assert!(has(port), "a bound unconnected UDP socket is reachable");
        u.connect("127.0.0.1:9").unwrap();
        assert!(!has(port), "a connected one is not");
    }

    #[test]
    fn module_use_counts_are_no_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        let host = Host::new(dir.path().to_path_buf());
        let write = |t: &str| std::fs::write(dir.path().join("proc/modules"), t).unwrap();
        write("ext4 100 2 jbd2, Live 0x0\n");
        let a = modules(&host).unwrap();
        write("ext4 100 5 jbd2,mbcache, Live 0x0\n");
        assert_eq!(a, modules(&host).unwrap());
        write("ext4 100 5 jbd2, Live 0x0 (OE)\n");
        assert_ne!(a, modules(&host).unwrap(), "taint letters count");
        write("ext4 100 2 jbd2, Unloading 0x0\n");
        assert_ne!(a, modules(&host).unwrap(), "state counts");
    }
}

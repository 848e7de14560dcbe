//! Listening UNIX sockets of the live host from the kernel's `sock_diag` netlink interface.
//!
//! `/proc/net/unix` prints each socket's path raw, one per line: a local user who binds a
//! socket whose path holds a newline can write whole forged lines into it (a fake listener,
//! or a "continuation" that swallows a real one). Over netlink each socket is one message and
//! its name a length-delimited attribute, so names come back as the exact bytes. Used on the
//! live host; a root that is not `/` (an image) has no live sockets, and its
//! `proc/net/unix` file is parsed instead.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::unix::nlas::{Nla, UnixDiagName};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags, UnixRequest};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

/// One listening UNIX socket: its type (`SOCK_STREAM` 1, `SOCK_SEQPACKET` 5), inode, and name
/// as bytes (an abstract name starts with `@`); `None` for an unnamed socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub kind: u8,
    pub inode: u64,
    pub name: Option<Vec<u8>>,
}

/// Every listening UNIX socket of this network namespace.
pub fn unix_listeners() -> io::Result<Vec<Listener>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::UnixRequest(UnixRequest {
            state_flags: StateFlags::LISTEN,
            inode: 0,
            show_flags: ShowFlags::NAME,
            cookie: [0xff; 8],
        })
        .into(),
    );
    request.finalize();
    let mut buf = vec![0u8; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut out = Vec::new();
    let mut recv = vec![0u8; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut recv[..], 0)?;
        if size == 0 {
            return Err(io::Error::other("sock_diag: the kernel closed the dump"));
        }
        let mut offset = 0;
        while offset < size {
            let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&recv[offset..size])
                .map_err(|e| io::Error::other(format!("sock_diag: bad message: {e}")))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(match e.code {
                        Some(code) => io::Error::from_raw_os_error(-code.get()),
                        None => io::Error::other("sock_diag: error without a code"),
                    });
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::UnixResponse(r)) => {
                    let name = r.nlas.iter().find_map(|n| match n {
                        Nla::Name(UnixDiagName::Pathname(p)) => {
                            Some(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec())
                        }
                        Nla::Name(UnixDiagName::Abstract(a)) => {
                            let mut v = Vec::with_capacity(a.len() + 1);
                            v.push(b'@');
                            v.extend_from_slice(a);
                            Some(v)
                        }
                        _ => None,
                    });
                    out.push(Listener {
                        kind: r.header.kind,
                        inode: u64::from(r.header.inode),
                        name,
                    });
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

#[cfg(test)]
mod tests;

//! Sockets of the live host from the kernel's `sock_diag` netlink interface: listening UNIX
//! sockets, and TCP/UDP sockets by state (the realtime poller's listener look).
//!
//! `/proc/net/unix` prints each socket's path raw, one per line: a local user who binds a
//! socket whose path holds a newline can write whole forged lines into it (a fake listener,
//! or a "continuation" that swallows a real one). Over netlink each socket is one message and
//! its name a length-delimited attribute, so names come back as the exact bytes. Used on the
//! live host; a root that is not `/` (an image) has no live sockets, and its
//! `proc/net/unix` file is parsed instead.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::AF_INET;
pub use netlink_packet_sock_diag::inet::StateFlags as InetStates;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId};
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
    dump(
        SockDiagMessage::UnixRequest(UnixRequest {
            state_flags: StateFlags::LISTEN,
            inode: 0,
            show_flags: ShowFlags::NAME,
            cookie: [0xff; 8],
        }),
        |msg| {
            let SockDiagMessage::UnixResponse(r) = msg else {
                return None;
            };
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
            Some(Listener {
                kind: r.header.kind,
                inode: u64::from(r.header.inode),
                name,
            })
        },
    )
}

/// One TCP or UDP socket as sock_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inet {
    pub state: u8,
    pub local: IpAddr,
    pub port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    pub inode: u32,
    pub uid: u32,
}

/// One dump of a family (`AF_INET`, `AF_INET6`) and protocol, filtered by state in the kernel
/// (asked for listeners only, it skips established connections: a look costs the same on a
/// server with 100,000 connections).
pub fn inet_sockets(family: u8, protocol: u8, states: InetStates) -> io::Result<Vec<Inet>> {
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    dump(
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states,
            socket_id,
        }),
        |msg| {
            let SockDiagMessage::InetResponse(r) = msg else {
                return None;
            };
            let h = &r.header;
            Some(Inet {
                state: h.state,
                local: h.socket_id.source_address,
                port: h.socket_id.source_port,
                remote: h.socket_id.destination_address,
                remote_port: h.socket_id.destination_port,
                inode: h.inode,
                uid: h.uid,
            })
        },
    )
}

/// Sends one dump `request` and reads every answer until the kernel says done, keeping what
/// `each` makes of a message. A kernel error comes back as its errno.
fn dump<T>(
    request: SockDiagMessage,
    mut each: impl FnMut(SockDiagMessage) -> Option<T>,
) -> io::Result<Vec<T>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(header, request.into());
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
                NetlinkPayload::InnerMessage(m) => out.extend(each(m)),
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

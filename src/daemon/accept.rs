//! The API's accept loop: who connected, whether they may hold another connection, and how long
//! a connection may sit idle.
//!
//! Each accepted connection's credentials are read once (`SO_PEERCRED`, see [`auth::Peer`]) and
//! checked against the caps of [`limits`]: a connection over a cap is closed at once, before a
//! byte is read. An admitted one is served by hyper's HTTP/1.1 server with
//! - `idle_timeout` (config, default [`crate::config::DEFAULT_IDLE_TIMEOUT`] s) to send a
//!   complete request head, counted from the connection or its previous answer: this closes
//!   idle keep-alive connections and clients that trickle headers, but never cuts off a request
//!   being answered (a requested scan may take minutes);
//! - [`BODY_TIMEOUT`] to send the request body (enforced in [`super::routes`]);
//! - [`WRITE_STALL_TIMEOUT`] for a client that stops reading its answer.
//!
//! Graceful shutdown: when `stop` fires the loop stops accepting (the listening socket is
//! closed), asks every connection to finish its request in flight and close, and returns once
//! they have.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Sleep;

use super::auth::{self, AdminGroup, Peer};
use super::limits::{self, Class, Slot, Tracker};

/// How long a client may take to send a request body (at most [`crate::api::MAX_BODY`]).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long writing an answer may make no progress (a client that stopped reading) before the
/// connection is closed.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How often at most a kind of refusal is logged (a flood would otherwise flood the journal).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What the accept loop needs.
pub struct Server {
    pub router: Router,
    pub admin: Option<AdminGroup>,
    pub tracker: Arc<Tracker>,
    pub idle_timeout: Duration,
}

/// The class of a peer for the caps.
pub fn class_of(peer: &Peer, admin: Option<&AdminGroup>) -> Class {
    if peer.uid == 0 {
        Class::Root
    } else if auth::check_admin(peer, admin).is_ok() {
        Class::Admin
    } else {
        Class::User
    }
}

/// Counts events and logs them at most every [`LOG_EVERY`].
struct Throttled {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttled {
    fn new() -> Self {
        Throttled {
            last: None,
            unlogged: 0,
        }
    }

    /// `Some(events since the last log, this one included)` when it is time to log.
    fn tick(&mut self) -> Option<u64> {
        self.unlogged += 1;
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.unlogged))
    }
}

impl Server {
    /// Accepts and serves connections until `stop` turns true (or its sender is dropped).
    pub async fn run(self, listener: UnixListener, mut stop: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        let mut refused = Throttled::new();
        let mut accept_failed = Throttled::new();
        loop {
            let accepted = tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                    continue;
                }
                Some(_) = connections.join_next() => continue,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection gone before it was
                    // accepted: wait a little rather than spin, and keep serving.
                    if let Some(n) = accept_failed.tick() {
                        tracing::warn!(
                            "cannot accept a connection ({n} times in the last {}s): {e}; \
                             if this is \"too many open files\", raise LimitNOFILE= in \
                             dawgmond.service",
                            LOG_EVERY.as_secs()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let peer = Peer::of(&stream);
            let class = class_of(&peer, self.admin.as_ref());
            match self.tracker.admit(peer.uid, class) {
                Ok(slot) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        slot,
                        self.router.clone(),
                        self.idle_timeout,
                        stop.clone(),
                    ));
                }
                Err(why) => {
                    if let Some(n) = refused.tick() {
                        tracing::warn!(
                            uid = peer.uid,
                            pid = peer.pid,
                            "refused {n} connection(s) in the last {}s, the latest because {why}",
                            LOG_EVERY.as_secs()
                        );
                    }
                    drop(stream);
                }
            }
        }
        drop(listener);
        while connections.join_next().await.is_some() {}
    }
}

/// Serves one admitted connection; its [`Slot`] is freed when it ends.
async fn serve_connection(
    stream: UnixStream,
    peer: Peer,
    _slot: Slot,
    router: Router,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let uid = peer.uid;
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer.clone()));
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let io = TokioIo::new(WriteStall::new(stream, WRITE_STALL_TIMEOUT));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let stopping = async move {
        // Ends when the daemon stops (or the loop that holds the sender is gone).
        let _ = stop.wait_for(|s| *s).await;
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(uid, "connection closed: {e}");
    }
}

/// A stream whose writes fail with `TimedOut` once they have made no progress for `limit`.
struct WriteStall {
    io: UnixStream,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteStall {
    fn new(io: UnixStream, limit: Duration) -> Self {
        WriteStall {
            io,
            limit,
            stalled: None,
        }
    }

    /// After a write that could not proceed: `Ready(error)` once the stall has lasted too long.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stalled = None;
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client read nothing of the answer for {}s",
                        limit.as_secs()
                    ),
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteStall {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStall {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.check_stall(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.check_stall(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The soft descriptor limit, raised to the hard one when it is lower (systemd's default soft
/// limit is 1024); warns when it cannot hold the connection caps with room to spare.
pub fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or fill the one struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    let now = lim.rlim_cur;
    // The caps, the database and its WAL, the notify and D-Bus sockets, collectors' reads.
    let needed = (limits::MAX_CONNECTIONS + 128) as libc::rlim_t;
    if now < needed {
        tracing::warn!(
            "the descriptor limit is {now}, too low for {} connections plus the daemon's own \
             files: under a connection flood root may get no answer; raise it \
             (LimitNOFILE=65536 in dawgmond.service)",
            limits::MAX_CONNECTIONS
        );
    }
}

#[cfg(test)]
mod tests;

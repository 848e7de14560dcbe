//! How much of the daemon one local user may hold: connections per user and in total, and
//! heavy requests (diffs) at once.
//!
//! Anyone who can reach the socket (`socket_group`) can open connections; without a cap a
//! read-only user holding a thousand idle ones would use up the daemon's file descriptors and
//! root would get no answer. So, counted when a connection is accepted ([`Tracker::admit`], by
//! the uid `SO_PEERCRED` gives):
//!
//! - any uid but root may hold [`MAX_PER_USER`] connections;
//! - all non-root peers together may hold [`MAX_CONNECTIONS`], of which the last
//!   [`ADMIN_RESERVE`] are kept for members of `admin_group`;
//! - root (uid 0) is never refused by a count: it is bounded only by the descriptor limit, which
//!   the shipped unit raises (`LimitNOFILE=65536`) far above these caps.
//!
//! A connection over a cap is closed as soon as it is accepted. Heavy requests (a diff loads two
//! whole snapshots) run [`MAX_HEAVY`] at a time; [`MAX_HEAVY_WAITING`] more may wait, and past
//! that a non-admin peer is answered 503 at once while root and admins wait their turn
//! ([`Heavy::enter`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Connections one non-root uid may hold at once. `dawgctl` uses one per command, so 64 is far
/// more than a person or a monitoring script needs, and 64 × a few users stays well under the
/// descriptor limit.
pub const MAX_PER_USER: usize = 64;

/// Connections all non-root peers together may hold.
pub const MAX_CONNECTIONS: usize = 512;

/// Of [`MAX_CONNECTIONS`], how many only `admin_group` members may use.
pub const ADMIN_RESERVE: usize = 64;

/// Heavy requests (diffs) computed at once: one per core of a small host.
pub const MAX_HEAVY: usize = 2;

/// Heavy requests from non-admin peers that may wait for a turn before the next is refused.
pub const MAX_HEAVY_WAITING: usize = 8;

/// What a peer is, for the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// uid 0: never refused by a count.
    Root,
    /// A member of `admin_group`: may use the reserve.
    Admin,
    /// Anyone else who can reach the socket.
    User,
}

/// The caps a [`Tracker`] enforces.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_user: usize,
    pub total: usize,
    pub admin_reserve: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            per_user: MAX_PER_USER,
            total: MAX_CONNECTIONS,
            admin_reserve: ADMIN_RESERVE,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("uid {uid} already holds {cap} connections (the per-user cap)")]
    PerUser { uid: u32, cap: usize },
    #[error("{cap} connections are open (the cap for {who})")]
    Total { cap: usize, who: &'static str },
}

#[derive(Debug, Default)]
struct Counts {
    /// Non-root connections.
    total: usize,
    by_uid: HashMap<u32, usize>,
}

/// Counts open connections by uid.
#[derive(Debug)]
pub struct Tracker {
    caps: Caps,
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    tracker: Arc<Tracker>,
    uid: Option<u32>,
}

impl Tracker {
    pub fn new(caps: Caps) -> Arc<Tracker> {
        Arc::new(Tracker {
            caps,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits a connection from `uid`, or says which cap it is over.
    pub fn admit(self: &Arc<Self>, uid: u32, class: Class) -> Result<Slot, Refusal> {
        if class == Class::Root {
            return Ok(Slot {
                tracker: self.clone(),
                uid: None,
            });
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = counts.by_uid.get(&uid).copied().unwrap_or(0);
        if mine >= self.caps.per_user {
            return Err(Refusal::PerUser {
                uid,
                cap: self.caps.per_user,
            });
        }
        let (cap, who) = match class {
            Class::Admin => (self.caps.total, "admin_group members"),
            _ => (
                self.caps.total.saturating_sub(self.caps.admin_reserve),
                "users outside admin_group",
            ),
        };
        if counts.total >= cap {
            return Err(Refusal::Total { cap, who });
        }
        counts.total += 1;
        *counts.by_uid.entry(uid).or_insert(0) += 1;
        Ok(Slot {
            tracker: self.clone(),
            uid: Some(uid),
        })
    }

    /// Non-root connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(uid) = self.uid else { return };
        let mut counts = self
            .tracker
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_uid.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                counts.by_uid.remove(&uid);
            }
        }
    }
}

/// The gate heavy requests pass through.
#[derive(Debug)]
pub struct Heavy {
    size: usize,
    running: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// The answer for a heavy request refused because too many are running and waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "dawgmond is busy: {running} diffs are being computed and {waiting} more are waiting; \
     try again in a few seconds"
)]
pub struct Saturated {
    pub running: usize,
    pub waiting: usize,
}

/// Takes a waiting place back when the wait ends (or the client hangs up).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Heavy {
    pub fn new(running: usize, max_waiting: usize) -> Heavy {
        Heavy {
            size: running,
            running: Semaphore::new(running),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Waits for a turn. A non-admin peer arriving when all turns are taken and
    /// `max_waiting` others already wait is refused at once; root and admins always wait.
    pub async fn enter(&self, class: Class) -> Result<SemaphorePermit<'_>, Saturated> {
        if let Ok(permit) = self.running.try_acquire() {
            return Ok(permit);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        let place = Waiting(&self.waiting);
        if class == Class::User && waiting >= self.max_waiting {
            return Err(Saturated {
                running: self.size,
                waiting,
            });
        }
        let permit = self
            .running
            .acquire()
            .await
            .expect("the heavy-request semaphore is never closed");
        drop(place);
        Ok(permit)
    }
}

impl Default for Heavy {
    fn default() -> Self {
        Heavy::new(MAX_HEAVY, MAX_HEAVY_WAITING)
    }
}

#[cfg(test)]
mod tests;

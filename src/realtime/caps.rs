//! CAP_SYS_ADMIN, held as briefly as possible (through the `caps` crate).
//!
//! fanotify's file-system marks need CAP_SYS_ADMIN; nothing else the daemon does needs it.
//! Linux keeps capabilities per thread, and a new thread starts with its creator's sets: so
//! `dawgmond` lowers CAP_SYS_ADMIN from the effective set of its main thread before it starts
//! any other ([`lower_before_threads`]), and every thread it makes runs without it. It stays in
//! the permitted set, and only the realtime watch's own thread raises it, around
//! `fanotify_init` and the marks ([`with_sys_admin`]), including a mark of a file system
//! mounted later, and lowers it again at once.

use caps::{CapSet, Capability};

/// Lowers CAP_SYS_ADMIN from the calling thread's effective set (call it while the process
/// has one thread). Without the capability (not root) there is nothing to do.
pub fn lower_before_threads() {
    let _ = caps::drop(None, CapSet::Effective, Capability::CAP_SYS_ADMIN);
}

/// Whether the calling thread may raise CAP_SYS_ADMIN.
pub fn permitted() -> bool {
    caps::has_cap(None, CapSet::Permitted, Capability::CAP_SYS_ADMIN).unwrap_or(false)
}

/// Whether the calling thread holds CAP_SYS_ADMIN now.
pub fn effective() -> bool {
    caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).unwrap_or(false)
}

/// Runs `f` with CAP_SYS_ADMIN raised in the calling thread's effective set (when it is
/// permitted; `f` then fails as it would without), and lowers it again.
pub fn with_sys_admin<T>(f: impl FnOnce() -> T) -> T {
    let raised =
        permitted() && caps::raise(None, CapSet::Effective, Capability::CAP_SYS_ADMIN).is_ok();
    let out = f();
    if raised {
        let _ = caps::drop(None, CapSet::Effective, Capability::CAP_SYS_ADMIN);
    }
    out
}

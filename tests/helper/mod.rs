//! Shared by the integration tests.

use std::sync::{Mutex, MutexGuard};

pub mod smtp;

/// Serialises the tests that change the live host (a listener, a group, a systemd manager...) or
/// compare two scans of it, so one test's changes never show up in another's scan.
static LIVE_HOST: Mutex<()> = Mutex::new(());

/// Holds the live host for the caller until the guard drops.
pub fn live_lock() -> MutexGuard<'static, ()> {
    LIVE_HOST.lock().unwrap_or_else(|p| p.into_inner())
}

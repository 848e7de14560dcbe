//! systemd notification (sd_notify): readiness, `STATUS=` text, watchdog pings, `STOPPING=1`.
//!
//! Every call is a no-op when the daemon was not started by systemd (no `NOTIFY_SOCKET`), so the
//! daemon runs the same in a terminal, a container or a test. Failures to notify are logged and
//! otherwise ignored: systemd bookkeeping must never stop a scan.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// Set between SIGHUP and the restarted daemon's readiness: the stop in between is a reload.
static RELOADING: AtomicBool = AtomicBool::new(false);

/// Tells systemd the daemon is ready (the database is open and the socket listens).
pub fn ready(status: &str) {
    RELOADING.store(false, Ordering::SeqCst);
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the daemon is reloading its configuration (after SIGHUP): the stop that
/// follows is not reported as stopping, and the next [`ready`] ends the reload.
pub fn reloading() {
    RELOADING.store(true, Ordering::SeqCst);
    send(&[
        NotifyState::Reloading,
        NotifyState::Status("reloading the configuration"),
    ]);
}

/// Sets the one-line status `systemctl status dawgmond` shows.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// Tells systemd the daemon is shutting down (only the status, during a reload).
pub fn stopping(status: &str) {
    if RELOADING.load(Ordering::SeqCst) {
        send(&[NotifyState::Status(status)]);
    } else {
        send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }
}

/// When the unit sets `WatchdogSec=`, pings systemd at half the interval from a task of the
/// runtime, so a wedged runtime stops the pings and systemd restarts the daemon.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()?;
    let period = (interval / 2).max(Duration::from_millis(100));
    tracing::info!("watchdog enabled: pinging systemd every {period:?}");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    }))
}

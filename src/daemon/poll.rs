//! Surfaces that are not files: listening sockets, kernel modules and mounts, looked at every
//! `poll_interval` seconds.
//!
//! File-system events do not show a socket opened, a module loaded or a file system mounted,
//! yet each costs milliseconds to read. A thread of its own reads them (through sock_diag,
//! `proc/modules` and the mount table the collectors read, see [`looks`]) and keeps a digest
//! of what each collector compares; when a digest differs from the last look, it asks for a
//! scan of that surface's collectors only, with trigger [`Trigger::Poll`]. That scan is stored
//! and reported like any other, so a listener open longer than the interval is recorded with
//! its process even when it is closed before the next scheduled scan. Something opened and
//! closed between two looks is not seen.
//!
//! The first look is the starting point (the scans see that state), not a change. A surface
//! whose read fails is warned about once and looked at again; its collectors still run on the
//! schedule. A request the daemon's queue refuses (full) leaves the old digest, so the next
//! look asks again.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::host::Host;

use super::requests::ScanRequests;
use super::trigger::Trigger;

pub mod looks;

/// Asks the daemon for a scan of these collectors; false when it was not taken (one for them
/// is already waiting or running), so the poller asks again at its next look.
pub type RequestFn = Arc<dyn Fn(Vec<&'static str>, Trigger) -> bool + Send + Sync>;

/// One surface: what is read, and the collectors a difference rescans.
pub struct Surface {
    pub name: &'static str,
    pub collectors: &'static [&'static str],
    look: fn(&Host) -> std::io::Result<looks::Digest>,
}

/// Every surface polled, in the order they are read.
pub const SURFACES: &[Surface] = &[
    Surface {
        name: "listening sockets",
        collectors: &["list_tcpudp_ports", "list_unix_ports"],
        look: looks::listeners,
    },
    Surface {
        name: "kernel modules",
        collectors: &["kernel_modules", "kernel_version"],
        look: looks::modules,
    },
    Surface {
        name: "mounts",
        collectors: &["list_mount", "mount_options"],
        look: looks::mounts,
    },
];

/// The running poller; stopped (and its thread joined) by [`Poller::stop`] or when dropped.
pub struct Poller {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The surfaces worth polling when scans run `enabled`: each with those of its collectors that
/// are enabled; surfaces with none are left out.
pub fn active(enabled: &[&'static str]) -> Vec<(&'static Surface, Vec<&'static str>)> {
    SURFACES
        .iter()
        .filter_map(|s| {
            let names: Vec<&'static str> = s
                .collectors
                .iter()
                .copied()
                .filter(|c| enabled.contains(c))
                .collect();
            (!names.is_empty()).then_some((s, names))
        })
        .collect()
}

/// Starts looking at `root`'s surfaces every `interval`, for the collectors in `enabled`.
/// `None` when the interval is zero (off) or no enabled collector reads a polled surface.
pub fn start(
    root: PathBuf,
    interval: Duration,
    enabled: &[&'static str],
    request: RequestFn,
) -> std::io::Result<Option<Poller>> {
    let surfaces = active(enabled);
    if interval.is_zero() || surfaces.is_empty() {
        return Ok(None);
    }
    tracing::info!(
        interval_secs = interval.as_secs(),
        surfaces = surfaces
            .iter()
            .map(|(s, _)| s.name)
            .collect::<Vec<_>>()
            .join(", "),
        "polling surfaces that are not files"
    );
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("dawgmon-poll".into())
        .spawn(move || run(Host::new(root), interval, surfaces, request, rx))?;
    Ok(Some(Poller {
        stop: Some(tx),
        thread: Some(thread),
    }))
}

fn run(
    host: Host,
    interval: Duration,
    surfaces: Vec<(&'static Surface, Vec<&'static str>)>,
    request: RequestFn,
    stop: mpsc::Receiver<()>,
) {
    let mut last: Vec<Option<looks::Digest>> = vec![None; surfaces.len()];
    let mut failing = vec![false; surfaces.len()];
    loop {
        for (i, (surface, collectors)) in surfaces.iter().enumerate() {
            let now = match (surface.look)(&host) {
                Ok(d) => {
                    if std::mem::take(&mut failing[i]) {
                        tracing::info!("{} can be read again", surface.name);
                    }
                    d
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing[i], true) {
                        tracing::warn!(
                            "cannot read the {} to poll them ({e}); their collectors still \
                             run with every scan",
                            surface.name
                        );
                    }
                    continue;
                }
            };
            match &last[i] {
                None => last[i] = Some(now),
                Some(before) if *before == now => {}
                Some(_) => {
                    tracing::debug!(
                        surface = surface.name,
                        "the {} changed: scanning {}",
                        surface.name,
                        collectors.join(", ")
                    );
                    if request(collectors.clone(), Trigger::Poll) {
                        last[i] = Some(now);
                    }
                }
            }
        }
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

impl Poller {
    /// Stops looking; returns once the thread has ended (at most one look, milliseconds).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Requests through the daemon's targeted-scan queue ([`ScanRequests`]): it runs them one at
/// a time, merged while a scan runs, and reports each like any scan the daemon runs. A full
/// queue refuses, and the poller asks again at its next look.
pub fn via_requests(requests: ScanRequests) -> RequestFn {
    Arc::new(move |collectors: Vec<&'static str>, trigger: Trigger| {
        requests.try_request(collectors.iter().map(|c| c.to_string()).collect(), trigger)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn surfaces_name_registered_collectors() {
        for s in SURFACES {
            for c in s.collectors {
                assert!(
                    crate::collectors::COLLECTORS.iter().any(|r| r.name() == *c),
                    "{}: {c} is not a collector",
                    s.name
                );
            }
        }
    }

    #[test]
    fn only_enabled_collectors_are_polled() {
        assert!(active(&["check_users"]).is_empty());
        let a = active(&["check_users", "list_mount", "list_unix_ports"]);
        let names: Vec<_> = a.iter().map(|(s, c)| (s.name, c.clone())).collect();
        assert_eq!(
            names,
            [
                ("listening sockets", vec!["list_unix_ports"]),
                ("mounts", vec!["list_mount"])
            ]
        );
    }

    /// A fake root's module table changes between two looks: one request, for the module
    /// collectors, with trigger Poll; no request for the first look or an unchanged one.
    #[test]
    fn a_difference_asks_for_a_scan_of_its_collectors() {
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("proc/modules");
        std::fs::create_dir_all(modules.parent().unwrap()).unwrap();
        std::fs::write(&modules, "ext4 1 2 - Live 0x0\n").unwrap();
        type Asked = Mutex<Vec<(Vec<&'static str>, Trigger)>>;
        let asked: Arc<Asked> = Arc::default();
        let seen = asked.clone();
        let request: RequestFn = Arc::new(move |c, t| {
            seen.lock().unwrap().push((c, t));
            true
        });
        let poller = start(
            dir.path().to_path_buf(),
            Duration::from_millis(50),
            &["kernel_modules"],
            request,
        )
        .unwrap()
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            asked.lock().unwrap().is_empty(),
            "the first look is no change"
        );
        // Only the use count changed: nothing a collector compares.
        std::fs::write(&modules, "ext4 1 7 - Live 0x0\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(asked.lock().unwrap().is_empty(), "a use count is no change");
        std::fs::write(&modules, "ext4 1 2 - Live 0x0\nevil 9 0 - Live 0x0 (OE)\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while asked.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        poller.stop();
        let asked = asked.lock().unwrap();
        assert_eq!(*asked, [(vec!["kernel_modules"], Trigger::Poll)]);
    }

    /// A request that is not taken (one is still pending) is asked again at the next look.
    #[test]
    fn a_refused_request_is_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("proc/modules");
        std::fs::create_dir_all(modules.parent().unwrap()).unwrap();
        std::fs::write(&modules, "ext4 1 2 - Live 0x0\n").unwrap();
        let calls: Arc<Mutex<usize>> = Arc::default();
        let counted = calls.clone();
        let request: RequestFn = Arc::new(move |_, _| {
            let mut n = counted.lock().unwrap();
            *n += 1;
            *n >= 3
        });
        let poller = start(
            dir.path().to_path_buf(),
            Duration::from_millis(30),
            &["kernel_modules"],
            request,
        )
        .unwrap()
        .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        std::fs::write(&modules, "evil 9 0 - Live 0x0\n").unwrap();
        std::thread::sleep(Duration::from_millis(600));
        poller.stop();
        assert_eq!(
            *calls.lock().unwrap(),
            3,
            "asked until taken, then not again"
        );
    }

    #[test]
    fn off_or_nothing_to_poll_starts_nothing() {
        let noop: RequestFn = Arc::new(|_, _| true);
        assert!(
            start("/".into(), Duration::ZERO, &["list_mount"], noop.clone())
                .unwrap()
                .is_none()
        );
        assert!(
            start("/".into(), Duration::from_secs(1), &["check_users"], noop)
                .unwrap()
                .is_none()
        );
    }
}

//! Runs a set of collectors against a host and gathers their outcomes into a [`Snapshot`].
//!
//! Collectors run on a few worker threads (file-system walks block; a slow D-Bus call should not
//! hold up the rest). A collector that errs or panics becomes `Unavailable` in the snapshot; it
//! never aborts the scan. A collector that runs past the timeout is abandoned and marked
//! unavailable, and a fresh worker takes its place, so a stuck collector never holds a worker
//! that the others need. The whole scan has a deadline too: collectors still running or not yet
//! started when it passes are marked unavailable and the scan ends. When the scan ends, the
//! host's cancel flag is set, so abandoned walks and hashes stop at their next check instead of
//! running on for hours (only a thread blocked in one system call, on a hung network mount,
//! stays until the kernel returns). A collector abandoned at its own timeout is told the same
//! at once, through its own flag (see [`crate::host::collector_scope`]), so its thread stops
//! while the rest of the scan runs on.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::collectors::Collector;
use crate::host::Host;
use crate::model::{Outcome, Snapshot};

mod package;

/// Progress of a running scan, reported after each collector finishes.
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    /// The collector that just finished.
    pub collector: &'static str,
}

/// How a scan runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Worker threads; 0 means one per CPU, at most 4.
    pub threads: usize,
    /// How long one collector may run before it is abandoned.
    pub collector_timeout: Duration,
    /// How long the whole scan may run; what has not finished by then is unavailable.
    pub scan_timeout: Duration,
    /// Bytes hashed at most per file (larger files get `not_hashed`).
    pub max_hash: u64,
    /// How often the tree collectors read every file again instead of carrying digests over
    /// by metadata (`None`: never).
    pub rehash_every: Option<Duration>,
    /// Entries one list read from files others may write holds at most (`max_items`).
    pub max_items: usize,
}

/// The default of `rehash_every`: weekly.
pub const DEFAULT_REHASH_EVERY: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            threads: 0,
            collector_timeout: Duration::from_secs(300),
            scan_timeout: Duration::from_secs(900),
            max_hash: crate::hostfs::DEFAULT_MAX_HASH,
            rehash_every: Some(DEFAULT_REHASH_EVERY),
            max_items: crate::host::DEFAULT_MAX_ITEMS,
        }
    }
}

/// What a scan produced, plus what the user should hear about once.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    pub snapshot: Snapshot,
    /// Paths that could not be read for lack of permission, and a few examples.
    pub denied: (u64, Vec<String>),
    pub elapsed: Duration,
    /// How long each collector ran, in registry order (one abandoned at its timeout or at the
    /// scan's deadline: the time it had been running then, or zero if it never started).
    pub timings: Vec<(&'static str, Duration)>,
}

/// Scans `host` with `collectors`, calling `progress` after each one finishes.
pub fn run(
    host: Arc<Host>,
    collectors: &[&'static dyn Collector],
    options: &ScanOptions,
    progress: &dyn Fn(&Progress),
) -> ScanOutput {
    let start = Instant::now();
    let total = collectors.len();
    let threads = match options.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(4),
        n => n,
    }
    .min(total.max(1));

    let next = Arc::new(AtomicUsize::new(0));
    let list: Arc<Vec<&'static dyn Collector>> = Arc::new(collectors.to_vec());
    let (tx, rx) = mpsc::channel::<(usize, Outcome, Duration)>();
    // Started times per collector index, so the main thread can tell which one is overdue.
    let started: Arc<Vec<std::sync::Mutex<Option<Instant>>>> =
        Arc::new((0..total).map(|_| std::sync::Mutex::new(None)).collect());
    // Each collector's own cancel flag, set when it alone is abandoned.
    let flags: Arc<Vec<Arc<AtomicBool>>> = Arc::new(
        (0..total)
            .map(|_| Arc::new(AtomicBool::new(false)))
            .collect(),
    );
    let spawn_worker = || {
        let (next, list, tx, host, started, flags) = (
            next.clone(),
            list.clone(),
            tx.clone(),
            host.clone(),
            started.clone(),
            flags.clone(),
        );
        // Detached on purpose: a collector stuck in a syscall cannot be cancelled, only left.
        std::thread::spawn(move || {
            loop {
                if host.cancelled() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = list.get(i) else { break };
                let began = Instant::now();
                *started[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(began);
                let outcome = {
                    let _scope = crate::host::collector_scope(Some(flags[i].clone()));
                    run_one(*c, &host)
                };
                if tx.send((i, outcome, began.elapsed())).is_err() {
                    break;
                }
            }
        });
    };
    for _ in 0..threads {
        spawn_worker();
    }

    let mut results: Vec<Option<Outcome>> = vec![None; total];
    let mut timings = vec![Duration::ZERO; total];
    let mut done = 0;
    // How long collector `i` has been running (zero if it never started).
    let running = |i: usize| {
        started[i]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(Duration::ZERO, |t| t.elapsed())
    };
    let mut finish =
        |i: usize, outcome: Outcome, took: Duration, results: &mut Vec<Option<Outcome>>| {
            if results[i].is_none() {
                results[i] = Some(outcome);
                timings[i] = took;
                done += 1;
                progress(&Progress {
                    done,
                    total,
                    collector: collectors[i].name(),
                });
            }
            done
        };
    let mut finished = 0;
    while finished < total {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((i, outcome, took)) => finished = finish(i, outcome, took, &mut results),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                for (i, slot) in started.iter().enumerate() {
                    let overdue = slot
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some_and(|t| t.elapsed() > options.collector_timeout);
                    if overdue && results[i].is_none() {
                        let why =
                            format!("timed out after {}s", options.collector_timeout.as_secs());
                        finished = finish(i, Outcome::Unavailable(why), running(i), &mut results);
                        // Its thread stops at its next check; another takes its place.
                        flags[i].store(true, Ordering::SeqCst);
                        spawn_worker();
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if start.elapsed() > options.scan_timeout {
            for i in 0..total {
                if results[i].is_none() {
                    let began = started[i]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some();
                    let why = format!(
                        "the scan's deadline of {}s passed {}",
                        options.scan_timeout.as_secs(),
                        if began {
                            "while it ran"
                        } else {
                            "before it could start"
                        }
                    );
                    finished = finish(i, Outcome::Unavailable(why), running(i), &mut results);
                }
            }
        }
    }
    // Whatever still runs is abandoned: tell it to stop.
    host.cancel_flag().store(true, Ordering::SeqCst);

    let mut snapshot = Snapshot::default();
    for (c, r) in collectors.iter().zip(results) {
        let outcome = r.unwrap_or_else(|| Outcome::Unavailable("collector did not finish".into()));
        snapshot.results.insert(c.name().to_string(), outcome);
    }
    ScanOutput {
        snapshot,
        denied: host.denied(),
        elapsed: start.elapsed(),
        timings: collectors.iter().map(|c| c.name()).zip(timings).collect(),
    }
}

/// Runs one collector, turning errors and panics into `Unavailable`, and gives its items the
/// package of the file each comes from (see [`package`]).
pub fn run_one(c: &dyn Collector, host: &Host) -> Outcome {
    match std::panic::catch_unwind(AssertUnwindSafe(|| c.collect(host))) {
        Ok(Ok(mut items)) => {
            package::attribute(c, host, &mut items);
            Outcome::Items(items).normalized()
        }
        Ok(Err(e)) => Outcome::Unavailable(e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::Unavailable(format!("collector crashed: {what}"))
        }
    }
}

#[cfg(test)]
mod tests;

//! Targeted scan requests from inside the daemon: the realtime watch (trigger `event` or
//! `overflow`) and the pollers (`poll`) ask for a scan of some collectors through a cloneable
//! [`ScanRequests`]; one task runs them through [`Scans::run`] (one scan at a time, joined
//! when identical) and reports each like a scheduled scan (mail, journal, hooks).
//!
//! Requests that wait while a scan runs are merged: one scan per trigger, of the union of the
//! collectors asked for. After a targeted scan the next one waits [`REST_FACTOR`] times as long
//! as it took (at most [`MAX_REST`]): a user who makes setuid files in a loop gets the setuid
//! walk run at most a fifth of the time, not back to back, and nothing is lost meanwhile (the
//! requests and the watch's debounce keep collecting).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::api::ScanRequest;

use super::scans::{ScanError, Scans};
use super::trigger::Trigger;

/// Requests waiting at most; past it [`ScanRequests::try_request`] refuses (the waiting ones
/// already cover a scan soon).
const QUEUE: usize = 64;

/// A targeted scan rests this many times its own duration before the next one starts.
pub const REST_FACTOR: u32 = 4;
/// The longest rest.
pub const MAX_REST: std::time::Duration = std::time::Duration::from_secs(30);

/// A handle to ask the daemon for a scan of some collectors.
#[derive(Clone)]
pub struct ScanRequests {
    tx: mpsc::Sender<(Vec<String>, Trigger)>,
}

impl ScanRequests {
    /// Asks for a scan of `collectors` (names as `dawgctl collectors` lists them; empty: the
    /// default set), waiting while the queue is full. False: the daemon is stopping.
    pub async fn send(&self, collectors: Vec<String>, trigger: Trigger) -> bool {
        self.tx.send((collectors, trigger)).await.is_ok()
    }

    /// [`ScanRequests::send`] without waiting: false when the queue is full or the daemon
    /// stops.
    pub fn try_request(&self, collectors: Vec<String>, trigger: Trigger) -> bool {
        self.tx.try_send((collectors, trigger)).is_ok()
    }
}

/// Starts the task that runs the requests.
pub fn spawn(scans: Arc<Scans>) -> (ScanRequests, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<(Vec<String>, Trigger)>(QUEUE);
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch: BTreeMap<Trigger, BTreeSet<String>> = BTreeMap::new();
            let mut add = |(names, trigger): (Vec<String>, Trigger)| {
                batch.entry(trigger).or_default().extend(names);
            };
            add(first);
            while let Ok(more) = rx.try_recv() {
                add(more);
            }
            // Overflow first: it covers every file-based collector.
            for (trigger, names) in batch.into_iter().rev() {
                let req = ScanRequest {
                    collectors: names.into_iter().collect(),
                    ..ScanRequest::default()
                };
                match scans.run(req, trigger).await {
                    Ok((result, _)) => {
                        tokio::time::sleep((result.elapsed * REST_FACTOR).min(MAX_REST)).await;
                    }
                    Err(ScanError::Stopping) => return,
                    Err(e) => tracing::error!(trigger = trigger.as_str(), "scan failed: {e}"),
                }
            }
        }
    });
    (ScanRequests { tx }, task)
}

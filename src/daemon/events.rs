//! The daemon's side of the realtime watch ([`crate::realtime`]): stores its observations,
//! waits on its debounce and turns what is due into targeted scans ([`ScanRequests`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::api::RealtimeStatus;
use crate::config::Config;
use crate::realtime::{self, Debounce, Outputs};
use crate::store::Store;

use super::requests::ScanRequests;
use super::scans::Scans;
use super::trigger::Trigger;

/// Observations waiting to be stored at most (then they are counted as dropped).
const OBSERVATION_QUEUE: usize = 4096;

/// The running watch and its tasks.
pub struct Events {
    watch: Option<realtime::Watch>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub status: Arc<Mutex<RealtimeStatus>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the watch over the collectors a scan runs by default.
pub fn start(config: &Config, scans: &Arc<Scans>, requests: ScanRequests) -> Events {
    let collectors = scans.engine().select(&[]).unwrap_or_default();
    let (tx, mut rx) = mpsc::channel(OBSERVATION_QUEUE);
    let out = Outputs {
        pending: Arc::new(Mutex::new(Debounce::default())),
        wake: Arc::new(tokio::sync::Notify::new()),
        observations: tx.clone(),
        status: Arc::new(Mutex::new(RealtimeStatus::default())),
    };
    let watch = realtime::start(config, &collectors, out.clone());
    let storing = Arc::new(tokio::sync::Mutex::new(()));
    let store: Store = scans.engine().store.clone();
    let guard = storing.clone();
    let sink = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let _held = guard.lock().await;
            let mut batch = vec![first];
            while batch.len() < 1000
                && let Ok(more) = rx.try_recv()
            {
                batch.push(more);
            }
            match store.add_observations(&batch).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    "{n} old observations dropped: more than {} were stored",
                    crate::store::MAX_OBSERVATIONS
                ),
                Err(e) => tracing::warn!("cannot store {} observations: {e}", batch.len()),
            }
        }
    });
    let status = out.status.clone();
    let timer = tokio::spawn(async move {
        loop {
            let deadline = lock(&out.pending).deadline();
            match deadline {
                None => out.wake.notified().await,
                Some(d) => {
                    tokio::select! {
                        _ = out.wake.notified() => {}
                        _ = tokio::time::sleep_until(d.into()) => {}
                    }
                }
            }
            let Some(due) = lock(&out.pending).take(Instant::now()) else {
                continue;
            };
            // What the events showed is stored before the scan that may report it is gone.
            for _ in 0..100 {
                if tx.capacity() == OBSERVATION_QUEUE {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            drop(storing.lock().await);
            let trigger = if due.overflow {
                Trigger::Overflow
            } else {
                Trigger::Event
            };
            lock(&out.status).event_scans += 1;
            let names = due.collectors.iter().map(|c| c.to_string()).collect();
            if !requests.send(names, trigger).await {
                return;
            }
        }
    });
    Events {
        watch: Some(watch),
        tasks: vec![sink, timer],
        status,
    }
}

impl Events {
    /// Stops the watch's threads and tasks.
    pub async fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(w) = self.watch.take() {
            let _ = tokio::task::spawn_blocking(move || w.stop()).await;
        }
    }
}

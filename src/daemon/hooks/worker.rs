//! Where the hooks run: off the scan task, on one thread of their own fed through a short
//! queue, each run watched by a timer.
//!
//! A scan hands its run over and goes on; the scan lock is never held by a hook. A run that
//! takes longer than the timeout (a hung file system) is reported stuck, in the journal and in
//! `status`; while it is stuck, new runs are skipped with a warning rather than queued or given
//! threads of their own, so a wedged hook costs one thread and a few queued runs, never more.
//! Runs end in the order they were handed in, so the change log keeps the scans' order.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Runs waiting behind the one in progress at most; one more is skipped with a warning.
const QUEUE: usize = 4;

/// One run of the hooks: writes the files and returns the problems (each already logged).
pub type Job = Box<dyn FnOnce() -> Vec<String> + Send>;

/// What went wrong with the hooks since the daemon started (shown by `status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Runs that failed, were stuck past the timeout, or were skipped.
    pub problems: u64,
    /// The newest problem and when it happened.
    pub last: Option<(DateTime<Utc>, String)>,
    /// Whether the newest problem is still the state of things (no run has ended well since).
    pub failing: bool,
}

struct Queued {
    seq: u64,
    what: String,
    job: Job,
}

struct State {
    timeout: Duration,
    /// The run in progress: its number, what it is for, and when it began.
    current: Mutex<Option<(u64, String, Instant)>>,
    /// The number of the last run begun, and of the last ended.
    started: watch::Sender<u64>,
    ended: watch::Sender<u64>,
    health: Mutex<Health>,
}

/// The hooks' thread and its queue.
pub struct Worker {
    /// The last number handed out, locked while a run is queued so numbers follow the queue.
    queue: Mutex<(u64, SyncSender<Queued>)>,
    state: Arc<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// Starts the thread; a run is reported stuck after `timeout`.
    pub fn start(timeout: Duration) -> std::io::Result<Worker> {
        let (tx, rx) = sync_channel(QUEUE);
        let state = Arc::new(State {
            timeout,
            current: Mutex::new(None),
            started: watch::Sender::new(0),
            ended: watch::Sender::new(0),
            health: Mutex::new(Health::default()),
        });
        let for_thread = state.clone();
        std::thread::Builder::new()
            .name("dawgmon-hooks".into())
            .spawn(move || run(&for_thread, rx))?;
        Ok(Worker {
            queue: Mutex::new((0, tx)),
            state,
        })
    }

    /// Hands `job` (`what`: "scan 42") to the thread, or skips it with a warning when a run is
    /// stuck or the queue is full. Must be called on the tokio runtime (the run's timer).
    pub fn submit(&self, what: String, job: Job) {
        let stuck = lock(&self.state.current)
            .as_ref()
            .filter(|(_, _, began)| began.elapsed() >= self.state.timeout)
            .map(|(_, was, began)| (was.clone(), began.elapsed()));
        if let Some((was, for_)) = stuck {
            self.state.problem(format!(
                "hooks skipped after {what}: the run after {was} has been stuck for {}s \
                 (a hung file system under prometheus_textfile or change_log?)",
                for_.as_secs()
            ));
            return;
        }
        let seq = {
            let mut q = lock(&self.queue);
            let seq = q.0 + 1;
            match q.1.try_send(Queued {
                seq,
                what: what.clone(),
                job,
            }) {
                Ok(()) => q.0 = seq,
                Err(TrySendError::Full(_)) => {
                    drop(q);
                    self.state.problem(format!(
                        "hooks skipped after {what}: {QUEUE} runs are already waiting \
                         (the hook files are slow to write)"
                    ));
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    drop(q);
                    self.state.problem(format!(
                        "hooks skipped after {what}: their thread is gone (see the journal)"
                    ));
                    return;
                }
            }
            seq
        };
        let state = self.state.clone();
        tokio::spawn(async move { state.watch(seq, what).await });
    }

    /// Waits until every run handed in so far has ended, or the timeout has passed.
    pub async fn settled(&self) {
        let target = lock(&self.queue).0;
        let mut ended = self.state.ended.subscribe();
        let _ = tokio::time::timeout(self.state.timeout, ended.wait_for(|e| *e >= target)).await;
    }

    /// What went wrong so far.
    pub fn health(&self) -> Health {
        lock(&self.state.health).clone()
    }
}

impl State {
    /// A run (or a skipped one) went wrong: logged by the caller or here, counted, shown.
    fn problem(&self, message: String) {
        tracing::warn!("{message}");
        self.count(message);
    }

    fn count(&self, message: String) {
        let mut h = lock(&self.health);
        h.problems += 1;
        h.last = Some((Utc::now(), message));
        h.failing = true;
    }

    /// The timer of run `seq`: once it has begun, reports it stuck when it is still running
    /// after the timeout.
    async fn watch(&self, seq: u64, what: String) {
        let mut started = self.started.subscribe();
        if started.wait_for(|s| *s >= seq).await.is_err() {
            return;
        }
        let mut ended = self.ended.subscribe();
        if tokio::time::timeout(self.timeout, ended.wait_for(|e| *e >= seq))
            .await
            .is_ok()
        {
            return;
        }
        self.problem(format!(
            "the hooks' run after {what} has not ended after {}s (a hung file system under \
             prometheus_textfile or change_log?): later runs are skipped until it does",
            self.timeout.as_secs_f64()
        ));
    }
}

/// The thread: one run at a time, in order, until the daemon drops the queue.
fn run(state: &State, rx: Receiver<Queued>) {
    while let Ok(Queued { seq, what, job }) = rx.recv() {
        let began = Instant::now();
        *lock(&state.current) = Some((seq, what.clone(), began));
        state.started.send_replace(seq);
        let problems = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|_| {
            let m = format!("the hooks' run after {what} panicked (a bug: please report it)");
            tracing::error!("{m}");
            vec![m]
        });
        *lock(&state.current) = None;
        let took = began.elapsed();
        if took >= state.timeout {
            tracing::warn!(
                "the hooks' run after {what} ended after {:.1}s",
                took.as_secs_f64()
            );
        }
        if problems.is_empty() {
            lock(&state.health).failing = false;
        } else {
            state.count(problems.join("; "));
        }
        state.ended.send_replace(seq);
    }
}

#[cfg(test)]
mod tests;

//! One scan at a time: every scan the daemon runs, scheduled or requested, goes through
//! [`Scans::run`].
//!
//! Semantics, chosen so that "two concurrent scan requests produce one scan":
//! - A request that arrives while an *identical* scan (same label, same collectors) is running
//!   waits for it and gets its result (`joined: true` in the response). Two `dawgctl scan` at
//!   once therefore cost one scan, and both print the same changes.
//! - A request for a *different* scan (another baseline label, another collector subset) waits
//!   for the running one to finish and then runs its own: it is never lost, never run in
//!   parallel.
//! - A scheduled scan that comes due while any scan runs is skipped (the running scan already
//!   records the current state); the schedule resumes at its next time. It is a warning, and
//!   `status` shows how many were skipped (a scan that runs longer than the schedule's period
//!   would otherwise quietly thin the schedule out).
//!
//! The scan itself runs in its own task, so a client that hangs up does not cancel it half-way;
//! the store saves a scan in one transaction, so stopping the daemon abandons an unsaved scan
//! cleanly (see [`Scans::shutdown`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::api::{HookStatus, ScanProgress, ScanRequest, ScanSummary, SkippedScans};
use crate::collectors::{self, Collector};
use crate::engine::{Engine, ProgressFn, ScanResult};
use crate::error::Error;
use crate::scan::Progress;
use crate::store;

use super::notify;

/// Changes of one scan logged one by one at most (the rest are counted).
const MAX_LOGGED_CHANGES: usize = 1000;

pub use super::trigger::Trigger;

/// Why [`Scans::run`] did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScanError {
    /// The scan failed (a bad request, the database...).
    #[error("{0}")]
    Failed(Arc<Error>),
    /// A scheduled scan came due while another scan was running.
    #[error("a scan is already running")]
    Busy,
    /// The daemon is stopping; no new scan starts and a running one may be abandoned.
    #[error("dawgmond is stopping; the scan was not stored: try again once it is back")]
    Stopping,
}

impl From<Error> for ScanError {
    fn from(e: Error) -> Self {
        ScanError::Failed(Arc::new(e))
    }
}

type Finished = Result<Arc<ScanResult>, ScanError>;

/// The same scan, for joining: label and the resolved collector list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    label: Option<String>,
    collectors: Vec<&'static str>,
}

struct Running {
    key: Key,
    progress: Arc<Mutex<ScanProgress>>,
    done: watch::Receiver<Option<Finished>>,
    abort: AbortHandle,
}

/// The daemon's scan runner and what it remembers about scans.
pub struct Scans {
    engine: Engine,
    current: Mutex<Option<Running>>,
    stopping: AtomicBool,
    /// When the next scheduled scan is due (kept up to date by the scheduler).
    pub next_scan: Mutex<Option<DateTime<Utc>>>,
    /// The next scan's time is drawn at random: the status line systemd shows every user does
    /// not tell it (`dawgctl status` does).
    next_scan_secret: AtomicBool,
    /// What the last scheduled scan found (for `GET /v1/status`).
    pub last_scheduled: Mutex<Option<ScanSummary>>,
    /// Scheduled scans skipped because another one ran (for `GET /v1/status`).
    skipped: Mutex<Option<SkippedScans>>,
    /// Files written after every scan (`prometheus_textfile`, `change_log`); `None`: off.
    hooks: Option<Arc<super::hooks::Hooks>>,
    /// Seals an epoch after every scan ([`crate::seal`]); `None` in unit tests.
    sealer: Option<Arc<crate::seal::Sealer>>,
    /// The fleet push (`[fleet]`): every stored scan is queued before it is answered.
    fleet: Option<Arc<super::fleet::DaemonFleet>>,
    /// Reports each stored scan (mail, or marked reported without it), last of the post-scan
    /// steps; `None` in unit tests, which report nothing.
    mail: Option<Option<Arc<super::mail::DaemonMail>>>,
    /// Test failpoint: the next scan task panics after its scan.
    #[cfg(test)]
    panic_in_task: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Scans {
    pub fn new(engine: Engine) -> Self {
        Scans {
            engine,
            current: Mutex::new(None),
            stopping: AtomicBool::new(false),
            next_scan: Mutex::new(None),
            next_scan_secret: AtomicBool::new(false),
            last_scheduled: Mutex::new(None),
            skipped: Mutex::new(None),
            hooks: None,
            sealer: None,
            fleet: None,
            mail: None,
            #[cfg(test)]
            panic_in_task: AtomicBool::new(false),
        }
    }

    /// The same runner choosing collectors from `registry`'s built-in checks (a test's list)
    /// instead of [`collectors::COLLECTORS`].
    pub fn with_registry(mut self, registry: &'static [&'static dyn Collector]) -> Self {
        let r = &self.engine.registry;
        self.engine.registry =
            collectors::Registry::new(registry, r.watches().to_vec(), r.defaults().to_vec());
        self
    }

    /// The same runner writing the fleet hooks' files after every scan.
    pub fn with_hooks(mut self, hooks: Option<super::hooks::Hooks>) -> Self {
        self.hooks = hooks.map(Arc::new);
        self
    }

    /// The same runner sealing an epoch after every scan.
    pub fn with_sealer(mut self, sealer: Arc<crate::seal::Sealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// The sealer, when sealing is on.
    pub fn sealer(&self) -> Option<&Arc<crate::seal::Sealer>> {
        self.sealer.as_ref()
    }

    /// The same runner reporting every stored scan: queued for mail when `mail` is configured,
    /// else marked reported without it.
    pub fn with_mail(mut self, mail: Option<Arc<super::mail::DaemonMail>>) -> Self {
        self.mail = Some(mail);
        self
    }

    /// The same runner queueing every stored scan for the fleet store.
    pub fn with_fleet(mut self, fleet: Option<Arc<super::fleet::DaemonFleet>>) -> Self {
        self.fleet = fleet;
        self
    }

    /// The engine scans run with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The collectors a request that names none runs.
    pub fn default_collectors(&self) -> Vec<&'static str> {
        self.select(&[])
            .unwrap_or_default()
            .iter()
            .map(|c| c.name())
            .collect()
    }

    /// What a request naming `names` runs (see [`crate::collectors::Registry::select`]).
    fn select(&self, names: &[String]) -> Result<Vec<&'static dyn Collector>, String> {
        self.engine.select(names)
    }

    /// The fleet hooks' problems; `None` when no hook is configured.
    pub fn hook_status(&self) -> Option<HookStatus> {
        self.hooks.as_ref().map(|h| h.status())
    }

    /// Scheduled scans skipped so far; `None` when none was.
    pub fn skipped(&self) -> Option<SkippedScans> {
        lock(&self.skipped).clone()
    }

    /// The running scan's progress, if one runs.
    pub fn progress(&self) -> Option<ScanProgress> {
        lock(&self.current)
            .as_ref()
            .map(|r| lock(&r.progress).clone())
    }

    /// Runs a scan (or joins the identical running one, see the module docs). Returns the
    /// result and whether it was joined rather than started.
    pub async fn run(
        self: &Arc<Self>,
        req: ScanRequest,
        trigger: Trigger,
    ) -> Result<(Arc<ScanResult>, bool), ScanError> {
        let selected = self.select(&req.collectors).map_err(Error::Usage)?;
        if let Some(label) = &req.label {
            store::validate_label(label).map_err(Error::from)?;
        }
        let key = Key {
            label: req.label.clone(),
            collectors: selected.iter().map(|c| c.name()).collect(),
        };
        loop {
            let (mut done, started, same) = {
                let mut current = lock(&self.current);
                if self.stopping.load(Ordering::SeqCst) {
                    return Err(ScanError::Stopping);
                }
                match current.as_ref() {
                    Some(r) if trigger == Trigger::Schedule => {
                        self.skip(&lock(&r.progress));
                        return Err(ScanError::Busy);
                    }
                    Some(r) => (r.done.clone(), false, r.key == key),
                    None => {
                        let running = self.start(key.clone(), selected.clone(), trigger);
                        let done = running.done.clone();
                        *current = Some(running);
                        (done, true, true)
                    }
                }
            };
            let finished = match done.wait_for(|f| f.is_some()).await {
                Ok(f) => f.clone().expect("waited for Some"),
                // The task was aborted: the daemon is stopping.
                Err(_) => Err(ScanError::Stopping),
            };
            if same {
                // The hook files of this scan are written (or their run timed out): whoever
                // reads them after "scan stored" finds this scan there.
                if let Some(h) = &self.hooks {
                    h.settled().await;
                }
                return finished.map(|r| (r, !started));
            }
            // Another scan was running: now run ours.
        }
    }

    /// Spawns the scan task. Called with `current` locked, so the task (which clears it when
    /// done) cannot finish before it is recorded.
    fn start(
        self: &Arc<Self>,
        key: Key,
        selected: Vec<&'static dyn Collector>,
        trigger: Trigger,
    ) -> Running {
        let progress = Arc::new(Mutex::new(ScanProgress {
            started_at: Utc::now(),
            trigger: trigger.as_str().to_string(),
            label: key.label.clone(),
            done: 0,
            total: selected.len(),
            last: None,
        }));
        let (tx, rx) = watch::channel(None);
        let this = self.clone();
        let shown = progress.clone();
        let on_progress: ProgressFn = Arc::new(move |p: &Progress| {
            let mut s = lock(&shown);
            s.done = p.done;
            s.last = Some(p.collector.to_string());
            notify::status(&format!("scanning {}/{}: {}", p.done, p.total, p.collector));
        });
        let label = key.label.clone();
        notify::status(&format!("scanning 0/{}", selected.len()));
        tracing::info!(
            trigger = trigger.as_str(),
            label = label.as_deref().unwrap_or(""),
            collectors = selected.len(),
            "scan started"
        );
        let task = tokio::spawn(async move {
            // Clears `current` and answers the waiters however the task ends (panic included).
            let guard = Finish {
                scans: this.clone(),
                tx: Some(tx),
            };
            let began = std::time::Instant::now();
            let result = this
                .engine
                .scan_triggered(label, selected, on_progress, trigger.as_str())
                .await;
            #[cfg(test)]
            if this.panic_in_task.swap(false, Ordering::SeqCst) {
                panic!("failpoint: the scan task panics");
            }
            // The snapshots are gone by now; hand their heap back to the system so an idle
            // daemon does not sit on a scan's peak (28 MB instead of 10 MB, measured).
            crate::engine::release_freed_memory();
            let finished: Finished = match result {
                Ok(r) => {
                    // The scan's entry and its epoch's seal, before anything leaves the host
                    // (hooks, mail), so what leaves carries a checkpoint that covers the scan.
                    if let Some(s) = &this.sealer
                        && let Some(cp) = s.seal_logged(&[(r.info.id, trigger.as_str())]).await
                        && let Some(h) = &this.hooks
                    {
                        h.set_checkpoint(cp);
                    }
                    this.record(&r, trigger);
                    let r = Arc::new(r);
                    // Handed to the hooks' thread: a slow or stuck hook never holds the scan.
                    if let Some(h) = &this.hooks {
                        h.after_scan(Some(r.clone()), r.elapsed);
                    }
                    if let Some(f) = &this.fleet {
                        f.after_scan(&r).await;
                    }
                    // Last: the report (mail, or marked reported), whoever asked for the scan:
                    // the schedule, a route or a targeted request. A caller that joined a
                    // running scan gets the same result, reported once.
                    if let Some(mail) = &this.mail {
                        super::mail::after_scan(mail.as_deref(), this.engine(), &r).await;
                    }
                    Ok(r)
                }
                Err(e) => {
                    tracing::error!(trigger = trigger.as_str(), "scan failed: {e}");
                    if let Some(h) = &this.hooks {
                        h.after_scan(None, began.elapsed());
                    }
                    Err(e.into())
                }
            };
            guard.finish(finished);
        });
        Running {
            key,
            progress,
            done: rx,
            abort: task.abort_handle(),
        }
    }

    /// Counts a scheduled scan skipped while `running` runs, and warns.
    fn skip(&self, running: &ScanProgress) {
        let reason = format!(
            "the scan started {} by {} was still running",
            running
                .started_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            running.trigger
        );
        let mut skipped = lock(&self.skipped);
        let count = skipped.as_ref().map_or(0, |s| s.count) + 1;
        tracing::warn!(
            skipped = count,
            "scheduled scan skipped: {reason} ({count} skipped since dawgmond started; a scan \
             that outlasts the schedule's period thins it out: see dawgctl status)"
        );
        *skipped = Some(SkippedScans {
            count,
            last_at: Utc::now(),
            reason,
        });
    }

    /// Logs a finished scan and remembers what a scheduled one found.
    fn record(&self, r: &ScanResult, trigger: Trigger) {
        // The fields become journal fields (SCAN_ID=42, SEVERITY=high, COLLECTOR=...), so
        // `journalctl -u dawgmond SCAN_ID=42` shows a scan and each change it found.
        let id = r.info.id;
        tracing::info!(
            scan_id = id,
            trigger = trigger.as_str(),
            label = r.info.label.as_deref().unwrap_or(""),
            changes = r.report.changes.len(),
            warnings = r.report.warnings.len(),
            severity = r.report.max_severity().map(|s| s.as_str()).unwrap_or(""),
            items = r.items,
            elapsed_ms = r.elapsed.as_millis() as u64,
            "scan {id} stored: {}",
            crate::report::headline(r.report.changes.len(), r.report.warnings.len())
        );
        for c in r.report.changes.iter().take(MAX_LOGGED_CHANGES) {
            tracing::info!(
                scan_id = id,
                collector = c.collector.as_str(),
                severity = c.severity.as_str(),
                kind = c.kind.as_str(),
                key = c.key.as_str(),
                "{}",
                c.message
            );
        }
        if r.report.changes.len() > MAX_LOGGED_CHANGES {
            tracing::info!(
                scan_id = id,
                "{} more changes not logged: dawgctl diff --to {id}",
                r.report.changes.len() - MAX_LOGGED_CHANGES
            );
        }
        for w in &r.report.warnings {
            tracing::warn!(
                scan_id = id,
                collector = w.collector.as_str(),
                "{}",
                w.message
            );
        }
        if trigger == Trigger::Schedule {
            *lock(&self.last_scheduled) = Some(ScanSummary {
                id: r.info.id,
                finished_at: r.info.finished_at,
                changes: r.report.changes.len(),
                warnings: r.report.warnings.len(),
            });
        }
    }

    /// Whether the next scan's time is kept out of the status line (a random delay is in force).
    pub fn set_next_scan_secret(&self, secret: bool) {
        self.next_scan_secret.store(secret, Ordering::Relaxed);
    }

    /// The status line between scans: "idle; next scan 14:07", or without the time when it was
    /// drawn at random (`systemctl status` shows this line to every user).
    pub fn idle_status(&self) -> String {
        match *lock(&self.next_scan) {
            Some(_) if self.next_scan_secret.load(Ordering::Relaxed) => {
                "idle; next scan at a random time (dawgctl status shows it)".to_string()
            }
            Some(t) => format!(
                "idle; next scan {}",
                t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S")
            ),
            None => "idle; scheduled scans are off".to_string(),
        }
    }

    /// Stops taking scans; waits up to `grace` for a running one to be stored, then abandons it
    /// (nothing of it is stored: the store saves a scan in one transaction). Returns true when
    /// a scan was abandoned.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let running = {
            let current = lock(&self.current);
            self.stopping.store(true, Ordering::SeqCst);
            current.as_ref().map(|r| (r.done.clone(), r.abort.clone()))
        };
        let Some((mut done, abort)) = running else {
            self.settle_hooks(grace).await;
            return false;
        };
        tracing::info!("waiting up to {grace:?} for the running scan");
        if tokio::time::timeout(grace, done.wait_for(|f| f.is_some()))
            .await
            .is_ok()
        {
            self.settle_hooks(grace).await;
            return false;
        }
        abort.abort();
        tracing::warn!("abandoned the running scan; it was not stored");
        true
    }

    /// Lets the hooks write the last scan's files before the daemon exits (up to `grace`).
    async fn settle_hooks(&self, grace: Duration) {
        if let Some(h) = &self.hooks {
            let _ = tokio::time::timeout(grace, h.settled()).await;
        }
    }
}

/// Ends a scan task: clears the running scan and tells its waiters how it ended. Dropped
/// without [`Finish::finish`] (the task panicked, or was aborted by [`Scans::shutdown`]), it
/// reports a failure, or `Stopping` when the daemon stops, so the daemon never stays "busy".
struct Finish {
    scans: Arc<Scans>,
    tx: Option<watch::Sender<Option<Finished>>>,
}

impl Finish {
    fn finish(mut self, finished: Finished) {
        self.end(finished);
    }

    fn end(&mut self, finished: Finished) {
        let Some(tx) = self.tx.take() else { return };
        // Clear before telling the waiters, so one that wants another scan can start it.
        *lock(&self.scans.current) = None;
        let _ = tx.send(Some(finished));
        notify::status(&self.scans.idle_status());
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.tx.is_none() {
            return;
        }
        let why = if self.scans.stopping.load(Ordering::SeqCst) {
            ScanError::Stopping
        } else {
            tracing::error!("the scan task panicked");
            ScanError::Failed(Arc::new(Error::Internal(
                "the scan task panicked (see the daemon log: journalctl -u dawgmond); \
                 run the scan again"
                    .into(),
            )))
        };
        self.end(Err(why));
    }
}

#[cfg(test)]
mod tests;

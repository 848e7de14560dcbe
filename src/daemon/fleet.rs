//! The daemon's fleet push: every scan it stores is queued in the local fleet outbox and sent
//! to the fleet store (`[fleet]`) by one task, in scan order, exactly once.
//!
//! - After each stored scan (scheduled or requested) [`DaemonFleet::after_scan`] queues it,
//!   and any scan stored meanwhile by `dawgctl --local`, as the JSON it will send, before the
//!   scan is answered; then it wakes the task. The first scan ever queued carries the host's
//!   whole state (its items), which the fleet store keeps as the host's current state.
//! - The task sends the oldest unsent scan, then the next. A failure (PostgreSQL down, slow,
//!   refusing, a schema too new) is logged with its fix, kept in the outbox and retried with
//!   the outbox's backoff (1 min ... 1 h), and at the next scan at the latest; nothing behind
//!   it goes first, and nothing is ever dropped. `dawgctl status` shows the backlog.
//! - A send has a deadline ([`SEND_TIMEOUT`]); a stopping daemon waits briefly for a send in
//!   progress, else abandons it (the transaction rolls back, the scan is sent again later).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::api::FleetStatus;
use crate::config::Config;
use crate::engine::{Engine, ScanResult};
use crate::fleet::connect::{self, Who};
use crate::fleet::push::{self, Identity, Push};
use crate::fleet::{FleetConfig, FleetError};
use crate::store::ScanInfo;

/// How long one scan's push may take (connect, send, commit).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest the task sleeps between looks at the outbox.
pub const POLL: Duration = Duration::from_secs(60);
/// Sent rows are kept this long.
pub const KEEP_SENT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The daemon's fleet push.
pub struct DaemonFleet {
    config: FleetConfig,
    engine: Engine,
    /// Where to, for status and messages.
    to: String,
    schedule: Option<String>,
    wake: Notify,
    stopping: AtomicBool,
    queueing: tokio::sync::Mutex<()>,
}

/// The seconds between two runs of a cron schedule (the longest of the next few gaps).
pub fn schedule_secs(expr: &str) -> Option<i64> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr)
        .ok()?;
    let mut t = Utc::now();
    let mut longest = 0i64;
    for _ in 0..8 {
        let next = cron.find_next_occurrence(&t, false).ok()?;
        longest = longest.max((next - t).num_seconds());
        t = next;
    }
    (longest > 0).then_some(longest)
}

impl DaemonFleet {
    /// The fleet push of `config` (its `[fleet]` table checked: the password file must be
    /// readable, so a wrong path stops the daemon at start-up rather than queueing forever).
    pub fn new(config: &Config, engine: Engine) -> Result<Option<Arc<DaemonFleet>>, FleetError> {
        let Some(fleet) = &config.fleet else {
            return Ok(None);
        };
        let opts = fleet.connect_options()?;
        Ok(Some(Arc::new(DaemonFleet {
            config: fleet.clone(),
            engine,
            to: connect::describe(&opts),
            schedule: config.schedule.0.clone(),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            queueing: tokio::sync::Mutex::new(()),
        })))
    }

    fn identity(&self) -> Identity {
        push::identity(
            &self.engine.root,
            self.config.host.as_deref(),
            crate::engine::hostname(&self.engine.root),
        )
    }

    /// Queues `result` (and the scans stored since the last one queued) and wakes the task.
    /// Never fails: an error is logged, and the scans are queued after the next scan.
    pub async fn after_scan(&self, result: &ScanResult) {
        if let Err(e) = self.queue(Some(result)).await {
            tracing::error!(
                "cannot queue scan {} for the fleet store: {e}",
                result.info.id
            );
        }
        if let Err(e) = self.engine.store.fleet_retry_now(Utc::now()).await {
            tracing::warn!("cannot reschedule the fleet outbox: {e}");
        }
        self.wake.notify_one();
    }

    async fn queue(&self, known: Option<&ScanResult>) -> Result<(), FleetError> {
        let _one = self.queueing.lock().await;
        let store = &self.engine.store;
        let who = self.identity();
        let every = self.schedule.as_deref().and_then(schedule_secs);
        let last = store.fleet_last_queued().await?;
        let Some(last) = last else {
            // The first scan ever queued: only this one (no history before the fleet).
            if let Some(r) = known {
                let p = Push::of(&r.info, &r.report, &r.unavailable, &who, every, None);
                self.enqueue(&p, true).await?;
            }
            return Ok(());
        };
        // Scans stored since (dawgctl --local), then the known one, in id order.
        let mut missed: Vec<ScanInfo> = Vec::new();
        let upto = known.map(|r| r.info.id).unwrap_or(i64::MAX);
        for info in store.list(1000, 0).await? {
            if info.id > last && info.id < upto {
                missed.push(info);
            }
        }
        missed.sort_by_key(|i| i.id);
        for info in missed {
            let stored = self
                .engine
                .report_stored(&info)
                .await
                .map_err(|e| FleetError::Config(e.to_string()))?;
            let p = Push::of(&info, &stored.report, &[], &who, every, None);
            self.enqueue(&p, false).await?;
        }
        if let Some(r) = known.filter(|r| r.info.id > last) {
            let p = Push::of(&r.info, &r.report, &r.unavailable, &who, every, None);
            self.enqueue(&p, false).await?;
        }
        Ok(())
    }

    async fn enqueue(&self, p: &Push, baseline: bool) -> Result<(), FleetError> {
        let json = serde_json::to_vec(p).map_err(|e| FleetError::Config(e.to_string()))?;
        self.engine
            .store
            .fleet_enqueue(p.scan_id, &json, baseline, Utc::now())
            .await?;
        Ok(())
    }

    /// Where scans go: role@host:port/database.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// What `status` shows.
    pub async fn status(&self) -> FleetStatus {
        FleetStatus {
            to: self.to.clone(),
            backlog: self.engine.store.fleet_backlog().await.unwrap_or_default(),
        }
    }

    /// Sends the due scans, oldest first, until one fails or none is due. Returns how long
    /// to sleep.
    async fn deliver(&self) -> Duration {
        let store = &self.engine.store;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return POLL;
            }
            let item = match store.fleet_next().await {
                Ok(Some(item)) => item,
                Ok(None) => return POLL,
                Err(e) => {
                    tracing::error!("cannot read the fleet outbox: {e}");
                    return POLL;
                }
            };
            let now = Utc::now();
            if item.next_attempt_at > now {
                return (item.next_attempt_at - now)
                    .to_std()
                    .unwrap_or(POLL)
                    .min(POLL);
            }
            let sent = tokio::time::timeout(SEND_TIMEOUT, self.send(&item)).await;
            let result = match sent {
                Ok(r) => r,
                Err(_) => Err(FleetError::Server {
                    url: self.to.clone(),
                    message: format!(
                        "sending took over {} s: is the server overloaded?",
                        SEND_TIMEOUT.as_secs()
                    ),
                }),
            };
            match result {
                Ok(new) => {
                    if let Err(e) = store.fleet_mark_sent(item.scan_id, Utc::now()).await {
                        tracing::error!("cannot mark scan {} sent: {e}", item.scan_id);
                        return POLL;
                    }
                    tracing::debug!(scan_id = item.scan_id, new, "scan sent to the fleet store");
                    let keep = chrono::Duration::from_std(KEEP_SENT).unwrap_or_default();
                    let _ = store.fleet_prune(Utc::now() - keep).await;
                }
                Err(e) => {
                    let message = e.to_string();
                    let next = store
                        .fleet_mark_failed(item.scan_id, &message, Utc::now())
                        .await;
                    tracing::warn!(
                        scan_id = item.scan_id,
                        attempts = item.attempts + 1,
                        "cannot send to the fleet store (kept, retried {}): {message}",
                        next.map(|n| n.format("%H:%M:%S").to_string())
                            .unwrap_or_else(|_| "later".into())
                    );
                    return Duration::from_secs(1);
                }
            }
        }
    }

    async fn send(&self, item: &crate::store::FleetItem) -> Result<bool, FleetError> {
        let p: Push = serde_json::from_slice(&item.payload)
            .map_err(|e| FleetError::Config(format!("queued scan {}: {e}", item.scan_id)))?;
        let state = if item.baseline {
            match self.engine.store.load(item.scan_id).await {
                Ok(s) => Some(s),
                Err(crate::error::StoreError::NotFound(_)) => {
                    tracing::warn!(
                        scan_id = item.scan_id,
                        "the first scan for the fleet store was pruned before it was sent; \
                         the fleet's current state of this host starts from its changes"
                    );
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let opts = self.config.connect_options()?;
        let mut conn = connect::connect(&opts, Who::Host).await?;
        let r = push::send(&mut conn, &self.to, &p, state.as_ref()).await;
        connect::close(conn).await;
        r
    }

    /// Starts the task: sends at once, then whenever woken, a retry is due or [`POLL`] passed.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            // Scans stored while no daemon ran; and everything waiting is due now (a restart
            // often follows a fixed [fleet] table).
            if let Err(e) = this.queue(None).await {
                tracing::error!("cannot queue stored scans for the fleet store: {e}");
            }
            if let Err(e) = this.engine.store.fleet_retry_now(Utc::now()).await {
                tracing::warn!("cannot reschedule the fleet outbox: {e}");
            }
            while !this.stopping.load(Ordering::SeqCst) {
                let idle = this.deliver().await.max(Duration::from_millis(200));
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = this.wake.notified() => {}
                }
            }
        })
    }

    /// Stops the task, giving a send in progress `grace`.
    pub async fn stop(&self, task: JoinHandle<()>, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let abort = task.abort_handle();
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!("abandoned a fleet push in progress; it is sent again later");
            abort.abort();
        }
    }
}

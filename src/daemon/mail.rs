//! Mail in the daemon: the [`Mailer`] built at start-up, reports queued after each scan the
//! daemon runs, and one delivery task that sends the outbox.
//!
//! - Start-up builds the mailer (a bad `[mail]` table or an unreadable password file refuses to
//!   start), makes every waiting report due and delivers: reports left from before a restart go
//!   out at once.
//! - After each scan, scheduled or requested, [`DaemonMail::after_scan`] writes the report to
//!   the outbox (a quick database write, in the scan job) and wakes the delivery task. A scan is
//!   also a retry point: every waiting report is made due, so reports arrive in order
//!   and a mail server that came back is used at the next scan at the latest, whatever the
//!   backoff says. Between scans the backoff of the outbox (1 min, 2, 4, ... 1 h) applies.
//! - The delivery task wakes when the next retry comes due (at most 60 s apart) or when woken,
//!   and sends under a mutex, so two deliveries never race. It runs on its own: a slow or dead
//!   server never delays a scan. Failures are logged (warn, with the attempt count) and kept in
//!   the outbox; nothing here stops the daemon.
//! - Scans requested through the API (`dawgctl scan`, `baseline`, `diff` without `--to`) are
//!   mailed like scheduled ones (see `server::scan`): the next scan compares with the newest
//!   one, so a change first seen by a requested scan would otherwise never be mailed, and anyone
//!   in the admin group could keep a change out of the reports by scanning first. A request that
//!   joined a running scan queues nothing more: that scan is mailed once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use crate::api;
use crate::engine::ScanResult;
use crate::error::MailError;
use crate::mail::{self, MailConfig, Mailer, TransportKind};
use crate::store::Store;

/// The longest the delivery task sleeps between two looks at the outbox.
pub const POLL: Duration = Duration::from_secs(60);

/// The daemon's mail: configuration, transport and the delivery task's controls.
pub struct DaemonMail {
    pub config: MailConfig,
    pub mailer: Mailer,
    store: Store,
    /// Held while delivering: one delivery at a time.
    delivering: Mutex<()>,
    /// Wakes the delivery task.
    wake: Notify,
    /// Set by a scheduled scan: make every waiting report due before the next delivery.
    retry_all: AtomicBool,
    stopping: AtomicBool,
}

impl DaemonMail {
    /// The daemon's mail over `mailer` (built from `config` by [`Mailer::new`], which reads
    /// the SMTP password: its error is what `dawgmond` refuses to start with).
    pub fn new(config: MailConfig, mailer: Mailer, store: Store) -> Arc<DaemonMail> {
        Arc::new(DaemonMail {
            config,
            mailer,
            store,
            delivering: Mutex::new(()),
            wake: Notify::new(),
            // Start-up retries everything once: reports left from before a restart go out.
            retry_all: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
        })
    }

    /// What `GET /v1/status` says about the configuration.
    pub fn status(&self) -> api::MailStatus {
        api::MailStatus {
            transport: match self.config.transport {
                TransportKind::Smtp => "smtp",
                TransportKind::Sendmail => "sendmail",
            }
            .to_string(),
            via: self.mailer.via().to_string(),
            to: self.config.to.clone(),
            send: serde_json::to_value(self.config.send)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        }
    }

    /// Queues the report of a scan (if it calls for one) and wakes the delivery task. Every scan
    /// the daemon runs comes here, scheduled or requested.
    /// Never fails: a database error is logged, and the scan is stored either way.
    pub async fn after_scan(&self, result: &ScanResult) {
        match mail::queue_report(&self.store, &self.config, result, &result.info.hostname).await {
            Ok(Some(id)) => tracing::info!(id, scan = result.info.id, "report queued for mail"),
            Ok(None) => {}
            Err(e) => tracing::error!(scan = result.info.id, "cannot queue the mail report: {e}"),
        }
        self.retry_all.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Sends what is due (everything, after a scan or at start-up), one delivery at a
    /// time.
    pub async fn deliver(&self) {
        let _one = self.delivering.lock().await;
        if self.retry_all.swap(false, Ordering::SeqCst) {
            match self.store.outbox_retry_now(Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!("retrying {n} waiting mail report(s) now"),
                Err(e) => tracing::error!("cannot reschedule the outbox: {e}"),
            }
        }
        match mail::deliver_due(&self.store, &self.mailer).await {
            Ok(s) if s.sent + s.failed > 0 => {
                tracing::debug!(sent = s.sent, failed = s.failed, "mail delivery done")
            }
            Ok(_) => {}
            Err(e) => tracing::error!("mail delivery stopped: {e}"),
        }
    }

    /// How long the delivery task may sleep: until the next retry is due, at most [`POLL`].
    async fn idle_time(&self) -> Duration {
        match self.store.outbox_summary().await {
            Ok(s) if s.pending > 0 => match s.next_attempt_at {
                Some(next) => (next - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(POLL),
                None => POLL,
            },
            Ok(_) => POLL,
            Err(e) => {
                tracing::warn!("cannot read the outbox: {e}");
                POLL
            }
        }
    }

    /// Starts the delivery task: it delivers at once (start-up), then whenever woken or a retry
    /// comes due.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while !this.stopping.load(Ordering::SeqCst) {
                this.deliver().await;
                // A small floor, so that a retry due "now" that failed again cannot spin.
                let idle = this.idle_time().await.max(Duration::from_millis(200));
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = this.wake.notified() => {}
                }
            }
        })
    }

    /// Stops the delivery task: a delivery in progress gets `grace` to finish (so a message the
    /// server accepted is marked sent), then is abandoned (its messages are retried after the
    /// outbox's lease).
    pub async fn stop(&self, task: JoinHandle<()>, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let abort = task.abort_handle();
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!("abandoned a mail delivery in progress; it is retried later");
            abort.abort();
        }
    }

    /// `POST /v1/mail/test`: a test message now, not through the outbox.
    pub async fn send_test(&self, host: &str) -> Result<String, MailError> {
        mail::send_test(&self.mailer, host).await
    }
}

//! Mail in the daemon: the [`Mailer`] built at start-up, every stored scan reported once, and
//! one delivery task that sends the outbox.
//!
//! - Start-up builds the mailer (a bad `[mail]` table or an unreadable password file refuses to
//!   start). The delivery task then reports every scan not reported yet (stored by
//!   `dawgctl --local`, or by this daemon just before it stopped), makes every waiting report
//!   due and delivers: reports left from before a restart go out at once.
//! - After each scan the daemon runs, scheduled or requested, [`DaemonMail::after_scan`]
//!   reports it and any earlier unreported scan, in id order (see
//!   [`crate::mail::report_unreported`]: the outbox row and the scan's `reported` mark are
//!   written in one transaction), and wakes the delivery task. Requested scans are mailed too:
//!   the next scheduled scan compares with them, so their changes would otherwise never be
//!   mailed. A scheduled scan is also a retry point: every waiting report is made due, so
//!   reports arrive in order and a mail server that came back is used at the next scan at the
//!   latest, whatever the backoff says. Between scans the backoff of the outbox (1 min, 2, 4,
//!   ... 1 h) applies, until a message is given up.
//! - The delivery task wakes when the next retry comes due or when woken, and at least every
//!   [`POLL`]; each time it first reports scans stored meanwhile by someone else
//!   (`dawgctl --local`), then sends, under mutexes, so two deliveries never race and reports
//!   are queued in scan order. It runs on its own: a slow or dead server never delays a scan,
//!   and every send has a deadline. Failures are logged (warn, with the attempt count) and kept
//!   in the outbox; nothing here stops the daemon.
//! - Without mail ([`report_without_mail`]), scans are marked reported at the same points
//!   without a message: turning mail on later does not mail old scans.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use crate::api;
use crate::engine::{Engine, ScanResult};
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
    /// The scans' store and root, to compute reports of scans the daemon did not run.
    engine: Engine,
    /// Held while reporting scans: one at a time, in id order.
    reporting: Mutex<()>,
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
    /// the SMTP password: its error is what `dawgmond` refuses to start with), reporting the
    /// scans of `engine`'s store.
    pub fn new(config: MailConfig, mailer: Mailer, engine: Engine) -> Arc<DaemonMail> {
        Arc::new(DaemonMail {
            config,
            mailer,
            store: engine.store.clone(),
            engine,
            reporting: Mutex::new(()),
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

    /// Reports a scan the daemon ran (and any earlier scan not reported yet) and wakes the
    /// delivery task. Every scan the daemon runs comes here, scheduled or requested.
    /// Never fails: a database error is logged (the scans it left unreported are reported by
    /// the delivery task's next round), and the scan is stored either way.
    pub async fn after_scan(&self, result: &ScanResult) {
        self.report(Some(result)).await;
        self.retry_all.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Reports every scan not reported yet, one run at a time.
    async fn report(&self, known: Option<&ScanResult>) {
        let _one = self.reporting.lock().await;
        match mail::report_unreported(&self.engine, Some(&self.config), known).await {
            Ok(s) if s.reported > 0 => {
                tracing::debug!(scans = s.reported, queued = s.queued, "scans reported")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(
                "cannot report the stored scans (tried again within {} s): {e}",
                POLL.as_secs()
            ),
        }
    }

    /// Sends what is due (everything, after a scheduled scan or at start-up), one delivery at a
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

    /// Starts the delivery task: it reports scans not reported yet and delivers at once
    /// (start-up), then whenever woken, a retry comes due or [`POLL`] passed.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while !this.stopping.load(Ordering::SeqCst) {
                this.report(None).await;
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

/// After a scan, at start-up: with mail, [`DaemonMail::after_scan`]; without, marks every
/// stored scan reported (no message), so that turning mail on later does not mail old scans.
pub async fn after_scan(mail: Option<&DaemonMail>, engine: &Engine, result: &ScanResult) {
    match mail {
        Some(m) => m.after_scan(result).await,
        None => report_without_mail(engine).await,
    }
}

/// Marks every stored scan reported without mail (mail is not configured). Never fails: an
/// error is logged.
pub async fn report_without_mail(engine: &Engine) {
    match mail::report_unreported(engine, None, None).await {
        Ok(s) if s.reported > 0 => tracing::debug!(
            scans = s.reported,
            "scans marked reported without mail (no [mail] table)"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!("cannot mark the stored scans reported: {e}"),
    }
}

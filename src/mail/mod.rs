//! E-mailed change reports that are never lost.
//!
//! After each scan it runs (scheduled or requested) the daemon calls [`queue_report`], which decides from the `[mail]`
//! configuration whether the scan deserves a message ([`decide`]), renders it (pure,
//! [`render`]) and writes it to the outbox table of the store. [`deliver_due`] then sends every
//! due outbox message through a [`Mailer`], marking each sent only once the server accepted it,
//! or failed with a backoff (1 min, 2, 4, ... 1 h). Because the outbox is in the database,
//! retries survive restarts; [`crate::store::Store::outbox_summary`] feeds `dawgctl status`.
//! [`send_test`] is `dawgctl mail test`.
//!
//! The first scan on an empty database is a baseline: it yields at most a short "monitoring
//! started" note ([`render::started_note`]), never the inventory.

mod config;
pub mod render;
mod transport;

use std::time::Duration;

use chrono::Utc;
use lettre::Message;
use lettre::message::header::ContentType;

pub use config::{
    DEFAULT_MAX_LINES, DEFAULT_SENDMAIL, DEFAULT_SUBJECT, MailConfig, PLACEHOLDERS, SendPolicy,
    SendmailConfig, SmtpConfig, TlsMode, TransportKind,
};
pub use render::{RenderOptions, Rendered, render, started_note};
pub use transport::Mailer;

use crate::engine::ScanResult;
pub use crate::error::MailError;
use crate::report::Report;
use crate::store::{NewMail, Store};

/// How long a claimed message is reserved for the deliverer that claimed it.
const LEASE: Duration = Duration::from_secs(15 * 60);

/// What a scan's report calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No message.
    Skip,
    /// The short "monitoring started" note (first scan on an empty database).
    StartedNote,
    /// The change report.
    Report,
}

/// Whether (and what) to mail for `report`, by `send` and `min_severity`:
/// - `never`: nothing, ever;
/// - the first scan (nothing to compare with): the short note;
/// - `always`: the report after every scan, even an unchanged one;
/// - `changes` (default): the report when some change is at or above `min_severity`
///   (warnings alone do not trigger a message; they ride along with the changes).
pub fn decide(cfg: &MailConfig, report: &Report) -> Decision {
    match cfg.send {
        SendPolicy::Never => Decision::Skip,
        _ if report.from.is_none() => Decision::StartedNote,
        SendPolicy::Always => Decision::Report,
        SendPolicy::Changes => match report.max_severity() {
            Some(s) if s >= cfg.min_severity => Decision::Report,
            _ => Decision::Skip,
        },
    }
}

/// Called by the daemon after each scan it runs: writes the scan's message to the outbox if
/// [`decide`] calls for one. Returns the outbox id. Nothing is sent here; call
/// [`deliver_due`] next.
pub async fn queue_report(
    store: &Store,
    cfg: &MailConfig,
    result: &ScanResult,
    host: &str,
) -> Result<Option<i64>, MailError> {
    let report = &result.report;
    let rendered = match decide(cfg, report) {
        Decision::Skip => return Ok(None),
        Decision::StartedNote => started_note(host, &report.to, result.items, &report.warnings),
        Decision::Report => render(report, host, RenderOptions::from_config(cfg)),
    };
    let mail = NewMail {
        scan_id: Some(report.to.id),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: Some(rendered.html),
        recipients: cfg.to.clone(),
    };
    let id = store.outbox_enqueue(&mail, Utc::now()).await?;
    tracing::debug!(id, scan = report.to.id, "report queued for mail");
    Ok(Some(id))
}

/// What one [`deliver_due`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Messages the server accepted.
    pub sent: usize,
    /// Messages that failed this time (they stay in the outbox, retried later).
    pub failed: usize,
}

/// Sends every due outbox message, oldest first, marking each sent once the server accepted it
/// or failed (with the error and the next attempt). Failures are logged (warn) with the attempt
/// count; they are not an error of this function, which fails only if the database does.
pub async fn deliver_due(store: &Store, mailer: &Mailer) -> Result<DeliveryStats, MailError> {
    let mut stats = DeliveryStats::default();
    for mail in store.outbox_claim_due(Utc::now(), LEASE).await? {
        match mailer.send_outbox(&mail).await {
            Ok(answer) => {
                store.outbox_mark_sent(mail.id, Utc::now()).await?;
                tracing::info!(id = mail.id, scan = mail.scan_id, %answer, "mail sent: {}", mail.subject);
                stats.sent += 1;
            }
            Err(e) => {
                let error = e.to_string();
                let now = Utc::now();
                let after = store.outbox_mark_failed(mail.id, &error, now).await?;
                tracing::warn!(
                    id = mail.id,
                    scan = mail.scan_id,
                    attempts = after.attempts,
                    "mail not sent (attempt {}), next attempt at {}: {error}",
                    after.attempts,
                    after.next_attempt_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                stats.failed += 1;
            }
        }
    }
    if stats.sent > 0 {
        let keep = chrono::Duration::from_std(crate::store::KEEP_SENT).expect("fits");
        store.outbox_prune(Utc::now() - keep).await?;
    }
    Ok(stats)
}

/// `dawgctl mail test`: sends a short message to the configured recipients at once (not
/// through the outbox) and returns the server's answer, or the exact failure.
pub async fn send_test(mailer: &Mailer, host: &str) -> Result<String, MailError> {
    let mut b = Message::builder()
        .from(mailer.from().clone())
        .subject(format!("[dawgmon] test message from {host}"))
        .date_now()
        .header(ContentType::TEXT_PLAIN);
    for to in mailer.recipients() {
        b = b.to(to.clone());
    }
    let body = format!(
        "This is a test message from dawgmon on {host}, sent by `dawgctl mail test` through the {}.\n\
         Change reports will reach you the same way.\n",
        mailer.via()
    );
    let message = b.body(body).map_err(|e| MailError::Build {
        id: 0,
        message: e.to_string(),
    })?;
    mailer.send(message).await
}

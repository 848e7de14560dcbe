//! E-mailed change reports that are never lost, nor sent twice.
//!
//! Every stored scan is reported exactly once, whoever stored it: the daemon calls
//! [`report_unreported`] after each scan it runs, at start-up and while idle, which takes the
//! scans not reported yet in id order (those `dawgctl --local` stored, or one stored just before
//! the daemon stopped, too), computes each one's report against the scan before it, decides from
//! the `[mail]` configuration whether it deserves a message ([`decide`]), renders it (pure,
//! [`render`]), and in one transaction writes it to the outbox table and marks the scan
//! reported. Without mail (no `[mail]` table, or `send = "never"`) scans are marked reported
//! without a message: mail that is off does not pile up for later.
//!
//! [`deliver_due`] then sends every due outbox message through a [`Mailer`], marking each sent
//! only once the server accepted it, or failed with a backoff (1 min, 2, 4, ... 1 h). A message
//! refused permanently (SMTP 5xx) three times, or unsent after 7 days, is given up (see
//! [`crate::store::PERMANENT_ATTEMPTS`]). Because the outbox is in the database, retries survive
//! restarts; [`crate::store::Store::outbox_summary`] feeds `dawgctl status`. [`send_test`] is
//! `dawgctl mail test`; [`queue_report`] writes one scan's message directly.
//!
//! The first scan on an empty database is a baseline: it yields at most a short "monitoring
//! started" note ([`render::started_note`]), never the inventory.

pub mod render;
mod transport;

use std::time::Duration;

use chrono::Utc;
use lettre::Message;
use lettre::message::header::ContentType;

pub use crate::config::mail::{
    DEFAULT_MAX_LINES, DEFAULT_SENDMAIL, DEFAULT_SENDMAIL_TIMEOUT, DEFAULT_SUBJECT, MailConfig,
    PLACEHOLDERS, SendPolicy, SendmailConfig, SmtpConfig, TlsMode, TransportKind,
};
pub use render::{RenderOptions, Rendered, render, started_note};
pub use transport::Mailer;

use crate::engine::{Engine, ScanResult};
pub use crate::error::MailError;
use crate::error::{Error, StoreError};
use crate::report::Report;
use crate::store::{Marked, NewMail, ScanInfo, Store};

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

/// The outbox message a scan's report calls for under `cfg`, if any ([`decide`]). `items`
/// (what a first scan recorded) goes into the "monitoring started" note.
pub fn report_mail(cfg: &MailConfig, report: &Report, items: usize, host: &str) -> Option<NewMail> {
    let rendered = match decide(cfg, report) {
        Decision::Skip => return None,
        Decision::StartedNote => started_note(host, &report.to, items, &report.warnings),
        Decision::Report => render(report, host, RenderOptions::from_config(cfg)),
    };
    Some(NewMail {
        scan_id: Some(report.to.id),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: Some(rendered.html),
        recipients: cfg.to.clone(),
    })
}

/// Writes the message of one scan to the outbox if [`decide`] calls for one, without marking
/// the scan reported (the daemon uses [`report_unreported`]). Returns the outbox id. Nothing is
/// sent here; call [`deliver_due`] next.
pub async fn queue_report(
    store: &Store,
    cfg: &MailConfig,
    result: &ScanResult,
    host: &str,
) -> Result<Option<i64>, MailError> {
    let Some(mail) = report_mail(cfg, &result.report, result.items, host) else {
        return Ok(None);
    };
    let id = store.outbox_enqueue(&mail, Utc::now()).await?;
    tracing::debug!(id, scan = result.report.to.id, "report queued for mail");
    Ok(Some(id))
}

/// What one [`report_unreported`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportStats {
    /// Scans marked reported.
    pub reported: usize,
    /// Of them, those whose message went to the outbox.
    pub queued: usize,
}

/// Reports every scan not reported yet, oldest first: computes its report against the scan
/// before it ([`Engine::report_stored`]; `known` is a result the caller already has, used
/// instead of computing it again), and writes its message (if `cfg` calls for one) to the
/// outbox and marks the scan reported in one transaction. With `cfg` `None` (mail not
/// configured) or `send = "never"`, marks every scan reported without mail. Either way it
/// first deletes the messages sent or given up more than 30 days ago.
///
/// Run it from one task at a time to keep the messages in scan order; a concurrent run cannot
/// queue a scan twice (see [`Store::mark_reported`]). A scan pruned meanwhile is skipped; any
/// other failure stops the run, and the scans left are reported by the next one.
pub async fn report_unreported(
    engine: &Engine,
    cfg: Option<&MailConfig>,
    known: Option<&ScanResult>,
) -> Result<ReportStats, Error> {
    let store = &engine.store;
    let mut stats = ReportStats::default();
    // Sent and given-up messages go after [`crate::store::KEEP_SENT`], also when nothing is
    // sent any more (mail turned off, or every message refused).
    let keep = chrono::Duration::from_std(crate::store::KEEP_SENT).expect("fits");
    store.outbox_prune(Utc::now() - keep).await?;
    let Some(cfg) = cfg.filter(|c| c.send != SendPolicy::Never) else {
        stats.reported = store.mark_all_reported(Utc::now()).await? as usize;
        return Ok(stats);
    };
    // Every report carries the latest sealed checkpoint (docs/trust.md).
    let checkpoint = store.latest_seal().await?.map(|cp| cp.to_line());
    for scan in store.unreported().await? {
        let mut mail = match known.filter(|k| k.info.id == scan.id) {
            Some(k) => report_mail(cfg, &k.report, k.items, &scan.hostname),
            None => match engine.report_stored(&scan).await {
                Ok(r) => report_mail(cfg, &r.report, r.items.unwrap_or(0), &scan.hostname),
                Err(Error::Store(StoreError::NotFound(_))) => continue,
                Err(e) => return Err(e),
            },
        };
        let key = match &mail {
            Some(_) => store.pending_key().await?,
            None => None,
        };
        if let (Some(m), Some(k)) = (mail.as_mut(), &key) {
            with_verification_key(m, k);
        }
        if let (Some(m), Some(cp)) = (mail.as_mut(), &checkpoint) {
            with_checkpoint(m, cp);
        }
        if let Marked::Reported(queued) = store
            .mark_reported(scan.id, mail.as_ref(), Utc::now())
            .await?
        {
            stats.reported += 1;
            if queued.is_some() && key.is_some() {
                store.set_pending_key(None).await?;
            }
            if let Some(id) = queued {
                stats.queued += 1;
                log_queued(id, &scan, known.is_some_and(|k| k.info.id == scan.id));
            }
        }
    }
    Ok(stats)
}

/// The paragraph a report's text ends with: the latest sealed checkpoint, as `dawgctl verify
/// --checkpoint` takes it.
const CHECKPOINT_NOTE: &str = "Sealed checkpoint of this host's history (keep it: `dawgctl verify --checkpoint 'LINE'` checks a copy of the database against it):";

/// Appends the checkpoint `line` to `mail`'s text and HTML.
fn with_checkpoint(mail: &mut NewMail, line: &str) {
    mail.body_text
        .push_str(&format!("\n\n{CHECKPOINT_NOTE}\n{line}\n"));
    if let Some(html) = &mut mail.body_html {
        let note = format!(
            "<p style=\"color:#666\">{}<br><code>{}</code></p>",
            render::esc(CHECKPOINT_NOTE),
            render::esc(line)
        );
        match html.rfind("</body>") {
            Some(at) => html.insert_str(at, &note),
            None => html.push_str(&note),
        }
    }
}

/// Puts the verification key the daemon made at its first start into `mail` (once).
fn with_verification_key(mail: &mut NewMail, key: &str) {
    let note = format!(
        "dawgmond started sealing this host's history. Its verification key (store it OFF the \
         host, then delete DATABASE.verification-key there; whoever holds it can check and \
         forge seals; see docs/trust.md):\n{key}\nCheck a copy of the database with: dawgctl \
         verify --database COPY --key KEY"
    );
    mail.body_text.push_str(&format!("\n\n{note}\n"));
    if let Some(html) = &mut mail.body_html {
        let p = format!("<p><pre>{}</pre></p>", render::esc(&note));
        match html.rfind("</body>") {
            Some(at) => html.insert_str(at, &p),
            None => html.push_str(&p),
        }
    }
}

/// The checkpoint line a report's text carries, if any (for the message's header).
pub fn checkpoint_in(text: &str) -> Option<String> {
    let at = text.rfind(CHECKPOINT_NOTE)?;
    let line = text[at + CHECKPOINT_NOTE.len()..]
        .lines()
        .find(|l| !l.trim().is_empty())?;
    crate::ledger::checkpoint::Checkpoint::parse(line)
        .ok()
        .map(|cp| cp.to_line())
}

fn log_queued(id: i64, scan: &ScanInfo, just_made: bool) {
    if just_made {
        tracing::info!(id, scan = scan.id, "report queued for mail");
    } else {
        tracing::info!(
            id,
            scan = scan.id,
            "report of an earlier scan queued for mail (stored by dawgctl --local, or before a stop)"
        );
    }
}

/// What one [`deliver_due`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Messages the server accepted.
    pub sent: usize,
    /// Messages that failed this time (they stay in the outbox, retried later).
    pub failed: usize,
    /// Of the failed ones, those given up now (a repeated permanent refusal, or too old).
    pub given_up: usize,
}

/// Sends every due outbox message, oldest first, marking each sent once the server accepted it
/// or failed (with the error and the next attempt, or given up: see
/// [`Store::outbox_mark_failed`]). Failures are logged (warn, error when given up) with the
/// attempt count; they are not an error of this function, which fails only if the database
/// does.
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
                let after = store
                    .outbox_mark_failed(mail.id, &error, e.is_permanent(), now)
                    .await?;
                stats.failed += 1;
                if after.failed_at.is_some() {
                    stats.given_up += 1;
                    tracing::error!(
                        id = mail.id,
                        scan = mail.scan_id,
                        attempts = after.attempts,
                        "mail given up after {} attempts ({}): {error}",
                        after.attempts,
                        if e.is_permanent() {
                            "refused permanently"
                        } else {
                            "unsent for 7 days"
                        }
                    );
                    continue;
                }
                tracing::warn!(
                    id = mail.id,
                    scan = mail.scan_id,
                    attempts = after.attempts,
                    "mail not sent (attempt {}), next attempt at {}: {error}",
                    after.attempts,
                    after.next_attempt_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
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

//! The mail outbox: messages waiting to be sent, kept in the same database as the scans.
//!
//! The daemon writes a report here before it tries to send it; a message is marked sent only
//! after the server accepted it, and a failure pushes the next attempt back exponentially (1 min,
//! 2, 4, ... at most 1 h). Because the state is in the database, retries survive restarts.
//! Retrying has an end: a message refused permanently ([`PERMANENT_ATTEMPTS`] failed attempts,
//! the last one permanent) or still unsent [`GIVE_UP_AFTER`] after it was written is marked
//! failed, is no longer tried, and is counted by [`Store::outbox_summary`] for `dawgctl status`.
//! Delivery claims due messages with a lease (their next attempt moves forward while they are
//! being sent), so two deliverers never send the same message twice, and a crash mid-send only
//! delays the retry by the lease.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};

use super::Store;
use crate::error::StoreError;

/// Delay before the first retry; each further failure doubles it.
pub const FIRST_RETRY: Duration = Duration::from_secs(60);
/// The longest delay between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);
/// Sent (and failed) messages older than this are deleted by [`Store::outbox_prune`]'s usual
/// caller.
pub const KEEP_SENT: Duration = Duration::from_secs(30 * 24 * 3600);
/// A message whose latest failure is permanent (an SMTP 5xx answer, say) is given up after this
/// many failed attempts: a few, in case the refusal came from a configuration being fixed.
pub const PERMANENT_ATTEMPTS: i64 = 3;
/// A message still unsent this long after it was written is given up, whatever the error.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// A message to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub scan_id: Option<i64>,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub recipients: Vec<String>,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMail {
    pub id: i64,
    pub scan_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub recipients: Vec<String>,
    /// Failed attempts so far.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When delivery was given up (see [`PERMANENT_ATTEMPTS`], [`GIVE_UP_AFTER`]).
    pub failed_at: Option<DateTime<Utc>>,
}

/// The unsent part of the outbox, for `dawgctl status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxSummary {
    /// Messages not sent yet (and not given up).
    pub pending: i64,
    /// When the oldest of them was written.
    pub oldest: Option<DateTime<Utc>>,
    /// The most failed attempts of any pending message.
    pub max_attempts: i64,
    /// The error of the most recent failure among pending messages.
    pub last_error: Option<String>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Messages given up (kept [`KEEP_SENT`] like sent ones).
    #[serde(default)]
    pub failed: i64,
    /// When the newest of them was given up, and its last error.
    #[serde(default)]
    pub last_failed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_failure: Option<String>,
}

/// The delay after the `attempts`-th consecutive failure: 1 min, 2, 4, ... capped at 1 h.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 16) - 1;
    FIRST_RETRY.saturating_mul(1 << exp).min(MAX_RETRY)
}

/// The columns of an outbox row, as a literal so sqlx sees static SQL.
macro_rules! columns {
    () => {
        "id, scan_id, created_at, subject, body_text, body_html, recipients, attempts, \
         next_attempt_at, last_error, sent_at, failed_at"
    };
}

impl Store {
    /// Writes a message to the outbox, due at once. Returns its id.
    pub async fn outbox_enqueue(
        &self,
        mail: &NewMail,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::sql("writing a message to the outbox"))?;
        insert_mail(&mut conn, mail, now).await
    }

    /// One message.
    pub async fn outbox_get(&self, id: i64) -> Result<OutboxMail, StoreError> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM outbox WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("reading the outbox"))?
            .ok_or_else(|| StoreError::NotFound(format!("outbox message {id}")))?;
        mail_from_row(row)
    }

    /// Unsent messages due at `now`, oldest first (read only; see [`Store::outbox_claim_due`]).
    pub async fn outbox_due(&self, now: DateTime<Utc>) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
              ORDER BY id"
        ))
        .bind(now.timestamp_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sql("reading the outbox"))?;
        rows.into_iter().map(mail_from_row).collect()
    }

    /// Takes the messages due at `now` for sending: in one statement, moves their next attempt
    /// to `now + lease`, so another deliverer does not take them too, and a crash while sending
    /// only delays the retry. Oldest first.
    pub async fn outbox_claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let until = now + lease;
        let rows = sqlx::query(concat!(
            "UPDATE outbox SET next_attempt_at = ?
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
             RETURNING ",
            columns!()
        ))
        .bind(until.timestamp_millis())
        .bind(now.timestamp_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sql("claiming due messages in the outbox"))?;
        let mut mails = rows
            .into_iter()
            .map(mail_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        mails.sort_by_key(|m| m.id);
        Ok(mails)
    }

    /// Records that the server accepted message `id`.
    pub async fn outbox_mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET sent_at = ?, last_error = NULL WHERE id = ?")
            .bind(now.timestamp_millis())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("marking a message sent"))?;
        Ok(())
    }

    /// Records a failed attempt at message `id`: one more attempt, the error, and the next
    /// attempt after [`backoff`]; or, when `permanent` (the server refused the message for
    /// good) and this is the [`PERMANENT_ATTEMPTS`]th attempt, or the message was written
    /// [`GIVE_UP_AFTER`] ago, gives it up (sets `failed_at`: it is never tried again). Returns
    /// the message as it now stands.
    pub async fn outbox_mark_failed(
        &self,
        id: i64,
        error: &str,
        permanent: bool,
        now: DateTime<Utc>,
    ) -> Result<OutboxMail, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        let row = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?
             WHERE id = ? RETURNING attempts, created_at",
        )
        .bind(error)
        .bind(now.timestamp_millis())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::sql("recording a failed delivery"))?
        .ok_or_else(|| StoreError::NotFound(format!("outbox message {id}")))?;
        let attempts: i64 = row.get("attempts");
        let created = ts(row.get("created_at"));
        let too_old = (now - created)
            .to_std()
            .is_ok_and(|age| age >= GIVE_UP_AFTER);
        let give_up = too_old || (permanent && attempts >= PERMANENT_ATTEMPTS);
        let next = now + backoff(attempts);
        sqlx::query("UPDATE outbox SET next_attempt_at = ?, failed_at = ? WHERE id = ?")
            .bind(next.timestamp_millis())
            .bind(give_up.then(|| now.timestamp_millis()))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("recording a failed delivery"))?;
        tx.commit()
            .await
            .map_err(StoreError::sql("committing a failed delivery"))?;
        self.outbox_get(id).await
    }

    /// Makes every unsent message due now (after the mail server was fixed), but not those
    /// given up. Returns how many.
    pub async fn outbox_retry_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbox SET next_attempt_at = ? WHERE sent_at IS NULL AND failed_at IS NULL",
        )
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(StoreError::sql("rescheduling the outbox"))?
        .rows_affected())
    }

    /// Deletes messages sent or given up before `before`. Unsent messages are never deleted.
    pub async fn outbox_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM outbox WHERE COALESCE(sent_at, failed_at) < ?")
                .bind(before.timestamp_millis())
                .execute(&self.pool)
                .await
                .map_err(StoreError::sql("pruning sent mail"))?
                .rows_affected(),
        )
    }

    /// How many messages wait, since when, and the last error: for `dawgctl status`.
    pub async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest,
                    COALESCE(MAX(attempts), 0) AS max_attempts, MIN(next_attempt_at) AS next,
                    (SELECT last_error FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL
                       AND last_error IS NOT NULL
                     ORDER BY last_attempt_at DESC, id DESC LIMIT 1) AS last_error
             FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::sql("summarising the outbox"))?;
        let failed = sqlx::query(
            "SELECT COUNT(*) AS failed,
                    (SELECT failed_at FROM outbox WHERE failed_at IS NOT NULL
                     ORDER BY failed_at DESC, id DESC LIMIT 1) AS last_at,
                    (SELECT last_error FROM outbox WHERE failed_at IS NOT NULL
                     ORDER BY failed_at DESC, id DESC LIMIT 1) AS last_error
             FROM outbox WHERE failed_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::sql("summarising the outbox"))?;
        Ok(OutboxSummary {
            pending: row.get("pending"),
            oldest: row.get::<Option<i64>, _>("oldest").map(ts),
            max_attempts: row.get("max_attempts"),
            last_error: row.get("last_error"),
            next_attempt_at: row.get::<Option<i64>, _>("next").map(ts),
            failed: failed.get("failed"),
            last_failed_at: failed.get::<Option<i64>, _>("last_at").map(ts),
            last_failure: failed.get("last_error"),
        })
    }
}

/// Writes a message to the outbox on `conn` (a transaction's, too), due at once.
pub(super) async fn insert_mail(
    conn: &mut SqliteConnection,
    mail: &NewMail,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let recipients = serde_json::to_string(&mail.recipients).expect("strings serialise");
    sqlx::query_scalar(
        "INSERT INTO outbox (scan_id, created_at, subject, body_text, body_html, recipients,
                             next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(mail.scan_id)
    .bind(now.timestamp_millis())
    .bind(&mail.subject)
    .bind(&mail.body_text)
    .bind(&mail.body_html)
    .bind(recipients)
    .bind(now.timestamp_millis())
    .fetch_one(conn)
    .await
    .map_err(StoreError::sql("writing a message to the outbox"))
}

fn ts(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn mail_from_row(row: sqlx::sqlite::SqliteRow) -> Result<OutboxMail, StoreError> {
    let id: i64 = row.get("id");
    let recipients: String = row.get("recipients");
    let recipients = serde_json::from_str(&recipients).map_err(|e| StoreError::Corrupt {
        scan: row.get::<Option<i64>, _>("scan_id").unwrap_or(0),
        what: format!("recipients of outbox message {id}"),
        message: e.to_string(),
    })?;
    Ok(OutboxMail {
        id,
        scan_id: row.get("scan_id"),
        created_at: ts(row.get("created_at")),
        subject: row.get("subject"),
        body_text: row.get("body_text"),
        body_html: row.get("body_html"),
        recipients,
        attempts: row.get("attempts"),
        next_attempt_at: ts(row.get("next_attempt_at")),
        last_error: row.get("last_error"),
        sent_at: row.get::<Option<i64>, _>("sent_at").map(ts),
        failed_at: row.get::<Option<i64>, _>("failed_at").map(ts),
    })
}

#[cfg(test)]
mod tests;

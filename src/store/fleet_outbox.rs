//! The fleet outbox: scans waiting to be sent to the fleet store (`[fleet]`), in the same
//! database as the scans.
//!
//! The daemon queues a scan's payload here right after storing it; the fleet task sends the
//! oldest unsent one and only then the next, so scans arrive in order; a failure pushes that
//! scan's next attempt back (1 min, 2, 4, ... at most 1 h) and nothing behind it goes first.
//! Nothing is ever given up: a scan stays until the fleet store committed it (and is counted
//! in `dawgctl status` meanwhile). Sent rows are kept a while, then pruned.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Store;
use super::outbox::backoff;
use crate::error::StoreError;

/// A queued scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetItem {
    pub scan_id: i64,
    pub created_at: DateTime<Utc>,
    /// The JSON to send (decompressed).
    pub payload: Vec<u8>,
    /// Whether the scan's whole state goes with it.
    pub baseline: bool,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
}

/// The unsent part of the fleet outbox, for `dawgctl status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetBacklog {
    /// Scans not sent yet.
    pub pending: i64,
    /// The oldest of them (local scan id) and when it was queued.
    pub oldest_scan: Option<i64>,
    pub oldest: Option<DateTime<Utc>>,
    /// Failed attempts at the oldest, its last error and when it is tried again.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The newest scan sent, and when.
    pub last_sent_scan: Option<i64>,
    pub last_sent_at: Option<DateTime<Utc>>,
}

fn ts(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl Store {
    /// Queues scan `scan_id` (a second time is a no-op). `baseline`: send its whole state too
    /// (forced for the first scan ever queued). Returns whether it was queued now.
    pub async fn fleet_enqueue(
        &self,
        scan_id: i64,
        payload: &[u8],
        baseline: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let packed = zstd::encode_all(payload, 3).map_err(|e| StoreError::Corrupt {
            scan: scan_id,
            what: "fleet payload".into(),
            message: e.to_string(),
        })?;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO fleet_outbox (scan_id, created_at, payload, baseline,
                                                 next_attempt_at)
             VALUES (?, ?, ?, ? OR NOT EXISTS (SELECT 1 FROM fleet_outbox), ?)",
        )
        .bind(scan_id)
        .bind(now.timestamp_millis())
        .bind(packed)
        .bind(baseline)
        .bind(now.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(StoreError::sql("queueing a scan for the fleet store"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The newest scan ever queued, sent or not.
    pub async fn fleet_last_queued(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(scan_id) FROM fleet_outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::sql("reading the fleet outbox"))
    }

    /// The oldest unsent scan, due or not.
    pub async fn fleet_next(&self) -> Result<Option<FleetItem>, StoreError> {
        let row = sqlx::query(
            "SELECT scan_id, created_at, payload, baseline, attempts, next_attempt_at
             FROM fleet_outbox WHERE sent_at IS NULL ORDER BY scan_id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::sql("reading the fleet outbox"))?;
        let Some(row) = row else { return Ok(None) };
        let scan_id: i64 = row.get("scan_id");
        let packed: Vec<u8> = row.get("payload");
        let payload = zstd::decode_all(packed.as_slice()).map_err(|e| StoreError::Corrupt {
            scan: scan_id,
            what: "fleet payload".into(),
            message: e.to_string(),
        })?;
        Ok(Some(FleetItem {
            scan_id,
            created_at: ts(row.get("created_at")),
            payload,
            baseline: row.get("baseline"),
            attempts: row.get("attempts"),
            next_attempt_at: ts(row.get("next_attempt_at")),
        }))
    }

    /// Records that the fleet store committed scan `scan_id`.
    pub async fn fleet_mark_sent(
        &self,
        scan_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE fleet_outbox SET sent_at = ?, last_error = NULL WHERE scan_id = ?")
            .bind(now.timestamp_millis())
            .bind(scan_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("marking a scan sent to the fleet store"))?;
        Ok(())
    }

    /// Records a failed attempt: one more attempt, the error, the next attempt after the
    /// outbox's backoff. Returns when that is.
    pub async fn fleet_mark_failed(
        &self,
        scan_id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let attempts: i64 = sqlx::query_scalar(
            "UPDATE fleet_outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?
             WHERE scan_id = ? RETURNING attempts",
        )
        .bind(error)
        .bind(now.timestamp_millis())
        .bind(scan_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::sql("recording a failed push"))?
        .unwrap_or(1);
        let next = now + backoff(attempts);
        sqlx::query("UPDATE fleet_outbox SET next_attempt_at = ? WHERE scan_id = ?")
            .bind(next.timestamp_millis())
            .bind(scan_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("recording a failed push"))?;
        Ok(next)
    }

    /// Makes the waiting scans due now (after a scan: the server may be back).
    pub async fn fleet_retry_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("UPDATE fleet_outbox SET next_attempt_at = ? WHERE sent_at IS NULL")
                .bind(now.timestamp_millis())
                .execute(&self.pool)
                .await
                .map_err(StoreError::sql("rescheduling the fleet outbox"))?
                .rows_affected(),
        )
    }

    /// Deletes sent rows older than `before`, keeping the newest sent one (it marks how far
    /// the queue got). Unsent rows are never deleted.
    pub async fn fleet_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM fleet_outbox WHERE sent_at IS NOT NULL AND sent_at < ?
             AND scan_id < (SELECT MAX(scan_id) FROM fleet_outbox)",
        )
        .bind(before.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(StoreError::sql("pruning the fleet outbox"))?
        .rows_affected())
    }

    /// The backlog, for `dawgctl status`.
    pub async fn fleet_backlog(&self) -> Result<FleetBacklog, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM fleet_outbox WHERE sent_at IS NULL) AS pending,
                    o.scan_id, o.created_at, o.attempts, o.last_error, o.next_attempt_at,
                    (SELECT MAX(scan_id) FROM fleet_outbox WHERE sent_at IS NOT NULL) AS sent_id,
                    (SELECT MAX(sent_at) FROM fleet_outbox) AS sent_at
             FROM (SELECT 1) LEFT JOIN (SELECT * FROM fleet_outbox WHERE sent_at IS NULL
                                        ORDER BY scan_id LIMIT 1) o",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::sql("summarising the fleet outbox"))?;
        Ok(FleetBacklog {
            pending: row.get("pending"),
            oldest_scan: row.get("scan_id"),
            oldest: row.get::<Option<i64>, _>("created_at").map(ts),
            attempts: row.get::<Option<i64>, _>("attempts").unwrap_or(0),
            last_error: row.get("last_error"),
            next_attempt_at: row.get::<Option<i64>, _>("next_attempt_at").map(ts),
            last_sent_scan: row.get("sent_id"),
            last_sent_at: row.get::<Option<i64>, _>("sent_at").map(ts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scans_leave_in_order_and_a_failure_holds_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let now = Utc::now();
        assert!(
            store
                .fleet_enqueue(3, b"{\"a\":3}", false, now)
                .await
                .unwrap()
        );
        assert!(!store.fleet_enqueue(3, b"x", false, now).await.unwrap());
        store
            .fleet_enqueue(4, b"{\"a\":4}", false, now)
            .await
            .unwrap();
        let first = store.fleet_next().await.unwrap().unwrap();
        assert_eq!(
            (first.scan_id, first.baseline),
            (3, true),
            "the first is a baseline"
        );
        assert_eq!(first.payload, b"{\"a\":3}");
        let next = store.fleet_mark_failed(3, "down", now).await.unwrap();
        assert!(next > now);
        let b = store.fleet_backlog().await.unwrap();
        assert_eq!((b.pending, b.oldest_scan, b.attempts), (2, Some(3), 1));
        assert_eq!(b.last_error.as_deref(), Some("down"));
        // Still 3 first: 4 never overtakes it.
        assert_eq!(store.fleet_next().await.unwrap().unwrap().scan_id, 3);
        store.fleet_mark_sent(3, now).await.unwrap();
        let second = store.fleet_next().await.unwrap().unwrap();
        assert_eq!((second.scan_id, second.baseline), (4, false));
        store.fleet_mark_sent(4, now).await.unwrap();
        assert!(store.fleet_next().await.unwrap().is_none());
        let b = store.fleet_backlog().await.unwrap();
        assert_eq!((b.pending, b.last_sent_scan), (0, Some(4)));
        // The newest sent row stays: it says how far the queue got.
        store
            .fleet_prune(now + chrono::Duration::days(1))
            .await
            .unwrap();
        assert_eq!(store.fleet_last_queued().await.unwrap(), Some(4));
    }
}

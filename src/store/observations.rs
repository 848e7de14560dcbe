//! Surface items the realtime watch saw between scans (`observations`, schema 8).
//!
//! The watch records an item at the moment an event showed it; a report between two scans
//! reads those seen in between ([`Store::observations_between`]) and lists the ones the later
//! scan no longer has. The table is bounded: at most [`MAX_OBSERVATIONS`] rows (the oldest go
//! first, with a warning), and rows older than the oldest stored scan are pruned with it.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Store;
use crate::error::StoreError;
use crate::model::Fields;

/// Rows kept at most. A user who makes setuid files in a loop in their home fills it; past it
/// the oldest rows go (the scans still see every file that remains).
pub const MAX_OBSERVATIONS: i64 = 50_000;

/// One item as the watch saw it, and who the kernel said acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub seen_at: DateTime<Utc>,
    pub collector: String,
    pub key: String,
    pub fields: Fields,
    /// The process the event named; `None` when the kernel did not say.
    pub pid: Option<i32>,
    /// Its real uid, command name and executable, read while it was alive.
    pub uid: Option<u32>,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

impl Store {
    /// Records observations in one transaction; past [`MAX_OBSERVATIONS`] rows, drops the
    /// oldest and says how many.
    pub async fn add_observations(&self, list: &[Observation]) -> Result<u64, StoreError> {
        if list.is_empty() {
            return Ok(0);
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        for o in list {
            sqlx::query(
                "INSERT INTO observations (seen_at, collector, key, fields, pid, uid, comm, exe)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(o.seen_at.timestamp_millis())
            .bind(&o.collector)
            .bind(&o.key)
            .bind(serde_json::to_string(&o.fields).expect("fields serialise"))
            .bind(o.pid)
            .bind(o.uid.map(i64::from))
            .bind(&o.comm)
            .bind(&o.exe)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("recording an observation"))?;
        }
        let dropped = sqlx::query(
            "DELETE FROM observations WHERE id <= (SELECT id FROM observations
             ORDER BY id DESC LIMIT 1 OFFSET ?)",
        )
        .bind(MAX_OBSERVATIONS)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::sql("bounding the observations"))?
        .rows_affected();
        tx.commit()
            .await
            .map_err(StoreError::sql("recording observations"))?;
        Ok(dropped)
    }

    /// Observations with `after < seen_at <= upto`, oldest first.
    pub async fn observations_between(
        &self,
        after: DateTime<Utc>,
        upto: DateTime<Utc>,
    ) -> Result<Vec<Observation>, StoreError> {
        let rows = sqlx::query(
            "SELECT seen_at, collector, key, fields, pid, uid, comm, exe FROM observations
             WHERE seen_at > ? AND seen_at <= ? ORDER BY seen_at, id LIMIT ?",
        )
        .bind(after.timestamp_millis())
        .bind(upto.timestamp_millis())
        .bind(MAX_OBSERVATIONS)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sql("reading observations"))?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let fields: String = row.get("fields");
                let uid: Option<i64> = row.get("uid");
                Observation {
                    seen_at: Utc
                        .timestamp_millis_opt(row.get("seen_at"))
                        .single()
                        .unwrap_or_default(),
                    collector: row.get("collector"),
                    key: row.get("key"),
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                    pid: row.get("pid"),
                    uid: uid.and_then(|u| u32::try_from(u).ok()),
                    comm: row.get("comm"),
                    exe: row.get("exe"),
                }
            })
            .collect())
    }

    /// Drops observations older than the oldest stored scan (no report can reach them).
    pub async fn prune_observations(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM observations WHERE seen_at < (SELECT MIN(started_at) FROM scans)",
        )
        .execute(&self.pool)
        .await
        .map_err(StoreError::sql("pruning observations"))?
        .rows_affected())
    }
}

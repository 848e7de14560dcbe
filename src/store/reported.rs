//! Which stored scans have been reported: every scan is reported exactly once, whoever stored it
//! (a scheduled scan, a scan requested through the API, `dawgctl --local`).
//!
//! A scan is stored unreported. The daemon reports unreported scans in id order
//! (`mail::report_unreported`): it computes each one's report against the scan before
//! it, then [`Store::mark_reported`] writes its mail to the outbox (when it calls for one) and
//! marks the scan reported in one transaction, so a crash between the two can neither lose a
//! report nor queue it twice. Two reporters racing for one scan are safe too: only the one whose
//! update finds the scan still unreported queues mail.

use chrono::{DateTime, Utc};

use super::outbox::insert_mail;
use super::{NewMail, ScanInfo, Store, scan_from_row};
use crate::error::StoreError;

/// What [`Store::mark_reported`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The scan is now reported; with the id of the outbox message written, if any.
    Reported(Option<i64>),
    /// Someone else had reported it (or it was pruned): nothing written.
    Already,
}

impl Store {
    /// Scans not reported yet, oldest first.
    pub async fn unreported(&self) -> Result<Vec<ScanInfo>, StoreError> {
        let rows = sqlx::query(select_scan!("WHERE reported_at IS NULL ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("listing unreported scans"))?;
        Ok(rows.into_iter().map(scan_from_row).collect())
    }

    /// How many scans are not reported yet.
    pub async fn unreported_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM scans WHERE reported_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::sql("counting unreported scans"))
    }

    /// In one transaction: marks scan `id` reported and writes `mail` (its report) to the
    /// outbox. If the scan is already reported or gone, writes nothing.
    pub async fn mark_reported(
        &self,
        id: i64,
        mail: Option<&NewMail>,
        now: DateTime<Utc>,
    ) -> Result<Marked, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        let updated =
            sqlx::query("UPDATE scans SET reported_at = ? WHERE id = ? AND reported_at IS NULL")
                .bind(now.timestamp_millis())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sql("marking a scan reported"))?
                .rows_affected();
        if updated == 0 {
            return Ok(Marked::Already);
        }
        let queued = match mail {
            Some(m) => {
                // The report that went out is an event of the sealed history (docs/trust.md).
                let entry = crate::ledger::entry::Entry::Report {
                    scan: id,
                    report: crate::ledger::entry::report_hash(&m.body_text),
                };
                super::log::append(&mut tx, &entry, now.timestamp_millis()).await?;
                Some(insert_mail(&mut tx, m, now).await?)
            }
            None => None,
        };
        tx.commit()
            .await
            .map_err(StoreError::sql("committing a scan's report"))?;
        Ok(Marked::Reported(queued))
    }

    /// Marks every unreported scan reported without mail (a daemon with mail off or paused).
    /// Returns how many.
    pub async fn mark_all_reported(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("UPDATE scans SET reported_at = ? WHERE reported_at IS NULL")
                .bind(now.timestamp_millis())
                .execute(&self.pool)
                .await
                .map_err(StoreError::sql("marking scans reported"))?
                .rows_affected(),
        )
    }
}

#[cfg(test)]
mod tests;

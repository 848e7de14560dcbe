//! Retention: old scans go, baselines and labelled scans stay, and content no kept scan refers
//! to is collected.

use super::*;

impl Store {
    /// Deletes unlabelled scans beyond the newest `keep`, then content no scan refers to.
    /// Also kept, whatever its age: for each collector, the newest scan in which it worked, so
    /// a collector that has been failing for longer than the retention is still compared with
    /// its last good output when it recovers (and what changed meanwhile is reported).
    /// Returns how many scans were removed.
    pub async fn prune(&self, keep: usize) -> Result<u64, StoreError> {
        let mut tx: Transaction<'_, Sqlite> = self
            .pool
            .begin()
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        let rows = sqlx::query("SELECT id, label, manifest FROM scans ORDER BY id DESC")
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::sql("listing scans to prune"))?;
        let mut unlabelled = 0usize;
        let mut worked: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut seen_manifests: std::collections::HashSet<String> =
            std::collections::HashSet::new();
        let mut doomed: Vec<i64> = Vec::new();
        for row in rows {
            let id: i64 = row.get("id");
            let label: Option<String> = row.get("label");
            let hash: String = row.get("manifest");
            let in_window = label.is_some() || unlabelled < keep;
            if label.is_none() {
                unlabelled += 1;
            }
            // A manifest seen before (a newer scan had it) has nothing new to offer.
            let mut needed = false;
            if seen_manifests.insert(hash.clone()) {
                let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM manifests WHERE hash = ?")
                    .bind(&hash)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::sql("reading a scan manifest"))?;
                for (name, entry) in parse_manifest(id, &data)? {
                    if matches!(entry, ManifestEntry::Blob(_)) && worked.insert(name) {
                        needed = true;
                    }
                }
            }
            if !in_window && !needed {
                doomed.push(id);
            }
        }
        let removed = doomed.len() as u64;
        if removed > 0 {
            // Pruning is an event of the sealed history: the log keeps the pruned scans' leaf
            // hashes (their entries are emptied) and records which scans went (docs/trust.md).
            doomed.sort_unstable();
            let now = chrono::Utc::now().timestamp_millis();
            let entry = crate::ledger::entry::Entry::Prune {
                scans: crate::ledger::entry::ranges(&doomed),
                at: now,
            };
            super::log::append(&mut tx, &entry, now).await?;
        }
        for chunk in doomed.chunks(500) {
            let list = chunk
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            // Integers only: safe to splice.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM scans WHERE id IN ({list})"
            )))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("pruning old scans"))?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE log SET entry = NULL WHERE kind = 'scan' AND scan_id IN ({list})"
            )))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("pruning old scans"))?;
        }
        if removed > 0 {
            sqlx::query("DELETE FROM manifests WHERE hash NOT IN (SELECT manifest FROM scans)")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sql("pruning manifests"))?;
            // A blob goes once no manifest and no other blob's delta refers to it; deleting
            // the tip of a chain of deltas frees the one below it, hence the loop.
            loop {
                let gone = sqlx::query(
                    "DELETE FROM blobs WHERE hash NOT IN (SELECT blob FROM manifest_blobs)
                     AND hash NOT IN (SELECT base FROM blobs WHERE base IS NOT NULL)",
                )
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sql("pruning collector output"))?;
                if gone.rows_affected() == 0 {
                    break;
                }
            }
        }
        tx.commit()
            .await
            .map_err(StoreError::sql("committing the pruning"))?;
        if removed > 0 {
            sqlx::query("PRAGMA incremental_vacuum")
                .execute(&self.pool)
                .await
                .map_err(StoreError::sql("returning free pages"))?;
        }
        Ok(removed)
    }
}

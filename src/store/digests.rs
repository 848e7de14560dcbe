//! The content digests each file-hashing collector carries over to its next scan (schema 7):
//! one row per collector, replaced after every scan in which it worked. The rows are a cache:
//! losing one costs a full re-read of that collector's files, never a wrong report.

use super::Store;
use crate::error::StoreError;

/// A collector's stored digests.
#[derive(Debug, Clone)]
pub struct StoredDigests {
    /// When every file was last hashed (unix milliseconds).
    pub rehashed_at: i64,
    /// In order; see [`crate::hostfs::digests::DigestCache::encode`].
    pub chunks: Vec<Vec<u8>>,
}

impl Store {
    /// The stored digests of collector `name`, if any.
    pub async fn digests(&self, name: &str) -> Result<Option<StoredDigests>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT rehashed_at, data FROM digests WHERE collector = ? ORDER BY seq",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sql("reading carried-over digests"))?;
        let Some(rehashed_at) = rows.first().map(|r| r.0) else {
            return Ok(None);
        };
        Ok(Some(StoredDigests {
            rehashed_at,
            chunks: rows.into_iter().map(|r| r.1).collect(),
        }))
    }

    /// Replaces collector `name`'s digests, in one transaction.
    pub async fn set_digests(&self, name: &str, d: &StoredDigests) -> Result<(), StoreError> {
        self.set_digests_inner(name, d)
            .await
            .map_err(|e| super::or_full(&self.path, "store carried-over digests", e))
    }

    async fn set_digests_inner(&self, name: &str, d: &StoredDigests) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::sql("storing carried-over digests"))?;
        sqlx::query("DELETE FROM digests WHERE collector = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("storing carried-over digests"))?;
        for (seq, chunk) in d.chunks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO digests (collector, seq, rehashed_at, data) VALUES (?, ?, ?, ?)",
            )
            .bind(name)
            .bind(seq as i64)
            .bind(d.rehashed_at)
            .bind(chunk)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("storing carried-over digests"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::sql("storing carried-over digests"))?;
        Ok(())
    }
}

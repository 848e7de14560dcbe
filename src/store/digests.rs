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
    /// See [`crate::hostfs::digests::DigestCache::encode`].
    pub data: Vec<u8>,
}

impl Store {
    /// The stored digests of collector `name`, if any.
    pub async fn digests(&self, name: &str) -> Result<Option<StoredDigests>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT rehashed_at, data FROM digests WHERE collector = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::sql("reading carried-over digests"))?;
        Ok(row.map(|(rehashed_at, data)| StoredDigests { rehashed_at, data }))
    }

    /// Replaces collector `name`'s digests.
    pub async fn set_digests(&self, name: &str, d: &StoredDigests) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO digests (collector, rehashed_at, data) VALUES (?, ?, ?)",
        )
        .bind(name)
        .bind(d.rehashed_at)
        .bind(&d.data)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            super::or_full(
                &self.path,
                "store carried-over digests",
                StoreError::sql("storing carried-over digests")(e),
            )
        })?;
        Ok(())
    }
}

//! Settings the database remembers about itself: the daemon's retention, and the key that
//! fingerprints secret values (see [`crate::secret`]).
//!
//! The retention lives here because two programs prune the same file: the daemon with its
//! configured retention, and `dawgctl --local` with whatever its command line says. Without a
//! shared value, a local scan with the default (64) would throw away scans a daemon configured
//! to keep 168 still wanted.

use super::Store;
use crate::error::StoreError;
use crate::secret::FingerprintKey;

const RETENTION: &str = "retention";
const FINGERPRINT_KEY: &str = "fingerprint_key";

impl Store {
    /// A setting's stored text, if set.
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("reading a setting"))
    }

    /// Records the retention the daemon prunes with (unlabelled scans kept; 0 keeps all).
    pub async fn set_retention(&self, keep: usize) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)")
            .bind(RETENTION)
            .bind(keep.to_string())
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("recording the retention"))?;
        Ok(())
    }

    /// The retention the daemon recorded, if it ever ran on this database.
    pub async fn retention(&self) -> Result<Option<usize>, StoreError> {
        // A value this build cannot read (hand-edited) counts as unset: the caller's default.
        Ok(self
            .setting(RETENTION)
            .await?
            .and_then(|v| v.trim().parse().ok()))
    }

    /// This database's fingerprint key, created (randomly) the first time it is asked for.
    /// Concurrent first calls from two processes agree: the first insert wins.
    pub async fn fingerprint_key(&self) -> Result<FingerprintKey, StoreError> {
        if let Some(key) = self.setting(FINGERPRINT_KEY).await? {
            return FingerprintKey::from_hex(&key).ok_or_else(bad_key);
        }
        let fresh = FingerprintKey::generate().map_err(|e| StoreError::Open {
            path: self.path.clone(),
            message: format!("cannot get random bytes for the fingerprint key: {e}"),
        })?;
        sqlx::query("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)")
            .bind(FINGERPRINT_KEY)
            .bind(fresh.to_hex())
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("storing the fingerprint key"))?;
        let stored = self.setting(FINGERPRINT_KEY).await?.unwrap_or_default();
        FingerprintKey::from_hex(&stored).ok_or_else(bad_key)
    }
}

fn bad_key() -> StoreError {
    StoreError::Corrupt {
        scan: 0,
        what: "settings".into(),
        message: "the fingerprint key is not 64 hex digits: delete the row \
                  (DELETE FROM settings WHERE name = 'fingerprint_key') and a new one is made"
            .into(),
    }
}

#[cfg(test)]
mod tests;

//! The sealed history's tables (schema 9): the log of leaves and the seals. The store only
//! keeps them; what goes in them and what they prove is the seal module's. Label, report and
//! prune entries are appended here, inside the transactions that make those events, so an
//! event and its leaf are stored together or not at all.

use std::path::Path;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::{Store, load_blob, open_error};
use crate::error::StoreError;
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::entry::Entry;
use crate::ledger::merkle::Hash;
use crate::model::Item;

/// One row of the log.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub seq: i64,
    pub kind: String,
    pub scan_id: Option<i64>,
    pub at: i64,
    pub entry: Option<Vec<u8>>,
    pub leaf: Vec<u8>,
}

/// One stored scan as the verifier reads it.
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub hostname: String,
    pub root: String,
    pub manifest: String,
}

/// Appends `entry` as the next leaf, on `conn` (inside the caller's transaction).
pub(crate) async fn append(
    conn: &mut sqlx::SqliteConnection,
    entry: &Entry,
    at: i64,
) -> Result<(), StoreError> {
    let bytes = entry.to_bytes();
    let leaf = crate::ledger::merkle::leaf_hash(&bytes);
    sqlx::query(
        "INSERT INTO log (seq, kind, scan_id, at, entry, leaf)
         SELECT COALESCE(MAX(seq) + 1, 0), ?, ?, ?, ?, ? FROM log",
    )
    .bind(entry.kind())
    .bind(entry.scan())
    .bind(at)
    .bind(bytes)
    .bind(leaf.to_vec())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("appending to the sealed log"))?;
    Ok(())
}

impl Store {
    /// Opens a database read-only, without migrating or creating anything: for `dawgctl
    /// verify` on a copy.
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                message: "no such database file (give the copy's path with --database)".into(),
            });
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(|e| open_error(path, e))?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// Appends `entries` as the next leaves, in one transaction.
    pub async fn append_log(&self, entries: &[(Entry, i64)]) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        for (entry, at) in entries {
            append(&mut tx, entry, *at).await?;
        }
        tx.commit()
            .await
            .map_err(StoreError::sql("committing to the sealed log"))
    }

    /// The leaf hashes from index `from` on, in order, with their index.
    pub async fn log_leaves(&self, from: u64) -> Result<Vec<(i64, Hash)>, StoreError> {
        let rows = sqlx::query("SELECT seq, leaf FROM log WHERE seq >= ? ORDER BY seq")
            .bind(from as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("reading the sealed log"))?;
        rows.into_iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let leaf: Vec<u8> = r.get(1);
                let leaf = leaf.try_into().map_err(|_| StoreError::Corrupt {
                    scan: 0,
                    what: "sealed log".into(),
                    message: format!("leaf {seq} is not 32 bytes"),
                })?;
                Ok((seq, leaf))
            })
            .collect()
    }

    /// Every log row, in order.
    pub async fn log_rows(&self) -> Result<Vec<LogRow>, StoreError> {
        let rows = sqlx::query("SELECT seq, kind, scan_id, at, entry, leaf FROM log ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("reading the sealed log"))?;
        Ok(rows
            .into_iter()
            .map(|r| LogRow {
                seq: r.get(0),
                kind: r.get(1),
                scan_id: r.get(2),
                at: r.get(3),
                entry: r.get(4),
                leaf: r.get(5),
            })
            .collect())
    }

    /// The highest scan id the log has a scan entry for.
    pub async fn last_logged_scan(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(scan_id) FROM log WHERE kind = 'scan'")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::sql("reading the sealed log"))
    }

    /// The scans after `after` (all with `None`), oldest first, as the verifier reads them.
    pub async fn scan_rows(&self, after: Option<i64>) -> Result<Vec<ScanRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, hostname, root, manifest FROM scans
             WHERE id > ? ORDER BY id",
        )
        .bind(after.unwrap_or(i64::MIN))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sql("listing scans"))?;
        Ok(rows
            .into_iter()
            .map(|r| ScanRow {
                id: r.get(0),
                started_at: r.get(1),
                finished_at: r.get(2),
                hostname: r.get(3),
                root: r.get(4),
                manifest: r.get(5),
            })
            .collect())
    }

    /// A manifest's stored bytes, if it is there.
    pub async fn manifest_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT data FROM manifests WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("reading a scan manifest"))
    }

    /// The items of blob `hash` (deltas applied), or what is wrong with it.
    pub async fn blob_items(&self, hash: &str) -> Result<Result<Vec<Item>, String>, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::sql("reading collector output"))?;
        Ok(load_blob(&mut conn, hash).await)
    }

    /// Empties every scan entry, as retention would have (for the benches: a synthetic log
    /// of a long-lived host).
    #[doc(hidden)]
    pub async fn prune_log_entries_for_bench(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE log SET entry = NULL WHERE kind = 'scan'")
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("pruning the log"))?;
        Ok(())
    }

    /// Holds the verification key the daemon made at its first start until a report carries
    /// it out (see mail's report_unreported); `None` clears it.
    pub async fn set_pending_key(&self, key: Option<&str>) -> Result<(), StoreError> {
        let q = match key {
            Some(k) => sqlx::query(
                "INSERT OR REPLACE INTO settings (name, value) VALUES ('seal_key_to_mail', ?)",
            )
            .bind(k.to_string()),
            None => sqlx::query("DELETE FROM settings WHERE name = 'seal_key_to_mail'"),
        };
        q.execute(&self.pool)
            .await
            .map_err(StoreError::sql("recording the verification key to mail"))?;
        Ok(())
    }

    /// The verification key waiting to be mailed, if one.
    pub async fn pending_key(&self) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = 'seal_key_to_mail'")
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("reading the verification key to mail"))
    }

    /// Records a seal.
    pub async fn insert_seal(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO seals (epoch, generation, tree_size, root, sealed_at, seal)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(cp.epoch as i64)
        .bind(cp.generation as i64)
        .bind(cp.size as i64)
        .bind(cp.root.to_vec())
        .bind(cp.time)
        .bind(cp.seal.to_vec())
        .execute(&self.pool)
        .await
        .map_err(StoreError::sql("recording a seal"))?;
        Ok(())
    }

    /// Every seal, by epoch; rows that do not parse are named in the error.
    pub async fn seals(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.seals_where("ORDER BY epoch").await
    }

    /// The newest seal.
    pub async fn latest_seal(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.seals_where("ORDER BY epoch DESC LIMIT 1").await?.pop())
    }

    async fn seals_where(&self, rest: &'static str) -> Result<Vec<Checkpoint>, StoreError> {
        let sql =
            format!("SELECT epoch, generation, tree_size, root, sealed_at, seal FROM seals {rest}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("reading the seals"))?;
        rows.into_iter()
            .map(|r| {
                let epoch: i64 = r.get(0);
                let hash = |v: Vec<u8>| {
                    Hash::try_from(v).map_err(|_| StoreError::Corrupt {
                        scan: 0,
                        what: "seals".into(),
                        message: format!("the seal of epoch {epoch} is damaged"),
                    })
                };
                Ok(Checkpoint {
                    epoch: epoch as u64,
                    generation: r.get::<i64, _>(1) as u64,
                    size: r.get::<i64, _>(2) as u64,
                    root: hash(r.get(3))?,
                    time: r.get(4),
                    seal: hash(r.get(5))?,
                })
            })
            .collect()
    }
}

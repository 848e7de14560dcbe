//! The snapshot store: SQLite through sqlx, one file, WAL, embedded migrations.
//!
//! Each collector's output is stored once per distinct content (sha256-addressed `blobs`), and
//! each scan points at a content-addressed `manifest`, so a scan of an unchanged host costs one
//! row. A changed output is stored as its change from the previous one when that is smaller,
//! compressed ([`blobs`]), so one changed file in a large output costs bytes, not the output.
//! A scan is saved in one transaction ([`save`]): a crash never leaves half a snapshot.
//! Retention keeps the newest N scans; labelled scans (baselines) are never pruned. The file is
//! created 0600 in a 0700 directory: it describes the whole attack surface of the host.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use crate::error::StoreError;
pub use crate::model::ScanInfo;
use crate::model::{Item, Outcome, Snapshot};

mod blobs;
mod open;
mod retention;
use open::{open_error, or_full};
mod digests;
mod fleet_outbox;
mod log;
mod observations;
mod outbox;
mod save;
mod settings;
mod stream;
pub use blobs::content_hash;
pub use digests::StoredDigests;
pub use fleet_outbox::{FleetBacklog, FleetItem};
pub use log::{LogRow, ScanRow};
pub use observations::{MAX_OBSERVATIONS, Observation};
pub use outbox::{
    GIVE_UP_AFTER, KEEP_SENT, NewMail, OutboxMail, OutboxSummary, PERMANENT_ATTEMPTS, backoff,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations");

/// `SELECT <all scan columns> FROM scans <rest>`, as a literal so sqlx sees static SQL.
macro_rules! select_scan {
    ($rest:literal) => {
        concat!(
            "SELECT id, label, started_at, finished_at, hostname, root, changes, warnings, trigger FROM scans ",
            $rest
        )
    };
}

mod reported;
pub use reported::Marked;

/// Default number of unlabelled scans kept.
pub const DEFAULT_RETENTION: usize = 64;

/// What to record about a new scan besides its snapshot.
#[derive(Debug, Clone)]
pub struct NewScan {
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub hostname: String,
    pub root: String,
    /// What started it (see [`ScanInfo::trigger`]).
    pub trigger: Option<String>,
}

/// What a scan stored for one collector: the content hash of its items, or why it could not
/// run. Two equal `Blob` entries mean identical output, without loading either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestEntry {
    Blob(String),
    Unavailable(String),
}

/// A scan's entries, by collector name.
pub type Manifest = BTreeMap<String, ManifestEntry>;

/// The database of snapshots.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's full `PRAGMA integrity_check` (slower than the quick check done at open):
    /// `Ok(())` for "ok", else the problems it found. For the fault tests and recovery.
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("checking the database's integrity"))?;
        if rows == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                scan: 0,
                what: "database".into(),
                message: rows.join("; "),
            })
        }
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Size of the database file plus its WAL, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Records how many changes and warnings a scan had against the one before it.
    pub async fn set_summary(
        &self,
        id: i64,
        changes: usize,
        warnings: usize,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE scans SET changes = ?, warnings = ? WHERE id = ?")
            .bind(changes as i64)
            .bind(warnings as i64)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::sql("recording the scan summary"))?;
        Ok(())
    }

    /// One scan's record.
    pub async fn get(&self, id: i64) -> Result<ScanInfo, StoreError> {
        let row = sqlx::query(select_scan!("WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("reading a scan"))?;
        row.map(scan_from_row)
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Finds a scan by id (all digits) or by label.
    pub async fn resolve(&self, spec: &str) -> Result<ScanInfo, StoreError> {
        if let Ok(id) = spec.parse::<i64>() {
            return self.get(id).await;
        }
        let row = sqlx::query(select_scan!("WHERE label = ?"))
            .bind(spec)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("looking up a baseline"))?;
        row.map(scan_from_row)
            .ok_or_else(|| StoreError::NotFound(spec.to_string()))
    }

    /// Scans, newest first.
    pub async fn list(&self, limit: i64, offset: i64) -> Result<Vec<ScanInfo>, StoreError> {
        let rows = sqlx::query(select_scan!("ORDER BY id DESC LIMIT ? OFFSET ?"))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("listing scans"))?;
        Ok(rows.into_iter().map(scan_from_row).collect())
    }

    /// Number of stored scans.
    pub async fn count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM scans")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::sql("counting scans"))
    }

    /// Baselines (labelled scans), newest first.
    pub async fn baselines(&self) -> Result<Vec<ScanInfo>, StoreError> {
        let rows = sqlx::query(select_scan!("WHERE label IS NOT NULL ORDER BY id DESC"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::sql("listing baselines"))?;
        Ok(rows.into_iter().map(scan_from_row).collect())
    }

    /// The newest scan, if any.
    pub async fn latest(&self) -> Result<Option<ScanInfo>, StoreError> {
        Ok(self.list(1, 0).await?.into_iter().next())
    }

    /// The newest scan older than `id`.
    pub async fn previous(&self, id: i64) -> Result<Option<ScanInfo>, StoreError> {
        let row = sqlx::query(select_scan!("WHERE id < ? ORDER BY id DESC LIMIT 1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("finding the previous scan"))?;
        Ok(row.map(scan_from_row))
    }

    /// Removes the label from a baseline (the scan itself then ages out like any other).
    pub async fn delete_label(&self, label: &str) -> Result<ScanInfo, StoreError> {
        let scan = self.resolve(label).await?;
        if scan.label.as_deref() != Some(label) {
            return Err(StoreError::NotFound(label.to_string()));
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        sqlx::query("UPDATE scans SET label = NULL WHERE id = ?")
            .bind(scan.id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("deleting a baseline"))?;
        // A label removed is an event of the sealed history (docs/trust.md).
        let entry = crate::ledger::entry::Entry::Label {
            label: label.to_string(),
            scan: None,
            at: Utc::now().timestamp_millis(),
        };
        log::append(&mut tx, &entry, Utc::now().timestamp_millis()).await?;
        tx.commit()
            .await
            .map_err(StoreError::sql("deleting a baseline"))?;
        Ok(scan)
    }

    /// Loads the snapshot of a scan.
    pub async fn load(&self, id: i64) -> Result<Snapshot, StoreError> {
        let manifest = self.manifest(id).await?;
        self.load_entries(id, manifest).await
    }

    /// What scan `id` stored per collector (hashes, not content: cheap).
    pub async fn manifest(&self, id: i64) -> Result<Manifest, StoreError> {
        let data: Vec<u8> = sqlx::query_scalar(
            "SELECT m.data FROM scans s JOIN manifests m ON m.hash = s.manifest WHERE s.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::sql("reading a scan manifest"))?
        .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        parse_manifest(id, &data)
    }

    /// Every scan older than `id`, newest first, as (id, finished_at, manifest hash): cheap
    /// (no content), for finding the newest scan in which a collector worked.
    pub async fn history_before(
        &self,
        id: i64,
    ) -> Result<Vec<(i64, DateTime<Utc>, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, finished_at, manifest FROM scans WHERE id < ? ORDER BY id DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::sql("listing earlier scans"))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let ms: i64 = r.get("finished_at");
                (
                    r.get("id"),
                    Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
                    r.get("manifest"),
                )
            })
            .collect())
    }

    /// A manifest by its hash (`scan` is named in errors).
    pub async fn manifest_by_hash(&self, scan: i64, hash: &str) -> Result<Manifest, StoreError> {
        let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM manifests WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::sql("reading a scan manifest"))?
            .ok_or_else(|| StoreError::Corrupt {
                scan,
                what: "manifest".into(),
                message: format!("manifest {hash} is missing"),
            })?;
        parse_manifest(scan, &data)
    }

    /// Loads the content behind manifest entries (of scan `id`, named in errors).
    pub async fn load_entries(
        &self,
        id: i64,
        entries: impl IntoIterator<Item = (String, ManifestEntry)>,
    ) -> Result<Snapshot, StoreError> {
        let mut snapshot = Snapshot::default();
        for (name, entry) in entries {
            let outcome = match entry {
                ManifestEntry::Unavailable(why) => Outcome::Unavailable(why),
                ManifestEntry::Blob(hash) => {
                    let mut conn = self
                        .pool
                        .acquire()
                        .await
                        .map_err(StoreError::sql("reading collector output"))?;
                    let items = load_blob(&mut conn, &hash)
                        .await
                        .map_err(|e| corrupt_blob(id, &name, e))?;
                    Outcome::Items(items)
                }
            };
            snapshot.results.insert(name, outcome);
        }
        Ok(snapshot)
    }
}

/// The items of blob `hash`: its row, and when that is a delta, the rows below it down to a
/// whole output (at most [`blobs::MAX_DEPTH`] deep), applied in order. The error says what is
/// wrong (a missing row, undecodable data, a chain too deep: a loop).
async fn load_blob(conn: &mut sqlx::SqliteConnection, hash: &str) -> Result<Vec<Item>, String> {
    let mut deltas = Vec::new();
    let mut next = hash.to_string();
    let whole = loop {
        let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM blobs WHERE hash = ?")
            .bind(&next)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| format!("cannot read blob {next}: {e}"))?
            .ok_or_else(|| format!("blob {next} is missing"))?;
        match blobs::decode(&data).map_err(|e| format!("blob {next}: {e}"))? {
            blobs::Stored::Whole(items) => break items,
            blobs::Stored::Delta(d) => {
                if deltas.len() as i64 > blobs::MAX_DEPTH {
                    return Err(format!(
                        "blob {hash}: a chain of deltas deeper than allowed"
                    ));
                }
                next = d.base.clone();
                deltas.push(d);
            }
        }
    };
    Ok(deltas.into_iter().rev().fold(whole, blobs::apply))
}

fn corrupt_blob(scan: i64, collector: &str, message: String) -> StoreError {
    StoreError::Corrupt {
        scan,
        what: collector.to_string(),
        message,
    }
}

/// A stored manifest's JSON (of scan `scan`, named in the error).
fn parse_manifest(scan: i64, data: &[u8]) -> Result<Manifest, StoreError> {
    serde_json::from_slice(data).map_err(|e| StoreError::Corrupt {
        scan,
        what: "manifest".into(),
        message: e.to_string(),
    })
}

fn scan_from_row(row: sqlx::sqlite::SqliteRow) -> ScanInfo {
    let ts = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    ScanInfo {
        id: row.get("id"),
        label: row.get("label"),
        started_at: ts(row.get("started_at")),
        finished_at: ts(row.get("finished_at")),
        hostname: row.get("hostname"),
        root: row.get("root"),
        changes: row.get("changes"),
        warnings: row.get("warnings"),
        trigger: row.get("trigger"),
    }
}

/// A label is 1-64 characters of `[A-Za-z0-9._-]`, not all digits (those are scan ids).
pub fn validate_label(label: &str) -> Result<(), StoreError> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !label.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadLabel(label.to_string()))
    }
}

/// An I/O error with the likely fix.
/// `PRAGMA quick_check`: SQLite's structural check without the index cross-check, a fraction of
/// a second for a dawgmon database. Anything but "ok" means the file is damaged.
async fn check_integrity(pool: &SqlitePool, path: &Path) -> Result<(), StoreError> {
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA quick_check(3)")
        .fetch_all(pool)
        .await
        .map_err(|e| open_error(path, e))?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    let mut found = rows
        .join("; ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if found.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&i| found.is_char_boundary(i))
            .unwrap_or(0);
        found.truncate(cut);
        found.push_str("...");
    }
    Err(StoreError::Damaged {
        path: path.to_path_buf(),
        detail: format!("SQLite's integrity check failed: {found}"),
    })
}

#[cfg(test)]
mod tests;

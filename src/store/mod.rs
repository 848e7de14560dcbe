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
use crate::model::{Item, Outcome, Snapshot};

mod blobs;
mod digests;
mod outbox;
mod save;
mod settings;
mod stream;
pub use blobs::content_hash;
pub use digests::StoredDigests;
pub use outbox::{
    GIVE_UP_AFTER, KEEP_SENT, NewMail, OutboxMail, OutboxSummary, PERMANENT_ATTEMPTS, backoff,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations");

/// `SELECT <all scan columns> FROM scans <rest>`, as a literal so sqlx sees static SQL.
macro_rules! select_scan {
    ($rest:literal) => {
        concat!(
            "SELECT id, label, started_at, finished_at, hostname, root, changes, warnings FROM scans ",
            $rest
        )
    };
}

mod reported;
pub use reported::Marked;

/// Default number of unlabelled scans kept.
pub const DEFAULT_RETENTION: usize = 64;

/// One stored scan, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanInfo {
    pub id: i64,
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub hostname: String,
    pub root: String,
    /// Changes and warnings against the scan before it, when that was compared.
    pub changes: Option<i64>,
    pub warnings: Option<i64>,
}

/// What to record about a new scan besides its snapshot.
#[derive(Debug, Clone)]
pub struct NewScan {
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub hostname: String,
    pub root: String,
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
    /// Opens (creating if needed) the database at `path`, migrating an older schema and refusing
    /// a newer one.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_inner(path)
            .await
            .map_err(|e| or_full(path, "open the database", e))
    }

    async fn open_inner(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        let sql_err = |e: sqlx::Error| open_error(path, e);
        create_private_file(path).map_err(|e| open_err(hint(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A write that failed half-way (the disk filled up) can leave a connection whose
            // transaction SQLite already rolled back while sqlx still counts it open: later
            // "commits" on it would only release savepoints. Such a connection is closed
            // instead of reused. The query first runs any rollback queued by a dropped
            // transaction.
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SELECT 1").execute(&mut *conn).await?;
                    Ok(!sqlx::Connection::is_in_transaction(conn))
                })
            })
            .connect_with(options)
            .await
            .map_err(sql_err)?;
        check_integrity(&pool, path).await?;

        let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let has_table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='_sqlx_migrations'",
        )
        .fetch_optional(&pool)
        .await
        .map_err(sql_err)?;
        if has_table.is_some() {
            let found: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                    .fetch_one(&pool)
                    .await
                    .map_err(sql_err)?;
            if let Some(found) = found.filter(|f| *f > known) {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    found,
                    known,
                });
            }
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| open_err(format!("migrating the schema: {e}")))?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
        })
    }

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
        sqlx::query("UPDATE scans SET label = NULL WHERE id = ?")
            .bind(scan.id)
            .execute(&self.pool)
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

/// Creates the database file 0600 (and its directory 0700) before SQLite does, so it is never
/// readable by others, whatever the umask. SQLite gives its -wal and -shm files the same mode.
fn create_private_file(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Tighten a file that an older version or a user left readable.
            let meta = fs::metadata(path)?;
            if meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
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

/// An error while opening: SQLite's "not a database" and "malformed" become
/// [`StoreError::Damaged`], with the recovery; anything else names the file.
/// `Some(free bytes)` when the file system holding `path` has less than 1 MiB left for us: an
/// SQLite I/O or "full" error there is then a full disk, and is reported as such.
fn nearly_full(path: &Path) -> Option<u64> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    (free < 1 << 20).then_some(free)
}

/// `e`, or [`StoreError::Full`] when the database's file system is full.
fn or_full(path: &Path, doing: &'static str, e: StoreError) -> StoreError {
    if !matches!(
        e,
        StoreError::Open { .. } | StoreError::Sql { .. } | StoreError::DiskFull { .. }
    ) {
        return e;
    }
    match nearly_full(path) {
        Some(free) => StoreError::Full {
            path: path.to_path_buf(),
            doing,
            free: crate::hostfs::human_size(free),
        },
        _ => e,
    }
}

fn open_error(path: &Path, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        // Primary result codes: SQLITE_CORRUPT (11), SQLITE_NOTADB (26).
        let primary = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        let detail = match primary {
            Some(26) => Some("not an SQLite database"),
            Some(11) => Some("SQLite reports it malformed"),
            _ => None,
        };
        if let Some(detail) = detail {
            return StoreError::Damaged {
                path: path.to_path_buf(),
                detail: detail.to_string(),
            };
        }
    }
    StoreError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn hint(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            format!("{e} (run as root, or choose a writable file with --database PATH)")
        }
        io::ErrorKind::StorageFull => format!("{e} (free some disk space)"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests;

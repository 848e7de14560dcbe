//! Opening the database: created private (0600, exclusively, without following links), WAL
//! mode, migrated, and every failure an error that names the file and the fix (a full disk, a
//! file that is not a database, a newer schema).

use super::*;

impl Store {
    /// Opens (creating if needed) the database at `path`, migrating an older schema and refusing
    /// a newer one.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_inner(path)
            .await
            .map_err(|e| or_full(path, "open the database", e))
    }

    pub(super) async fn open_inner(path: &Path) -> Result<Store, StoreError> {
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
}

/// Creates the database file 0600 (and its directory 0700) before SQLite does, so it is never
/// readable by others, whatever the umask. SQLite gives its -wal and -shm files the same mode.
pub(super) fn create_private_file(path: &Path) -> io::Result<()> {
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

/// An error while opening: SQLite's "not a database" and "malformed" become
/// [`StoreError::Damaged`], with the recovery; anything else names the file.
/// `Some(free bytes)` when the file system holding `path` has less than 1 MiB left for us: an
/// SQLite I/O or "full" error there is then a full disk, and is reported as such.
pub(super) fn nearly_full(path: &Path) -> Option<u64> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    (free < 1 << 20).then_some(free)
}

/// `e`, or [`StoreError::Full`] when the database's file system is full.
pub(super) fn or_full(path: &Path, doing: &'static str, e: StoreError) -> StoreError {
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

pub(super) fn open_error(path: &Path, e: sqlx::Error) -> StoreError {
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

pub(super) fn hint(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            format!("{e} (run as root, or choose a writable file with --database PATH)")
        }
        io::ErrorKind::StorageFull => format!("{e} (free some disk space)"),
        _ => e.to_string(),
    }
}

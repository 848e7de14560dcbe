//! Typed errors of the library. Each carries the thing it is about (a path, a scan, a collector)
//! and what was being done, so the message a user sees names the problem and the fix.

use std::io;
use std::path::PathBuf;

/// Why a collector could not produce its items in this scan.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Reading a file or directory failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The source does not exist on this host (no systemd, no dpkg, not built into the kernel...).
    #[error("{0}")]
    Unavailable(String),
    /// The source exists but its content could not be understood.
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
}

impl CollectError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        CollectError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Errors of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "database {path} was written by a newer dawgmon (schema {found}, this build knows up to {known}): upgrade dawgmon or use another --database"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The file is not an SQLite database, or SQLite found it damaged. Restarting cannot help:
    /// the message says how to move it aside and salvage what is readable.
    #[error(
        "database {path} is damaged ({detail}): dawgmon cannot use it. Move it aside and start \
         afresh: `mv {path} {path}.corrupt` (with its -wal and -shm files, if any); a new, empty \
         database is created on the next start (systemctl restart dawgmond). To salvage the \
         readable scans: `sqlite3 {path}.corrupt .recover | sqlite3 {path}.recovered` (where \
         .recover fails, see \"A damaged database\" in docs/daemon.md), then read them with \
         `dawgctl --local --database {path}.recovered history`"
    )]
    Damaged { path: PathBuf, detail: String },
    /// SQLite said the disk is full (the path is not known where this is raised).
    #[error(
        "database error while {doing}: the disk holding the database is full. Free some space \
         there; nothing already stored is lost"
    )]
    DiskFull { doing: &'static str },
    /// The file system holding the database has (next to) no free space.
    #[error(
        "cannot {doing}: the file system holding {path} is full ({free} free). Free some space \
         there; nothing already stored is lost, and the next scan after that compares with the \
         last one stored, so what changed meanwhile is still reported"
    )]
    Full {
        path: PathBuf,
        doing: &'static str,
        free: String,
    },
    #[error("no scan matches {0:?}: list scans and baselines with `dawgctl history`")]
    NotFound(String),
    #[error("database has no scans yet: run `dawgctl scan` or `dawgctl baseline NAME` first")]
    Empty,
    #[error(
        "invalid label {0:?}: a label is 1-64 characters of letters, digits, '.', '_' or '-', and not only digits"
    )]
    BadLabel(String),
    #[error("database error while {doing}: {source}")]
    Sql {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored data for scan {scan} is corrupt ({what}): {message}")]
    Corrupt {
        scan: i64,
        what: String,
        message: String,
    },
}

impl StoreError {
    /// Wraps an sqlx error with what was being done.
    pub fn sql(doing: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| {
            // SQLITE_FULL (13), with or without an extended code: say so in words.
            let full = matches!(&source, sqlx::Error::Database(db)
                if db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 13));
            if full {
                StoreError::DiskFull { doing }
            } else {
                StoreError::Sql { doing, source }
            }
        }
    }
}

/// Errors of the mail feature: configuration, credentials, sending.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The `[mail]` configuration is wrong; the text names the key and the fix.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The SMTP password could not be read.
    #[error("cannot read the SMTP password from {path}: {source} ({fix})")]
    Password {
        path: PathBuf,
        #[source]
        source: io::Error,
        fix: &'static str,
    },
    /// A stored message could not be turned into mail (a bad address, say).
    #[error("cannot build message {id}: {message}")]
    Build { id: i64, message: String },
    /// The server or the MTA did not take the message; `via` names it. `permanent`: it refused
    /// the message for good (an SMTP 5xx answer, sendmail's "no such user/host" or "bad data"
    /// exit), so retrying the same message is pointless; otherwise (no connection, 4xx, a time
    /// out) a retry may succeed.
    #[error("sending through {via} failed: {message}")]
    Send {
        via: String,
        message: String,
        permanent: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MailError {
    /// Whether sending this message again cannot succeed: a permanent refusal, or a message
    /// that cannot be built.
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::Send { permanent, .. } => *permanent,
            MailError::Build { .. } => true,
            _ => false,
        }
    }
}

/// Errors of whole operations (scan, diff, baseline) that the CLI and the daemon report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request that cannot be carried out as asked; the text says what to do instead.
    #[error("{0}")]
    Usage(String),
    /// A scan is already running (the daemon runs one at a time).
    #[error("a scan is already running; wait for it to finish")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
    /// Talking to the daemon failed, or the daemon refused the request.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach dawgmond at {0}: no such file (is the daemon running? systemctl status dawgmond; or use --local)"
    )]
    NoSocket(PathBuf),
    #[error(
        "cannot reach dawgmond at {0}: nothing listens there (the daemon stopped: systemctl status dawgmond; or use --local)"
    )]
    Refused(PathBuf),
    #[error(
        "cannot connect to dawgmond at {0}: permission denied (ask an admin to add you to the group that owns the socket, or run as root)"
    )]
    Denied(PathBuf),
    #[error("cannot talk to dawgmond at {socket}: {message}")]
    Io { socket: PathBuf, message: String },
    /// The daemon answered with an error; its message names the problem.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error(
        "dawgmond speaks API version {theirs} and this dawgctl version {ours}: install matching versions of dawgctl and dawgmond"
    )]
    Version { theirs: String, ours: u32 },
    #[error("unexpected answer from dawgmond to {what}: {message}")]
    Protocol { what: String, message: String },
}

impl ClientError {
    /// The HTTP status the daemon answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

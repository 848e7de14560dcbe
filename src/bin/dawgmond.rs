//! dawgmond: the dawgmon daemon. Arguments → config → logging → `daemon::run`; all the work is
//! in the library (`dawgmon::daemon`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dawgmon::cli::args::DaemonArgs as Args;
use dawgmon::config::{Config, LogTarget};
use dawgmon::daemon::setup::{Prepared, ReloadNote};
use dawgmon::error::{Error, StoreError};
use dawgmon::{daemon, paths};
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let args = Args::parse();
    let (path, explicit) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(paths::DEFAULT_CONFIG), false),
    };
    let overrides = (args.socket.clone(), args.database.clone());
    let config = match load(&path, explicit, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dawgmond: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.check {
        init_logging(&config);
        daemon::accept::raise_descriptor_limit();
        dawgmon::config::fleet::warn_if_exposed(&path, &config);
        // Before any other thread exists: every thread then runs without CAP_SYS_ADMIN, which
        // only the realtime watch's thread raises, to place its marks.
        dawgmon::realtime::caps::lower_before_threads();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dawgmond: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Every check start-up makes (groups, mail, rules), made the same way by --check and by
    // every reload. A refused file exits 2, which the unit does not restart on.
    let prepared = match runtime.block_on(async { Prepared::new(config) }) {
        Ok(p) => p,
        Err(e) => {
            if !args.check {
                tracing::error!("{e}");
            }
            eprintln!("dawgmond: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        print!(
            "{}",
            toml::to_string(&prepared.config).expect("config serialises")
        );
        runtime.block_on(async { drop(prepared) });
        return ExitCode::SUCCESS;
    }
    let note = ReloadNote::default();
    let result: Result<(), Error> = runtime.block_on(async {
        // SIGHUP reloads the configuration. Its handler is installed before anything else, so
        // a hang-up (a terminal the daemon never owns, or a stray kill -HUP) can never kill it.
        let mut hangup = signal(SignalKind::hangup())
            .map_err(|e| Error::Internal(format!("cannot watch for SIGHUP: {e}")))?;
        let shutdown = daemon::shutdown_signal();
        tokio::pin!(shutdown);
        let mut prepared = prepared;
        let mut listener = None;
        loop {
            let bound = match listener.take() {
                Some(l) => l,
                None => daemon::bind(&prepared)?,
            };
            let current = prepared.config.clone();
            let next = std::sync::Mutex::new(None);
            // Resolves on SIGTERM, or on SIGHUP with a configuration that passed every check
            // (then in `next`). A refused one leaves the daemon running as it was.
            let stop = async {
                loop {
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = hangup.recv() => {}
                    }
                    tracing::info!("SIGHUP received: reloading {}", path.display());
                    daemon::notify::reloading();
                    match reload(&path, explicit, &overrides, &current).await {
                        Ok(ready) => {
                            note.clear();
                            *next.lock().unwrap_or_else(|p| p.into_inner()) = Some(ready);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!("reload refused: {e}; keeping the configuration in use");
                            note.refused(e.clone());
                            daemon::notify::ready(&format!("reload refused: {e}"));
                        }
                    }
                }
            };
            daemon::run(prepared, bound, stop, note.clone()).await?;
            match next.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some((p, l)) => (prepared, listener) = (p, l),
                None => return Ok(()),
            }
        }
    });
    // Collector threads stuck in a hung read must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("dawgmond: {e}");
            match e {
                Error::Store(StoreError::Damaged { .. }) => {
                    ExitCode::from(daemon::EXIT_DATABASE_DAMAGED)
                }
                _ => ExitCode::from(1),
            }
        }
    }
}

/// A reload: the file loaded and checked as at start-up, and what would stop the new run from
/// starting (another database that does not open, another socket path that cannot be bound)
/// done while the running daemon still serves. An error refuses the reload.
async fn reload(
    path: &std::path::Path,
    explicit: bool,
    overrides: &(Option<PathBuf>, Option<PathBuf>),
    current: &Config,
) -> Result<(Prepared, Option<tokio::net::UnixListener>), String> {
    let config = load(path, explicit, overrides).map_err(|e| e.to_string())?;
    let mut prepared = Prepared::new(config).map_err(|e| e.to_string())?;
    if prepared.config.database != current.database {
        prepared.open_store().await.map_err(|e| e.to_string())?;
    }
    let listener = if prepared.config.socket != current.socket {
        Some(daemon::bind(&prepared).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok((prepared, listener))
}

/// The configuration file with the command line's overrides (socket, database) applied.
fn load(
    path: &std::path::Path,
    explicit: bool,
    overrides: &(Option<PathBuf>, Option<PathBuf>),
) -> Result<Config, dawgmon::config::ConfigError> {
    let mut config = Config::load(path, explicit)?;
    if let Some(s) = &overrides.0 {
        config.socket = s.clone();
    }
    if let Some(d) = &overrides.1 {
        config.database = d.clone();
    }
    Ok(config)
}

/// Logs to journald (structured: every event's fields become journal fields, `SCAN_ID=42`,
/// `COLLECTOR=...`, `SEVERITY=high`) when stderr is the journal (`JOURNAL_STREAM`, as under the
/// unit) or `log_target = "journal"`, and journald's socket answers; otherwise plain text on
/// stderr. `RUST_LOG` wins over `log_level`. A bare level applies to dawgmon itself; libraries
/// log warnings and errors only. Under systemd (journald adds its own timestamps) plain lines
/// carry none.
fn init_logging(config: &Config) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = config.log_level.0.as_str();
    let directive = match level {
        "error" => "error".to_string(),
        "warn" | "info" | "debug" | "trace" => format!("warn,dawgmon={level},dawgmond={level}"),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directive));
    let want_journal = match config.log_target {
        LogTarget::Auto => stderr_is_the_journal(),
        LogTarget::Journal => true,
        LogTarget::Stderr => false,
    };
    let mut fallback = None;
    if want_journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer.with_field_prefix(None))
                    .init();
                return;
            }
            Err(e) => fallback = Some(e),
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
    if let Some(e) = fallback {
        tracing::warn!(
            "journald does not answer at /run/systemd/journal/socket ({e}): logging plain text \
             to stderr"
        );
    }
}

/// Whether stderr is the stream systemd connected to the journal: `JOURNAL_STREAM` is
/// `DEVICE:INODE` of it (a child that redirected stderr elsewhere inherits the variable, so
/// the descriptor is checked, as sd_journal_stream_fd(3) recommends).
fn stderr_is_the_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        // dev_t and ino_t are not u64 on every architecture.
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => st.st_dev as u64 == dev && st.st_ino as u64 == ino,
        Err(_) => false,
    }
}

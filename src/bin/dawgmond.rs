//! dawgmond: the dawgmon daemon. Arguments → config → logging → `daemon::run`; all the work is
//! in the library (`dawgmon::daemon`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dawgmon::cli::args::DaemonArgs as Args;
use dawgmon::config::{Config, LogTarget};
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
    let mut config = match load(&path, explicit, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dawgmond: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        print!("{}", toml::to_string(&config).expect("config serialises"));
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    daemon::serve::raise_descriptor_limit();
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
    let result: Result<(), dawgmon::error::Error> = runtime.block_on(async {
        // SIGHUP reloads the configuration. Its handler is installed before anything else, so
        // a hang-up (a terminal the daemon never owns, or a stray kill -HUP) can never kill it.
        let mut hangup = signal(SignalKind::hangup()).map_err(|e| {
            dawgmon::error::Error::Internal(format!("cannot watch for SIGHUP: {e}"))
        })?;
        loop {
            let listener = daemon::bind(&config)?;
            let reload = std::sync::atomic::AtomicBool::new(false);
            let stop = async {
                tokio::select! {
                    _ = daemon::shutdown_signal() => {}
                    _ = hangup.recv() => {
                        tracing::info!("SIGHUP received: reloading {}", path.display());
                        reload.store(true, std::sync::atomic::Ordering::SeqCst);
                        daemon::notify::reloading();
                    }
                }
            };
            daemon::run(config.clone(), listener, stop).await?;
            if !reload.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            match load(&path, explicit, &overrides) {
                Ok(c) => config = c,
                // A broken file must not take the monitor down: keep what works.
                Err(e) => tracing::error!("{e}; keeping the configuration in use"),
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

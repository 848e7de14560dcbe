//! dawgmond: the dawgmon daemon. Arguments → config → logging → `daemon::run`; all the work is
//! in the library (`dawgmon::daemon`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dawgmon::cli::args::DaemonArgs as Args;
use dawgmon::config::Config;
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

/// Logs to stderr; `RUST_LOG` wins over `log_level`. A bare level applies to dawgmon itself;
/// libraries log warnings and errors only. Under systemd (journald adds its own timestamps)
/// lines carry none.
fn init_logging(config: &Config) {
    let level = config.log_level.0.as_str();
    let directive = match level {
        "error" => "error".to_string(),
        "warn" | "info" | "debug" | "trace" => format!("warn,dawgmon={level},dawgmond={level}"),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

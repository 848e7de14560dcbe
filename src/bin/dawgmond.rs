//! dawgmond: the dawgmon daemon. Arguments → config → logging → `daemon::run`; all the work is
//! in the library (`dawgmon::daemon`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dawgmon::config::Config;
use dawgmon::error::{Error, StoreError};
use dawgmon::{daemon, paths};

/// Scheduled attack-surface scans and the dawgctl API on a UNIX socket. Runs in the
/// foreground (systemd Type=notify).
#[derive(Debug, Parser)]
#[command(name = "dawgmond", version, about)]
struct Args {
    /// Configuration file [default: /etc/dawgmon/dawgmond.toml; built-in defaults when absent].
    #[arg(long, env = "DAWGMOND_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// The API socket (overrides `socket` in the file).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The database (overrides `database` in the file).
    #[arg(long, value_name = "PATH")]
    database: Option<PathBuf>,
    /// Check the configuration, print it as the daemon would run it, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (path, explicit) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(paths::DEFAULT_CONFIG), false),
    };
    let mut config = match Config::load(&path, explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dawgmond: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(s) = args.socket {
        config.socket = s;
    }
    if let Some(d) = args.database {
        config.database = d;
    }
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
    let result = runtime.block_on(async {
        let listener = daemon::bind(&config)?;
        daemon::run(config, listener, daemon::shutdown_signal()).await
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

//! `dawgctl`: the command line. Parses arguments (clap), runs the operation in-process
//! (`--local`) or through the daemon, and renders the result.
//!
//! Exit codes: 0 success; 1 changes found and `--exit-code` given; 2 an error (printed as one
//! line that names the problem and the fix).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::client::Client;
use crate::collectors;
use crate::engine::Engine;
use crate::error::Error;
use crate::paths;
use crate::report::{self, Report, TextOptions};
use crate::store::Store;

mod backend;
mod render;

pub use backend::Backend;

/// Attack-surface change monitor: snapshot setuid files, ports, users, units, packages... and
/// see what changed.
#[derive(Debug, Parser)]
#[command(name = "dawgctl", version, about, long_about = None)]
pub struct Args {
    /// Run in-process against the database instead of asking the dawgmond daemon.
    #[arg(long, global = true)]
    pub local: bool,
    /// Database file (with --local). Default: /var/lib/dawgmon/dawgmon.db as root, else
    /// $XDG_STATE_HOME/dawgmon/dawgmon.db.
    #[arg(long, global = true, env = "DAWGMON_DATABASE", value_name = "PATH")]
    pub database: Option<PathBuf>,
    /// The daemon's socket (without --local).
    #[arg(long, global = true, env = "DAWGMON_SOCKET", value_name = "PATH",
          default_value = paths::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Scan this directory as the root file system (a mounted image or container root; with
    /// --local: the daemon scans the root of its config file).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Colour the text output by severity.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Do not print a timestamp in front of each change.
    #[arg(long, global = true)]
    pub no_timestamps: bool,
    /// Run or compare only this collector (repeatable; see `dawgctl collectors`).
    #[arg(short = 'c', long = "collector", global = true, value_name = "NAME")]
    pub collectors: Vec<String>,
    /// Exit with status 1 when changes were found (like `git diff --exit-code`).
    #[arg(long, global = true)]
    pub exit_code: bool,
    /// Unlabelled scans to keep in the database (with --local; 0 keeps all).
    #[arg(long, global = true, value_name = "N", default_value_t = crate::store::DEFAULT_RETENTION)]
    pub retention: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan now, store the scan, and print what changed since the previous one.
    Scan,
    /// Scan now and store it under a label, to compare against later.
    Baseline {
        /// Letters, digits, '.', '_' or '-'; reusing a label moves it to the new scan.
        name: String,
        /// Remove the label instead (the scan then ages out like any other).
        #[arg(long)]
        delete: bool,
    },
    /// List baselines (labelled scans), newest first.
    Baselines,
    /// Print the changes between two scans.
    Diff {
        /// Scan id or baseline label to compare from [default: newest baseline, else the
        /// scan before --to].
        #[arg(long, value_name = "LABEL|ID")]
        since: Option<String>,
        /// Scan id or label to compare to [default: a fresh scan, stored].
        #[arg(long, value_name = "LABEL|ID")]
        to: Option<String>,
    },
    /// List stored scans, newest first.
    History {
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// List the available collectors.
    Collectors,
    /// Show the daemon's state: schedule, last scan, scan in progress, database (with --local:
    /// the database's).
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Parses the process arguments and runs `dawgctl`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dawgctl: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dawgctl: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command.
pub async fn run(args: &Args) -> Result<ExitCode, Error> {
    // Check names before anything slow (a typo should not cost a scan or a connection).
    collectors::select(&args.collectors).map_err(Error::Usage)?;
    let backend = if args.local {
        let db = args
            .database
            .clone()
            .unwrap_or_else(paths::default_database);
        let store = Store::open(&db).await?;
        let mut engine = Engine::new(store, args.root.clone());
        engine.retention = args.retention;
        Backend::Local(engine)
    } else {
        if args.root != std::path::Path::new("/") {
            return Err(Error::Usage(
                "--root works with --local only: the daemon scans the root set in its config file"
                    .into(),
            ));
        }
        Backend::Remote(Client::new(&args.socket))
    };
    run_on(&backend, args).await
}

/// Runs one command on a back end.
pub async fn run_on(backend: &Backend, args: &Args) -> Result<ExitCode, Error> {
    let report = match &args.command {
        Command::Scan => {
            let r = backend.scan(None, &args.collectors).await?;
            render::announce(&r, None);
            r.report
        }
        Command::Baseline { name, delete: true } => {
            let scan = backend.delete_baseline(name).await?;
            eprintln!(
                "baseline {name:?} removed (scan {} stays until it ages out)",
                scan.id
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Baseline { name, .. } => {
            let r = backend.scan(Some(name.clone()), &args.collectors).await?;
            render::announce(&r, Some(name));
            r.report
        }
        Command::Diff { since, to } => {
            let to_scan = match to {
                Some(spec) => backend.resolve(spec).await?,
                None => {
                    // Resolve `since` first so a typo fails before a long scan.
                    if let Some(s) = since {
                        backend.resolve(s).await?;
                    } else if !backend.has_scans().await? {
                        return Err(Backend::empty());
                    }
                    let r = backend.scan(None, &args.collectors).await?;
                    render::note_denied(&r);
                    r.scan
                }
            };
            backend
                .diff(since.as_deref(), &to_scan, &args.collectors)
                .await?
        }
        Command::History { limit } => {
            render::history(&backend.history(*limit).await?, args.format);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Baselines => {
            render::history(&backend.baselines().await?, args.format);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Collectors => {
            render::collectors(&backend.collectors().await?, args.format);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Status => {
            render::status(&backend.status().await?, args.format);
            return Ok(ExitCode::SUCCESS);
        }
    };
    print_report(&report, args);
    if args.exit_code && !report.changes.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn text_options(args: &Args) -> TextOptions {
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    TextOptions {
        color,
        timestamps: !args.no_timestamps,
    }
}

fn print_report(report: &Report, args: &Args) {
    match args.format {
        Format::Json => println!("{}", report::render_json(report)),
        Format::Text => print!("{}", report::render_text(report, text_options(args))),
    }
}

//! `dawgctl`: the command line. Parses arguments (clap), runs the operation in-process
//! (`--local`) or through the daemon, and renders the result.
//!
//! Exit codes: 0 success; 1 changes found and `--exit-code` given; 2 an error (printed as one
//! line that names the problem and the fix).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

use crate::collectors::{self, Collector};
use crate::engine::{Engine, ProgressFn, ScanResult};
use crate::error::Error;
use crate::paths;
use crate::report::{self, Report, TextOptions};
use crate::store::{ScanInfo, Store};

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
    /// The daemon's socket.
    #[arg(long, global = true, env = "DAWGMON_SOCKET", value_name = "PATH",
          default_value = paths::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Scan this directory as the root file system (a mounted image or container root).
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
    },
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
    if let Command::Collectors = args.command {
        print_collectors(args.format);
        return Ok(ExitCode::SUCCESS);
    }
    let selected = collectors::select(&args.collectors).map_err(Error::Usage)?;
    if !args.local {
        return Err(Error::Usage(format!(
            "cannot reach dawgmond at {}: the daemon is not available in this build; \
             use --local to scan in-process",
            args.socket.display()
        )));
    }
    let db = args
        .database
        .clone()
        .unwrap_or_else(paths::default_database);
    let store = Store::open(&db).await?;
    let mut engine = Engine::new(store, args.root.clone());
    engine.retention = args.retention;
    let only = (!args.collectors.is_empty()).then_some(args.collectors.as_slice());

    let report = match &args.command {
        Command::Scan => {
            let r = engine.scan(None, selected, progress_fn()).await?;
            announce(&r, None);
            r.report
        }
        Command::Baseline { name } => {
            let r = engine
                .scan(Some(name.clone()), selected, progress_fn())
                .await?;
            announce(&r, Some(name));
            r.report
        }
        Command::Diff { since, to } => {
            let to_scan = match to {
                Some(spec) => engine.store.resolve(spec).await?,
                None => {
                    // Resolve `since` first so a typo fails before a long scan.
                    if let Some(s) = since {
                        engine.store.resolve(s).await?;
                    } else if engine.store.latest().await?.is_none() {
                        return Err(Error::Store(crate::error::StoreError::Empty));
                    }
                    let r = engine.scan(None, selected, progress_fn()).await?;
                    note_denied(&r);
                    r.info
                }
            };
            engine.diff_stored(since.as_deref(), &to_scan, only).await?
        }
        Command::History { limit } => {
            let scans = engine.store.list(*limit, 0).await?;
            print_history(&scans, args.format);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Collectors => unreachable!("handled above"),
    };
    print_report(&report, args);
    if args.exit_code && !report.changes.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Tells the user once about what could not be read, and about a first scan.
fn announce(r: &ScanResult, label: Option<&str>) {
    note_denied(r);
    let what = match label {
        Some(l) => format!("baseline {l:?} stored as scan {}", r.info.id),
        None => format!("scan {} stored", r.info.id),
    };
    eprintln!(
        "{what}: {} items in {:.1}s",
        r.items,
        r.elapsed.as_secs_f64()
    );
    if r.report.from.is_none() {
        eprintln!("this is the first scan: later scans are compared with it");
    }
}

fn note_denied(r: &ScanResult) {
    let (count, examples) = &r.denied;
    if *count == 0 {
        return;
    }
    let what = if *count == 1 { "path" } else { "paths" };
    let examples = examples.join(", ");
    if nix::unistd::geteuid().is_root() {
        // Root was refused: a sandbox or security module, not something `sudo` fixes.
        eprintln!("note: {count} {what} could not be read even as root (e.g. {examples})");
    } else {
        eprintln!(
            "note: {count} {what} could not be read (permission denied, e.g. {examples}); run as root for a full view"
        );
    }
}

/// Shows "scanning 12/31: list_suids" on a terminal once a scan has run for a second.
fn progress_fn() -> ProgressFn {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|_| {});
    }
    let start = Instant::now();
    Arc::new(move |p| {
        if start.elapsed().as_secs_f64() < 1.0 {
            return;
        }
        let mut err = std::io::stderr().lock();
        if p.done == p.total {
            let _ = write!(err, "\r\x1b[K");
        } else {
            let _ = write!(
                err,
                "\r\x1b[Kscanning {}/{}: {}",
                p.done, p.total, p.collector
            );
        }
        let _ = err.flush();
    })
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

fn print_history(scans: &[ScanInfo], format: Format) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(scans).expect("serialises")
        );
        return;
    }
    println!(
        "{:>6}  {:<19}  {:>7}  {:>8}  LABEL",
        "ID", "STARTED", "CHANGES", "WARNINGS"
    );
    for s in scans {
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:>6}  {:<19}  {:>7}  {:>8}  {}",
            s.id,
            s.started_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            n(s.changes),
            n(s.warnings),
            s.label.as_deref().unwrap_or("")
        );
    }
}

fn print_collectors(format: Format) {
    let all: &[&dyn Collector] = collectors::COLLECTORS;
    if format == Format::Json {
        let v: Vec<_> = all
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name(),
                    "default": c.default_enabled(),
                    "description": c.description(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).expect("serialises"));
        return;
    }
    for c in all {
        let flag = if c.default_enabled() { " " } else { "*" };
        println!("{:<20}{flag} {}", c.name(), c.description());
    }
    println!("\n* not run by default (name it with --collector to run it)");
}

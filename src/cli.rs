//! `dawgctl`: the command line. Parses arguments (clap), runs the operation in-process
//! (`--local`) or through the daemon, and renders the result.
//!
//! Exit codes: 0 success; 1 changes found and `--exit-code` given; 2 an error (printed as one
//! line that names the problem and the fix).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::client::Client;
use crate::collectors::{self, Registry};
use crate::engine::Engine;
use crate::error::Error;
use crate::model::Severity;
use crate::paths;
use crate::report::{self, Report, TextOptions};
use crate::store::Store;

pub mod args;
mod backend;
mod fleet;
mod render;
mod seal;
mod tuning;
mod watch;

pub use args::{
    Args, By, Color, Command, FleetCommand, Format, IgnoreCommand, Level, MailCommand, SealCommand,
};
pub use backend::Backend;

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
    collectors::Registry::default()
        .check_names(&args.collectors)
        .map_err(Error::Usage)?;
    if let Command::Fleet { command } = &args.command {
        return fleet::run(args, command).await;
    }
    if args.format == Format::Sarif && !prints_report(&args.command) {
        return Err(Error::Usage(
            "--format sarif is for reports (scan, baseline, diff, watch): use --format json here"
                .into(),
        ));
    }
    if args.by.is_some() && !prints_report(&args.command) {
        return Err(Error::Usage(
            "--by is for reports (scan, baseline, diff, watch)".into(),
        ));
    }
    if args.by.is_some() && args.format == Format::Sarif {
        return Err(Error::Usage(
            "--by package has no SARIF form (SARIF results are flat): use --format json".into(),
        ));
    }
    if let Command::Mail {
        command: MailCommand::Test { config },
    } = &args.command
    {
        return mail_test(args, config).await;
    }
    match &args.command {
        Command::Seal {
            command: SealCommand::Init { reinit },
        } => return seal::init(args, *reinit).await,
        Command::Verify {
            keys,
            checkpoints,
            as_of,
        } => return seal::verify(args, keys, checkpoints, as_of.as_deref()).await,
        _ => {}
    }
    if let Command::Rules = &args.command {
        let rules = local_rules(&args.daemon_config)?;
        print!("{}", tuning::render_rules(&rules, args.format));
        return Ok(ExitCode::SUCCESS);
    }
    let backend = if args.local {
        Backend::Local(local_engine(args).await?)
    } else {
        if !args.watch.is_empty() {
            return Err(Error::Usage(
                "--watch works with --local only: for the daemon, add a [[watch]] table to its \
                 config file (see dist/config/dawgmond.toml)"
                    .into(),
            ));
        }
        if args.root.is_some() {
            return Err(Error::Usage(
                "--root works with --local only: the daemon scans the root set in its config file"
                    .into(),
            ));
        }
        Backend::Remote(Client::new(&args.socket))
    };
    run_on(&backend, args).await
}

/// Whether the command prints a report (what `--format sarif` and `--min-severity` apply to).
fn prints_report(command: &Command) -> bool {
    matches!(
        command,
        Command::Scan { .. }
            | Command::Baseline { .. }
            | Command::Diff { .. }
            | Command::Watch { .. }
    )
}

/// The in-process engine of `--local`, built as the daemon builds its own
/// ([`Engine::from_config`]) from the daemon's config file when there is one, so a local scan
/// uses the daemon's database, root, collectors, timeouts, `max_hash_mib`, `rehash_every`,
/// rules, ignores and watch trees. Flags override: `--database`, `--root`, `--retention`,
/// `-c` (per command), and `--watch` adds trees. The database, when neither the flag nor the
/// file names one, is the default for this user ([`paths::default_database`]: the daemon's
/// for root). The retention, when neither the flag nor a file sets it, is the one the daemon
/// recorded in the database (so a local scan never prunes scans the daemon keeps), else the
/// default.
pub async fn local_engine(args: &Args) -> Result<Engine, Error> {
    let file = read_local_config(&args.daemon_config)?;
    let found = file.is_some();
    let mut config = file.unwrap_or_default();
    let default_db = crate::config::Config::default().database;
    config.database = match &args.database {
        Some(db) => db.clone(),
        None if config.database == default_db => paths::default_database(),
        None => config.database,
    };
    if let Some(root) = &args.root {
        // Absolute: collectors compare the paths they walk with the root's (a relative
        // `--root r` left ssh_access finding no keys at all).
        config.root = std::path::absolute(root)
            .map_err(|e| Error::Usage(format!("--root {}: {e}", root.display())))?;
    }
    // The daemon's trees, and those of --watch (a path configured there too is watched once).
    for path in &args.watch {
        let spec = crate::collectors::watch::WatchSpec::new(path.clone()).map_err(Error::Usage)?;
        if !config.watches.iter().any(|s| s.path == spec.path) {
            config.watches.push(spec);
        }
    }
    let store = Store::open(&config.database).await?;
    let mut engine = Engine::from_config(store, &config)?;
    engine.retention = match args.retention {
        Some(n) => n,
        None if found => config.retention,
        None => engine
            .store
            .retention()
            .await?
            .unwrap_or(crate::store::DEFAULT_RETENTION),
    };
    Ok(engine)
}

/// The daemon's config file as `--local` uses it (see [`local_engine`]). A missing file means
/// the defaults; one this user may not read too (said on stderr); a broken one is an error.
pub fn local_config(path: &std::path::Path) -> Result<crate::config::Config, Error> {
    Ok(read_local_config(path)?.unwrap_or_default())
}

/// The daemon's config file, `None` when it is missing or this user may not read it.
fn read_local_config(path: &std::path::Path) -> Result<Option<crate::config::Config>, Error> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    match crate::config::Config::load(path, true) {
        Ok(config) => Ok(Some(config)),
        Err(crate::config::ConfigError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            eprintln!(
                "note: cannot read {} ({source}): using the built-in settings (the default \
                 database, collectors and rules, no ignores, no configured watch trees)",
                path.display()
            );
            Ok(None)
        }
        Err(e) => Err(Error::Usage(e.to_string())),
    }
}

/// The rules of `--local` (see [`local_config`]).
pub fn local_rules(path: &std::path::Path) -> Result<crate::rules::Rules, Error> {
    // The built-in checks: `dawgctl rules` makes no watch tree (rules naming `watch:` pass).
    local_config(path)?
        .rules(&Registry::default())
        .map_err(Error::Usage)
}

/// Runs one command on a back end.
pub async fn run_on(backend: &Backend, args: &Args) -> Result<ExitCode, Error> {
    let report = match &args.command {
        Command::Scan { timings } => {
            let r = backend.scan(None, &args.collectors).await?;
            render::announce(&r, None);
            if *timings {
                if args.format == Format::Json && args.by.is_none() {
                    print!(
                        "{}",
                        render::with_timings(
                            &render_report(
                                &r.report,
                                args,
                                false,
                                &backend.package_root(),
                                &backend.registry(),
                            ),
                            &r.timings
                        )
                    );
                    if args.exit_code && shown_changes(&r.report, args) {
                        return Ok(ExitCode::from(1));
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                render::timings(&r.timings);
            }
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
        Command::Ignore {
            command: IgnoreCommand::Suggest { scans },
        } => {
            print!(
                "{}",
                tuning::suggest(backend, *scans, &args.collectors).await?
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Seal { .. } | Command::Verify { .. } => {
            return Err(Error::Internal(
                "seal and verify run before a back end".into(),
            ));
        }
        Command::Rules => {
            let rules = local_rules(&args.daemon_config)?;
            print!("{}", tuning::render_rules(&rules, args.format));
            return Ok(ExitCode::SUCCESS);
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
        Command::Watch { command } => return watch::run(backend, args, command).await,
        Command::Mail { .. } | Command::Fleet { .. } => unreachable!("handled by run"),
    };
    print_report(&report, args, backend);
    if args.exit_code && shown_changes(&report, args) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `dawgctl mail test`: through the daemon, or with `--local` from the daemon's config file.
async fn mail_test(args: &Args, config: &std::path::Path) -> Result<ExitCode, Error> {
    let answer = if args.local {
        let cfg =
            crate::config::Config::load(config, true).map_err(|e| Error::Usage(e.to_string()))?;
        let Some(mail) = cfg.mail else {
            return Err(Error::Usage(format!(
                "mail is not configured in {}: add a [mail] table (see docs/mail.md)",
                config.display()
            )));
        };
        let mailer = crate::mail::Mailer::new(&mail).map_err(|e| Error::Usage(e.to_string()))?;
        let host = crate::engine::hostname(&cfg.root);
        eprintln!(
            "note: sent by dawgctl itself (uid {}), not through dawgmond and its sandbox",
            nix::unistd::geteuid()
        );
        let answer = crate::mail::send_test(&mailer, &host)
            .await
            .map_err(|e| Error::Usage(one_line(&e.to_string())))?;
        crate::api::MailTestAnswer {
            answer,
            via: mailer.via().to_string(),
            to: mail.to,
        }
    } else {
        Client::new(&args.socket).mail_test().await?
    };
    match args.format {
        Format::Json | Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&answer).expect("serialises")
        ),
        Format::Text if answer.answer.starts_with("accepted by") => println!(
            "test message to {}: {}",
            answer.to.join(", "),
            one_line(&answer.answer)
        ),
        Format::Text => println!(
            "test message to {} sent through {}: {}",
            answer.to.join(", "),
            answer.via,
            one_line(&answer.answer)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The level `--min-severity` names.
pub fn min_severity(args: &Args) -> Severity {
    match args.min_severity {
        Level::Info => Severity::Info,
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
        Level::Critical => Severity::Critical,
    }
}

/// Whether the report has changes at or above `--min-severity` (what `--exit-code` looks at).
pub fn shown_changes(report: &Report, args: &Args) -> bool {
    let min = min_severity(args);
    report.changes.iter().any(|c| c.severity >= min)
}

/// Whether text is coloured, `terminal` saying whether it goes to one.
fn use_color(args: &Args, terminal: bool) -> bool {
    match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// A report as the arguments ask for it (format, `--min-severity`), ending in a newline.
/// `terminal`: whether it goes to a terminal (for `--color auto`); `root`: whose package
/// database `--by package` consults; `registry`: the collectors `--by package` names.
pub fn render_report(
    report: &Report,
    args: &Args,
    terminal: bool,
    root: &std::path::Path,
    registry: &Registry,
) -> String {
    let min = min_severity(args);
    let opts = TextOptions {
        color: use_color(args, terminal),
        timestamps: !args.no_timestamps,
        min_severity: min,
    };
    let attributed;
    let report = if args.by == Some(By::Package) && args.format != Format::Sarif {
        attributed = attribute(report, root);
        &attributed
    } else {
        report
    };
    match (args.format, args.by) {
        (Format::Json, Some(By::Package)) => {
            format!(
                "{}\n",
                report::by_package::render_json(report, min, registry)
            )
        }
        (Format::Text, Some(By::Package)) => {
            report::by_package::render_text(report, opts, registry)
        }
        (Format::Json, None) => format!("{}\n", report::render_json_min(report, min)),
        (Format::Sarif, _) => format!("{}\n", report::sarif::render_sarif(report, min)),
        (Format::Text, None) => report::render_text(report, opts),
    }
}

/// The report with a `package` for the changes whose collectors set none, from the dpkg file
/// lists under `root` (see [`report::by_package::attribute`]): only packages that own the path;
/// a path no package lists stays unattributed. Scans record `package` on every item that comes
/// from a file (`scan::package`), so this serves changes from scans an older dawgmon stored.
fn attribute(report: &Report, root: &std::path::Path) -> Report {
    let host = crate::host::Host::new(root);
    // Read only when a change needs it (the lists take a fraction of a second).
    let db = std::cell::OnceCell::new();
    let mut out = report.clone();
    report::by_package::attribute(&mut out, |path| {
        db.get_or_init(|| crate::sources::pkgdb::Packages::of(&host, false))
            .package_of(path)
            .filter(|p| p != "none")
    });
    out
}

fn print_report(report: &Report, args: &Args, backend: &Backend) {
    print!(
        "{}",
        render_report(
            report,
            args,
            std::io::stdout().is_terminal(),
            &backend.package_root(),
            &backend.registry(),
        )
    );
}

#[cfg(test)]
mod tests;

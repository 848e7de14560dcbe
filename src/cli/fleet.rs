//! `dawgctl fleet ...`: talks to the fleet store directly (not through the daemon).

use std::io::{IsTerminal, Write};
use std::process::{Child, Command as Process, ExitCode, Stdio};

use chrono::{DateTime, Utc};

use super::args::{FleetCommand, FleetConn, FleetOwner, KindArg};
use super::{Args, Format, Level};
use crate::error::Error;
use crate::fleet::connect::{self, Who};
use crate::fleet::query::{self, ChangeFilter, WhereFilter};
use crate::fleet::{FleetError, admin, render};
use crate::model::{ChangeKind, Severity};
use crate::report::TextOptions;

fn usage(e: FleetError) -> Error {
    Error::Usage(e.to_string())
}

/// Runs one `fleet` subcommand.
pub async fn run(args: &Args, command: &FleetCommand) -> Result<ExitCode, Error> {
    let sarif_ok = matches!(command, FleetCommand::Changes { .. });
    if args.format == Format::Sarif && !sarif_ok {
        return Err(Error::Usage(
            "--format sarif is for `fleet changes`: use --format json here".into(),
        ));
    }
    match command {
        FleetCommand::Init { owner } => {
            let (mut conn, to) = owner_conn(owner).await?;
            let v = admin::init(&mut conn, &to).await.map_err(usage)?;
            connect::close(conn).await;
            match args.format {
                Format::Json => println!("{}", serde_json::json!({ "schema": v, "at": to })),
                _ => println!(
                    "fleet schema {v} in place at {to}; add hosts with `dawgctl fleet add-host \
                     NAME --url ...`"
                ),
            }
        }
        FleetCommand::AddHost { name, owner } | FleetCommand::AddReader { name, owner } => {
            let host = matches!(command, FleetCommand::AddHost { .. });
            let (mut conn, _) = owner_conn(owner).await?;
            // The URL as given (it holds no password): the printed one keeps its parameters.
            let creds = if host {
                admin::add_host(&mut conn, &owner.url, name).await
            } else {
                admin::add_reader(&mut conn, &owner.url, name).await
            }
            .map_err(usage)?;
            connect::close(conn).await;
            match args.format {
                Format::Json => println!("{}", creds.json()),
                _ if host => print!(
                    "{}",
                    creds.toml(&format!(
                        "dawgmon fleet credentials of host {name}: append to its \
                         /etc/dawgmon/dawgmond.toml, then systemctl reload dawgmond"
                    ))
                ),
                _ => print!(
                    "{}",
                    creds.toml(&format!(
                        "dawgmon fleet reader {name}: dawgctl fleet --url URL --password-file \
                         FILE (FILE holding the password)"
                    ))
                ),
            }
        }
        FleetCommand::Hosts { conn } => {
            let mut c = reader_conn(args, conn).await?;
            let mut out = Output::open(args.format);
            match args.format {
                Format::Json => {
                    let mut arr = render::JsonArray::new(&mut out).map_err(io)?;
                    query::hosts(&mut c, |h| arr.push(&h).map_err(FleetError::Io))
                        .await
                        .map_err(usage)?;
                    arr.finish().map_err(io)?;
                }
                _ => {
                    writeln!(out, "{}", render::HOSTS_HEADER).map_err(io)?;
                    query::hosts(&mut c, |h| {
                        writeln!(out, "{}", render::host_line(&h)).map_err(FleetError::Io)
                    })
                    .await
                    .map_err(usage)?;
                }
            }
            out.close();
            connect::close(c).await;
        }
        FleetCommand::Changes {
            since,
            host,
            kind,
            severity,
            key,
            conn,
        } => {
            let collector = args.collectors.clone();
            let filter = ChangeFilter {
                since: parse_since(since)?,
                host: host.clone(),
                collectors: collector,
                kind: kind.map(|k| match k {
                    KindArg::Added => ChangeKind::Added,
                    KindArg::Removed => ChangeKind::Removed,
                    KindArg::Modified => ChangeKind::Modified,
                }),
                min_severity: level(*severity),
                key: key.clone(),
            };
            let mut c = reader_conn(args, conn).await?;
            let mut out = Output::open(args.format);
            match args.format {
                Format::Json => {
                    let mut arr = render::JsonArray::new(&mut out).map_err(io)?;
                    query::changes(&mut c, &filter, |r| arr.push(&r).map_err(FleetError::Io))
                        .await
                        .map_err(usage)?;
                    arr.finish().map_err(io)?;
                }
                Format::Sarif => {
                    let mut runs = render::SarifRuns::new(&mut out).map_err(io)?;
                    query::changes(&mut c, &filter, |r| runs.push(r).map_err(FleetError::Io))
                        .await
                        .map_err(usage)?;
                    runs.finish().map_err(io)?;
                }
                Format::Text => {
                    let opts = TextOptions {
                        color: false,
                        timestamps: !args.no_timestamps,
                        min_severity: Severity::Info,
                    };
                    let mut n = 0u64;
                    query::changes(&mut c, &filter, |r| {
                        n += 1;
                        writeln!(out, "{}", render::change_line(&r, opts)).map_err(FleetError::Io)
                    })
                    .await
                    .map_err(usage)?;
                    if n == 0 {
                        writeln!(out, "no changes").map_err(io)?;
                    }
                }
            }
            out.close();
            connect::close(c).await;
        }
        FleetCommand::Where { key, field, conn } => {
            let collector = args.collectors.clone();
            let field = field.as_ref().map(|f| {
                f.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or((f.clone(), "*".to_string()))
            });
            let filter = WhereFilter {
                key: key.clone(),
                collectors: collector,
                field,
            };
            let mut c = reader_conn(args, conn).await?;
            let mut out = Output::open(args.format);
            match args.format {
                Format::Json => {
                    let mut arr = render::JsonArray::new(&mut out).map_err(io)?;
                    query::where_now(&mut c, &filter, |r| arr.push(&r).map_err(FleetError::Io))
                        .await
                        .map_err(usage)?;
                    arr.finish().map_err(io)?;
                }
                _ => {
                    query::where_now(&mut c, &filter, |r| {
                        writeln!(out, "{}", render::item_line(&r)).map_err(FleetError::Io)
                    })
                    .await
                    .map_err(usage)?;
                }
            }
            out.close();
            connect::close(c).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn io(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot write the output: {e}"))
}

fn level(l: Level) -> Severity {
    match l {
        Level::Info => Severity::Info,
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
        Level::Critical => Severity::Critical,
    }
}

/// `7d`, `12h` (before now) or an RFC 3339 time.
fn parse_since(s: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        Error::Usage(format!(
            "--since {s:?}: {e}; write a duration (\"7d\", \"12h\") or an RFC 3339 time"
        ))
    })?;
    let d = chrono::Duration::from_std(d)
        .map_err(|_| Error::Usage(format!("--since {s:?} is too far back")))?;
    Ok(Utc::now() - d)
}

async fn owner_conn(owner: &FleetOwner) -> Result<(sqlx::postgres::PgConnection, String), Error> {
    admin::connect_url(&owner.url, owner.password_file.as_deref(), Who::Owner)
        .await
        .map_err(usage)
}

/// A reader's connection: --url (and --password-file), else the daemon config's [fleet].
async fn reader_conn(args: &Args, conn: &FleetConn) -> Result<sqlx::postgres::PgConnection, Error> {
    if let Some(url) = &conn.url {
        return Ok(
            admin::connect_url(url, conn.password_file.as_deref(), Who::Reader)
                .await
                .map_err(usage)?
                .0,
        );
    }
    let config = crate::config::Config::load(&args.daemon_config, true)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let Some(fleet) = config.fleet else {
        return Err(Error::Usage(format!(
            "no --url and no [fleet] table in {}: pass --url postgres://READER@HOST/DATABASE \
             (a reader made by `dawgctl fleet add-reader`)",
            args.daemon_config.display()
        )));
    };
    let opts = fleet.connect_options().map_err(usage)?;
    connect::connect(&opts, Who::Reader).await.map_err(usage)
}

/// Standard output, through a pager (`$PAGER`, else `less -FRX`) when it is a terminal and
/// the output is text.
enum Output {
    Plain(std::io::Stdout),
    Paged(Child),
}

impl Output {
    fn open(format: Format) -> Output {
        let stdout = std::io::stdout();
        if format != Format::Text || !stdout.is_terminal() {
            return Output::Plain(stdout);
        }
        let pager = std::env::var("PAGER").unwrap_or_else(|_| "less -FRX".into());
        let mut words = pager.split_whitespace();
        let Some(prog) = words.next() else {
            return Output::Plain(stdout);
        };
        match Process::new(prog).args(words).stdin(Stdio::piped()).spawn() {
            Ok(child) => Output::Paged(child),
            Err(_) => Output::Plain(stdout),
        }
    }

    fn close(self) {
        if let Output::Paged(mut child) = self {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(s) => s.write(buf),
            Output::Paged(c) => match c.stdin.as_mut() {
                Some(i) => i.write(buf),
                None => Ok(buf.len()),
            },
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(s) => s.flush(),
            Output::Paged(c) => c.stdin.as_mut().map_or(Ok(()), |i| i.flush()),
        }
    }
}

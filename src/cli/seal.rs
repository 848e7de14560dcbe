//! `dawgctl seal init` and `dawgctl verify`: both work on a database file directly (the
//! daemon's, through the config file or --database, or a copy), never through the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::args::{Args, Format};
use crate::error::Error;
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::key::EpochKey;
use crate::seal::verify::{EXIT_ERROR, Options};
use crate::store::{NewMail, Store};

/// The database `seal init` and `verify` work on: --database, else the config file's, else
/// this user's default.
fn database(args: &Args) -> Result<(PathBuf, crate::config::Config), Error> {
    let config = super::local_config(&args.daemon_config)?;
    let default_db = crate::config::Config::default().database;
    let db = match &args.database {
        Some(db) => db.clone(),
        None if config.database == default_db => crate::paths::default_database(),
        None => config.database.clone(),
    };
    Ok((db, config))
}

/// `dawgctl seal init [--reinit]`.
pub async fn init(args: &Args, reinit: bool) -> Result<ExitCode, Error> {
    let (db, config) = database(args)?;
    let store = Store::open(&db).await?;
    let done = crate::seal::init(&store, &db, reinit)
        .await
        .map_err(Error::Usage)?;
    let vk = &done.verification_key;
    match args.format {
        Format::Json | Format::Sarif => {
            println!("{}", serde_json::json!({ "verification_key": vk }))
        }
        Format::Text => {
            println!("{vk}");
            eprintln!(
                "This is the verification key of the sealed history of {} (generation {}). It \
                 is shown once: store it OFF this host (whoever holds it can check and forge \
                 seals). Check a copy of the database with\n  dawgctl verify --database COPY \
                 --key KEY",
                db.display(),
                done.checkpoint.generation
            );
        }
    }
    if let Some(mail) = &config.mail {
        let host = crate::engine::hostname(&config.root);
        let m = NewMail {
            scan_id: None,
            subject: format!("[dawgmon] {host}: verification key of the sealed history"),
            body_text: format!(
                "`dawgctl seal init{}` on {host} made a new verification key. Store it off the \
                 host; whoever holds it can check and forge seals:\n\n{vk}\n\nCheck a copy of \
                 the database with:\n  dawgctl verify --database COPY --key '{vk}'\n",
                if reinit { " --reinit" } else { "" }
            ),
            body_html: None,
            recipients: mail.to.clone(),
        };
        store.outbox_enqueue(&m, Utc::now()).await?;
        eprintln!(
            "note: queued for mail to {} (dawgmond sends it)",
            mail.to.join(", ")
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `dawgctl verify [--key KEY]... [--checkpoint CP]... [--as-of TIME]`.
pub async fn verify(
    args: &Args,
    keys: &[String],
    checkpoints: &[String],
    as_of: Option<&str>,
) -> Result<ExitCode, Error> {
    let fail = |m: String| {
        eprintln!("dawgctl: {m}");
        Ok(ExitCode::from(EXIT_ERROR))
    };
    let mut opts = Options {
        as_of: Utc::now().timestamp_millis(),
        ..Options::default()
    };
    for k in keys {
        match EpochKey::from_text(k) {
            Ok(k) => opts.keys.push(k),
            Err(e) => return fail(format!("--key: {e}")),
        }
    }
    for c in checkpoints {
        match Checkpoint::parse(c) {
            Ok(c) => opts.checkpoints.push(c),
            Err(e) => return fail(format!("--checkpoint: {e}")),
        }
    }
    if let Some(t) = as_of {
        match DateTime::parse_from_rfc3339(t) {
            Ok(t) => opts.as_of = t.timestamp_millis(),
            Err(e) => {
                return fail(format!(
                    "--as-of {t:?}: {e} (write e.g. 2025-01-02T03:04:05Z)"
                ));
            }
        }
    }
    let (db, _) = database(args)?;
    let store = match Store::open_read_only(&db).await {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let out = match crate::seal::verify::verify(&store, &opts).await {
        Ok(o) => o,
        Err(e) => {
            return fail(format!(
                "cannot read the sealed history of {}: {e} (is it a dawgmon database of \
                 schema 9 or later?)",
                db.display()
            ));
        }
    };
    let code = out.exit_code();
    match args.format {
        Format::Json | Format::Sarif => println!(
            "{}",
            serde_json::json!({
                "intact": code == 0,
                "exit_code": code,
                "findings": out.findings.iter().map(|f| &f.message).collect::<Vec<_>>(),
                "notes": out.notes,
                "scans": out.scans,
                "entries": out.entries,
                "seals": out.seals,
            })
        ),
        Format::Text => {
            for f in &out.findings {
                println!("{}", f.message);
            }
            for n in &out.notes {
                eprintln!("note: {n}");
            }
            if code == 0 {
                println!(
                    "intact: {} scans, {} log entries, {} seals{}",
                    out.scans,
                    out.entries,
                    out.seals,
                    if opts.keys.is_empty() {
                        " (internal consistency only)"
                    } else {
                        ", every seal valid"
                    }
                );
            }
        }
    }
    Ok(ExitCode::from(code))
}

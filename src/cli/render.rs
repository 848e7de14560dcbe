//! `dawgctl`'s output besides reports: scan announcements, history, collectors, status.
//! Data goes to stdout (text or JSON); notes for the person at the terminal go to stderr.

use chrono::{DateTime, Local, Utc};

use crate::api::{CollectorInfo, ScanResponse};
use crate::store::ScanInfo;

use super::Format;
use super::backend::Status;

/// Tells the user once about what could not be read, and about a first scan.
pub fn announce(r: &ScanResponse, label: Option<&str>) {
    note_denied(r);
    let what = match label {
        Some(l) => format!("baseline {l:?} stored as scan {}", r.scan.id),
        None => format!("scan {} stored", r.scan.id),
    };
    let joined = if r.joined {
        " (the daemon was already running this scan: its result)"
    } else {
        ""
    };
    eprintln!(
        "{what}: {} items in {:.1}s{joined}",
        r.items,
        r.elapsed_ms as f64 / 1000.0
    );
    if r.report.from.is_none() {
        eprintln!("this is the first scan: later scans are compared with it");
    }
}

/// "note: 3 paths could not be read ..." when some were not readable.
pub fn note_denied(r: &ScanResponse) {
    if r.denied == 0 {
        return;
    }
    let count = r.denied;
    let what = if count == 1 { "path" } else { "paths" };
    let examples = r.denied_examples.join(", ");
    if r.scanned_as_root {
        // Root was refused: a sandbox or security module, not something `sudo` fixes.
        eprintln!("note: {count} {what} could not be read even as root (e.g. {examples})");
    } else {
        eprintln!(
            "note: {count} {what} could not be read (permission denied, e.g. {examples}); run as root for a full view"
        );
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialises"));
}

/// A list of scans, newest first.
pub fn history(scans: &[ScanInfo], format: Format) {
    if format == Format::Json {
        return json(&scans);
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
            local(s.started_at),
            n(s.changes),
            n(s.warnings),
            s.label.as_deref().unwrap_or("")
        );
    }
}

/// The collector list.
pub fn collectors(all: &[CollectorInfo], format: Format) {
    if format == Format::Json {
        return json(&all);
    }
    for c in all {
        let flag = if c.default { " " } else { "*" };
        println!("{:<20}{flag} {}", c.name, c.description);
    }
    println!("\n* not run by default (name it with --collector to run it)");
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / (1 << 10) as f64),
        b => format!("{b} bytes"),
    }
}

fn scan_line(s: &ScanInfo) -> String {
    let label = s
        .label
        .as_deref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    let found = match (s.changes, s.warnings) {
        (Some(c), Some(w)) => format!(": {}", crate::report::headline(c as usize, w as usize)),
        _ => String::new(),
    };
    format!("scan {}{label} at {}{found}", s.id, local(s.finished_at))
}

/// `dawgctl status`.
pub fn status(status: &Status, format: Format) {
    match status {
        Status::Daemon(s) if format == Format::Json => json(s),
        Status::Local {
            database,
            bytes,
            scans,
            last,
        } if format == Format::Json => json(&serde_json::json!({
            "database": database,
            "database_bytes": bytes,
            "scans_stored": scans,
            "last_scan": last,
        })),
        Status::Daemon(s) => {
            let up = s.uptime_secs;
            println!(
                "dawgmond {} (API v{}), up {}d {}h {}m",
                s.version,
                s.api_version,
                up / 86400,
                up / 3600 % 24,
                up / 60 % 60
            );
            match (&s.schedule, s.next_scan) {
                (Some(cron), Some(next)) => {
                    println!("schedule:  {cron} (next scan {})", local(next))
                }
                (Some(cron), None) => println!("schedule:  {cron}"),
                (None, _) => println!("schedule:  off (scans on request only)"),
            }
            match &s.scan_in_progress {
                Some(p) => println!(
                    "scanning:  {}/{} collectors{}, started {} by {}{}",
                    p.done,
                    p.total,
                    p.last
                        .as_deref()
                        .map(|c| format!(" (last: {c})"))
                        .unwrap_or_default(),
                    local(p.started_at),
                    p.trigger,
                    p.label
                        .as_deref()
                        .map(|l| format!(" for baseline {l}"))
                        .unwrap_or_default()
                ),
                None => println!("scanning:  no"),
            }
            match &s.last_scan {
                Some(l) => println!("last:      {}", scan_line(l)),
                None => println!("last:      no scan yet"),
            }
            if let Some(l) = &s.last_scheduled {
                println!(
                    "scheduled: scan {} at {}: {}",
                    l.id,
                    local(l.finished_at),
                    crate::report::headline(l.changes, l.warnings)
                );
            }
            println!(
                "database:  {}, {} scans, {}",
                s.database,
                s.scans_stored,
                size(s.database_bytes)
            );
            println!("root:      {} ({} collectors)", s.root, s.collectors.len());
        }
        Status::Local {
            database,
            bytes,
            scans,
            last,
        } => {
            println!("database:  {database}, {scans} scans, {}", size(*bytes));
            match last {
                Some(l) => println!("last:      {}", scan_line(l)),
                None => println!("last:      no scan yet"),
            }
        }
    }
}

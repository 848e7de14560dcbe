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
    let files = if r.files_hashed + r.files_carried > 0 {
        format!(
            "; files: {} hashed, {} unchanged by metadata (not read)",
            r.files_hashed, r.files_carried
        )
    } else {
        String::new()
    };
    eprintln!(
        "{what}: {} items in {:.1}s{files}{joined}",
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
        "{:>6}  {:<19}  {:<8}  {:>7}  {:>8}  LABEL",
        "ID", "STARTED", "TRIGGER", "CHANGES", "WARNINGS"
    );
    for s in scans {
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:>6}  {:<19}  {:<8}  {:>7}  {:>8}  {}",
            s.id,
            local(s.started_at),
            // Scans stored before the trigger was recorded: unknown.
            s.trigger.as_deref().unwrap_or("-"),
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

/// A time of today as `14:07:00`, another day's in full.
fn when(t: DateTime<Utc>) -> String {
    let t = t.with_timezone(&Local);
    if t.date_naive() == Local::now().date_naive() {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// The mail lines of `dawgctl status`: the configuration, then the outbox
/// ("2 reports pending since 13:07:00, last error: ... (attempt 5), next try 14:07:00"), then
/// the reports given up ("1 report given up (last at 13:10:00): ...").
pub fn mail_lines(s: &crate::api::Status) -> Vec<String> {
    let mut lines = pending_lines(s);
    let o = &s.outbox;
    if o.failed > 0 {
        let mut line = format!(
            "{} report{} given up",
            o.failed,
            if o.failed == 1 { "" } else { "s" }
        );
        if let Some(t) = o.last_failed_at {
            line.push_str(&format!(" (last at {})", when(t)));
        }
        if let Some(e) = &o.last_failure {
            let e: Vec<&str> = e.split_whitespace().collect();
            line.push_str(&format!(": {}", e.join(" ")));
        }
        lines.push(line);
    }
    lines
}

fn pending_lines(s: &crate::api::Status) -> Vec<String> {
    let mut lines = vec![match &s.mail {
        Some(m) => format!(
            "{} to {} via {}, send: {}",
            m.transport,
            m.to.join(", "),
            m.via,
            m.send
        ),
        None => "not configured (add a [mail] table to dawgmond.toml: docs/mail.md)".into(),
    }];
    let o = &s.outbox;
    if o.pending == 0 {
        if s.mail.is_some() {
            lines.push("no reports pending".into());
        }
        return lines;
    }
    let mut line = format!(
        "{} report{} pending",
        o.pending,
        if o.pending == 1 { "" } else { "s" }
    );
    if s.mail.is_none() {
        lines.push(format!("{line}, not sent until mail is configured again"));
        return lines;
    }
    if let Some(t) = o.oldest {
        line.push_str(&format!(" since {}", when(t)));
    }
    if let Some(e) = &o.last_error {
        let e: Vec<&str> = e.split_whitespace().collect();
        line.push_str(&format!(
            ", last error: {} (attempt {})",
            e.join(" "),
            o.max_attempts
        ));
    }
    // A scheduled scan retries every waiting report, whatever the backoff says.
    let next = match (o.next_attempt_at, s.next_scan) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(t) = next {
        line.push_str(&format!(", next try {}", when(t)));
    }
    lines.push(line);
    lines
}

/// The hooks' and the schedule's warnings in `dawgctl status`: "hooks:     ok",
/// "hooks:     failing since 14:07:00: cannot write ... (3 problems since dawgmond started)",
/// "skipped:   2 scheduled scans, the last at 14:07:00: the scan started ... was still running".
pub fn warning_lines(s: &crate::api::Status) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(h) = &s.hooks {
        let last = match (&h.last_problem, h.last_problem_at) {
            (Some(m), Some(t)) => Some((m.split_whitespace().collect::<Vec<_>>().join(" "), t)),
            _ => None,
        };
        let count = format!(
            "{} problem{} since dawgmond started",
            h.problems,
            if h.problems == 1 { "" } else { "s" }
        );
        lines.push(match last {
            None => "hooks:     ok".to_string(),
            Some((m, t)) if h.failing => {
                format!("hooks:     failing since {}: {m} ({count})", when(t))
            }
            Some((m, t)) => format!("hooks:     ok now; {count}, the last at {}: {m}", when(t)),
        });
    }
    if let Some(f) = &s.fleet {
        lines.push(fleet_line(f));
    }
    if let Some(r) = &s.realtime {
        lines.push(realtime_line(r));
    }
    if let Some(k) = &s.skipped_scans {
        lines.push(format!(
            "skipped:   {} scheduled scan{}, the last at {}: {}",
            k.count,
            if k.count == 1 { "" } else { "s" },
            when(k.last_at),
            k.reason
        ));
    }
    lines
}

/// The fleet push in `dawgctl status`: "fleet:     to ROLE@HOST/DB, all sent (last: scan
/// 12 at 14:07:00)" or "fleet:     to ..., 3 scans waiting since 13:07:00 (scan 10 first),
/// last error: ... (attempt 4), next try 14:07:00".
pub fn fleet_line(f: &crate::api::FleetStatus) -> String {
    let b = &f.backlog;
    let mut line = format!("fleet:     to {}", f.to);
    if b.pending == 0 {
        line.push_str(", all sent");
        if let (Some(id), Some(t)) = (b.last_sent_scan, b.last_sent_at) {
            line.push_str(&format!(" (last: scan {id} at {})", when(t)));
        }
        return line;
    }
    line.push_str(&format!(
        ", {} scan{} waiting",
        b.pending,
        if b.pending == 1 { "" } else { "s" }
    ));
    if let Some(t) = b.oldest {
        line.push_str(&format!(" since {}", when(t)));
    }
    if let Some(id) = b.oldest_scan {
        line.push_str(&format!(" (scan {id} first)"));
    }
    if let Some(e) = &b.last_error {
        let e: Vec<&str> = e.split_whitespace().collect();
        line.push_str(&format!(
            ", last error: {} (attempt {})",
            e.join(" "),
            b.attempts
        ));
    }
    if let Some(t) = b.next_attempt_at {
        line.push_str(&format!(", next try {}", when(t)));
    }
    line
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
            if let Some(why) = &s.reload_refused {
                println!("warning:   reload refused, running the previous configuration: {why}");
            }
            let delay = match s.schedule_random_delay_secs {
                0 => String::new(),
                d => format!(
                    " + random delay up to {}",
                    humantime::format_duration(std::time::Duration::from_secs(d),)
                ),
            };
            match (&s.schedule, s.next_scan) {
                (Some(cron), Some(next)) => {
                    println!("schedule:  {cron} UTC{delay} (next scan {})", local(next))
                }
                (Some(cron), None) => println!("schedule:  {cron} UTC{delay}"),
                (None, _) => println!("schedule:  off (scans on request only)"),
            }
            if let Some(i) = s.poll_interval_secs {
                println!("polling:   sockets, modules, mounts every {i} s");
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
            for line in mail_lines(s) {
                println!("mail:      {line}");
            }
            for line in warning_lines(s) {
                println!("{line}");
            }
            println!(
                "database:  {}, {} scans, {}",
                s.database,
                s.scans_stored,
                size(s.database_bytes)
            );
            println!("root:      {} ({} collectors)", s.root, s.collectors.len());
            match (&s.checkpoint, &s.seal_problem) {
                (_, Some(why)) => println!("sealing:   FAILING: {why}"),
                (Some(cp), None) => println!("sealed:    {cp}"),
                (None, None) => println!("sealed:    not yet"),
            }
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

/// `realtime:  fanotify (3 file systems; 120 events, 2 event scans, 0 overflows)`, with the
/// reason of a fallback and the marks that failed.
fn realtime_line(r: &crate::api::RealtimeStatus) -> String {
    let mut line = format!(
        "realtime:  {}: {} ({} watched; {} events, {} event scans, {} overflows, {} observations",
        if r.mode.is_empty() {
            "starting"
        } else {
            &r.mode
        },
        r.why,
        r.watching.len(),
        r.events,
        r.event_scans,
        r.overflows,
        r.observations
    );
    if r.observations_dropped > 0 {
        line.push_str(&format!(", {} dropped", r.observations_dropped));
    }
    line.push(')');
    for f in &r.failed {
        line.push_str(&format!(
            "\n           not marked (scheduled scans only): {f}"
        ));
    }
    line
}

/// `scan --timings` as text, on stderr: how long each collector ran, slowest first.
pub fn timings(timings: &[crate::api::CollectorTiming]) {
    let mut sorted: Vec<_> = timings.iter().collect();
    sorted.sort_by(|a, b| b.ms.total_cmp(&a.ms).then(a.collector.cmp(&b.collector)));
    eprintln!("{:>10}  COLLECTOR", "MS");
    for t in sorted {
        eprintln!("{:>10.1}  {}", t.ms, t.collector);
    }
}

/// The JSON report `json` with the scan's `timings` list added (`scan --format json --timings`).
pub fn with_timings(json: &str, timings: &[crate::api::CollectorTiming]) -> String {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return json.to_string();
    };
    map.insert(
        "timings".into(),
        serde_json::to_value(timings).expect("timings serialise"),
    );
    format!(
        "{}\n",
        serde_json::to_string_pretty(&map).expect("serialises")
    )
}

#[cfg(test)]
mod timing_tests {
    use super::*;
    use crate::api::CollectorTiming;

    #[test]
    fn json_timings_are_added_to_the_report_object() {
        let t = vec![CollectorTiming {
            collector: "list_suids".into(),
            ms: 12.5,
        }];
        let out = with_timings("{\"changes\": []}", &t);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["changes"], serde_json::json!([]));
        assert_eq!(
            v["timings"],
            serde_json::json!([{"collector": "list_suids", "ms": 12.5}])
        );
        let list = CollectorTiming::list(&[("a", std::time::Duration::from_micros(1234))]);
        assert_eq!((list[0].collector.as_str(), list[0].ms), ("a", 1.2));
    }
}

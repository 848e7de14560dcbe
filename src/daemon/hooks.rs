//! Fleet hooks: files other tools pick up after every scan the daemon runs (scheduled or
//! requested), each off unless its config key names a path.
//!
//! - `prometheus_textfile`: node_exporter's textfile collector format. Written whole to a new
//!   file in the same directory (unnamed, or under a random name that is not `*.prom`, so
//!   node_exporter never reads it), made 0644 (node_exporter runs as its own user), then renamed
//!   over the target: a reader sees the old file or the new one, never a partial one. With the
//!   seal's tree size and epoch (`dawgmon_seal_tree_size`, `dawgmon_seal_epoch`).
//! - `change_log`: one JSON object per change, appended (`O_APPEND`, one write per scan): the
//!   report's change fields (`collector`, `kind`, `key`, `message`, `severity`, `before`,
//!   `after`) plus `host`, `scan_id`, `from_scan_id`, `time` (when the scan started) and
//!   `checkpoint` (the latest sealed checkpoint, [`crate::seal`]), and the Elastic Common Schema
//!   fields ([`ecs`]: `@timestamp`, `host.name`, `host.id`, `event.*`, `rule.name`,
//!   `file.path`, `package.name`). Created 0640; journald/rsyslog/Vector/Fluent Bit ship it as
//!   it is, to OpenSearch or Loki unchanged.
//!
//! Both are written so that whoever can write their directory cannot redirect or block root
//! ([`files`]), off the scan task with a timeout ([`worker`]). A failed, stuck or skipped run
//! is a warning in the journal (with the fix, under the shipped unit's read-only file system)
//! and in `status`; it never fails or holds up a scan.

mod ecs;
mod files;
mod worker;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::HookStatus;
use crate::config::Config;
use crate::engine::ScanResult;
use crate::error::Error;
use crate::model::Severity;

/// How long one run of the hooks (both files) may take before it is reported stuck and later
/// runs are skipped. Writing two small files takes milliseconds; only a hung file system (a
/// dead NFS server) comes near it.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the last stored scan found, for the metrics of a later failed scan.
#[derive(Debug, Clone)]
struct Stored {
    id: i64,
    finished_at: DateTime<Utc>,
    changes: [usize; 5],
    warnings: usize,
    unavailable: Vec<String>,
}

/// The configured hooks.
pub struct Hooks {
    prometheus: Option<PathBuf>,
    change_log: Option<PathBuf>,
    root: PathBuf,
    last: Mutex<Option<Stored>>,
    /// The latest sealed checkpoint ([`crate::seal`]), carried by both files.
    checkpoint: Mutex<Option<crate::ledger::checkpoint::Checkpoint>>,
    worker: worker::Worker,
}

const SEVERITIES: [Severity; 5] = [
    Severity::Info,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

impl Hooks {
    /// The hooks `config` turns on (their thread started); `None` when none is.
    pub fn new(config: &Config) -> Result<Option<Hooks>, Error> {
        Self::with_timeout(config, HOOK_TIMEOUT)
    }

    fn with_timeout(config: &Config, timeout: Duration) -> Result<Option<Hooks>, Error> {
        if config.prometheus_textfile.is_none() && config.change_log.is_none() {
            return Ok(None);
        }
        let worker = worker::Worker::start(timeout)
            .map_err(|e| Error::Internal(format!("cannot start the hooks' thread: {e}")))?;
        Ok(Some(Hooks {
            prometheus: config.prometheus_textfile.clone(),
            change_log: config.change_log.clone(),
            root: config.root.clone(),
            last: Mutex::new(None),
            checkpoint: Mutex::new(None),
            worker,
        }))
    }

    /// The latest sealed checkpoint, for the next files written.
    pub fn set_checkpoint(&self, cp: crate::ledger::checkpoint::Checkpoint) {
        *self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(cp);
    }

    /// After a scan: `result` is the stored scan, or `None` when it failed after `elapsed`.
    /// Hands the writing to the hooks' thread and returns at once (call it on the runtime).
    pub fn after_scan(&self, result: Option<Arc<ScanResult>>, elapsed: Duration) {
        let now = Utc::now();
        let checkpoint = self
            .checkpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(r) = &result {
            let mut changes = [0; 5];
            for c in &r.report.changes {
                changes[c.severity as usize] += 1;
            }
            *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Stored {
                id: r.info.id,
                finished_at: r.info.finished_at,
                changes,
                warnings: r.report.warnings.len(),
                unavailable: r.unavailable.clone(),
            });
        }
        // The metrics now, in scan order; the files on the hooks' thread.
        let text = self.prometheus.as_ref().map(|_| {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let finished = result.as_ref().map(|r| r.info.finished_at).unwrap_or(now);
            let mut text = metrics(result.is_some(), finished, elapsed, last.as_ref());
            if let Some(cp) = &checkpoint {
                text.push_str(&seal_metrics(cp));
            }
            text
        });
        let line = checkpoint.map(|cp| cp.to_line());
        let what = match &result {
            Some(r) => format!("scan {}", r.info.id),
            None => "a failed scan".to_string(),
        };
        let (prometheus, change_log) = (self.prometheus.clone(), self.change_log.clone());
        let root = self.root.clone();
        self.worker.submit(
            what,
            Box::new(move || {
                let mut problems = Vec::new();
                // Also without changes: a file planted there stays a warning until removed.
                if let (Some(path), Some(r)) = (&change_log, &result)
                    && let Err(e) = append_changes(
                        path,
                        r,
                        &crate::fleet::push::identity(&root, None, crate::engine::hostname(&root)),
                        line.as_deref(),
                    )
                {
                    let m = format!(
                        "cannot append to the change log {}: {e}{}",
                        path.display(),
                        hint(&e, path)
                    );
                    tracing::warn!(scan_id = r.info.id, "{m}");
                    problems.push(m);
                }
                if let (Some(path), Some(text)) = (&prometheus, text)
                    && let Err(e) = files::replace(path, text.as_bytes(), 0o644)
                {
                    let m = format!(
                        "cannot write the Prometheus textfile {}: {e}{}",
                        path.display(),
                        hint(&e, path)
                    );
                    tracing::warn!("{m}");
                    problems.push(m);
                }
                problems
            }),
        );
    }

    /// Waits until the files of every scan so far are written, or [`HOOK_TIMEOUT`] has passed:
    /// a client told "scan stored" finds them up to date.
    pub async fn settled(&self) {
        self.worker.settled().await
    }

    /// What `status` shows.
    pub fn status(&self) -> HookStatus {
        let h = self.worker.health();
        let (at, message) = h.last.unzip();
        HookStatus {
            problems: h.problems,
            failing: h.failing,
            last_problem: message,
            last_problem_at: at,
        }
    }
}

/// The fix for a file system the unit keeps read-only.
fn hint(e: &std::io::Error, path: &Path) -> String {
    if e.raw_os_error() == Some(libc::EROFS) {
        let dir = path.parent().unwrap_or(Path::new("/"));
        format!(
            " (the unit's file system is read-only there: allow it with a drop-in, \
             `systemctl edit dawgmond`, [Service] ReadWritePaths={}; see docs/daemon.md)",
            dir.display()
        )
    } else {
        String::new()
    }
}

/// The textfile: node_exporter's text exposition format.
fn metrics(
    success: bool,
    finished: DateTime<Utc>,
    elapsed: Duration,
    last: Option<&Stored>,
) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    gauge(
        "dawgmon_last_scan_timestamp_seconds",
        "When the daemon's last scan ended (stored or failed), Unix time.",
        &one(finished.timestamp().to_string()),
    );
    gauge(
        "dawgmon_last_scan_duration_seconds",
        "How long the daemon's last scan took.",
        &one(format!("{:.3}", elapsed.as_secs_f64())),
    );
    gauge(
        "dawgmon_last_scan_success",
        "1 when the daemon's last scan was stored, 0 when it failed (see the journal).",
        &one(u8::from(success).to_string()),
    );
    let Some(s) = last else { return out };
    gauge(
        "dawgmon_last_success_timestamp_seconds",
        "When the last scan the daemon stored ended, Unix time.",
        &one(s.finished_at.timestamp().to_string()),
    );
    gauge(
        "dawgmon_last_success_scan_id",
        "The id of the last scan the daemon stored (dawgctl diff --to ID).",
        &one(s.id.to_string()),
    );
    let by_severity: Vec<(String, String)> = SEVERITIES
        .iter()
        .map(|sev| {
            (
                format!("{{severity=\"{sev}\"}}"),
                s.changes[*sev as usize].to_string(),
            )
        })
        .collect();
    gauge(
        "dawgmon_last_scan_changes",
        "Changes the last stored scan found, by severity.",
        &by_severity,
    );
    gauge(
        "dawgmon_last_scan_warnings",
        "Collectors the last stored scan could not compare.",
        &one(s.warnings.to_string()),
    );
    gauge(
        "dawgmon_collectors_unavailable",
        "Collectors that could not run in the last stored scan.",
        &one(s.unavailable.len().to_string()),
    );
    let each: Vec<(String, String)> = s
        .unavailable
        .iter()
        .map(|c| (format!("{{collector=\"{}\"}}", escape(c)), "1".to_string()))
        .collect();
    gauge(
        "dawgmon_collector_unavailable",
        "1 for each collector that could not run in the last stored scan.",
        &each,
    );
    out
}

/// The seal's metrics: the tree size and epoch, so a history cut or a sealing stopped shows
/// as a drop or a flat line in any dashboard.
fn seal_metrics(cp: &crate::ledger::checkpoint::Checkpoint) -> String {
    format!(
        "# HELP dawgmon_seal_tree_size Entries in the sealed log at the latest checkpoint.\n\
         # TYPE dawgmon_seal_tree_size gauge\ndawgmon_seal_tree_size {}\n\
         # HELP dawgmon_seal_epoch Epoch of the latest sealed checkpoint.\n\
         # TYPE dawgmon_seal_epoch gauge\ndawgmon_seal_epoch {}\n\
         # HELP dawgmon_seal_timestamp_seconds When the latest checkpoint was sealed, Unix time.\n\
         # TYPE dawgmon_seal_timestamp_seconds gauge\ndawgmon_seal_timestamp_seconds {}\n",
        cp.size,
        cp.epoch,
        cp.time / 1000
    )
}

/// A label value in the text format: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends one JSON line per change of `r`.
fn append_changes(
    path: &Path,
    r: &ScanResult,
    who: &crate::fleet::push::Identity,
    checkpoint: Option<&str>,
) -> std::io::Result<()> {
    let host = who.hostname.as_str();
    let mut lines = String::new();
    for c in &r.report.changes {
        let mut v = serde_json::to_value(c).map_err(std::io::Error::other)?;
        if let Some(o) = v.as_object_mut() {
            ecs::add(o, c, r.report.to.started_at, who);
            o.insert("host".into(), host.into());
            o.insert("scan_id".into(), r.info.id.into());
            o.insert(
                "from_scan_id".into(),
                r.report.from.as_ref().map(|f| f.id).into(),
            );
            o.insert("time".into(), r.report.to.started_at.to_rfc3339().into());
            if let Some(cp) = checkpoint {
                o.insert("checkpoint".into(), cp.into());
            }
        }
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    // Created 0640 (an existing file keeps the mode its owner chose).
    files::append(path, lines.as_bytes(), 0o640)
}

#[cfg(test)]
mod tests;

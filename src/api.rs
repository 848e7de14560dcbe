//! The daemon's HTTP API: routes, wire types and version, shared by `dawgmond` and `dawgctl` so
//! the two cannot drift apart.
//!
//! JSON over a UNIX socket, everything under `/v1`. Diffs are [`Report`]s (the same JSON as
//! `dawgctl --format json`) and scans are [`ScanInfo`]s. Errors are `{"error": "..."}` with a
//! message that names the problem and the fix. Every response carries [`VERSION_HEADER`]; a
//! client that sees another version says which side to upgrade. Types may gain fields (clients
//! ignore unknown ones); removing or changing one means `/v2`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::store::{OutboxSummary, ScanInfo};

/// The API version this build speaks.
pub const API_VERSION: u32 = 1;

/// Response header carrying [`API_VERSION`].
pub const VERSION_HEADER: &str = "dawgmon-api-version";

/// Largest request body the daemon accepts, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Route paths, in axum's `{param}` syntax.
pub mod routes {
    pub const STATUS: &str = "/v1/status";
    pub const SCANS: &str = "/v1/scans";
    pub const SCAN: &str = "/v1/scans/{id}";
    pub const BASELINES: &str = "/v1/baselines";
    pub const BASELINE: &str = "/v1/baselines/{label}";
    pub const DIFF: &str = "/v1/diff";
    pub const COLLECTORS: &str = "/v1/collectors";
    pub const MAIL_TEST: &str = "/v1/mail/test";
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's package version.
    pub version: String,
    pub api_version: u32,
    pub started_at: DateTime<Utc>,
    pub uptime_secs: u64,
    /// The cron expression (the default `"hourly"` resolved to this host's minute), or `None`
    /// when scheduled scans are off.
    pub schedule: Option<String>,
    /// When the next scheduled scan starts, its random delay included.
    pub next_scan: Option<DateTime<Utc>>,
    /// Seconds a scheduled scan waits after its time at most (drawn anew for each run); 0: on
    /// time.
    #[serde(default)]
    pub schedule_random_delay_secs: u64,
    /// Seconds between looks at listening sockets, kernel modules and mounts; `None`: off.
    #[serde(default)]
    pub poll_interval_secs: Option<u64>,
    /// The newest stored scan (whatever started it).
    pub last_scan: Option<ScanInfo>,
    /// What the last scheduled scan found, for reports and mail.
    pub last_scheduled: Option<ScanSummary>,
    pub scan_in_progress: Option<ScanProgress>,
    pub database: String,
    pub database_bytes: u64,
    pub scans_stored: i64,
    pub root: String,
    /// Collectors a scan runs when the request names none.
    pub collectors: Vec<String>,
    /// The `[mail]` configuration; `None`: mail is not configured.
    #[serde(default)]
    pub mail: Option<MailStatus>,
    /// Reports waiting in the outbox (also when mail is no longer configured).
    #[serde(default)]
    pub outbox: OutboxSummary,
    /// Why the last reload (SIGHUP) was refused; the daemon runs the configuration it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_refused: Option<String>,
    /// The fleet hooks' problems; `None` when no hook is configured (or an older daemon).
    #[serde(default)]
    pub hooks: Option<HookStatus>,
    /// Scheduled scans skipped because another scan was running; `None`: none since the start.
    #[serde(default)]
    pub skipped_scans: Option<SkippedScans>,
    /// The latest sealed checkpoint, one line, as `dawgctl verify --checkpoint` takes it;
    /// `None` before the first seal (or from an older daemon).
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Why sealing fails, if it does (the fix is in the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_problem: Option<String>,
    /// The fleet push and its backlog; `None`: `[fleet]` is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetStatus>,
    /// The realtime watch (file-system events between scans); `None`: an older daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime: Option<RealtimeStatus>,
}

/// Where the daemon sends its scans (`[fleet]`) and what waits to go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetStatus {
    /// role@host:port/database (no password).
    pub to: String,
    pub backlog: crate::store::FleetBacklog,
}

/// What the realtime watch does and why (`dawgctl status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealtimeStatus {
    /// `fanotify`, `inotify` or `off` (the schedule alone).
    pub mode: String,
    /// Why this mode (the fallback's reason, or the configuration).
    pub why: String,
    /// Mount points whose file systems are marked (fanotify) or directories watched
    /// (inotify).
    pub watching: Vec<String>,
    /// Marks that failed, each `PATH: reason` (those file systems fall back to the schedule).
    #[serde(default)]
    pub failed: Vec<String>,
    /// Events read, scans they asked for, overflows, and observations recorded or dropped.
    #[serde(default)]
    pub events: u64,
    #[serde(default)]
    pub event_scans: u64,
    #[serde(default)]
    pub overflows: u64,
    #[serde(default)]
    pub observations: u64,
    #[serde(default)]
    pub observations_dropped: u64,
}

/// How the fleet hooks (`prometheus_textfile`, `change_log`) fare since the daemon started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookStatus {
    /// Runs that failed, were stuck past the timeout, or were skipped.
    pub problems: u64,
    /// Whether the last problem still stands: no run has ended well since.
    pub failing: bool,
    pub last_problem: Option<String>,
    pub last_problem_at: Option<DateTime<Utc>>,
}

/// Scheduled scans that came due while another scan ran, since the daemon started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedScans {
    pub count: u64,
    pub last_at: DateTime<Utc>,
    /// What was running then: "scan started 14:07:00 by request".
    pub reason: String,
}

/// How the daemon mails its reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailStatus {
    /// `smtp` or `sendmail`.
    pub transport: String,
    /// `SMTP server 127.0.0.1:25 (no TLS)`, `sendmail command /usr/sbin/sendmail`.
    pub via: String,
    pub to: Vec<String>,
    /// `changes`, `always` or `never`.
    pub send: String,
}

/// The answer to `POST /v1/mail/test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailTestAnswer {
    /// The server's answer (`250 2.0.0 Ok: queued as ...`) or the MTA's outcome.
    pub answer: String,
    /// What the message went through.
    pub via: String,
    pub to: Vec<String>,
}

/// What one finished scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub id: i64,
    pub finished_at: DateTime<Utc>,
    pub changes: usize,
    pub warnings: usize,
}

/// A scan that is running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanProgress {
    pub started_at: DateTime<Utc>,
    /// `schedule` or `request`.
    pub trigger: String,
    pub label: Option<String>,
    /// Collectors finished and in total.
    pub done: usize,
    pub total: usize,
    /// The collector that finished last.
    pub last: Option<String>,
}

/// `POST /v1/scans` and `POST /v1/baselines`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Required for a baseline, absent for a plain scan.
    #[serde(default)]
    pub label: Option<String>,
    /// Collectors to run; empty: the daemon's configured set.
    #[serde(default)]
    pub collectors: Vec<String>,
}

/// The answer to a scan or baseline request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanResponse {
    pub scan: ScanInfo,
    /// The changes against the scan before it (no `from` for the first scan).
    pub report: Report,
    pub items: usize,
    /// Paths the daemon could not read, and a few of them.
    pub denied: u64,
    pub denied_examples: Vec<String>,
    /// Whether the scanning process ran as root (then a refusal is a sandbox's, not fixed by
    /// running as root).
    #[serde(default)]
    pub scanned_as_root: bool,
    pub elapsed_ms: u64,
    /// True when this request arrived while the same scan was running and got its result.
    pub joined: bool,
    /// Files the tree collectors read and hashed (absent from older daemons: 0).
    #[serde(default)]
    pub files_hashed: u64,
    /// Files whose digest was carried over from the previous scan: metadata unchanged.
    #[serde(default)]
    pub files_carried: u64,
    /// How long each collector ran, in registry order (absent from older daemons: empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timings: Vec<CollectorTiming>,
}

/// How long one collector of a scan ran, in milliseconds (`dawgctl scan --timings`). A
/// collector that waits for work it shares with others (the file-system walk) counts the wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorTiming {
    pub collector: String,
    pub ms: f64,
}

impl CollectorTiming {
    /// The wire form of a scan's timings.
    pub fn list(timings: &[(&str, std::time::Duration)]) -> Vec<CollectorTiming> {
        timings
            .iter()
            .map(|(name, took)| CollectorTiming {
                collector: name.to_string(),
                ms: (took.as_secs_f64() * 1e4).round() / 10.0,
            })
            .collect()
    }
}

/// `GET /v1/scans?limit=&offset=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Default and largest page of `GET /v1/scans`.
pub const PAGE_DEFAULT: i64 = 50;
pub const PAGE_MAX: i64 = 1000;

/// The answer to `GET /v1/scans`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanList {
    pub scans: Vec<ScanInfo>,
    pub total: i64,
    pub offset: i64,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<i64>,
}

/// `GET /v1/diff?since=&to=&collectors=a,b`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// Scan id or label; default: the newest baseline before `to`, else the scan before it.
    pub since: Option<String>,
    /// Scan id or label; default: the newest scan.
    pub to: Option<String>,
    /// Comma-separated collector names to compare; default all.
    pub collectors: Option<String>,
}

/// One entry of `GET /v1/collectors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorInfo {
    pub name: String,
    /// Whether a scan that names no collectors runs it (on the daemon: its configured set).
    pub default: bool,
    pub description: String,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The collector list as `dawgctl collectors` shows it (the registry, then the configured
/// watch trees), given which ones run by default.
pub fn collector_infos(
    watches: &[&'static dyn crate::collectors::Collector],
    runs: impl Fn(&str) -> bool,
) -> Vec<CollectorInfo> {
    crate::collectors::COLLECTORS
        .iter()
        .chain(watches)
        .map(|c| CollectorInfo {
            name: c.name().to_string(),
            default: runs(c.name()),
            description: c.description().to_string(),
        })
        .collect()
}

/// Escapes a path segment (labels are `[A-Za-z0-9._-]`, ids digits; anything else is escaped
/// so a bad label reaches the daemon and is refused there with the right message).
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

//! The daemon's configuration: `/etc/dawgmon/dawgmond.toml`, every key optional.
//!
//! Load order: command-line flag → environment → the file → built-in defaults. A missing
//! *default* file means built-in defaults (a fresh install needs no config); a missing file that
//! was named explicitly, an unknown key, or a bad value is refused with the line and key at
//! fault. Values are checked while the file is parsed (each checked type is a `TryFrom<String>`
//! newtype), so toml's error carries the position of the offending value.
//!
//! `dist/config/dawgmond.toml` documents every key; `config_file_documents_every_key` keeps the
//! two in step.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::collectors;
use crate::paths;

pub mod fleet;
mod realtime;
pub use realtime::{DEFAULT_REALTIME_QUEUE, Realtime};
pub mod mail;

/// The default schedule: hourly, at a minute and second of this host's own (derived from the
/// scanned root's machine id, see `daemon::scheduler`), each run after a random delay of up to
/// [`DEFAULT_RANDOM_DELAY`].
///
/// Why hourly: a full scan walks every file system for setuid files and capabilities, which is
/// real I/O on a large host; an hour bounds how long an unattended change goes unreported while
/// keeping that cost negligible, and around an install the administrator scans on demand
/// (`dawgctl baseline pre` / `dawgctl diff --since pre`) anyway. Why a minute of its own and a
/// random delay: a fixed, published minute tells a local attacker when to act and when to
/// undo, and makes a fleet scan all at once.
pub const DEFAULT_SCHEDULE: &str = "hourly";

/// Seconds of random delay (at most) before each run of the default schedule, drawn anew for
/// each run, as systemd's `RandomizedDelaySec=` does: consecutive scans are 30 to 90 minutes
/// apart, so the time since the last scan does not tell when the next one comes.
pub const DEFAULT_RANDOM_DELAY: u64 = 1800;

/// Seconds between two looks at the surfaces that are not files (listening sockets, kernel
/// modules, mounts); a difference starts a scan of their collectors (`daemon::poll`).
pub const DEFAULT_POLL_INTERVAL: u64 = 5;

/// Unlabelled scans the daemon keeps: one week of hourly scans. Content is stored once per
/// distinct value, so a week of an unchanged host costs little more than one scan.
pub const DEFAULT_RETENTION: usize = 168;

/// Seconds one collector may run before it is abandoned and marked unavailable.
pub const DEFAULT_COLLECTOR_TIMEOUT: u64 = 300;

/// Seconds a whole scan may run: collectors not done by then (running or not yet started) are
/// marked unavailable, and the scan is stored with what it has.
pub const DEFAULT_SCAN_TIMEOUT: u64 = 900;

/// MiB of a file hashed at most; a larger file is recorded with its size, mtime and
/// `not_hashed` (a sparse file of terabytes costs an attacker nothing to make).
pub const DEFAULT_MAX_HASH_MIB: u64 = 256;

/// Seconds a connection to the API may take to send a complete request head, counted from
/// when it connects or got its previous answer: the idle and slow-client timeout. `dawgctl`
/// sends its request at once, so ten seconds is generous; a request being answered (a scan
/// that takes minutes) is never cut off by it.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 10;

/// Every top-level key of the file, for the documentation test (the `[mail]` table's keys are
/// [`MAIL_KEYS`]).
pub const KEYS: [&str; 28] = [
    "socket",
    "socket_group",
    "socket_mode",
    "admin_group",
    "database",
    "schedule",
    "schedule_random_delay",
    "poll_interval",
    "collectors",
    "retention",
    "root",
    "log_level",
    "collector_timeout",
    "scan_timeout",
    "max_hash_mib",
    "max_items",
    "idle_timeout",
    "log_target",
    "prometheus_textfile",
    "change_log",
    "apt_hook",
    "disable_rules",
    "rule",
    "ignore",
    "rehash_every",
    "watch",
    "realtime",
    "realtime_queue",
];

/// Every key of the `[mail]` table and its sub-tables, for the documentation test.
pub const MAIL_KEYS: [&str; 15] = [
    "from",
    "to",
    "transport",
    "send",
    "min_severity",
    "subject",
    "max_lines",
    "host",
    "port",
    "tls",
    "username",
    "password_file",
    "password_credential",
    "timeout_secs",
    "command",
];

/// Everything `dawgmond` can be told in its config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Path of the API's UNIX socket.
    pub socket: PathBuf,
    /// Group that owns the socket (its members may read); `None` keeps the daemon's group.
    pub socket_group: Option<String>,
    /// Permission bits of the socket.
    pub socket_mode: Mode,
    /// Members of this group may scan and change data (root always may); `None`: root only.
    pub admin_group: Option<String>,
    /// The SQLite database.
    pub database: PathBuf,
    /// When scheduled scans run.
    pub schedule: Schedule,
    /// Seconds of random delay (at most) before each scheduled scan; `None`: the default
    /// ([`DEFAULT_RANDOM_DELAY`] for the default schedule, none for one set in the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_random_delay: Option<u64>,
    /// Seconds between two looks at listening sockets, kernel modules and mounts; 0: off.
    pub poll_interval: u64,
    /// Collectors that scans run; empty means the default set.
    pub collectors: Vec<CollectorName>,
    /// Unlabelled scans kept; 0 keeps all. Baselines are never pruned.
    pub retention: usize,
    /// Root of the file system to scan.
    pub root: PathBuf,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or an `EnvFilter` directive).
    pub log_level: LogLevel,
    /// Seconds one collector may run before it is cut off.
    pub collector_timeout: u64,
    /// Seconds a whole scan may run.
    pub scan_timeout: u64,
    /// MiB of one file hashed at most.
    pub max_hash_mib: u64,
    /// Entries one list read from files others may write holds at most (FIFOs, setuid and
    /// world-writable files, configuration lines and includes); past it that collector is
    /// unavailable, never a partial list.
    pub max_items: usize,
    /// Seconds an API connection may stay idle or take to send a request head.
    pub idle_timeout: u64,
    /// Where logs go: journald's native protocol or plain text on stderr.
    pub log_target: LogTarget,
    /// node_exporter textfile written after every scan the daemon runs; `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_textfile: Option<PathBuf>,
    /// JSON-lines file every change of the daemon's scans is appended to; `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_log: Option<PathBuf>,
    /// Whether the Debian package's apt hook (`/usr/lib/dawgmon/apt-hook`, run by
    /// `/etc/apt/apt.conf.d/80dawgmon`) scans before and reports after every package
    /// operation. The daemon itself does not use it; the hook reads it from `dawgmond --check`.
    pub apt_hook: bool,
    /// Ids of rules (built-in or own) that judge nothing.
    pub disable_rules: Vec<String>,
    /// Severity rules (`[[rule]]` tables) tried before the built-in ones; one with a built-in
    /// rule's id replaces it.
    #[serde(rename = "rule")]
    pub rules: Vec<crate::rules::RuleSpec>,
    /// Changes that are noise (`[[ignore]]` tables): not reported, not mailed, not counted.
    #[serde(rename = "ignore")]
    pub ignores: Vec<crate::rules::IgnoreSpec>,
    /// How often the file-tree collectors read every file again instead of carrying digests
    /// over by metadata (`"7d"`, `"12h"`; `"off"`: never).
    pub rehash_every: RehashEvery,
    /// Directory trees watched file by file (`[[watch]]` tables), each its own collector.
    #[serde(rename = "watch")]
    pub watches: Vec<crate::collectors::watch::WatchSpec>,
    /// The watch between scans: `auto`, `inotify` or `off` (see [`Realtime`]).
    pub realtime: Realtime,
    /// fanotify's queue length in events; 0: unlimited (`FAN_UNLIMITED_QUEUE`).
    pub realtime_queue: u32,
    /// Mailed change reports (`[mail]`, see docs/mail.md); `None`: no mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<mail::MailConfig>,
    /// The fleet store (`[fleet]`, see README "Many hosts"); `None`: scans stay local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<fleet::FleetConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: PathBuf::from(paths::DEFAULT_SOCKET),
            socket_group: None,
            socket_mode: Mode(0o660),
            admin_group: None,
            database: PathBuf::from(paths::SYSTEM_DATABASE),
            schedule: Schedule(Some(DEFAULT_SCHEDULE.to_string())),
            schedule_random_delay: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            collectors: Vec::new(),
            retention: DEFAULT_RETENTION,
            root: PathBuf::from("/"),
            log_level: LogLevel("info".to_string()),
            collector_timeout: DEFAULT_COLLECTOR_TIMEOUT,
            scan_timeout: DEFAULT_SCAN_TIMEOUT,
            max_hash_mib: DEFAULT_MAX_HASH_MIB,
            max_items: crate::host::DEFAULT_MAX_ITEMS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            log_target: LogTarget::Auto,
            prometheus_textfile: None,
            change_log: None,
            apt_hook: true,
            disable_rules: Vec::new(),
            rules: Vec::new(),
            ignores: Vec::new(),
            rehash_every: RehashEvery(Some(crate::scan::DEFAULT_REHASH_EVERY)),
            watches: Vec::new(),
            realtime: Realtime::Auto,
            realtime_queue: DEFAULT_REALTIME_QUEUE,
            mail: None,
            fleet: None,
        }
    }
}

/// The longest `poll_interval` (seconds): past an hour the scheduled scan sees as much.
pub const MAX_POLL_INTERVAL: u64 = 3600;

/// The longest `schedule_random_delay` (seconds): one day.
pub const MAX_RANDOM_DELAY: u64 = 86_400;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// toml's message names the line, the column and the key.
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Loads `path`. When `explicit` is false (the default path was used) a missing file means
    /// the built-in defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses config text; the error names the line and the key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        if config.collector_timeout == 0 {
            return Err("collector_timeout must be at least 1 (seconds)".into());
        }
        if config.scan_timeout == 0 {
            return Err("scan_timeout must be at least 1 (seconds)".into());
        }
        if let Some(fleet) = &config.fleet {
            fleet.validate()?;
        }
        if config.max_hash_mib == 0 || config.max_hash_mib > 1 << 20 {
            return Err("max_hash_mib must be between 1 and 1048576 (MiB)".into());
        }
        if config.max_items == 0 {
            return Err("max_items must be at least 1 (entries per list)".into());
        }
        if config.idle_timeout == 0 {
            return Err("idle_timeout must be at least 1 (seconds)".into());
        }
        if config.poll_interval > MAX_POLL_INTERVAL {
            return Err(format!(
                "poll_interval = {}: at most {MAX_POLL_INTERVAL} (seconds); 0 turns polling off",
                config.poll_interval
            ));
        }
        if config
            .schedule_random_delay
            .is_some_and(|d| d > MAX_RANDOM_DELAY)
        {
            return Err(format!(
                "schedule_random_delay = {}: at most {MAX_RANDOM_DELAY} (seconds, one day); 0 \
                 runs every scheduled scan on time",
                config.schedule_random_delay.unwrap_or_default()
            ));
        }
        if (1..16).contains(&config.realtime_queue) {
            return Err(format!(
                "realtime_queue = {}: at least 16 events (16384 is the default; 0 is unlimited)",
                config.realtime_queue
            ));
        }
        if let Some(p) = &config.prometheus_textfile
            && (!p.is_absolute() || p.extension().is_none_or(|e| e != "prom"))
        {
            return Err(format!(
                "prometheus_textfile = {p:?}: an absolute path ending in .prom (node_exporter's \
                 textfile collector reads only *.prom files)"
            ));
        }
        if let Some(p) = &config.change_log
            && !p.is_absolute()
        {
            return Err(format!("change_log = {p:?}: an absolute path"));
        }
        config.rules()?;
        collectors::watch::check_unique(&config.watches)?;
        Ok(config)
    }

    /// The collectors of the `[[watch]]` trees (made once: call this once per load).
    pub fn watch_collectors(&self) -> Result<Vec<&'static dyn collectors::Collector>, String> {
        collectors::watch::collectors(&self.watches)
    }

    /// The effective severity and ignore rules: the `[[rule]]` tables, then the built-in ones,
    /// minus `disable_rules`, with the `[[ignore]]` tables.
    pub fn rules(&self) -> Result<crate::rules::Rules, String> {
        crate::rules::Rules::new(&self.rules, &self.disable_rules, &self.ignores)
    }

    /// The collectors scans run, as names (empty: the default set).
    pub fn collector_names(&self) -> Vec<String> {
        self.collectors.iter().map(|c| c.0.clone()).collect()
    }

    /// The random delay before each scheduled scan: the configured one, else
    /// [`DEFAULT_RANDOM_DELAY`] for the default schedule and none for one written in the file
    /// (kept as written).
    pub fn schedule_random_delay(&self) -> Duration {
        let default = match self.schedule.0.as_deref() {
            Some(DEFAULT_SCHEDULE) => DEFAULT_RANDOM_DELAY,
            _ => 0,
        };
        Duration::from_secs(self.schedule_random_delay.unwrap_or(default))
    }

    /// The per-collector timeout.
    pub fn collector_timeout(&self) -> Duration {
        Duration::from_secs(self.collector_timeout)
    }

    /// Scan options from this configuration.
    pub fn scan_options(&self) -> crate::scan::ScanOptions {
        crate::scan::ScanOptions {
            threads: 0,
            collector_timeout: self.collector_timeout(),
            scan_timeout: Duration::from_secs(self.scan_timeout),
            max_hash: self.max_hash_mib << 20,
            rehash_every: self.rehash_every.0,
            max_items: self.max_items,
        }
    }

    /// How long an API connection may be idle or slow to send a request head.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }
}

/// `rehash_every`: a duration (`"7d"`, `"36h"`, `"1w"`) or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RehashEvery(pub Option<Duration>);

impl TryFrom<String> for RehashEvery {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "off" {
            return Ok(RehashEvery(None));
        }
        match humantime::parse_duration(&s) {
            Ok(d) if d >= Duration::from_secs(60) => Ok(RehashEvery(Some(d))),
            Ok(_) => Err(format!(
                "rehash_every = {s:?}: at least a minute (\"7d\" is the default; \"off\" never re-reads unchanged files)"
            )),
            Err(e) => Err(format!(
                "rehash_every = {s:?}: {e}; write a duration such as \"7d\" or \"12h\", or \"off\""
            )),
        }
    }
}

impl From<RehashEvery> for String {
    fn from(r: RehashEvery) -> String {
        match r.0 {
            None => "off".into(),
            Some(d) => humantime::format_duration(d).to_string(),
        }
    }
}

/// Permission bits, written in the file as `0o660` (a TOML octal integer) or `"0660"`.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ModeRepr", into = "String")]
pub struct Mode(pub u32);

#[derive(Deserialize)]
#[serde(untagged)]
enum ModeRepr {
    Int(i64),
    Text(String),
}

impl TryFrom<ModeRepr> for Mode {
    type Error = String;
    fn try_from(r: ModeRepr) -> Result<Self, String> {
        let bits = match r {
            ModeRepr::Int(n) => u32::try_from(n).ok(),
            ModeRepr::Text(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
        };
        match bits {
            Some(b) if b <= 0o777 => Ok(Mode(b)),
            _ => Err("a mode is permission bits in octal: write 0o660 or \"0660\"".into()),
        }
    }
}

impl From<Mode> for String {
    fn from(m: Mode) -> String {
        format!("{:04o}", m.0)
    }
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// A cron expression with a seconds field (`"0 */15 * * * *"`), `"hourly"` (the default: once
/// an hour at this host's own minute and second, see `daemon::scheduler`), or `"off"` for no
/// scheduled scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule(pub Option<String>);

impl TryFrom<String> for Schedule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim().to_string();
        if s == "off" {
            return Ok(Schedule(None));
        }
        if s == DEFAULT_SCHEDULE {
            return Ok(Schedule(Some(s)));
        }
        let fields = s.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "schedule {s:?} has {fields} fields; it needs 6 (seconds minutes hours \
                 day-of-month month day-of-week), e.g. \"0 */15 * * * *\", or \"hourly\" or \"off\""
            ));
        }
        parse_cron(&s)
            .map_err(|e| format!("schedule {s:?} is not a valid cron expression: {e}"))?;
        Ok(Schedule(Some(s)))
    }
}

/// A cron expression as the scheduler reads it: seconds first, 6 or 7 fields (the year last),
/// in UTC; a day of the month and a day of the week must both match.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
}

impl From<Schedule> for String {
    fn from(s: Schedule) -> String {
        s.0.unwrap_or_else(|| "off".into())
    }
}

/// The name of a registered collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollectorName(pub String);

impl TryFrom<String> for CollectorName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        // A watch tree's name is checked against the configured trees when the engine is built.
        if !s.starts_with(collectors::watch::PREFIX) {
            collectors::Registry::default().select(std::slice::from_ref(&s))?;
        }
        Ok(CollectorName(s))
    }
}

impl From<CollectorName> for String {
    fn from(c: CollectorName) -> String {
        c.0
    }
}

/// Where `dawgmond` logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogTarget {
    /// journald when stderr is connected to the journal (`JOURNAL_STREAM`, as under the
    /// shipped unit), plain text on stderr otherwise.
    #[default]
    Auto,
    /// journald whenever its socket answers (plain text on stderr when it does not).
    Journal,
    /// Plain text on stderr, always.
    Stderr,
}

/// A `tracing` filter directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogLevel(pub String);

impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        tracing_subscriber::EnvFilter::try_new(&s)
            .map_err(|e| format!("log_level {s:?}: {e} (use error, warn, info, debug or trace)"))?;
        Ok(LogLevel(s))
    }
}

impl From<LogLevel> for String {
    fn from(l: LogLevel) -> String {
        l.0
    }
}

#[cfg(test)]
mod tests;

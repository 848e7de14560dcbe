//! The data that flows through dawgmon: items collected from the host, the snapshot of one scan,
//! and the changes between two snapshots.
//!
//! Everything here is plain data (serde-serialisable, no I/O), so the diff, rules and report
//! stages stay pure functions of their inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod fields;

pub use fields::Fields;

/// One thing a collector found: a setuid file, a listening port, a user...
///
/// `key` is stable across scans (a path, `tcp 0.0.0.0:22`, a user name) and unique within one
/// collector's output; `fields` hold only what is worth comparing (never pids, counters or
/// timestamps that tick on an idle host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub key: String,
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
}

impl Item {
    /// An item with no fields yet.
    pub fn new(key: impl Into<String>) -> Self {
        Item {
            key: key.into(),
            fields: Fields::new(),
        }
    }

    /// Adds (or replaces) one field, builder style.
    pub fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.fields.insert(name, value.to_string());
        self
    }

    /// Adds a field only when there is a value.
    pub fn with_opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.with(name, v),
            None => self,
        }
    }
}

/// What one collector produced in one scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The items, sorted by key, keys unique.
    Items(Vec<Item>),
    /// The collector could not run in this scan; the text says why (and how to fix it).
    Unavailable(String),
}

impl Outcome {
    /// Sorts items by key and drops later duplicates, so stored output is canonical and
    /// identical content hashes to identical bytes.
    pub fn normalized(self) -> Self {
        match self {
            Outcome::Items(mut items) => {
                // Most collectors return their items sorted (the tree walks always do): then
                // there is nothing to do, and no merge buffer of half the list (20 MB for a
                // million items) is allocated.
                if !items.windows(2).all(|w| w[0].key < w[1].key) {
                    items.sort_by(|a, b| a.key.cmp(&b.key));
                    items.dedup_by(|b, a| a.key == b.key);
                }
                Outcome::Items(items)
            }
            other => other,
        }
    }
}

/// The result of one scan: every collector that ran, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub results: BTreeMap<String, Outcome>,
}

/// How much a change matters to a reviewer. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    /// A way to root or into the host, with nothing else needed (a setuid file no package
    /// owns, a new uid-0 account, a root-run file others can write).
    Critical,
}

impl Severity {
    /// Every level, loudest first (the order of reports and summaries).
    pub const ALL_DESC: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?}: use info, low, medium, high or critical"
            )),
        }
    }
}

/// Whether an item appeared, disappeared or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

impl ChangeKind {
    /// As in the JSON report: `added`, `removed` or `modified`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
        }
    }
}

/// One difference between two scans.
///
/// For `Added`, `before` is `None` and `after` holds all fields; for `Removed` the reverse; for
/// `Modified` both hold only the fields that differ (a field missing on one side is absent there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub collector: String,
    pub kind: ChangeKind,
    pub key: String,
    pub message: String,
    pub severity: Severity,
    /// The id of the rule that set `severity` (`None`: no rule matched, or an older report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub before: Option<Fields>,
    pub after: Option<Fields>,
}

/// A collector that could not be compared, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub collector: String,
    pub message: String,
}

/// One stored scan, without its content (the store keeps it; reports, the client and the
/// daemon show it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanInfo {
    pub id: i64,
    pub label: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub hostname: String,
    pub root: String,
    /// Changes and warnings against the scan before it, when that was compared.
    pub changes: Option<i64>,
    pub warnings: Option<i64>,
    /// What started it (`schedule`, `request`, `event`, `overflow`, `startup`, `poll`);
    /// `None` for scans stored before that was recorded.
    #[serde(default)]
    pub trigger: Option<String>,
}

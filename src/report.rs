//! Report rendering, pure: a compared pair of scans in, text (dawgmon style) or JSON out.
//!
//! Text is `N changes detected (M warnings)` and one line per change, `+ suid binary /usr/bin/x
//! got created (owner=root, ...)`, in collector order, with an optional timestamp in front and
//! the severity after medium and high changes; warnings follow as `! ...` lines. JSON keeps the
//! shape scripts rely on: `from`, `to`, `changes`, `warnings` (extend it, never break it).
//! The text starts with a summary (the headline and how many changes of each level);
//! `--min-severity` leaves lower changes out of every form but always says how many. SARIF is
//! in [`sarif`].

use chrono::{DateTime, Local, Utc};
use serde::{Deserialize, Serialize};

use crate::model::ScanInfo;
use crate::model::{Change, Severity, Warning};

pub mod by_package;
pub mod sarif;

/// A scan as a report refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRef {
    pub id: i64,
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
}

impl From<&ScanInfo> for ScanRef {
    fn from(s: &ScanInfo) -> Self {
        ScanRef {
            id: s.id,
            label: s.label.clone(),
            started_at: s.started_at,
        }
    }
}

/// The changes between two scans: what `dawgctl diff --format json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The earlier scan; `None` when there was nothing to compare with (the first scan).
    pub from: Option<ScanRef>,
    pub to: ScanRef,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    /// Changes an `[[ignore]]` table of the configuration dropped (not listed, not counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignored: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    /// The highest severity among the changes.
    pub fn max_severity(&self) -> Option<Severity> {
        self.changes.iter().map(|c| c.severity).max()
    }
}

/// How text is rendered.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub color: bool,
    pub timestamps: bool,
    /// Changes below this level are left out (the summary still counts them).
    pub min_severity: Severity,
}

const RESET: &str = "\x1b[0m";

fn color_of(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;7;31m",
        Severity::High => "\x1b[1;31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Info => "",
    }
}

/// `1 change detected (0 warnings)`.
pub fn headline(changes: usize, warnings: usize) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    format!(
        "{} detected ({})",
        plural(changes, "change", "changes"),
        plural(warnings, "warning", "warnings")
    )
}

/// How many changes there are of each level, loudest first (the order of [`Severity::ALL_DESC`]).
pub fn counts(changes: &[Change]) -> [usize; 5] {
    let mut n = [0; 5];
    for c in changes {
        let i = Severity::ALL_DESC
            .iter()
            .position(|s| *s == c.severity)
            .expect("every level is listed");
        n[i] += 1;
    }
    n
}

/// The summary on top of a text report: the [`headline`], then how many changes of each level
/// (loudest first, only those there are), then how many `min_severity` left out, so a filtered
/// report never passes for the whole one:
/// `5 changes detected (0 warnings): 1 critical, 2 high, 2 low; 2 below high not shown`.
pub fn summary(changes: &[Change], warnings: usize, min_severity: Severity) -> String {
    let mut out = headline(changes.len(), warnings);
    let per_level: Vec<String> = Severity::ALL_DESC
        .iter()
        .zip(counts(changes))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    if !per_level.is_empty() {
        out.push_str(": ");
        out.push_str(&per_level.join(", "));
    }
    let hidden = hidden(changes, min_severity);
    if hidden > 0 {
        out.push_str(&format!(
            "; {hidden} below {min_severity} not shown (--min-severity {min_severity})"
        ));
    }
    out
}

/// How many changes are below `min_severity`.
pub fn hidden(changes: &[Change], min_severity: Severity) -> usize {
    changes.iter().filter(|c| c.severity < min_severity).count()
}

/// One change as a line, without the trailing newline.
pub fn change_line(change: &Change, at: DateTime<Utc>, opts: TextOptions) -> String {
    let mut line = String::new();
    if opts.timestamps {
        line.push_str(&format!(
            "[{}] ",
            at.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S")
        ));
    }
    // Every line carries its level, info too: a reader (or a grep) never has to guess.
    let sev = format!(" [{}]", change.severity);
    let color = if opts.color {
        color_of(change.severity)
    } else {
        ""
    };
    let reset = if color.is_empty() { "" } else { RESET };
    line.push_str(&format!("{color}+ {}{sev}{reset}", change.message));
    line
}

/// The whole report as text.
pub fn render_text(report: &Report, opts: TextOptions) -> String {
    let mut out = summary(&report.changes, report.warnings.len(), opts.min_severity);
    out.push('\n');
    for c in report
        .changes
        .iter()
        .filter(|c| c.severity >= opts.min_severity)
    {
        out.push_str(&change_line(c, report.to.started_at, opts));
        out.push('\n');
    }
    for w in &report.warnings {
        if opts.color {
            out.push_str(&format!("\x1b[35m! {}{RESET}\n", w.message));
        } else {
            out.push_str(&format!("! {}\n", w.message));
        }
    }
    out
}

/// The report as pretty JSON.
pub fn render_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("reports serialise")
}

/// The report as pretty JSON without the changes below `min_severity`. When some were left
/// out, a `filter` object says so: `{"min_severity": "high", "hidden": 2}` (absent otherwise,
/// so an unfiltered report keeps its shape).
pub fn render_json_min(report: &Report, min_severity: Severity) -> String {
    let hidden = hidden(&report.changes, min_severity);
    if hidden == 0 {
        return render_json(report);
    }
    let shown = Report {
        changes: report
            .changes
            .iter()
            .filter(|c| c.severity >= min_severity)
            .cloned()
            .collect(),
        ..report.clone()
    };
    let mut v = serde_json::to_value(&shown).expect("reports serialise");
    v["filter"] = serde_json::json!({ "min_severity": min_severity, "hidden": hidden });
    serde_json::to_string_pretty(&v).expect("values serialise")
}

#[cfg(test)]
mod tests;

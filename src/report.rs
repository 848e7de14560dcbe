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

use crate::model::{Change, Severity, Warning};
use crate::store::ScanInfo;

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
mod tests {
    use super::*;
    use crate::model::{ChangeKind, Fields};

    fn report() -> Report {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Report {
            from: Some(ScanRef {
                id: 1,
                label: Some("pre".into()),
                started_at: at,
            }),
            to: ScanRef {
                id: 2,
                label: None,
                started_at: at,
            },
            changes: vec![Change {
                collector: "list_suids".into(),
                kind: ChangeKind::Added,
                key: "/usr/bin/x".into(),
                message: "suid binary /usr/bin/x got created (owner=root)".into(),
                severity: Severity::High,
                rule: None,
                before: None,
                after: Some(Fields::from([("owner".to_string(), "root".to_string())])),
            }],
            warnings: vec![Warning {
                collector: "kernel_modules".into(),
                message: "kernel_modules not compared: absent".into(),
            }],
            ignored: 0,
        }
    }

    #[test]
    fn text_in_dawgmon_style() {
        let text = render_text(&report(), TextOptions::default());
        assert_eq!(
            text,
            "1 change detected (1 warning): 1 high\n\
             + suid binary /usr/bin/x got created (owner=root) [high]\n\
             ! kernel_modules not compared: absent\n"
        );
        let ts = render_text(
            &report(),
            TextOptions {
                timestamps: true,
                color: true,
                ..Default::default()
            },
        );
        assert!(ts.contains("\x1b[1;31m+ suid binary"), "{ts:?}");
        assert!(ts.lines().nth(1).unwrap().starts_with("[20"), "{ts:?}");
        assert_eq!(headline(0, 0), "0 changes detected (0 warnings)");
    }

    fn change(key: &str, severity: Severity) -> Change {
        Change {
            collector: "check_groups".into(),
            kind: ChangeKind::Added,
            key: key.into(),
            message: format!("group {key} added"),
            severity,
            rule: None,
            before: None,
            after: Some(Fields::new()),
        }
    }

    fn five() -> Report {
        let mut r = report();
        r.warnings.clear();
        r.changes = vec![
            change("a", Severity::Low),
            change("b", Severity::High),
            change("c", Severity::Critical),
            change("d", Severity::Low),
            change("e", Severity::High),
        ];
        r
    }

    #[test]
    fn summary_counts_each_level_loudest_first() {
        let r = five();
        let text = render_text(&r, TextOptions::default());
        assert_eq!(
            text.lines().next().unwrap(),
            "5 changes detected (0 warnings): 1 critical, 2 high, 2 low"
        );
        assert_eq!(text.lines().count(), 6, "{text}");
        assert_eq!(
            summary(&[], 0, Severity::Info),
            "0 changes detected (0 warnings)"
        );
    }

    #[test]
    fn a_filtered_report_says_what_it_left_out() {
        let r = five();
        let opts = TextOptions {
            min_severity: Severity::High,
            ..Default::default()
        };
        let text = render_text(&r, opts);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "5 changes detected (0 warnings): 1 critical, 2 high, 2 low; \
             2 below high not shown (--min-severity high)"
        );
        let rest: Vec<&str> = lines.collect();
        assert_eq!(rest.len(), 3, "{text}");
        assert!(rest.iter().all(|l| !l.ends_with("[low]")), "{text}");
        // Nothing below the floor: nothing said about a filter.
        let all = render_text(
            &r,
            TextOptions {
                min_severity: Severity::Low,
                ..Default::default()
            },
        );
        assert!(!all.contains("not shown"), "{all}");

        let v: serde_json::Value =
            serde_json::from_str(&render_json_min(&r, Severity::Critical)).unwrap();
        assert_eq!(v["changes"].as_array().unwrap().len(), 1);
        assert_eq!(v["changes"][0]["key"], "c");
        assert_eq!(v["filter"]["min_severity"], "critical");
        assert_eq!(v["filter"]["hidden"], 4);
        let v: serde_json::Value =
            serde_json::from_str(&render_json_min(&r, Severity::Info)).unwrap();
        assert!(v.get("filter").is_none());
        assert_eq!(v["changes"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn json_keeps_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(&render_json(&report())).unwrap();
        assert_eq!(v["from"]["id"], 1);
        assert_eq!(v["from"]["label"], "pre");
        assert!(
            v["to"]["started_at"]
                .as_str()
                .unwrap()
                .starts_with("2023-11-14T")
        );
        let c = &v["changes"][0];
        for k in [
            "collector",
            "kind",
            "key",
            "message",
            "severity",
            "before",
            "after",
        ] {
            assert!(c.get(k).is_some(), "change lacks {k}");
        }
        assert_eq!(c["kind"], "added");
        assert_eq!(c["severity"], "high");
        assert_eq!(v["warnings"][0]["collector"], "kernel_modules");
    }
}

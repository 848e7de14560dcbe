//! Report rendering, pure: a compared pair of scans in, text (dawgmon style) or JSON out.
//!
//! Text is `N changes detected (M warnings)` and one line per change, `+ suid binary /usr/bin/x
//! got created (owner=root, ...)`, in collector order, with an optional timestamp in front and
//! the severity after medium and high changes; warnings follow as `! ...` lines. JSON keeps the
//! shape scripts rely on: `from`, `to`, `changes`, `warnings` (extend it, never break it).

use chrono::{DateTime, Local, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Change, Severity, Warning};
use crate::store::ScanInfo;

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
    let mut out = headline(report.changes.len(), report.warnings.len());
    out.push('\n');
    for c in &report.changes {
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
            "1 change detected (1 warning)\n\
             + suid binary /usr/bin/x got created (owner=root) [high]\n\
             ! kernel_modules not compared: absent\n"
        );
        let ts = render_text(
            &report(),
            TextOptions {
                timestamps: true,
                color: true,
            },
        );
        assert!(ts.contains("\x1b[1;31m+ suid binary"), "{ts:?}");
        assert!(ts.lines().nth(1).unwrap().starts_with("[20"), "{ts:?}");
        assert_eq!(headline(0, 0), "0 changes detected (0 warnings)");
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

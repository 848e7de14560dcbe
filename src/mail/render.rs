//! Pure rendering of mail: a [`Report`] in, a subject, a plain-text body and an HTML body out.
//!
//! The text is what `dawgctl diff` prints (the same headline and `+ ...` lines), regrouped for a
//! reader who has not logged in: most severe first, then by collector, with the host and the
//! two scans compared on top and the warnings at the end. Long reports are cut after
//! `max_lines` change and warning lines, least severe first, saying how many lines of each
//! severity were left out and which command shows them all. Critical lines are left out only
//! past [`CRITICAL_FACTOR`] times `max_lines` (an ordinary user cannot make them in bulk, while
//! they can make high ones: their own set-id files); past that even they are counted, not
//! shown, since a message of many megabytes is refused whole by mail relays and would lose the
//! lines it was meant to carry. The HTML part carries the same content, every piece of host data escaped. After a
//! package operation (the report has `list_packages` changes, as the scan after an apt run
//! has), the message names the operation on top and groups the changes by package instead.

use chrono::{DateTime, Local, Utc};

use crate::config::mail::fill_subject;
use crate::model::{Change, Severity, Warning};
use crate::report::{Report, ScanRef, TextOptions, by_package, change_line, headline};

/// A message ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// How a report becomes a message.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions<'a> {
    /// The subject template (see [`super::PLACEHOLDERS`]).
    pub subject: &'a str,
    /// Change and warning lines shown before the message is cut (at least 1).
    pub max_lines: usize,
}

impl<'a> RenderOptions<'a> {
    /// The options a configuration asks for.
    pub fn from_config(cfg: &'a super::MailConfig) -> Self {
        RenderOptions {
            subject: &cfg.subject,
            max_lines: cfg.max_lines,
        }
    }
}

/// The subject of a report: the template filled in, control characters removed.
pub fn subject(template: &str, report: &Report, host: &str) -> String {
    let filled = fill_subject(template, |name| match name {
        "host" => Some(host.to_string()),
        "changes" => Some(report.changes.len().to_string()),
        "warnings" => Some(report.warnings.len().to_string()),
        "severity" => Some(
            report
                .max_severity()
                .map_or("none", Severity::as_str)
                .to_string(),
        ),
        "scan" => Some(report.to.id.to_string()),
        _ => None,
    })
    // Parsing the configuration rejected bad templates; a template built in code falls back.
    .unwrap_or_else(|_| {
        format!(
            "[dawgmon] {host}: {}",
            headline(report.changes.len(), report.warnings.len())
        )
    });
    one_line(&filled)
}

/// The message for a compared pair of scans. When the report holds package changes (a package
/// operation happened between the scans), the operation is named on top and the changes are
/// grouped under the package that brought them ([`by_package`]) instead of by severity.
pub fn render(report: &Report, host: &str, opts: RenderOptions) -> Rendered {
    let operation = by_package::operation_line(report);
    let groups = group(&report.changes);
    let max = opts.max_lines.max(1);
    // With an operation, package changes are told by the operation line and the verdicts.
    let counted = |c: &&Change| operation.is_none() || c.collector != by_package::PACKAGES;
    let shown_of = shown_per_severity(report.changes.iter().filter(counted), max);
    let shown_changes: usize = shown_of.iter().map(|(_, shown, _)| shown).sum();
    let left_of: Vec<(Severity, usize)> = shown_of
        .iter()
        .filter(|(_, shown, all)| shown < all)
        .map(|(s, shown, all)| (*s, all - shown))
        .collect();
    let left_changes: usize = left_of.iter().map(|(_, n)| n).sum();
    let shown_warnings = report.warnings.len().min(max.saturating_sub(shown_changes));
    let left_warnings = report.warnings.len() - shown_warnings;
    let command = diff_command(report);
    let line_opts = TextOptions::default();

    let title = format!(
        "dawgmon on {host}: {}{}",
        headline(report.changes.len(), report.warnings.len()),
        report
            .max_severity()
            .map(|s| format!(", highest severity {s}"))
            .unwrap_or_default()
    );
    let compared = compared_line(report);

    let mut text = format!("{title}\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<h2>{}</h2>\n",
        esc(&title),
    );
    if let Some(op) = &operation {
        text.push_str(&format!("{op}\n"));
        html.push_str(&format!("<p><b>{}</b></p>\n", esc(op)));
    }
    text.push_str(&format!("{compared}\n"));
    html.push_str(&format!("<p>{}</p>\n", esc(&compared)));
    if operation.is_some() {
        packages(report, shown_changes, &mut text, &mut html);
    }
    for (severity, collectors) in groups.iter().filter(|_| operation.is_none()) {
        let mut budget = shown_of
            .iter()
            .find(|(s, ..)| s == severity)
            .map_or(0, |(_, shown, _)| *shown);
        if budget == 0 {
            continue;
        }
        text.push_str(&format!("\n== {severity} ==\n"));
        html.push_str(&format!(
            "<h3 style=\"color: {}\">{severity}</h3>\n",
            html_color(*severity)
        ));
        for (collector, changes) in collectors {
            if budget == 0 {
                break;
            }
            text.push_str(&format!("[{collector}]\n"));
            html.push_str(&format!("<p><b>{}</b></p>\n<ul>\n", esc(collector)));
            for c in changes.iter().take(budget) {
                let line = change_line(c, report.to.started_at, line_opts);
                text.push_str(&line);
                text.push('\n');
                html.push_str(&format!("<li><code>{}</code></li>\n", esc(&line)));
                budget -= 1;
            }
            html.push_str("</ul>\n");
        }
    }
    if shown_warnings > 0 {
        text.push_str("\nWarnings:\n");
        html.push_str("<h3>Warnings</h3>\n<ul>\n");
        for w in &report.warnings[..shown_warnings] {
            text.push_str(&format!("! {}\n", w.message));
            html.push_str(&format!("<li>{}</li>\n", esc(&w.message)));
        }
        html.push_str("</ul>\n");
    }
    if left_changes + left_warnings > 0 {
        let cut = format!(
            "... {} not shown (this message stops after {max} lines, critical lines after {}).",
            left_out(&left_of, left_changes, left_warnings),
            max.saturating_mul(CRITICAL_FACTOR)
        );
        text.push_str(&format!("\n{cut}\nSee everything with: {command}\n"));
        html.push_str(&format!(
            "<p><b>{}</b><br>See everything with: <code>{}</code></p>\n",
            esc(&cut),
            esc(&command)
        ));
    } else {
        text.push_str(&format!("\nThe same report: {command}\n"));
        html.push_str(&format!(
            "<p>The same report: <code>{}</code></p>\n",
            esc(&command)
        ));
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject: subject(opts.subject, report, host),
        text,
        html,
    }
}

/// The changes grouped by package: each package's verdict, then its changes. Only the
/// `shown` loudest changes get a line (the cut drops the least severe first, as the severity
/// layout does); a package none of whose changes made the cut is left out (the operation line
/// names it).
fn packages(report: &Report, shown: usize, text: &mut String, html: &mut String) {
    let mut loudest: Vec<&Change> = report
        .changes
        .iter()
        .filter(|c| c.collector != by_package::PACKAGES)
        .collect();
    loudest.sort_by_key(|c| std::cmp::Reverse(c.severity));
    loudest.truncate(shown);
    let loudest: std::collections::HashSet<*const Change> =
        loudest.into_iter().map(|c| c as *const Change).collect();
    let opts = TextOptions::default();
    for g in by_package::group(report) {
        let changes: Vec<&Change> = g
            .changes
            .iter()
            .copied()
            .filter(|c| loudest.contains(&(*c as *const Change)))
            .collect();
        if changes.is_empty() {
            continue;
        }
        let verdict = g.verdict();
        text.push_str(&format!("\n== {verdict} ==\n"));
        html.push_str(&format!(
            "<h3 style=\"color: {}\">{}</h3>\n<ul>\n",
            html_color(g.max_severity()),
            esc(&verdict)
        ));
        for c in changes {
            let line = change_line(c, report.to.started_at, opts);
            text.push_str(&line);
            text.push('\n');
            html.push_str(&format!("<li><code>{}</code></li>\n", esc(&line)));
        }
        html.push_str("</ul>\n");
    }
}

/// The short note after the first scan on an empty database: never the inventory, only how much
/// was recorded (and which collectors could not run, one line each).
pub fn started_note(host: &str, scan: &ScanRef, items: usize, warnings: &[Warning]) -> Rendered {
    let title = format!("monitoring started on {host}: {items} items recorded");
    let first = format!(
        "dawgmon {title} in scan {} ({}).",
        scan.id,
        when(scan.started_at)
    );
    let next = "Later scans are compared with it; a message follows when something changes.";
    let mut text = format!("{first}\n{next}\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<p>{}<br>{next}</p>\n",
        esc(&first)
    );
    if !warnings.is_empty() {
        text.push_str(&format!(
            "\n{} could not run on this host:\n",
            plural(warnings.len(), "collector", "collectors")
        ));
        html.push_str("<p>Collectors that could not run:</p>\n<ul>\n");
        for w in warnings {
            text.push_str(&format!("! {}\n", w.message));
            html.push_str(&format!("<li>{}</li>\n", esc(&w.message)));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    Rendered {
        subject: one_line(&format!("[dawgmon] {title}")),
        text,
        html,
    }
}

/// The changes of one collector, in report order.
type ByCollector<'a> = Vec<(&'a str, Vec<&'a Change>)>;

/// Changes grouped by severity (high first), then by collector in report order, each group
/// keeping the report's order.
fn group(changes: &[Change]) -> Vec<(Severity, ByCollector<'_>)> {
    let mut out = Vec::new();
    for severity in Severity::ALL_DESC {
        let mut collectors: ByCollector = Vec::new();
        for c in changes.iter().filter(|c| c.severity == severity) {
            match collectors.iter_mut().find(|(n, _)| *n == c.collector) {
                Some((_, v)) => v.push(c),
                None => collectors.push((&c.collector, vec![c])),
            }
        }
        if !collectors.is_empty() {
            out.push((severity, collectors));
        }
    }
    out
}

/// `Compared scan 1 "pre" (2024-...) with scan 2 (2024-...).`
fn compared_line(report: &Report) -> String {
    let scan = |s: &ScanRef| match &s.label {
        Some(l) => format!("scan {} \"{l}\" ({})", s.id, when(s.started_at)),
        None => format!("scan {} ({})", s.id, when(s.started_at)),
    };
    match &report.from {
        Some(from) => format!("Compared {} with {}.", scan(from), scan(&report.to)),
        None => format!(
            "Scan: {} (nothing earlier to compare with).",
            scan(&report.to)
        ),
    }
}

/// The command that prints the whole report.
pub fn diff_command(report: &Report) -> String {
    match &report.from {
        Some(from) => format!("dawgctl diff --since {} --to {}", from.id, report.to.id),
        None => format!("dawgctl diff --to {}", report.to.id),
    }
}

/// How many times `max_lines` critical lines may fill: all of them in any real report, and a
/// bound (2,000 lines, some 0.5 MB, with the default 500) when root's mistakes or a group-writable
/// tree made more.
pub const CRITICAL_FACTOR: usize = 4;

/// Per severity, most severe first: how many lines are shown and how many there are. Critical
/// lines are shown up to [`CRITICAL_FACTOR`] × `max`, whatever the others; the other lines fill
/// what is left of `max`, most severe first, so a line is only ever left out for a more severe
/// one.
fn shown_per_severity<'a>(
    changes: impl Iterator<Item = &'a Change>,
    max: usize,
) -> Vec<(Severity, usize, usize)> {
    let mut all = [0usize; Severity::ALL_DESC.len()];
    for c in changes {
        if let Some(i) = Severity::ALL_DESC.iter().position(|s| *s == c.severity) {
            all[i] += 1;
        }
    }
    let mut room = max;
    Severity::ALL_DESC
        .iter()
        .zip(all)
        .map(|(s, n)| {
            let shown = if *s == Severity::Critical {
                n.min(max.saturating_mul(CRITICAL_FACTOR))
            } else {
                n.min(room)
            };
            room = room.saturating_sub(shown);
            (*s, shown, n)
        })
        .collect()
}

/// `8 more changes (2 high, 6 low) and 4 more warnings`.
fn left_out(per_severity: &[(Severity, usize)], changes: usize, warnings: usize) -> String {
    let each: Vec<String> = per_severity
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let c = format!(
        "{} ({})",
        plural(changes, "more change", "more changes"),
        each.join(", ")
    );
    let w = plural(warnings, "more warning", "more warnings");
    match (changes, warnings) {
        (_, 0) => c,
        (0, _) => w,
        _ => format!("{c} and {w}"),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn when(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %z")
        .to_string()
}

fn html_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#6a0010",
        Severity::High => "#b00020",
        Severity::Medium => "#b36b00",
        Severity::Low => "#006b8f",
        Severity::Info => "#444444",
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A header value on one line: control characters (a host name could hold any) become spaces.
/// A header value on one line: control characters, Unicode format characters (a right-to-left
/// override in a host name would reorder the subject in a mail client) and line separators
/// become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if crate::host::is_unsafe_char(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;

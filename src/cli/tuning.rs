//! `dawgctl rules` (the rules in effect) and `dawgctl ignore suggest` (ignore tables for what
//! churns on its own).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::model::ChangeKind;
use crate::rules::{RuleSpec, Rules};

use super::args::Format;
use super::backend::Backend;

/// The conditions of a rule besides its collector, as one line (`-` when none).
pub fn conditions(r: &RuleSpec) -> String {
    let list = |v: &[String]| format!("[{}]", v.join(", "));
    let map = |m: &BTreeMap<String, String>| {
        let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{{{}}}", inner.join(", "))
    };
    let mut out = Vec::new();
    if !r.kind.is_empty() {
        let kinds: Vec<String> = r.kind.iter().map(|k| k.as_str().to_string()).collect();
        out.push(format!("kind {}", list(&kinds)));
    }
    if !r.key.is_empty() {
        out.push(format!("key {}", list(&r.key)));
    }
    for (name, m) in [
        ("item", &r.item),
        ("was", &r.was),
        ("has", &r.has),
        ("lost", &r.lost),
    ] {
        if !m.is_empty() {
            out.push(format!("{name} {}", map(m)));
        }
    }
    for (name, v) in [
        ("missing", &r.missing),
        ("changed", &r.changed),
        ("grew", &r.grew),
    ] {
        if !v.is_empty() {
            out.push(format!("{name} {}", list(v)));
        }
    }
    if !r.parse.is_empty() {
        let inner: Vec<String> = r
            .parse
            .iter()
            .map(|(k, p)| format!("{k}={}", p.as_str()))
            .collect();
        out.push(format!("parse {{{}}}", inner.join(", ")));
    }
    if out.is_empty() {
        "-".into()
    } else {
        out.join("; ")
    }
}

/// The rules in effect, in the order they are tried: a table, or JSON (an array of rules in
/// the rules-file format).
pub fn render_rules(rules: &Rules, format: Format) -> String {
    let specs: Vec<&RuleSpec> = rules.specs().collect();
    match format {
        // Sarif never gets here (a usage error for anything but a report).
        Format::Json | Format::Sarif => {
            let mut s = serde_json::to_string_pretty(&specs).expect("rules serialise");
            s.push('\n');
            s
        }
        Format::Text => {
            let width = specs.iter().map(|r| r.id.len()).max().unwrap_or(0);
            let mut out = String::new();
            for r in &specs {
                out.push_str(&format!(
                    "{:<width$}  {:<8}  {}\n{:<width$}  if {}\n{:<width$}  why: {}\n",
                    r.id,
                    r.severity,
                    r.collector,
                    "",
                    conditions(r),
                    "",
                    r.why
                ));
            }
            out.push_str(&format!(
                "{} rules, tried in this order; the first that matches a change sets its \
                 severity (none: info)\n",
                specs.len()
            ));
            out
        }
    }
}

/// The severity table of README.md (between its `rules-table` markers), generated from the
/// built-in rules (only the README test uses it).
#[cfg(test)]
pub fn readme_table(rules: &Rules) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out =
        String::from("| id | severity | collector | conditions | why |\n|---|---|---|---|---|\n");
    for r in rules.specs() {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {} |\n",
            r.id,
            r.severity,
            cell(&r.collector),
            cell(&conditions(r)),
            cell(&r.why)
        ));
    }
    out
}

/// One item that churned: which kinds of change, which fields, how often.
#[derive(Default)]
struct Churn {
    pairs: usize,
    kinds: BTreeSet<&'static str>,
    fields: BTreeSet<String>,
    /// Whether it appeared or disappeared at least once (then whole-item ignore).
    came_or_went: bool,
}

/// A key as a glob that matches exactly it (glob characters escaped).
fn literal_glob(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, c) in key.chars().enumerate() {
        if "*?[]{}\\".contains(c) || (i == 0 && c == '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A TOML string (quoted and escaped).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Compares each of the newest `scans` stored scans with the one before it and renders
/// `[[ignore]]` tables for the items that changed.
pub async fn suggest(backend: &Backend, scans: i64, only: &[String]) -> Result<String, Error> {
    if scans < 2 {
        return Err(Error::Usage(
            "--scans must be at least 2: churn is what changes between two scans".into(),
        ));
    }
    let mut history = backend.history(scans).await?;
    history.reverse(); // oldest first
    if history.len() < 2 {
        return Err(Error::Usage(format!(
            "{} stored scan{}: ignore suggest needs two or more (run `dawgctl scan` on an idle \
             host a few times, or let the daemon's schedule do it)",
            history.len(),
            if history.len() == 1 { "" } else { "s" }
        )));
    }
    let mut churn: BTreeMap<(String, String), Churn> = BTreeMap::new();
    for pair in history.windows(2) {
        let report = backend
            .diff(Some(&pair[0].id.to_string()), &pair[1], only)
            .await?;
        for c in report.changes {
            if c.key == crate::engine::OUTAGE_KEY {
                continue; // an outage is not noise to silence
            }
            let e = churn
                .entry((c.collector.clone(), c.key.clone()))
                .or_default();
            e.pairs += 1;
            e.kinds.insert(c.kind.as_str());
            match c.kind {
                ChangeKind::Modified => {
                    for side in [&c.before, &c.after].into_iter().flatten() {
                        e.fields.extend(side.keys().map(str::to_string));
                    }
                }
                _ => e.came_or_went = true,
            }
        }
    }
    let compared = history.len() - 1;
    let (first, last) = (history[0].id, history[history.len() - 1].id);
    let mut out = format!(
        "# dawgctl ignore suggest: {compared} pair{} of consecutive scans compared (scans \
         {first} to {last}).\n",
        if compared == 1 { "" } else { "s" }
    );
    if churn.is_empty() {
        out.push_str("# Nothing changed between them: nothing to ignore.\n");
        return Ok(out);
    }
    out.push_str(
        "# Paste what is noise into /etc/dawgmon/dawgmond.toml (then: systemctl reload dawgmond).\n\
         # Check each one: a change on an idle host may also be an attack in progress.\n",
    );
    for ((collector, key), e) in &churn {
        let kinds: Vec<&str> = e.kinds.iter().copied().collect();
        out.push_str(&format!(
            "\n# churned in {} of {compared} scan pair{} ({})\n[[ignore]]\ncollector = {}\nkey = [{}]\n",
            e.pairs,
            if compared == 1 { "" } else { "s" },
            kinds.join(", "),
            toml_str(collector),
            toml_str(&literal_glob(key)),
        ));
        if !e.came_or_went && !e.fields.is_empty() {
            let fields: Vec<String> = e.fields.iter().map(|f| toml_str(f)).collect();
            out.push_str(&format!("fields = [{}]\n", fields.join(", ")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

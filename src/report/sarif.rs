//! A report as SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), so dawgmon's
//! changes drop into the dashboards that read it (GitHub code scanning, DefectDojo, ...).
//!
//! One run, one result per change:
//! - `ruleId`: the id of the rule that set the change's severity, or `<collector>.<kind>`
//!   (`list_suids.added`) when no rule did; `tool.driver.rules` lists every id used, in order of
//!   first use, and each result's `ruleIndex` points into it.
//! - `level`: critical and high are `error`, medium is `warning`, low and info are `note`.
//! - `baselineState`: `new` (added), `absent` (removed), `updated` (modified).
//! - `partialFingerprints["dawgmonItem/v1"]`: the SHA-256 of collector, a NUL byte and key, in
//!   hex: the same item has the same fingerprint in every report, whatever changed in it.
//! - `locations`: the file (a `file://` URI, percent-encoded) when the key is an absolute path.
//! - `properties`: collector, key, kind, severity and the fields before and after.
//!
//! The run's `properties` hold the two scans compared (`from`, `to`) and, when `--min-severity`
//! left changes out, `minSeverity` and `hiddenChanges`; the warnings (collectors not compared)
//! are the invocation's `toolExecutionNotifications`, level `warning`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::{Change, ChangeKind, Fields, Severity};

use super::{Report, hidden};

/// The schema a SARIF 2.1.0 log names.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The name of the fingerprint in `partialFingerprints` (versioned: a different recipe gets a
/// new name, so dashboards never match old and new fingerprints by mistake).
pub const FINGERPRINT: &str = "dawgmonItem/v1";

/// The SARIF level of a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The SARIF baseline state of a kind of change.
pub fn baseline_state(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "new",
        ChangeKind::Removed => "absent",
        ChangeKind::Modified => "updated",
    }
}

/// The rule id of a change: its rule's, or `<collector>.<kind>`.
pub fn rule_id(c: &Change) -> String {
    match &c.rule {
        Some(r) => r.clone(),
        None => format!("{}.{}", c.collector, c.kind.as_str()),
    }
}

/// The stable fingerprint of a change's item: hex SHA-256 of `collector \0 key`.
pub fn fingerprint(collector: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(collector.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

/// `file:///usr/bin/x` for an absolute path, every byte outside the unreserved set and `/`
/// percent-encoded; `None` for a key that is not an absolute path.
pub fn file_uri(key: &str) -> Option<String> {
    if !key.starts_with('/') {
        return None;
    }
    let mut uri = String::from("file://");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    Some(uri)
}

/// The report as a SARIF 2.1.0 log (pretty JSON), without the changes below `min_severity`.
pub fn render_sarif(report: &Report, min_severity: Severity) -> String {
    serde_json::to_string_pretty(&Log::of(report, min_severity)).expect("logs serialise")
}

/// One SARIF result, serialised as it is (a `Value` per result costs a copy of every field).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Text<'a>,
    baseline_state: &'static str,
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Value>,
    properties: Properties<'a>,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Properties<'a> {
    collector: &'a str,
    key: &'a str,
    kind: &'static str,
    severity: Severity,
    before: &'a Option<Fields>,
    after: &'a Option<Fields>,
}

/// The report as a SARIF 2.1.0 log.
pub fn sarif(report: &Report, min_severity: Severity) -> Value {
    serde_json::to_value(Log::of(report, min_severity)).expect("logs serialise")
}

/// The whole log, borrowing the report.
#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Value,
    invocations: Value,
    results: Vec<SarifResult<'a>>,
    properties: Value,
}

impl<'a> Log<'a> {
    fn of(report: &'a Report, min_severity: Severity) -> Self {
        let mut rules: Vec<(String, &Change)> = Vec::new();
        let mut results = Vec::new();
        for c in report.changes.iter().filter(|c| c.severity >= min_severity) {
            let id = rule_id(c);
            let index = match rules.iter().position(|(r, _)| *r == id) {
                Some(i) => i,
                None => {
                    rules.push((id.clone(), c));
                    rules.len() - 1
                }
            };
            let locations = file_uri(&c.key)
                .map(|uri| {
                    vec![json!({
                        "physicalLocation": { "artifactLocation": { "uri": uri } }
                    })]
                })
                .unwrap_or_default();
            results.push(SarifResult {
                rule_id: id,
                rule_index: index,
                level: level(c.severity),
                message: Text { text: &c.message },
                baseline_state: baseline_state(c.kind),
                partial_fingerprints: BTreeMap::from([(
                    FINGERPRINT,
                    fingerprint(&c.collector, &c.key),
                )]),
                locations,
                properties: Properties {
                    collector: &c.collector,
                    key: &c.key,
                    kind: c.kind.as_str(),
                    severity: c.severity,
                    before: &c.before,
                    after: &c.after,
                },
            });
        }
        let rules: Vec<Value> = rules
            .iter()
            .map(|(id, first)| {
                let what = match &first.rule {
                    Some(_) => format!("dawgmon rule {id}"),
                    None => format!(
                        "{} {} (no rule matched)",
                        first.collector,
                        first.kind.as_str()
                    ),
                };
                json!({ "id": id, "shortDescription": { "text": what } })
            })
            .collect();
        let notifications: Vec<Value> = report
            .warnings
            .iter()
            .map(|w| {
                json!({
                    "level": "warning",
                    "message": { "text": w.message },
                    "properties": { "collector": w.collector },
                })
            })
            .collect();
        let mut properties = json!({ "from": report.from, "to": report.to });
        let left_out = hidden(&report.changes, min_severity);
        if left_out > 0 {
            properties["minSeverity"] = json!(min_severity);
            properties["hiddenChanges"] = json!(left_out);
        }
        Log {
            schema: SCHEMA,
            version: "2.1.0",
            runs: [Run {
                tool: json!({ "driver": {
                    "name": "dawgmon",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }}),
                invocations: json!([{
                    "executionSuccessful": true,
                    "toolExecutionNotifications": notifications,
                }]),
                results,
                properties,
            }],
        }
    }
}

#[cfg(test)]
mod tests;

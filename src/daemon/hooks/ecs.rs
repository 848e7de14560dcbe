//! The Elastic Common Schema fields of a change-log line, added beside dawgmon's own fields
//! (which stay as they were). Dotted names (`"host.name"`), as ECS documents may be written:
//! Elasticsearch and OpenSearch expand them, and they cannot clash with the existing `host`.
//!
//! - `@timestamp`: when the scan started (RFC 3339, UTC).
//! - `host.name`, `host.id`: the scanned root's host name and `/etc/machine-id`.
//! - `event.kind` `event`, `event.category` `configuration`, `event.type` `creation` /
//!   `deletion` / `change`, `event.action` `<collector>-<kind>` (`list_suids-added`),
//!   `event.severity` 0 (info) to 4 (critical), `event.module` `dawgmon`, `event.dataset`
//!   `dawgmon.changes`.
//! - `rule.name`: the rule that set the severity, when one did.
//! - `file.path`: the key, when it is an absolute path (the item is a file).
//! - `package.name`: the package the change names (its `package` field), when it names one.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::fleet::push::{Identity, package_of};
use crate::model::{Change, ChangeKind};

/// Adds the ECS fields of `c` (of a scan started at `at` on `who`) to its JSON object.
pub fn add(o: &mut Map<String, Value>, c: &Change, at: DateTime<Utc>, who: &Identity) {
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put(
        "@timestamp",
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    put("host.name", who.hostname.clone().into());
    put("host.id", who.machine_id.clone().into());
    put("event.kind", "event".into());
    put("event.category", "configuration".into());
    put(
        "event.type",
        match c.kind {
            ChangeKind::Added => "creation",
            ChangeKind::Removed => "deletion",
            ChangeKind::Modified => "change",
        }
        .into(),
    );
    put(
        "event.action",
        format!("{}-{}", c.collector, c.kind.as_str()).into(),
    );
    put("event.severity", (c.severity as i64).into());
    put("event.module", "dawgmon".into());
    put("event.dataset", "dawgmon.changes".into());
    if let Some(rule) = &c.rule {
        put("rule.name", rule.clone().into());
    }
    if c.key.starts_with('/') {
        put("file.path", c.key.clone().into());
    }
    if let Some(p) = package_of(c).filter(|p| !p.is_empty() && p != "none") {
        put("package.name", p.into());
    }
}

//! `lsb_version`: the distribution's identity from `etc/os-release` (or `usr/lib/os-release`,
//! its fallback per os-release(5)) and `etc/lsb-release`.
//!
//! One item per variable, keyed by its name, with the unquoted value: a distribution upgrade
//! shows as `VERSION_ID changed from 11 to 12`. os-release wins when both files set a name.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};

pub struct LsbVersion;

impl Collector for LsbVersion {
    fn name(&self) -> &'static str {
        "lsb_version"
    }
    fn description(&self) -> &'static str {
        "distribution name and version from etc/os-release and etc/lsb-release"
    }
    fn noun(&self) -> &'static str {
        "OS release field"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let os_release = match host.read_optional("/etc/os-release")? {
            Some(t) => Some(t),
            None => host.read_optional("/usr/lib/os-release")?,
        };
        let lsb_release = host.read_optional("/etc/lsb-release")?;
        if os_release.is_none() && lsb_release.is_none() {
            return Err(CollectError::Unavailable(format!(
                "none of etc/os-release, usr/lib/os-release, etc/lsb-release exists under {}",
                host.root().display()
            )));
        }
        let mut items: Vec<Item> = Vec::new();
        for text in [os_release, lsb_release].into_iter().flatten() {
            for (name, value) in parse(&text) {
                if !items.iter().any(|i| i.key == name) {
                    items.push(Item::new(name).with("value", escape_bytes(value.as_bytes())));
                }
            }
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        fn value(f: &Option<crate::model::Fields>) -> &str {
            f.as_ref().and_then(|f| f.get("value")).unwrap_or_default()
        }
        let key = &change.key;
        match change.kind {
            ChangeKind::Added => format!("OS release field {key} added ({})", value(&change.after)),
            ChangeKind::Removed => format!("OS release field {key} removed"),
            ChangeKind::Modified => format!(
                "OS release field {key} changed from {} to {}",
                value(&change.before),
                value(&change.after)
            ),
        }
    }
}

/// `NAME=value` assignments in shell syntax; comments, blank and malformed lines are skipped.
fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, raw)) = line.split_once('=') else {
            continue;
        };
        let valid_name = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            continue;
        }
        if let Some(value) = unquote(raw.trim()) {
            out.push((name.to_string(), value));
        }
    }
    out
}

/// The value of a shell word: `"a \"b\""`, `'a b'` or `bare`. `None` when a quote is not closed.
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => {
                        let e = chars.next()?;
                        if !matches!(e, '"' | '\\' | '$' | '`') {
                            out.push('\\');
                        }
                        out.push(e);
                    }
                    other => out.push(other),
                }
            },
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    other => out.push(other),
                }
            },
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;

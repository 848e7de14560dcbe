//! `polkit_rules`: who polkit lets do privileged things without a password.
//!
//! - `rules PATH`: each JavaScript rules file of `etc/polkit-1/rules.d` and
//!   `usr/share/polkit-1/rules.d`, with its `sha256` and `returns_yes=yes` when it can answer
//!   `polkit.Result.YES`. polkitd loads both directories, ordered by file name, a file of
//!   `/etc` before a same-named one of `/usr/share` (so its answer comes first): such a pair
//!   is noted as `overrides` on the `/etc` file and `overridden_by` on the other.
//! - `action ID`: each action of `usr/share/polkit-1/actions/*.policy` whose defaults answer
//!   `yes` to anyone, to inactive or to active sessions (no password at all), with its
//!   `allow_any`, `allow_inactive`, `allow_active`, the `file`, and the program it runs when it
//!   names one (`exec_path`). Actions that ask for a password are not items. The XML is parsed
//!   with roxmltree (DTDs allowed, external entities never fetched, entity expansion bounded by
//!   the crate, and at most [`crate::sources::xml::MAX_NODES`] nodes per file).
//! - `pkla FILE [SECTION]`: each section of the local authority's `.pkla` files (polkit before
//!   0.106; `etc/` and `var/lib/polkit-1/localauthority/*/`) with `identity`, `action` and the
//!   results.
//! - `malformed ...` and `unreadable PATH` items for what does not parse or cannot be read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::Item;
use crate::sources::confdirs::{self, Content, Keys, line_text};
use crate::sources::glob::expand;
use crate::sources::xml::parse_xml;

pub struct PolkitRules;

const RULES_DIRS: [&str; 2] = ["/etc/polkit-1/rules.d", "/usr/share/polkit-1/rules.d"];
const ACTIONS_DIR: &str = "/usr/share/polkit-1/actions";
const PKLA: [&str; 2] = [
    "/etc/polkit-1/localauthority/*/*.pkla",
    "/var/lib/polkit-1/localauthority/*/*.pkla",
];

impl Collector for PolkitRules {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/polkit-1", "/usr/share/polkit-1"])
    }
    fn name(&self) -> &'static str {
        "polkit_rules"
    }
    fn description(&self) -> &'static str {
        "polkit: rules.d files (sha256), actions allowed without authentication, .pkla sections"
    }
    fn noun(&self) -> &'static str {
        "polkit"
    }

    /// The rules or policy file an item comes from.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file")
            .or_else(|| super::key_path(item, "rules "))
            .or_else(|| super::key_path(item, "unreadable "))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut out = Vec::new();
        let mut keys = Keys::default();
        // Both directories, by name, /etc first on a tie: polkitd's load order.
        let mut files: BTreeMap<(String, usize), (String, std::path::PathBuf)> = BTreeMap::new();
        for (rank, dir) in RULES_DIRS.iter().enumerate() {
            for f in confdirs::merged(host, &[dir], ".rules")? {
                files.insert((f.name, rank), (f.path, f.real));
            }
        }
        let names: Vec<&(String, usize)> = files.keys().collect();
        for ((name, rank), (path, real)) in &files {
            let mut item = Item::new(keys.unique(format!("rules {path}")));
            let other = names.iter().find(|(n, r)| n == name && r != rank);
            if let Some((_, r)) = other {
                let other_path = &files[&(name.clone(), *r)].0;
                let field = if *rank == 0 {
                    "overrides"
                } else {
                    "overridden_by"
                };
                item = item.with(field, other_path);
            }
            match confdirs::read(host, real) {
                None => continue,
                Some(Content::Failed(why)) => item = item.with("error", why),
                Some(Content::Text(text, sha)) => {
                    item = item.with("sha256", sha);
                    if text.contains("polkit.Result.YES") {
                        item = item.with("returns_yes", "yes");
                    }
                }
            }
            out.push(item);
        }
        for f in confdirs::merged(host, &[ACTIONS_DIR], ".policy")? {
            match confdirs::read(host, &f.real) {
                None => {}
                Some(Content::Failed(why)) => out.push(
                    Item::new(keys.unique(format!("unreadable {}", f.path))).with("error", why),
                ),
                Some(Content::Text(text, _)) => actions(&text, &f.path, &mut keys, &mut out),
            }
        }
        for pattern in PKLA {
            for path in expand(host, pattern) {
                let shown = escape_bytes(path.as_bytes());
                match confdirs::read(host, &host.path(&path)) {
                    None => {}
                    Some(Content::Failed(why)) => out.push(
                        Item::new(keys.unique(format!("unreadable {shown}"))).with("error", why),
                    ),
                    Some(Content::Text(text, _)) => pkla(&text, &shown, &mut keys, &mut out),
                }
            }
        }
        Ok(out)
    }
}

/// The actions of one `.policy` file that some session gets without authenticating.
fn actions(text: &str, file: &str, keys: &mut Keys, out: &mut Vec<Item>) {
    let Some(doc) = parse_xml(text, file, keys, out) else {
        return;
    };
    for action in doc.descendants().filter(|n| n.has_tag_name("action")) {
        let Some(id) = action.attribute("id") else {
            out.push(
                Item::new(keys.unique(format!("malformed {file}: action without id")))
                    .with("error", "action without an id attribute"),
            );
            continue;
        };
        let Some(defaults) = action.children().find(|n| n.has_tag_name("defaults")) else {
            continue;
        };
        let value = |tag: &str| {
            defaults
                .children()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.text())
                .map(|t| line_text(t.trim()))
        };
        let (any, inactive, active) = (
            value("allow_any"),
            value("allow_inactive"),
            value("allow_active"),
        );
        if ![&any, &inactive, &active]
            .iter()
            .any(|v| v.as_deref() == Some("yes"))
        {
            continue;
        }
        let exec = action
            .children()
            .filter(|n| n.has_tag_name("annotate"))
            .find(|n| n.attribute("key") == Some("org.freedesktop.policykit.exec.path"))
            .and_then(|n| n.text())
            .map(|t| line_text(t.trim()));
        out.push(
            Item::new(keys.unique(format!("action {}", line_text(id))))
                .with_opt("allow_any", any)
                .with_opt("allow_inactive", inactive)
                .with_opt("allow_active", active)
                .with("file", file)
                .with_opt("exec_path", exec),
        );
    }
}

/// The sections of one `.pkla` file (an INI file).
fn pkla(text: &str, file: &str, keys: &mut Keys, out: &mut Vec<Item>) {
    let mut current: Option<Item> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.extend(current.take());
            let key = keys.unique(format!("pkla {file} [{}]", line_text(section)));
            current = Some(Item::new(key));
            continue;
        }
        let field = line.split_once('=').and_then(|(k, v)| {
            let name = match k.trim() {
                "Identity" => "identity",
                "Action" => "action",
                "ResultAny" => "result_any",
                "ResultInactive" => "result_inactive",
                "ResultActive" => "result_active",
                "ReturnValue" => "return_value",
                _ => return None,
            };
            Some((name, line_text(v.trim())))
        });
        match (field, current.take()) {
            (Some((name, value)), Some(item)) => current = Some(item.with(name, value)),
            (field, item) => {
                current = item;
                let why = if field.is_some() {
                    "key outside a [section]"
                } else {
                    "not a known Key=value line"
                };
                out.push(
                    Item::new(keys.unique(format!("malformed {file}: {}", line_text(raw))))
                        .with("line", n + 1)
                        .with("error", why),
                );
            }
        }
    }
    out.extend(current);
}

#[cfg(test)]
mod tests;

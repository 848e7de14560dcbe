//! `dbus_services`: the system bus's activatable services and who its policy lets talk to them.
//!
//! - `service NAME`: each `*.service` file of the system bus's service directories
//!   (`usr/local/share`, `usr/share`, `lib` `/dbus-1/system-services`; a file name in an
//!   earlier directory hides a later one), with `exec`, `user`, `systemd_service` and `file`:
//!   a program the bus starts as `user` on the first message to `NAME`.
//! - `policy PATH`: each policy file (`etc/dbus-1/system.d`, `usr/share/dbus-1/system.d`, and
//!   the main `system.conf` of both), with its `sha256`.
//! - `default allow ATTRS`: each `<allow>` of a `<policy context="default">` (what every local
//!   user may do) that lets someone own a name or send to one (`own`, `own_prefix`,
//!   `send_destination`), keyed by all its attributes, with the `file`.
//! - `malformed ...` / `unreadable PATH` for what does not parse or cannot be read. The XML is
//!   parsed with roxmltree, as the polkit collector does (external entities never fetched).

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;
use crate::sources::confdirs::{self, Content, Keys, line_text};
use crate::sources::xml::parse_xml;
use std::borrow::Cow;

pub struct DbusServices;

const SERVICE_DIRS: [&str; 3] = [
    "/usr/local/share/dbus-1/system-services",
    "/usr/share/dbus-1/system-services",
    "/lib/dbus-1/system-services",
];
const POLICY_DIRS: [&str; 2] = ["/etc/dbus-1/system.d", "/usr/share/dbus-1/system.d"];
const MAIN: [&str; 2] = ["/usr/share/dbus-1/system.conf", "/etc/dbus-1/system.conf"];

impl Collector for DbusServices {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/dbus-1", "/usr/share/dbus-1"])
    }
    fn name(&self) -> &'static str {
        "dbus_services"
    }
    fn description(&self) -> &'static str {
        "D-Bus system bus: activatable services (Exec, User), policy files, default-context allows"
    }
    fn noun(&self) -> &'static str {
        "D-Bus"
    }

    /// The service or policy file an item comes from.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file")
            .or_else(|| super::key_path(item, "policy "))
            .or_else(|| super::key_path(item, "unreadable "))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut out = Vec::new();
        let mut keys = Keys::default();
        for f in confdirs::merged(host, &SERVICE_DIRS, ".service")? {
            match confdirs::read(host, &f.real) {
                None => {}
                Some(Content::Failed(why)) => out.push(
                    Item::new(keys.unique(format!("unreadable {}", f.path))).with("error", why),
                ),
                Some(Content::Text(text, _)) => out.push(service(&text, &f.path, &mut keys)),
            }
        }
        let mut files: Vec<(String, std::path::PathBuf)> =
            MAIN.iter().map(|p| (p.to_string(), host.path(p))).collect();
        for dir in POLICY_DIRS {
            for f in confdirs::merged(host, &[dir], ".conf")? {
                files.push((f.path, f.real));
            }
        }
        for (path, real) in files {
            match confdirs::read(host, &real) {
                None => {}
                Some(Content::Failed(why)) => out
                    .push(Item::new(keys.unique(format!("unreadable {path}"))).with("error", why)),
                Some(Content::Text(text, sha)) => {
                    out.push(Item::new(keys.unique(format!("policy {path}"))).with("sha256", sha));
                    default_allows(&text, &path, &mut keys, &mut out);
                }
            }
        }
        Ok(out)
    }
}

/// One `.service` file: its `[D-BUS Service]` keys.
fn service(text: &str, file: &str, keys: &mut Keys) -> Item {
    let mut fields = std::collections::BTreeMap::new();
    let mut in_section = false;
    let mut bad = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            in_section = line == "[D-BUS Service]";
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if in_section => {
                let name = match k.trim() {
                    "Name" => "name",
                    "Exec" => "exec",
                    "User" => "user",
                    "SystemdService" => "systemd_service",
                    "AssumedAppArmorLabel" => "apparmor_label",
                    _ => continue,
                };
                fields.insert(name, line_text(v.trim()));
            }
            Some(_) => {}
            None => bad.push((n + 1).to_string()),
        }
    }
    let mut item = match fields.remove("name") {
        Some(name) => Item::new(keys.unique(format!("service {name}"))),
        None => Item::new(keys.unique(format!("malformed {file}"))).with("error", "no Name="),
    };
    for (k, v) in fields {
        item = item.with(k, v);
    }
    if !bad.is_empty() {
        item = item.with("malformed_lines", bad.join(","));
    }
    item.with("file", file)
}

/// The `<allow>` rules of `<policy context="default">` that grant owning or sending to a name.
fn default_allows(text: &str, file: &str, keys: &mut Keys, out: &mut Vec<Item>) {
    let Some(doc) = parse_xml(text, file, keys, out) else {
        return;
    };
    let defaults = doc
        .descendants()
        .filter(|n| n.has_tag_name("policy") && n.attribute("context") == Some("default"));
    for policy in defaults {
        for allow in policy.children().filter(|n| n.has_tag_name("allow")) {
            let grants = ["own", "own_prefix", "send_destination"]
                .iter()
                .any(|a| allow.attribute(*a).is_some());
            if !grants {
                continue;
            }
            let mut attrs: Vec<String> = allow
                .attributes()
                .map(|a| format!("{}={}", a.name(), a.value()))
                .collect();
            attrs.sort();
            let key = keys.unique(format!("default allow {}", line_text(&attrs.join(" "))));
            out.push(Item::new(key).with("file", file));
        }
    }
}

#[cfg(test)]
mod tests;

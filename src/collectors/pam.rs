//! `pam_stacks`: every line of every PAM service stack, parsed.
//!
//! Services come from `etc/pam.d` and the vendor directory `usr/lib/pam.d` (a name in
//! `etc/pam.d` hides the vendor file, as Linux-PAM does), plus `etc/pam.conf` (whose entries
//! are marked `ignored` when `etc/pam.d` exists, since Linux-PAM then never reads it).
//!
//! One item per stack line, keyed `service:type:module` (`sshd:auth:pam_unix.so`; a module
//! repeated in one stack becomes `...#2`), so a line moving does not re-key its neighbours.
//! Fields: `control`, `arguments`, `position` (1-based, within the service's stack of that
//! type), `file`, `type` and `module` (for rules to match), `if_missing=ignore` for a
//! `-type` line, `module_path=outside` for a module given by a path outside the system PAM
//! directories. `@include` lines are items of their own (`sshd:@include:common-auth`) with
//! `found` and `reaches`, the services reached through includes (followed, loops noted with
//! `loop=yes`); the included service's lines are items under its own name. A line that does
//! not parse is an item `service:malformed:TEXT` with the line number and what is wrong.
//! Argument values that look like credentials (`passwd=`, `secret=`...) are stored only as a
//! fingerprint. Each file is read once; more than `max_items` files and lines make the
//! collector unavailable for that scan (see [`crate::sources::includes`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::confdirs::{self, Content, Keys, line_text};
use crate::sources::includes::Includes;

pub struct PamStacks;

/// PAM directories, highest precedence first.
const DIRS: [&str; 2] = ["/etc/pam.d", "/usr/lib/pam.d"];
const TYPES: [&str; 4] = ["auth", "account", "password", "session"];
const CONTROLS: [&str; 6] = [
    "required",
    "requisite",
    "sufficient",
    "optional",
    "include",
    "substack",
];

impl Collector for PamStacks {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/pam.d", "/etc/pam.conf"])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "pam_stacks"
    }
    fn description(&self) -> &'static str {
        "PAM stack lines per service (etc/pam.d, usr/lib/pam.d, etc/pam.conf): module, control, arguments"
    }
    fn noun(&self) -> &'static str {
        "PAM line"
    }

    /// The PAM file a rule is written in.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file")
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut parsed = Vec::new();
        // Each file is read once (by name, from the merged directories); the budget bounds
        // the lines kept and checks the cancel flag.
        let mut budget = Includes::new(host, "PAM files (etc/pam.d, usr/lib/pam.d, etc/pam.conf)");
        for file in confdirs::merged(host, &DIRS, "")? {
            budget.count(1)?;
            let before = parsed.len();
            match confdirs::read(host, &file.real) {
                None => {}
                Some(Content::Failed(why)) => parsed.push(Entry::Unreadable {
                    service: file.name.clone(),
                    file: file.path.clone(),
                    why,
                }),
                Some(Content::Text(text, _)) => {
                    parse_file(&text, Some(&file.name), &file.path, &mut parsed)
                }
            }
            budget.count(parsed.len() - before)?;
        }
        let pam_d = host.stat("/etc/pam.d").is_ok_and(|s| confdirs::is_dir(&s));
        let conf_start = parsed.len();
        if let Some(Content::Text(text, _)) = confdirs::read(host, &host.path("/etc/pam.conf")) {
            parse_file(&text, None, "/etc/pam.conf", &mut parsed);
            budget.count(parsed.len() - conf_start)?;
        }
        Ok(items(host, parsed, conf_start, pam_d))
    }

    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Added => {
                let f = change.after.clone().unwrap_or_default();
                let about = crate::sources::common::render_named(
                    &f,
                    &["control", "arguments", "position", "file", "error"],
                );
                format!("PAM line {} added ({about})", change.key)
            }
            _ => crate::collectors::default_message(self.noun(), change),
        }
    }
}

/// One parsed line (or an unreadable file).
enum Entry {
    Rule {
        service: String,
        file: String,
        kind: String,
        missing_ok: bool,
        control: String,
        module: String,
        args: Vec<String>,
    },
    Include {
        service: String,
        file: String,
        target: String,
    },
    Malformed {
        service: String,
        file: String,
        line: usize,
        text: String,
        error: &'static str,
    },
    Unreadable {
        service: String,
        file: String,
        why: String,
    },
}

/// Parses one file; `service` is `None` for `pam.conf`, whose lines name their service first.
fn parse_file(text: &str, service: Option<&str>, file: &str, out: &mut Vec<Entry>) {
    let mut logical = String::new();
    let mut first_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            first_line = i + 1;
        }
        if let Some(cont) = raw.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        parse_line(&line, service, file, first_line, out);
    }
    if !logical.is_empty() {
        parse_line(&logical, service, file, first_line, out);
    }
}

fn parse_line(line: &str, service: Option<&str>, file: &str, n: usize, out: &mut Vec<Entry>) {
    let body = line.split('#').next().unwrap_or("");
    let mut words = body.split_whitespace().peekable();
    if words.peek().is_none() {
        return;
    }
    let service = match service {
        Some(s) => s.to_string(),
        None => escape_bytes(words.next().unwrap_or("").as_bytes()),
    };
    let bad = |error| Entry::Malformed {
        service: service.clone(),
        file: file.to_string(),
        line: n,
        text: line_text(line),
        error,
    };
    let Some(first) = words.next() else {
        out.push(bad("no module type"));
        return;
    };
    if first == "@include" {
        let entry = match (words.next(), words.next()) {
            (Some(target), None) => Entry::Include {
                service: service.clone(),
                file: file.to_string(),
                target: escape_bytes(target.as_bytes()),
            },
            _ => bad("@include takes one service name"),
        };
        out.push(entry);
        return;
    }
    let (missing_ok, kind) = match first.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, first),
    };
    if !TYPES.contains(&kind.to_ascii_lowercase().as_str()) {
        out.push(bad(
            "unknown module type (auth, account, password, session)",
        ));
        return;
    }
    let Some(mut control) = words.next().map(str::to_string) else {
        out.push(bad("no control flag"));
        return;
    };
    if control.starts_with('[') {
        while !control.ends_with(']') {
            match words.next() {
                Some(w) => {
                    control.push(' ');
                    control.push_str(w);
                }
                None => {
                    out.push(bad("unclosed [ in the control flag"));
                    return;
                }
            }
        }
    } else if !CONTROLS.contains(&control.to_ascii_lowercase().as_str()) {
        out.push(bad("unknown control flag"));
        return;
    }
    let Some(module) = words.next() else {
        out.push(bad("no module"));
        return;
    };
    out.push(Entry::Rule {
        service,
        file: file.to_string(),
        kind: kind.to_ascii_lowercase(),
        missing_ok,
        control: escape_bytes(control.as_bytes()),
        module: escape_bytes(module.as_bytes()),
        args: words.map(|w| escape_bytes(w.as_bytes())).collect(),
    });
}

/// Whether a rule's control flag pulls in another service's stack (`include`, `substack`),
/// compared as libpam does, without regard to case (as the flag's validity check above).
fn pulls_in(control: &str) -> bool {
    control.eq_ignore_ascii_case("include") || control.eq_ignore_ascii_case("substack")
}

fn items(host: &Host, parsed: Vec<Entry>, conf_start: usize, pam_d: bool) -> Vec<Item> {
    // Which services each service pulls in (`@include X`, `auth include X`, `substack X`).
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut services = BTreeSet::new();
    for e in &parsed[..conf_start] {
        match e {
            Entry::Include {
                service, target, ..
            } => {
                edges
                    .entry(service.clone())
                    .or_default()
                    .insert(target.clone());
            }
            Entry::Rule {
                service,
                control,
                module,
                ..
            } if pulls_in(control) => {
                edges
                    .entry(service.clone())
                    .or_default()
                    .insert(module.clone());
            }
            _ => {}
        }
        let (Entry::Rule { service, .. }
        | Entry::Include { service, .. }
        | Entry::Malformed { service, .. }
        | Entry::Unreadable { service, .. }) = e;
        services.insert(service.clone());
    }
    // Each service's reach once, not once per include line (a thousand services that include
    // each other made that quadratic).
    let mut reaches: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut keys = Keys::default();
    let mut positions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, e) in parsed.into_iter().enumerate() {
        let in_conf = i >= conf_start;
        let prefix = if in_conf { "pam.conf/" } else { "" };
        let mut item = match e {
            Entry::Rule {
                service,
                file,
                kind,
                missing_ok,
                control,
                module,
                args,
            } => {
                let pos = positions
                    .entry((format!("{prefix}{service}"), kind.clone()))
                    .or_default();
                *pos += 1;
                let key = keys.unique(format!("{prefix}{service}:{kind}:{module}"));
                let mut item = Item::new(key)
                    .with("type", &kind)
                    .with("control", &control)
                    .with("module", &module)
                    .with("position", *pos)
                    .with("file", file);
                if !args.is_empty() {
                    let args: Vec<String> = args.iter().map(|a| hide_secret(host, a)).collect();
                    item = item.with("arguments", args.join(" "));
                }
                if missing_ok {
                    item = item.with("if_missing", "ignore");
                }
                if pulls_in(&control) {
                    item = item.with("found", yes_no(services.contains(&module)));
                } else if !in_system_dir(&module) {
                    item = item.with("module_path", "outside");
                }
                item
            }
            Entry::Include {
                service,
                file,
                target,
            } => {
                let key = keys.unique(format!("{prefix}{service}:@include:{target}"));
                let mut item = Item::new(key).with("include", &target).with("file", file);
                if !in_conf {
                    item = item.with("found", yes_no(services.contains(&target)));
                    let (reached, looped) = reaches
                        .entry(service.clone())
                        .or_insert_with(|| {
                            let (set, looped) = reach(&edges, &service);
                            (set.into_iter().collect::<Vec<_>>().join(","), looped)
                        })
                        .clone();
                    item = item.with("reaches", reached);
                    if looped {
                        item = item.with("loop", "yes");
                    }
                }
                item
            }
            Entry::Malformed {
                service,
                file,
                line,
                text,
                error,
            } => Item::new(keys.unique(format!("{prefix}{service}:malformed:{text}")))
                .with("file", file)
                .with("line", line)
                .with("error", error),
            Entry::Unreadable { service, file, why } => {
                Item::new(keys.unique(format!("{service}:unreadable")))
                    .with("file", file)
                    .with("error", why)
            }
        };
        if in_conf && pam_d {
            item = item.with("ignored", "etc/pam.d exists");
        }
        out.push(item);
    }
    out
}

/// The services reachable from `from` through includes, and whether `from` reaches itself.
fn reach(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> (BTreeSet<String>, bool) {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = vec![from];
    let mut looped = false;
    while let Some(s) = todo.pop() {
        for next in edges.get(s).into_iter().flatten() {
            if next == from {
                looped = true;
            }
            if seen.insert(next.clone()) {
                todo.push(next);
            }
        }
    }
    (seen, looped)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Whether a module given as written loads from a system PAM directory: a bare name does;
/// a path must be `/{usr/}lib{,32,64}/{TRIPLET/}security/NAME` without `..`.
fn in_system_dir(module: &str) -> bool {
    if !module.contains('/') {
        return true;
    }
    let parts: Vec<&str> = module.split('/').collect();
    if parts.first() != Some(&"") || parts.contains(&"..") || parts.contains(&".") {
        return false;
    }
    let rest = if parts.get(1) == Some(&"usr") {
        &parts[2..]
    } else {
        &parts[1..]
    };
    let lib = rest
        .first()
        .is_some_and(|l| ["lib", "lib32", "lib64"].contains(l));
    match rest.len() {
        3 => lib && rest[1] == "security",
        4 => lib && rest[2] == "security" && !rest[1].is_empty(),
        _ => false,
    }
}

/// `passwd=hunter2` as `passwd=(fingerprint 1a2b...)`: a module argument that looks like a
/// credential never reaches the database (without the scan's key: `(hidden)`).
fn hide_secret(host: &Host, arg: &str) -> String {
    let Some((name, value)) = arg.split_once('=') else {
        return arg.to_string();
    };
    let lower = name.to_ascii_lowercase();
    let secret = ["pass", "secret", "token", "cred", "key"]
        .iter()
        .any(|w| lower.contains(w));
    if !secret || value.is_empty() {
        return arg.to_string();
    }
    match host.secret() {
        Some(k) => format!("{name}=(fingerprint {})", k.fingerprint(value.as_bytes())),
        None => format!("{name}=(hidden)"),
    }
}

#[cfg(test)]
mod tests;

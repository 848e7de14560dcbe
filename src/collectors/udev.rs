//! `udev_rules`: the programs udev runs as root on device events.
//!
//! Rules files come from `etc/udev/rules.d`, `run/udev/rules.d`, `usr/local/lib/udev/rules.d`,
//! `usr/lib/udev/rules.d` and `lib/udev/rules.d`, merged by file name as udev does (the first
//! directory wins; a symlink to `/dev/null` masks the name). Items:
//! - `FILE OPERATION VALUE` (`60-x.rules RUN+= /usr/bin/x`; repeated ones get `#2`): each
//!   `RUN`, `PROGRAM` and `IMPORT{program}` assignment, with `program` (the value), `file` (its
//!   path), `match` (the rule's match keys, `SUBSYSTEM=="usb", ...`) and `builtin=yes` for
//!   `RUN{builtin}`. Rules without a program are not items; they are counted in:
//! - `file NAME`: one per rules file, with `file`, `rules` (rule lines) and `masked=yes` or
//!   `error` when the winning file is a mask or cannot be read.
//! - `malformed FILE: TEXT` for a rule line that does not parse, with its line number.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;
use crate::sources::confdirs::{self, Content, Keys, line_text};
use std::borrow::Cow;

pub struct UdevRules;

const DIRS: [&str; 5] = [
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
];

impl Collector for UdevRules {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&[
            "/etc/udev",
            "/lib/udev/rules.d",
            "/usr/lib/udev/rules.d",
            "/run/udev/rules.d",
        ])
    }
    fn name(&self) -> &'static str {
        "udev_rules"
    }
    fn description(&self) -> &'static str {
        "udev rules that run programs (RUN, PROGRAM, IMPORT{program}) and a rule count per file"
    }
    fn noun(&self) -> &'static str {
        "udev"
    }

    /// The rules file a rule is written in.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file")
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut out = Vec::new();
        let mut keys = Keys::default();
        for f in confdirs::merged(host, &DIRS, ".rules")? {
            let file_item =
                Item::new(keys.unique(format!("file {}", f.name))).with("file", &f.path);
            if confdirs::masked(host, &f.real) {
                out.push(file_item.with("masked", "yes"));
                continue;
            }
            match confdirs::read(host, &f.real) {
                None => {}
                Some(Content::Failed(why)) => out.push(file_item.with("error", why)),
                Some(Content::Text(text, _)) => {
                    let mut items = Vec::new();
                    let rules = parse(&text, &f.name, &f.path, &mut keys, &mut items);
                    out.push(file_item.with("rules", rules));
                    out.extend(items);
                }
            }
        }
        Ok(out)
    }
}

/// Parses one rules file into program items (and malformed ones); returns the rule count.
fn parse(text: &str, name: &str, path: &str, keys: &mut Keys, out: &mut Vec<Item>) -> usize {
    let mut rules = 0;
    let mut logical = String::new();
    let mut first = 0;
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        if logical.is_empty() {
            first = i + 1;
        }
        if let Some(cont) = raw.strip_suffix('\\') {
            logical.push_str(cont);
            if i + 1 < lines.len() {
                continue;
            }
        } else {
            logical.push_str(raw);
        }
        let line = std::mem::take(&mut logical);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        rules += 1;
        let tokens = match tokenize(trimmed) {
            Ok(t) => t,
            Err(why) => {
                out.push(
                    Item::new(keys.unique(format!("malformed {path}: {}", line_text(trimmed))))
                        .with("line", first)
                        .with("error", why),
                );
                continue;
            }
        };
        let matches: Vec<String> = tokens
            .iter()
            .filter(|t| t.op == "==" || t.op == "!=")
            .map(|t| format!("{}{}\"{}\"", t.key, t.op, t.value))
            .collect();
        for t in &tokens {
            let base = t.key.split('{').next().unwrap_or("");
            let program = match base {
                "RUN" | "PROGRAM" => true,
                "IMPORT" => t.key == "IMPORT{program}",
                _ => false,
            };
            if !program || t.op == "==" || t.op == "!=" {
                continue;
            }
            let value = line_text(&t.value);
            let assign = format!("{}{}", t.key, t.op);
            let mut item = Item::new(keys.unique(format!("{name} {} {value}", line_text(&assign))))
                .with("program", &value)
                .with("file", path)
                .with("match", line_text(&matches.join(", ")));
            if t.key == "RUN{builtin}" {
                item = item.with("builtin", "yes");
            }
            out.push(item);
        }
    }
    rules
}

/// One `KEY{attr}OP"value"` of a rule.
struct Token {
    key: String,
    op: &'static str,
    value: String,
}

/// Splits a rule line into its comma-separated keys; an error says what is wrong.
fn tokenize(line: &str) -> Result<Vec<Token>, &'static str> {
    const OPS: [&str; 6] = ["==", "!=", "+=", "-=", ":=", "="];
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i == start {
            return Err("expected a key");
        }
        if b.get(i) == Some(&b'{') {
            match line[i..].find('}') {
                Some(end) => i += end + 1,
                None => return Err("unclosed { in a key"),
            }
        }
        let key = line[start..i].to_string();
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let Some(op) = OPS.iter().find(|op| line[i..].starts_with(**op)) else {
            return Err("expected an operator (==, !=, =, +=, -=, :=)");
        };
        i += op.len();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'e') && b.get(i + 1) == Some(&b'"') {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            return Err("expected a double-quoted value");
        }
        i += 1;
        let mut value = String::new();
        let mut closed = false;
        let mut chars = line[i..].char_indices();
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        if n != '"' {
                            value.push('\\');
                        }
                        value.push(n);
                    }
                }
                '"' => {
                    i += j + 1;
                    closed = true;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return Err("unclosed quote");
        }
        out.push(Token { key, op, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

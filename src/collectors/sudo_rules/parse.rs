//! The sudoers(5) grammar, as far as a reviewer needs it: logical lines (comments stripped,
//! `\` continuations joined), includes, aliases, `Defaults` and user specifications. Anything
//! else is [`Entry::Malformed`] with the reason.

use super::{Tags, is_tag};

/// One statement of a sudoers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Include {
        path: String,
        dir: bool,
    },
    Alias {
        kind: String,
        name: String,
        members: Vec<String>,
    },
    Defaults {
        binding: String,
        setting: String,
        op: String,
        value: String,
    },
    /// One host group and command group of a user specification: the commands that share
    /// a runas list, tags and options.
    Rule {
        who: Vec<String>,
        hosts: Vec<String>,
        spec: Spec,
    },
    Malformed {
        line: String,
        why: String,
    },
    /// A file that could not be read (the text says why).
    Unread(String),
}

/// Commands sharing one runas list, tags and options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub runas: Option<String>,
    pub tags: Tags,
    pub options: Vec<String>,
    pub commands: Vec<String>,
}

/// Options a command may carry before it (`CWD=/tmp`), by name.
const OPTIONS: [&str; 10] = [
    "CWD",
    "CHROOT",
    "ROLE",
    "TYPE",
    "TIMEOUT",
    "NOTBEFORE",
    "NOTAFTER",
    "APPARMOR_PROFILE",
    "PRIVS",
    "LIMITPRIVS",
];

fn is_directive(line: &str) -> bool {
    ["#include", "@include"].iter().any(|p| {
        line.strip_prefix(p)
            .is_some_and(|r| r.starts_with([' ', '\t', 'd']))
    })
}

/// The statements of a file: comments removed (a `#` followed by a digit is a uid, not a
/// comment), continuation lines joined, blank lines dropped, whitespace runs made one space.
pub fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        let line = if pending.is_empty() && is_directive(line) {
            line.to_string()
        } else {
            strip_comment(line)
        };
        let (body, more) = match line.strip_suffix('\\') {
            Some(b) if !b.ends_with('\\') => (b, true),
            _ => (line.as_str(), false),
        };
        pending.push_str(body);
        pending.push(' ');
        if !more {
            let joined = pending.split_whitespace().collect::<Vec<_>>().join(" ");
            if !joined.is_empty() {
                out.push(joined);
            }
            pending.clear();
        }
    }
    let rest = pending.split_whitespace().collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn strip_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '#' if !quoted && !chars.peek().is_some_and(char::is_ascii_digit) => break,
            _ => {}
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// Splits at `sep` outside quotes and not escaped with `\`; parts trimmed.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(String::new());
            continue;
        }
        parts.last_mut().expect("one part").push(c);
    }
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

fn list(s: &str) -> Vec<String> {
    split_top(s, ',')
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| match p.strip_prefix('!') {
            Some(rest) => format!("!{}", rest.trim()),
            None => p,
        })
        .collect()
}

fn malformed(line: &str, why: &str) -> Vec<Entry> {
    vec![Entry::Malformed {
        line: line.to_string(),
        why: why.to_string(),
    }]
}

/// The statements of one logical line.
pub fn entries(line: &str) -> Vec<Entry> {
    for (prefix, dir) in [
        ("@includedir", true),
        ("#includedir", true),
        ("@include", false),
        ("#include", false),
    ] {
        if let Some(rest) = line.strip_prefix(prefix)
            && rest.starts_with(' ')
        {
            let path = rest.trim().trim_matches('"');
            if path.is_empty() {
                return malformed(line, "include without a path");
            }
            return vec![Entry::Include {
                path: path.to_string(),
                dir,
            }];
        }
    }
    let first = line.split([' ', '=']).next().unwrap_or("");
    if first.starts_with("Defaults") {
        return defaults(line, first);
    }
    if let Some(kind) = match first {
        "User_Alias" | "Runas_Alias" | "Host_Alias" | "Cmnd_Alias" => Some(first),
        "Cmd_Alias" => Some("Cmnd_Alias"),
        _ => None,
    } {
        return aliases(line, kind, &line[first.len()..]);
    }
    rule(line)
}

fn defaults(line: &str, first: &str) -> Vec<Entry> {
    let binding = &first["Defaults".len()..];
    if !(binding.is_empty() || binding.starts_with(['@', ':', '!', '>'])) {
        return malformed(line, "unknown Defaults binding");
    }
    let params = line[first.len()..].trim();
    if params.is_empty() {
        return malformed(line, "Defaults without a setting");
    }
    let mut out = Vec::new();
    for p in split_top(params, ',') {
        let (name, op, value) = if let Some(i) = p.find('=') {
            let (name, rest) = p.split_at(i);
            let (name, op) = match name.trim_end().strip_suffix(['+', '-']) {
                Some(n) => (n, &name.trim_end()[n.len()..]),
                None => (name, ""),
            };
            let value = rest[1..].trim().trim_matches('"').to_string();
            let op = if op.is_empty() {
                String::new()
            } else {
                format!("{op}=")
            };
            (name.trim().to_string(), op, value)
        } else if let Some(name) = p.strip_prefix('!') {
            (name.trim().to_string(), String::new(), "off".into())
        } else {
            (p.clone(), String::new(), "on".into())
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.extend(malformed(line, &format!("bad Defaults setting {p:?}")));
            continue;
        }
        out.push(Entry::Defaults {
            binding: binding.to_string(),
            setting: name,
            op,
            value,
        });
    }
    out
}

fn aliases(line: &str, kind: &str, rest: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for part in split_top(rest, ':') {
        let Some((name, members)) = part.split_once('=') else {
            return malformed(line, "alias without '='");
        };
        let name = name.trim();
        let good = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !good {
            return malformed(line, "alias names are upper case letters, digits and _");
        }
        let members = list(members);
        if members.is_empty() {
            return malformed(line, "alias without members");
        }
        out.push(Entry::Alias {
            kind: kind.to_string(),
            name: name.to_string(),
            members,
        });
    }
    out
}

/// `USERS HOSTS = [(RUNAS)] [TAG:]... CMND, ... [: HOSTS = ...]`.
fn rule(line: &str) -> Vec<Entry> {
    let Some(eq) = unescaped_find(line, '=') else {
        return malformed(line, "not a rule (no '='), alias, Defaults or include");
    };
    let left = line[..eq].replace(" ,", ",").replace(", ", ",");
    let words: Vec<&str> = left.split_whitespace().collect();
    let [who, hosts] = words[..] else {
        return malformed(line, "expected USERS HOSTS = COMMANDS");
    };
    match specs(&line[eq + 1..]) {
        Ok(groups) => {
            let who = list(who);
            let mut hosts = list(hosts);
            let mut out = Vec::new();
            for (next_hosts, spec) in groups {
                if let Some(h) = next_hosts {
                    hosts = h;
                }
                out.push(Entry::Rule {
                    who: who.clone(),
                    hosts: hosts.clone(),
                    spec,
                });
            }
            out
        }
        Err(why) => malformed(line, &why),
    }
}

fn unescaped_find(s: &str, c: char) -> Option<usize> {
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == c {
            return Some(i);
        }
    }
    None
}

/// Commands under a new host list (`: HOSTS = ...`), or under the previous one (`None`).
type Group = (Option<Vec<String>>, Spec);

/// The command groups of the right side of a rule; a group that starts a new host list
/// (`: HOSTS = ...`) carries it.
fn specs(s: &str) -> Result<Vec<Group>, String> {
    let mut out: Vec<Group> = Vec::new();
    let mut cur = Spec::default();
    let mut new_hosts: Option<Vec<String>> = None;
    let mut fresh = true;
    let mut rest = s.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix('(') {
            let end = r.find(')').ok_or("unclosed '(' in the runas list")?;
            let runas: String = r[..end].split_whitespace().collect();
            cur.runas = Some(runas);
            rest = r[end + 1..].trim_start();
        }
        // Tags (`NOPASSWD:`) and options (`CWD=/`), in any order.
        loop {
            let word_len = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            let (word, after) = rest.split_at(word_len);
            let after_t = after.trim_start();
            if is_tag(word) && after_t.starts_with(':') {
                let opposite = match word.strip_prefix("NO") {
                    Some(w) => w.to_string(),
                    None => format!("NO{word}"),
                };
                cur.tags.remove(&opposite);
                cur.tags.insert(word.to_string());
                rest = after_t[1..].trim_start();
            } else if OPTIONS.contains(&word) && after_t.starts_with('=') {
                let v = after_t[1..].trim_start();
                let end = v.find(' ').unwrap_or(v.len());
                cur.options.push(format!("{word}={}", &v[..end]));
                rest = v[end..].trim_start();
            } else {
                break;
            }
        }
        let end = [unescaped_find(rest, ','), unescaped_find(rest, ':')]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(rest.len());
        let cmd = rest[..end].trim();
        if cmd.is_empty() {
            return Err("missing command".into());
        }
        let cmd = match cmd.strip_prefix('!') {
            Some(c) => format!("!{}", c.trim()),
            None => cmd.to_string(),
        };
        let same = |(_, last): &Group| {
            !fresh
                && last.runas == cur.runas
                && last.tags == cur.tags
                && last.options == cur.options
        };
        match out.last_mut() {
            Some(last) if same(last) => last.1.commands.push(cmd),
            _ => {
                let mut spec = cur.clone();
                spec.commands = vec![cmd];
                out.push((new_hosts.take(), spec));
            }
        }
        fresh = false;
        let sep = rest[end..].chars().next();
        rest = rest.get(end + 1..).unwrap_or("").trim_start();
        match sep {
            None => return Ok(out),
            Some(',') => {}
            _ => {
                // `: HOSTS = ...`: a new host group; runas, tags and options start afresh.
                let eq = unescaped_find(rest, '=').ok_or("':' not followed by HOSTS =")?;
                let hosts = list(&rest[..eq].replace(' ', ""));
                if hosts.is_empty() {
                    return Err("':' not followed by HOSTS =".into());
                }
                new_hosts = Some(hosts);
                fresh = true;
                cur = Spec::default();
                rest = rest[eq + 1..].trim_start();
            }
        }
    }
}

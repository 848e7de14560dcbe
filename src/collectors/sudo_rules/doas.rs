//! OpenDoas's `doas.conf(5)`: `permit|deny [options] identity [as target] [cmd command [args
//! ...]]`, one rule a line, with the same fields as sudo rules (`source=doas`).

use super::text;
use crate::model::Item;

const FILE: &str = "/etc/doas.conf";

/// The words of a line: `#` starts a comment, `"..."` quotes, `\` escapes, `{` and `}` stand
/// alone.
fn words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur
                .get_or_insert_default()
                .push(chars.next().ok_or("a '\\' ends the line")?),
            '"' => {
                quoted = !quoted;
                cur.get_or_insert_default();
            }
            _ if quoted => cur.get_or_insert_default().push(c),
            '#' => break,
            '{' | '}' => {
                out.extend(cur.take());
                out.push(c.to_string());
            }
            c if c.is_whitespace() => out.extend(cur.take()),
            c => cur.get_or_insert_default().push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    out.extend(cur);
    Ok(out)
}

/// The items of a doas.conf.
pub fn items(content: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in content.lines() {
        if let Some(body) = raw.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        pending.push_str(raw);
        let line = std::mem::take(&mut pending);
        match words(&line).and_then(|w| rule(&w)) {
            Ok(Some(item)) => out.push(item.with("file", FILE).with("source", "doas")),
            Ok(None) => {}
            Err(why) => {
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push(
                    Item::new(text(&format!("malformed {FILE}: {}", super::trunc(&line))))
                        .with("malformed", why)
                        .with("line", text(&line))
                        .with("file", FILE),
                );
            }
        }
    }
    out
}

fn rule(w: &[String]) -> Result<Option<Item>, &'static str> {
    let Some(action) = w.first() else {
        return Ok(None);
    };
    if action != "permit" && action != "deny" {
        return Err("a rule starts with permit or deny");
    }
    let mut i = 1;
    let mut opts: Vec<&str> = Vec::new();
    let mut setenv = Vec::new();
    while let Some(word) = w.get(i) {
        match word.as_str() {
            "nopass" | "nolog" | "persist" | "keepenv" => opts.push(word),
            "setenv" => {
                if w.get(i + 1).map(String::as_str) != Some("{") {
                    return Err("setenv without '{'");
                }
                i += 2;
                while w.get(i).is_some_and(|x| x != "}") {
                    setenv.push(w[i].clone());
                    i += 1;
                }
                if i >= w.len() {
                    return Err("setenv without '}'");
                }
            }
            _ => break,
        }
        i += 1;
    }
    let who = w.get(i).ok_or("no identity (user or :group)")?;
    i += 1;
    let mut target = "ALL".to_string();
    if w.get(i).map(String::as_str) == Some("as") {
        target = w.get(i + 1).ok_or("'as' without a user")?.clone();
        i += 2;
    }
    let mut commands = "ALL".to_string();
    if w.get(i).map(String::as_str) == Some("cmd") {
        commands = w.get(i + 1).ok_or("'cmd' without a command")?.clone();
        i += 2;
        if w.get(i).map(String::as_str) == Some("args") {
            for a in &w[i + 1..] {
                commands.push(' ');
                commands.push_str(a);
            }
            i = w.len();
        }
    }
    if i < w.len() {
        return Err("unexpected words after the rule");
    }
    let yes = |o: &str| if opts.contains(&o) { "yes" } else { "no" };
    let key = format!("doas {action} {who} -> {target}: {commands}");
    let mut item = Item::new(text(&key))
        .with("action", action)
        .with("who", text(who))
        .with("runas", text(&target))
        .with("commands", text(&commands))
        .with("nopasswd", yes("nopass"))
        .with("persist", yes("persist"))
        .with("keepenv", yes("keepenv"));
    if commands == "ALL" && action == "permit" {
        item = item.with("all_commands", "yes");
    }
    if !setenv.is_empty() {
        item = item.with("setenv_vars", text(&setenv.join(" ")));
    }
    Ok(Some(item))
}

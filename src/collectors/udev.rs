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

pub struct UdevRules;

const DIRS: [&str; 5] = [
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
];

impl Collector for UdevRules {
    fn name(&self) -> &'static str {
        "udev_rules"
    }
    fn description(&self) -> &'static str {
        "udev rules that run programs (RUN, PROGRAM, IMPORT{program}) and a rule count per file"
    }
    fn noun(&self) -> &'static str {
        "udev"
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
mod tests {
    use super::*;
    use crate::collectors::testing::write;

    const RULES: &str = "# comment\n\
        ACTION==\"add\", SUBSYSTEM==\"usb\",  RUN+=\"/usr/bin/x --arg \\\"q\\\"\"\n\
        SUBSYSTEM==\"net\", \\\n  RUN{program}+=\"/etc/hook.sh\", PROGRAM=\"/bin/id %k\"\n\
        KERNEL==\"sd*\", IMPORT{program}=\"/lib/udev/ata_id\", IMPORT{builtin}=\"path_id\"\n\
        ENV{X}==\"1\", RUN{builtin}+=\"kmod load $env{MODALIAS}\"\n\
        KERNEL==\"tty*\", MODE=\"0666\"\n\
        KERNEL==\"bad\", RUN+=\"/unclosed\n\
        KERNEL==\"bad\" RUN+= oops\n\
        ACTION==\"add\", RUN+=\"/usr/bin/x --arg \\\"q\\\"\"\n";

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "usr/lib/udev/rules.d/60-test.rules", RULES);
        write(
            r,
            "usr/lib/udev/rules.d/70-vendor.rules",
            "RUN+=\"/vendor\"\n",
        );
        write(r, "etc/udev/rules.d/70-vendor.rules", "RUN+=\"/admin\"\n");
        write(
            r,
            "usr/lib/udev/rules.d/80-masked.rules",
            "RUN+=\"/never\"\n",
        );
        std::os::unix::fs::symlink("/dev/null", r.join("etc/udev/rules.d/80-masked.rules"))
            .unwrap();
        dir
    }

    use crate::collectors::testing::fields as by;

    #[test]
    fn programs_matches_precedence_and_malformed_lines() {
        let dir = root();
        let items = UdevRules.collect(&Host::new(dir.path())).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "file 60-test.rules",
                "60-test.rules RUN+= /usr/bin/x --arg \"q\"",
                "60-test.rules RUN{program}+= /etc/hook.sh",
                "60-test.rules PROGRAM= /bin/id %k",
                "60-test.rules IMPORT{program}= /lib/udev/ata_id",
                "60-test.rules RUN{builtin}+= kmod load $env{MODALIAS}",
                "malformed /usr/lib/udev/rules.d/60-test.rules: KERNEL==\"bad\", RUN+=\"/unclosed",
                "malformed /usr/lib/udev/rules.d/60-test.rules: KERNEL==\"bad\" RUN+= oops",
                "60-test.rules RUN+= /usr/bin/x --arg \"q\"#2",
                "file 70-vendor.rules",
                "70-vendor.rules RUN+= /admin",
                "file 80-masked.rules",
            ]
        );
        let run = by(&items, "60-test.rules RUN+= /usr/bin/x --arg \"q\"");
        assert_eq!(&run["match"], "ACTION==\"add\", SUBSYSTEM==\"usb\"");
        assert_eq!(&run["file"], "/usr/lib/udev/rules.d/60-test.rules");
        assert_eq!(
            &by(&items, "60-test.rules RUN{program}+= /etc/hook.sh")["match"],
            "SUBSYSTEM==\"net\""
        );
        assert_eq!(
            &by(
                &items,
                "60-test.rules RUN{builtin}+= kmod load $env{MODALIAS}"
            )["builtin"],
            "yes"
        );
        assert_eq!(&by(&items, "file 60-test.rules")["rules"], "8");
        assert_eq!(
            &by(&items, "file 70-vendor.rules")["file"],
            "/etc/udev/rules.d/70-vendor.rules"
        );
        let bad = by(
            &items,
            "malformed /usr/lib/udev/rules.d/60-test.rules: KERNEL==\"bad\" RUN+= oops",
        );
        assert_eq!(
            (&bad["line"], &bad["error"]),
            ("9", "expected a double-quoted value")
        );
    }

    #[test]
    fn a_mask_hides_the_vendor_file() {
        let dir = root();
        let items = UdevRules.collect(&Host::new(dir.path())).unwrap();
        let masked = by(&items, "file 80-masked.rules");
        assert_eq!(&masked["masked"], "yes");
        assert_eq!(&masked["file"], "/etc/udev/rules.d/80-masked.rules");
        assert!(!items.iter().any(|i| i.key.contains("/never")));
    }

    #[test]
    fn idle_rescan_is_identical_and_no_udev_is_no_items() {
        crate::collectors::testing::idle_and_absent(&UdevRules, root().path());
    }

    proptest::proptest! {
        #![proptest_config(crate::collectors::fuzz::config())]
        #[test]
        fn fuzz_rules(text in crate::collectors::fuzz::text(RULES)) {
            let mut out = Vec::new();
            parse(&text, "x.rules", "/x.rules", &mut Keys::default(), &mut out);
            crate::collectors::fuzz::assert_printable(&out);
        }
    }
}

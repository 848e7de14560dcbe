//! `sudo_rules`: who may run what as whom, from `etc/sudoers` (with the files it includes) and
//! `etc/doas.conf`.
//!
//! One item per rule, keyed by the rule as written and normalised (`%admins -> root: ALL`,
//! ` on HOSTS` inserted when the hosts are not `ALL`), never by file and line: a rule moved to
//! another file is not a change. Fields: `who`, `runas`, `hosts`, `commands` (aliases
//! resolved), `nopasswd`, `setenv`, `noexec` (`yes`/`no`), `all_commands=yes` when `ALL` is
//! granted, `file`. Aliases are items too (`alias Cmnd_Alias NAME`, field `members`), so are
//! `Defaults` settings (`Defaults:alice authenticate`, fields `setting`, `value` (`on`, `off` or
//! the value), `op` for lists). A line sudo could not parse is an item (`malformed FILE: LINE`)
//! and a file that could not be read is one (`unread FILE`), never silently dropped.
//!
//! Includes are followed as sudo follows them: `@include`/`#include` (a relative path is
//! relative to the including file's directory), `@includedir`/`#includedir` (files in
//! lexical order, skipping names that end in `~` or contain a `.`), at most
//! [`MAX_DEPTH`] deep, each file once per scan (known by device and inode, see
//! [`crate::sources::includes`]). Each alias is expanded once per scan, however many rules name it. More
//! than `max_items` files and entries, an alias standing for more than `max_items` members, or
//! more than [`RESOLVED_PER_ITEM`] × `max_items` members in all the resolved lists make the
//! collector unavailable for that scan. `doas.conf` rules (OpenDoas) use the same fields, with
//! `source=doas`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::Path;
use std::rc::Rc;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};
use crate::sources::includes::{Includes, Read};

mod doas;
mod parse;

use parse::{Entry, Spec};

pub struct SudoRules;

/// Include nesting beyond which sudo's own limit would long have been reached.
pub const MAX_DEPTH: usize = 8;

impl Collector for SudoRules {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/sudoers", "/etc/sudoers.d", "/etc/doas.conf"])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "sudo_rules"
    }
    fn description(&self) -> &'static str {
        "sudo rules (etc/sudoers and its includes, aliases resolved, Defaults) and doas.conf rules"
    }
    fn noun(&self) -> &'static str {
        "sudo rule"
    }

    /// The sudoers (or doas) file a rule is written in.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file")
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut files = Files {
            host,
            walk: Includes::new(host, WHAT),
            entries: Vec::new(),
        };
        let dormant = match files.walk.read("/etc/sudoers", "")? {
            Read::Bytes(bytes) => {
                files.parse("/etc/sudoers", &bytes, 0)?;
                false
            }
            // No sudoers (sudo not installed): drop-ins already there are dormant, and become
            // rules the moment sudo is installed (its default sudoers includes the directory).
            // Read them as that default would, and say so on each item.
            Read::Failed(e) if e.kind() == io::ErrorKind::NotFound => {
                files.parse("/etc/sudoers", b"@includedir /etc/sudoers.d\n", 0)?;
                true
            }
            Read::Failed(e) => return Err(CollectError::io("/etc/sudoers", e)),
            Read::Again => false,
        };
        let mut items = items_of(&files.entries, host.max_items())?;
        if dormant {
            for item in &mut items {
                item.fields.insert(
                    "dormant",
                    "no /etc/sudoers: active once sudo's default one includes sudoers.d",
                );
            }
        }
        match host.read_bytes("/etc/doas.conf") {
            Ok(bytes) => items.extend(doas::items(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(CollectError::io("/etc/doas.conf", e)),
        }
        Ok(crate::sources::common::unique_keys(items))
    }

    /// `sudo rule dave -> ALL: ALL added (who=dave, nopasswd, setenv, file=/etc/sudoers.d/x)`:
    /// the resolved names and the tags that are set, not every field.
    fn message(&self, change: &Change) -> String {
        let Some(f) = change
            .after
            .as_ref()
            .filter(|_| change.kind == ChangeKind::Added)
        else {
            return crate::collectors::default_message(self.noun(), change);
        };
        if !f.contains_key("runas") {
            let noun = if f.contains_key("setting") {
                "sudo default"
            } else {
                "sudoers entry"
            };
            return crate::collectors::default_message(noun, change);
        }
        let mut parts = Vec::new();
        for name in ["who", "runas", "hosts", "commands"] {
            if let Some(v) = f.get(name) {
                parts.push(format!("{name}={v}"));
            }
        }
        for tag in ["nopasswd", "setenv", "noexec", "persist", "keepenv"] {
            if f.get(tag).is_some_and(|v| v == "yes") {
                parts.push(tag.to_string());
            }
        }
        if let Some(v) = f.get("file") {
            parts.push(format!("file={v}"));
        }
        if f.contains_key("dormant") {
            parts.push("dormant until sudo is installed".into());
        }
        format!(
            "{} {} added ({})",
            self.noun(),
            change.key,
            parts.join(", ")
        )
    }
}

/// Text from a sudoers or doas file as stored text (control characters escaped).
pub(crate) fn text(s: &str) -> String {
    escape_bytes(s.as_bytes())
}

/// What the walk is, in messages.
const WHAT: &str = "etc/sudoers and its includes";

/// The files read so far and what they hold, in sudo's order.
struct Files<'a> {
    host: &'a Host,
    /// Each file read once, the entries counted, the cancel checks.
    walk: Includes<'a>,
    entries: Vec<(String, Entry)>,
}

impl Files<'_> {
    fn unread(&mut self, path: &str, why: String) {
        self.entries
            .push((path.to_string(), Entry::Unread(why.replace('\n', " "))));
    }

    fn parse(&mut self, path: &str, bytes: &[u8], depth: usize) -> Result<(), CollectError> {
        for line in parse::logical_lines(&String::from_utf8_lossy(bytes)) {
            for entry in parse::entries(&line) {
                self.walk.count(1)?;
                match entry {
                    Entry::Include { path: target, dir } => {
                        self.include(path, &target, dir, depth + 1)?
                    }
                    other => self.entries.push((path.to_string(), other)),
                }
            }
        }
        Ok(())
    }

    /// Reads one included file (unless this walk read it already): by its host path, or for
    /// an entry of an included directory by its `real` path (its name need not be UTF-8).
    fn file(&mut self, path: &str, real: Option<&Path>, depth: usize) -> Result<(), CollectError> {
        let skip_odd = real.is_some();
        let read = match real {
            Some(real) => self.walk.read_real(real, "")?,
            None => self.walk.read(path, "")?,
        };
        match read {
            Read::Bytes(bytes) => self.parse(path, &bytes, depth),
            Read::Again => {
                self.unread(path, "included again (a loop): not read twice".into());
                Ok(())
            }
            // Not a regular file (a directory, a FIFO) in an included directory: sudo skips
            // it too.
            Read::Failed(e) if skip_odd && e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            Read::Failed(e) => {
                self.unread(path, e.to_string());
                Ok(())
            }
        }
    }

    fn include(
        &mut self,
        from: &str,
        target: &str,
        dir: bool,
        depth: usize,
    ) -> Result<(), CollectError> {
        let base = Path::new(from).parent().unwrap_or(Path::new("/"));
        let target = base.join(target).to_string_lossy().into_owned();
        if depth > MAX_DEPTH {
            self.unread(&target, format!("included more than {MAX_DEPTH} deep"));
            return Ok(());
        }
        if !dir {
            return self.file(&target, None, depth);
        }
        let listing = match self.host.list_dir(&self.host.path(&target)) {
            Ok(l) => l,
            Err(e) => {
                self.unread(&target, e.to_string());
                return Ok(());
            }
        };
        self.walk.count(listing.len())?;
        for (name, real) in listing {
            let name = name.to_string_lossy();
            if name.ends_with('~') || name.contains('.') {
                continue;
            }
            let path = self.host.display(&real);
            self.file(&path, Some(&real), depth)?;
        }
        Ok(())
    }
}

/// Alias kinds by the list they stand for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    User,
    Runas,
    Host,
    Cmnd,
}

/// How many members the resolved lists of one scan hold at most, as a multiple of
/// `max_items`: every alias is expanded once and its members are copied into each rule that
/// names it (a 200-command alias named by 500 rules is 100,000 members, and fine).
pub const RESOLVED_PER_ITEM: usize = 10;

/// The items of the entries, aliases resolved. Each alias is expanded once (memoised), so a
/// big alias named by many rules costs its size per rule, not a re-expansion. Bounded so that
/// aliases of aliases cannot multiply (eight levels of ten members each are 10^8): past
/// `max_items` members in one alias, or past [`RESOLVED_PER_ITEM`] × `max_items` members
/// built in all, the collector is unavailable.
fn items_of(entries: &[(String, Entry)], max_items: usize) -> Result<Vec<Item>, CollectError> {
    let mut aliases: HashMap<(Kind, &str), &[String]> = HashMap::new();
    for (_, e) in entries {
        if let Entry::Alias {
            kind,
            name,
            members,
        } = e
        {
            let k = match kind.as_str() {
                "User_Alias" => Kind::User,
                "Runas_Alias" => Kind::Runas,
                "Host_Alias" => Kind::Host,
                _ => Kind::Cmnd,
            };
            aliases.insert((k, name), members);
        }
    }
    let expander = RefCell::new(Expander {
        aliases,
        memo: HashMap::new(),
        // One more than the caps: spent means more than allowed.
        total: max_items
            .saturating_mul(RESOLVED_PER_ITEM)
            .saturating_add(1),
        per_alias: max_items,
        over: false,
    });
    let resolve = |kind: Kind, list: &[String]| -> String {
        let mut ex = expander.borrow_mut();
        let mut out = Vec::new();
        for m in list {
            ex.expand(kind, m, 0, &mut out);
        }
        text(&out.join(","))
    };
    let mut items = Vec::new();
    let mut defaults: HashMap<String, usize> = HashMap::new();
    for (file, e) in entries {
        let item = match e {
            Entry::Alias {
                kind,
                name,
                members,
            } => Item::new(text(&format!("alias {kind} {name}")))
                .with("members", text(&members.join(","))),
            Entry::Defaults {
                binding,
                setting,
                op,
                value,
            } => {
                let key = if op.is_empty() {
                    format!("Defaults{binding} {setting}")
                } else {
                    format!("Defaults{binding} {setting}{op}{value}")
                };
                let item = Item::new(text(&key))
                    .with("setting", text(setting))
                    .with("value", text(value))
                    .with("file", text(file));
                let item = if op.is_empty() {
                    item
                } else {
                    item.with("op", op)
                };
                // The last setting of a name wins, as in sudo: replace the earlier item.
                if let Some(&i) = defaults.get(&item.key) {
                    items[i] = item;
                    continue;
                }
                defaults.insert(item.key.clone(), items.len());
                item
            }
            Entry::Rule { who, hosts, spec } => {
                rule_item(who, hosts, spec, &resolve).with("file", text(file))
            }
            Entry::Malformed { line, why } => {
                Item::new(text(&format!("malformed {file}: {}", trunc(line))))
                    .with("malformed", text(why))
                    .with("line", text(line))
                    .with("file", text(file))
            }
            Entry::Unread(why) => Item::new(text(&format!("unread {file}")))
                .with("not_read", text(why))
                .with("file", text(file)),
            Entry::Include { .. } => continue,
        };
        items.push(item);
    }
    if expander.borrow().over {
        let all = max_items.saturating_mul(RESOLVED_PER_ITEM);
        return Err(CollectError::Unavailable(format!(
            "{WHAT}: more than {max_items} members in one alias, or more than {all} in all \
             the resolved lists (max_items): not listed, as a partial list would read as \
             removals; look for aliases that name other aliases many times over, or raise \
             max_items in dawgmond.toml"
        )));
    }
    Ok(items)
}

/// At most 200 characters of a line, for a key.
fn trunc(line: &str) -> &str {
    match line.char_indices().nth(200) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

fn rule_item(
    who: &[String],
    hosts: &[String],
    spec: &Spec,
    resolve: &dyn Fn(Kind, &[String]) -> String,
) -> Item {
    let runas_written = spec.runas.clone().unwrap_or_else(|| "root".into());
    let hosts_written = hosts.join(",");
    let on = if hosts_written == "ALL" {
        String::new()
    } else {
        format!(" on {hosts_written}")
    };
    let key = format!(
        "{}{on} -> {runas_written}: {}",
        who.join(","),
        spec.commands.join(", ")
    );
    let runas = match &spec.runas {
        None => "root".to_string(),
        Some(r) => {
            let (users, groups) = r.split_once(':').unwrap_or((r, ""));
            let list = |s: &str| -> Vec<String> {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            };
            let users = resolve(Kind::Runas, &list(users));
            let groups = list(groups);
            if groups.is_empty() {
                if users.is_empty() {
                    "root".into()
                } else {
                    users
                }
            } else {
                format!("{users}:{}", resolve(Kind::Runas, &groups))
            }
        }
    };
    let commands = resolve(Kind::Cmnd, &spec.commands);
    let all = commands.split(',').any(|c| c == "ALL");
    let tag = |on: &str, off: &str, default: bool| {
        let yes = if spec.tags.contains(on) {
            true
        } else if spec.tags.contains(off) {
            false
        } else {
            default
        };
        if yes { "yes" } else { "no" }
    };
    let mut item = Item::new(text(&key))
        .with("who", resolve(Kind::User, who))
        .with("hosts", resolve(Kind::Host, hosts))
        .with("runas", runas)
        .with("commands", commands)
        .with("nopasswd", tag("NOPASSWD", "PASSWD", false))
        // sudoers(5): "If the command matched is ALL, the SETENV tag is implied".
        .with("setenv", tag("SETENV", "NOSETENV", all))
        .with("noexec", tag("NOEXEC", "EXEC", false))
        .with("source", "sudoers");
    if all {
        item = item.with("all_commands", "yes");
    }
    if !spec.options.is_empty() {
        item = item.with("options", text(&spec.options.join(",")));
    }
    item
}

/// Alias expansion for one scan: each alias expanded once, the members built counted.
struct Expander<'a> {
    aliases: HashMap<(Kind, &'a str), &'a [String]>,
    /// The members of each alias expanded so far (only those not cut short by [`MAX_DEPTH`]).
    memo: HashMap<(Kind, String), Rc<[String]>>,
    /// Members that may still be built, in all (memo and resolved lists).
    total: usize,
    /// Members one alias may stand for.
    per_alias: usize,
    /// A cap was passed: the caller reports the outage.
    over: bool,
}

impl Expander<'_> {
    /// Counts `n` members built; false (and `over`) when that passes the total.
    fn spend(&mut self, n: usize) -> bool {
        if self.over || n >= self.total {
            self.over = true;
            self.total = 0;
            return false;
        }
        self.total -= n;
        true
    }

    /// Appends the members of `name` (its alias members, recursively, or itself), keeping `!`.
    /// Returns false when the result was cut short at [`MAX_DEPTH`] (an alias loop).
    fn expand(&mut self, kind: Kind, name: &str, depth: usize, out: &mut Vec<String>) -> bool {
        // Spent: nothing more is built.
        if self.over {
            return true;
        }
        let (neg, bare) = match name.strip_prefix('!') {
            Some(rest) => ("!", rest.trim()),
            None => ("", name),
        };
        let Some(&members) = self.aliases.get(&(kind, bare)) else {
            if self.spend(1) {
                out.push(format!("{neg}{bare}"));
            }
            return true;
        };
        if depth >= MAX_DEPTH {
            if self.spend(1) {
                out.push(format!("{neg}{bare}"));
            }
            return false;
        }
        let key = (kind, bare.to_string());
        let inner = match self.memo.get(&key) {
            Some(done) => done.clone(),
            None => {
                let mut inner = Vec::new();
                let mut whole = true;
                for m in members {
                    whole &= self.expand(kind, m, depth + 1, &mut inner);
                    if inner.len() > self.per_alias {
                        self.over = true;
                    }
                    if self.over {
                        return true;
                    }
                }
                let inner: Rc<[String]> = inner.into();
                if whole {
                    self.memo.insert(key, inner.clone());
                }
                return self.append(neg, &inner, out) && whole;
            }
        };
        self.append(neg, &inner, out)
    }

    /// Appends an alias's members (as `!(a,b)` when negated), counted.
    fn append(&mut self, neg: &str, inner: &[String], out: &mut Vec<String>) -> bool {
        if neg.is_empty() {
            if self.spend(inner.len()) {
                out.extend(inner.iter().cloned());
            }
        } else if self.spend(1) {
            out.push(format!("!({})", inner.join(",")));
        }
        true
    }
}

/// The set of tag names sudoers knows.
pub(crate) fn is_tag(word: &str) -> bool {
    const TAGS: [&str; 16] = [
        "NOPASSWD",
        "PASSWD",
        "SETENV",
        "NOSETENV",
        "EXEC",
        "NOEXEC",
        "LOG_INPUT",
        "NOLOG_INPUT",
        "LOG_OUTPUT",
        "NOLOG_OUTPUT",
        "MAIL",
        "NOMAIL",
        "FOLLOW",
        "NOFOLLOW",
        "INTERCEPT",
        "NOINTERCEPT",
    ];
    TAGS.contains(&word)
}

/// Tags of a spec, for tests and doas.
pub(crate) type Tags = BTreeSet<String>;

#[cfg(test)]
mod tests;

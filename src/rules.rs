//! Judgement as data: how much a change matters, and which changes are noise, in rules a
//! reviewer reads in one place.
//!
//! The built-in severity rules are `dist/config/rules.toml`, compiled in; `[[rule]]` tables of
//! the config file are tried before them (one with the same `id` replaces the built-in one),
//! `disable_rules` silences some, and `[[ignore]]` tables drop changes that are noise. Rules are
//! tried in order; the first whose conditions all hold sets the severity and its id goes into
//! the change's `rule`; no match is `info`. Everything is checked and compiled once (globs
//! included) when the configuration is loaded, so a bad rule is refused at start-up or reload
//! and judging a change costs a few glob matches over the rules of its collector.
//!
//! Pure: no I/O. The diff calls [`Rules::judge`] and [`Rules::ignored`] with the full items.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, OnceLock};

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::collectors;
use crate::model::{ChangeKind, Fields, Severity};

mod compile;
mod glob;
mod parse;
use compile::{compile, compile_ignore, rule_error};
use glob::{AnyGlob, Glob};
pub use parse::Parse;

/// The built-in rules, as shipped in `dist/config/rules.toml`.
pub const BUILTIN_TEXT: &str = include_str!("../dist/config/rules.toml");

/// One severity rule as written (see `dist/config/rules.toml` for the format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique, `<area>.<what>`.
    pub id: String,
    /// Collector name or glob.
    pub collector: String,
    /// Any of added / removed / modified; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<ChangeKind>,
    /// Globs on the item key; any one may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// Fields of the item as it is now (before, when removed): each must exist and match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub item: BTreeMap<String, String>,
    /// Fields of the earlier item (modified, removed): each must exist and match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub was: BTreeMap<String, String>,
    /// The item as now lacks every one of these fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// A modified change where any of these fields differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// A comma-separated list field gained an entry (for an added item: has any entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grew: Vec<String>,
    /// A comma-separated list field of the item as now has an entry matching the glob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub has: BTreeMap<String, String>,
    /// A comma-separated list field lost an entry matching the glob (it was in the earlier
    /// item's list and is not in the current one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lost: BTreeMap<String, String>,
    /// Fields read as their consumer reads them before the conditions above compare them
    /// (see [`Parse`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parse: BTreeMap<String, Parse>,
    pub severity: Severity,
    /// Why this matters, in one line.
    pub why: String,
}

/// One `[[ignore]]` table: changes that are noise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreSpec {
    /// Collector name or glob.
    pub collector: String,
    /// Globs on the item key; any one may match; empty: every item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// A modified change whose differing fields are all listed vanishes; empty: every change
    /// of the matched items vanishes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// The built-in rule file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// The entries of a comma-separated list field (spaces around entries trimmed, empty ones
/// skipped), each read as `parse` says.
fn entries(value: Option<&str>, parse: Option<Parse>) -> impl Iterator<Item = Cow<'_, str>> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(move |e| match parse {
            Some(p) => p.read(e),
            None => Cow::Borrowed(e),
        })
}

/// A rule ready to match.
#[derive(Debug, Clone)]
struct Compiled {
    spec: RuleSpec,
    collector: Glob,
    /// Bit 0 added, 1 removed, 2 modified.
    kinds: u8,
    key: AnyGlob,
    item: Vec<(String, Glob)>,
    was: Vec<(String, Glob)>,
    has: Vec<(String, Glob)>,
    lost: Vec<(String, Glob)>,
}

fn kind_bit(kind: ChangeKind) -> u8 {
    match kind {
        ChangeKind::Added => 1,
        ChangeKind::Removed => 2,
        ChangeKind::Modified => 4,
    }
}

/// What one change is, as the rules see it: the full items on both sides.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub collector: &'a str,
    pub kind: ChangeKind,
    pub key: &'a str,
    /// The earlier item's fields (modified, removed).
    pub old: Option<&'a Fields>,
    /// The current item's fields (added, modified).
    pub new: Option<&'a Fields>,
}

impl Subject<'_> {
    /// The item as it is now: after, or before when removed.
    fn now(&self) -> Option<&Fields> {
        self.new.or(self.old)
    }
}

impl Compiled {
    /// Field `name` of `fields`, read as the rule's `parse` says.
    fn value<'f>(&self, fields: Option<&'f Fields>, name: &str) -> Option<Cow<'f, str>> {
        let v = fields?.get(name)?;
        Some(match self.spec.parse.get(name) {
            Some(p) => p.read(v),
            None => Cow::Borrowed(v),
        })
    }

    /// The entries of list field `name` of `fields`, read as the rule's `parse` says.
    fn list<'f>(&self, fields: Option<&'f Fields>, name: &str) -> Vec<Cow<'f, str>> {
        let parse = self.spec.parse.get(name).copied();
        entries(fields.and_then(|x| x.get(name)), parse).collect()
    }

    fn matches(&self, s: &Subject) -> bool {
        if self.kinds & kind_bit(s.kind) == 0 || !self.key.is_match(s.key) {
            return false;
        }
        let now = s.now();
        let field_globs = |globs: &[(String, Glob)], fields: Option<&Fields>| {
            globs
                .iter()
                .all(|(name, g)| self.value(fields, name).is_some_and(|v| g.is_match(&v)))
        };
        if !field_globs(&self.item, now) || !field_globs(&self.was, s.old) {
            return false;
        }
        if !self.spec.missing.is_empty()
            && self
                .spec
                .missing
                .iter()
                .any(|f| now.is_some_and(|n| n.contains_key(f)))
        {
            return false;
        }
        if !self.spec.changed.is_empty() {
            let (ChangeKind::Modified, Some(a), Some(b)) = (s.kind, s.old, s.new) else {
                return false;
            };
            if !self
                .spec
                .changed
                .iter()
                .any(|f| self.value(Some(a), f) != self.value(Some(b), f))
            {
                return false;
            }
        }
        if !self.spec.grew.is_empty() {
            let grew = |f: &String| {
                let before: BTreeSet<Cow<str>> = self.list(s.old, f).into_iter().collect();
                self.list(s.new, f)
                    .into_iter()
                    .any(|e| !before.contains(&e))
            };
            if !self.spec.grew.iter().any(grew) {
                return false;
            }
        }
        let has = self
            .has
            .iter()
            .all(|(f, g)| self.list(now, f).iter().any(|e| g.is_match(e)));
        if !has {
            return false;
        }
        // Only a modified item loses entries (a removed one is gone as a whole).
        if !self.lost.is_empty() && s.kind != ChangeKind::Modified {
            return false;
        }
        self.lost.iter().all(|(f, g)| {
            let after: BTreeSet<Cow<str>> = self.list(s.new, f).into_iter().collect();
            self.list(s.old, f)
                .into_iter()
                .any(|e| g.is_match(&e) && !after.contains(&e))
        })
    }
}

/// A compiled ignore table.
#[derive(Debug, Clone)]
struct CompiledIgnore {
    collector: Glob,
    key: AnyGlob,
    fields: BTreeSet<String>,
}

/// The effective rules: the config's, then the built-in ones, compiled.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Compiled>,
    /// Per known collector, the indexes of the rules whose `collector` glob matches it.
    by_collector: HashMap<&'static str, Vec<usize>>,
    ignores: Vec<CompiledIgnore>,
}

static BUILTIN: LazyLock<Arc<Rules>> = LazyLock::new(|| {
    Arc::new(Rules::new(&[], &[], &[]).unwrap_or_else(|e| panic!("dist/config/rules.toml: {e}")))
});

/// The built-in rule specs, in file order.
pub fn builtin_specs() -> Result<Vec<RuleSpec>, String> {
    toml::from_str::<RuleFile>(BUILTIN_TEXT)
        .map(|f| f.rule)
        .map_err(|e| format!("the built-in rules do not parse: {}", e.to_string().trim()))
}

impl Rules {
    /// The built-in rules and no ignores (what a default configuration gives).
    pub fn builtin() -> Arc<Rules> {
        BUILTIN.clone()
    }

    /// The effective rules: `own` (the config's `[[rule]]` tables, in order) before the
    /// built-in ones, an own rule replacing the built-in one with its id in place; `disabled`
    /// ids dropped; `ignores` compiled. Every problem is refused with the rule's id, the key
    /// at fault and the fix.
    pub fn new(
        own: &[RuleSpec],
        disabled: &[String],
        ignores: &[IgnoreSpec],
    ) -> Result<Rules, String> {
        let builtin = builtin_specs()?;
        let mut seen = BTreeSet::new();
        for spec in own {
            if !seen.insert(spec.id.as_str()) {
                return Err(rule_error(
                    &spec.id,
                    "id",
                    "used by two [[rule]] tables",
                    "give each rule its own id",
                ));
            }
        }
        for id in disabled {
            if !own.iter().chain(&builtin).any(|r| &r.id == id) {
                return Err(format!(
                    "disable_rules: no rule has the id {id:?}; `dawgctl rules` lists the ids"
                ));
            }
        }
        let specs = own
            .iter()
            .chain(builtin.iter().filter(|b| !seen.contains(b.id.as_str())))
            .filter(|r| !disabled.contains(&r.id));
        let rules = specs.map(compile).collect::<Result<Vec<_>, _>>()?;
        let mut by_collector: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for c in collectors::COLLECTORS {
            let list = by_collector.entry(c.name()).or_default();
            for (i, r) in rules.iter().enumerate() {
                if r.collector.is_match(c.name()) {
                    list.push(i);
                }
            }
        }
        let ignores = ignores
            .iter()
            .map(compile_ignore)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules {
            rules,
            by_collector,
            ignores,
        })
    }

    /// The effective rules, in the order they are tried.
    pub fn specs(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }

    /// The severity of a change and the id of the rule that set it (`None`: no rule matched,
    /// `info`).
    pub fn judge(&self, s: &Subject) -> (Severity, Option<&str>) {
        let hit = match self.by_collector.get(s.collector) {
            Some(list) => list.iter().map(|i| &self.rules[*i]).find(|r| r.matches(s)),
            // A collector this dawgmon does not have (an older or newer database).
            None => self
                .rules
                .iter()
                .find(|r| r.collector.is_match(s.collector) && r.matches(s)),
        };
        match hit {
            Some(r) => (r.spec.severity, Some(r.spec.id.as_str())),
            None => (Severity::Info, None),
        }
    }

    /// Whether an `[[ignore]]` table drops this change.
    pub fn ignored(&self, s: &Subject) -> bool {
        self.ignores.iter().any(|ig| {
            ig.collector.is_match(s.collector)
                && ig.key.is_match(s.key)
                && (ig.fields.is_empty()
                    || (s.kind == ChangeKind::Modified && only_fields_differ(s, &ig.fields)))
        })
    }

    /// Whether any ignore table exists (the diff skips the check otherwise).
    pub fn has_ignores(&self) -> bool {
        !self.ignores.is_empty()
    }
}

/// Whether every field that differs between the two sides is in `allowed`.
fn only_fields_differ(s: &Subject, allowed: &BTreeSet<String>) -> bool {
    let (Some(a), Some(b)) = (s.old, s.new) else {
        return false;
    };
    a.keys()
        .chain(b.keys())
        .filter(|&k| a.get(k) != b.get(k))
        .all(|k| allowed.contains(k))
}

/// The collectors whose blindness hides a way to root or into the host. Their outage and
/// recovery rules are in `dist/config/rules.toml` (`outage.sight`, `recovery.sight`); this
/// list is what the test below holds that file to.
#[cfg(test)]
const CRITICAL_SIGHT: &[&str] = &[
    "list_suids",
    "list_file_caps",
    "check_users",
    "check_groups",
    "check_etc",
    "check_boot",
    "list_tcpudp_ports",
    "list_unix_ports",
    "systemd_unitfiles",
    "systemd_units",
    "systemd_timers",
    "systemd_sockets",
    "kernel_modules",
    "list_packages",
];

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests;

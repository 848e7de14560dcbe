//! The diff engine: two snapshots in, changes and warnings out. Pure: no I/O, no clock.
//!
//! Items are matched on (collector, key). A collector that was unavailable in either snapshot,
//! or missing from one of them (it did not run), is not compared: it yields a warning, never a
//! list of removals.
//!
//! Each change is judged by the rules passed in ([`crate::rules::Rules`]: severity, rule id)
//! while both full items are at hand, and changes an `[[ignore]]` table drops are only counted.

use std::borrow::Borrow;
use std::cmp::Ordering;

use crate::collectors;
use crate::model::{Change, ChangeKind, Fields, Item, Outcome, Snapshot, Warning};
use crate::rules::{Rules, Subject};

/// The differences between two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    /// Changes an `[[ignore]]` table dropped.
    pub ignored: usize,
}

/// Compares `old` with `new`, judged by the built-in rules. Collectors come out in registry
/// order (unknown names, from an older or newer dawgmon, after them, by name); items by key.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Diff {
    diff_only(old, new, None, &Rules::builtin())
}

/// [`diff`] with `rules`, limited to the collectors in `only` when given (borrowing, not
/// copying, the snapshots: a million-item snapshot is over a gigabyte).
pub fn diff_only(old: &Snapshot, new: &Snapshot, only: Option<&[String]>, rules: &Rules) -> Diff {
    let mut names: Vec<&String> = old
        .results
        .keys()
        .chain(new.results.keys())
        .filter(|n| only.is_none_or(|o| collectors::named_in(n, o)))
        .collect();
    names.sort_by_key(|n| {
        let pos = collectors::COLLECTORS
            .iter()
            .position(|c| c.name() == n.as_str())
            .unwrap_or(usize::MAX);
        (pos, (*n).clone())
    });
    names.dedup();

    let mut out = Diff::default();
    for name in names {
        match (old.results.get(name), new.results.get(name)) {
            (Some(Outcome::Items(a)), Some(Outcome::Items(b))) => {
                diff_items(name, a, b, rules, &mut out)
            }
            (Some(Outcome::Unavailable(why)), _) | (_, Some(Outcome::Unavailable(why))) => {
                let which = if matches!(new.results.get(name), Some(Outcome::Unavailable(_))) {
                    why.clone()
                } else {
                    format!("unavailable in the earlier scan: {why}")
                };
                out.warnings.push(Warning {
                    collector: name.clone(),
                    message: format!("{name} not compared: {which}"),
                });
            }
            (None, Some(_)) => out.warnings.push(Warning {
                collector: name.clone(),
                message: format!("{name} not compared: it did not run in the earlier scan"),
            }),
            (Some(_), None) => out.warnings.push(Warning {
                collector: name.clone(),
                message: format!("{name} not compared: it did not run in the later scan"),
            }),
            (None, None) => {}
        }
    }
    out
}

fn diff_items(collector: &str, old: &[Item], new: &[Item], rules: &Rules, out: &mut Diff) {
    // Both sides sorted by key, then one merge pass: no maps, no per-key lookups. Collector
    // output is normally sorted already (`Outcome::normalized`): then the slices are merged
    // as they are, without sorting and without a list of a million references beside them.
    if is_by_key(old) && is_by_key(new) {
        merge(collector, old, new, rules, out);
    } else {
        merge(collector, &by_key(old), &by_key(new), rules, out);
    }
}

/// The changes between two lists of items sorted by key, keys unique (items or references).
fn merge<X: Borrow<Item>, Y: Borrow<Item>>(
    collector: &str,
    a: &[X],
    b: &[Y],
    rules: &Rules,
    out: &mut Diff,
) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let (x, y) = (a.get(i).map(X::borrow), b.get(j).map(Y::borrow));
        let order = match (x, y) {
            (Some(x), Some(y)) => x.key.cmp(&y.key),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (key, kind, x, y) = match (order, x, y) {
            (Ordering::Less, Some(x), _) => {
                i += 1;
                (&x.key, ChangeKind::Removed, Some(x), None)
            }
            (Ordering::Greater, _, Some(y)) => {
                j += 1;
                (&y.key, ChangeKind::Added, None, Some(y))
            }
            (_, Some(x), Some(y)) => {
                i += 1;
                j += 1;
                if x.fields == y.fields || only_introduced(&x.fields, &y.fields) {
                    continue;
                }
                (&x.key, ChangeKind::Modified, Some(x), Some(y))
            }
            _ => unreachable!("the loop runs while one side has items"),
        };
        let subject = Subject {
            collector,
            kind,
            key,
            old: x.map(|i| &i.fields),
            new: y.map(|i| &i.fields),
        };
        if rules.has_ignores() && rules.ignored(&subject) {
            out.ignored += 1;
            continue;
        }
        let (before, after) = match (x, y) {
            (Some(x), Some(y)) => {
                let (bx, by) = changed_fields(&x.fields, &y.fields);
                (Some(bx), Some(by))
            }
            _ => (x.map(|i| i.fields.clone()), y.map(|i| i.fields.clone())),
        };
        let (severity, rule) = rules.judge(&subject);
        let mut change = describe(collector, kind, key, before, after);
        change.severity = severity;
        change.rule = rule.map(str::to_string);
        out.changes.push(change);
    }
}

/// Fields a release began to record for items an earlier release already stored: the
/// identity of a file that is not hashed (`ctime` to the nanosecond, `dev`, `inode`), so that a
/// content change with its mtime put back is seen. An item whose only difference is such a
/// field appearing (absent in the earlier scan) is the same item read by a newer dawgmon, not a
/// change: without this, the first scan after an upgrade would report every such file.
/// Once both scans record a field, every change of it is compared as usual.
///
/// `package` is one too: since the collectors name the package of every item that comes from
/// a file (unit files, cron.d files, sudoers drop-ins, listeners by their executable, ...), an
/// upgraded dawgmon's first scan would otherwise report each such item as modified. Stored
/// scans are left as they are (no migration could ask dpkg who owned a file back then); the
/// first comparison without the field costs nothing, and a package that changes later
/// (`foo` → `none`, a file taken over) is a change as before.
const INTRODUCED: &[&str] = &["ctime", "dev", "inode", "package"];

/// Whether `new` differs from `old` only by [`INTRODUCED`] fields that `old` lacked.
fn only_introduced(old: &Fields, new: &Fields) -> bool {
    old.iter().all(|(k, v)| new.get(k) == Some(v))
        && new.iter().all(|(k, v)| {
            old.get(k) == Some(v) || (old.get(k).is_none() && INTRODUCED.contains(&k))
        })
}

/// Whether `items` are sorted by key, keys unique (as [`Outcome::normalized`] leaves them).
fn is_by_key(items: &[Item]) -> bool {
    items.windows(2).all(|w| w[0].key < w[1].key)
}

/// The items sorted by key with unique keys; for a repeated key the last item counts (as if
/// the list had been collected into a map).
fn by_key(items: &[Item]) -> Vec<&Item> {
    let mut v: Vec<&Item> = items.iter().collect();
    v.sort_by(|x, y| x.key.cmp(&y.key)); // stable: equal keys keep their order
    let mut unique: Vec<&Item> = Vec::with_capacity(v.len());
    for item in v {
        match unique.last_mut() {
            Some(last) if last.key == item.key => *last = item,
            _ => unique.push(item),
        }
    }
    unique
}

/// Only the fields that differ, each side holding its own value (absent when it had none).
fn changed_fields(x: &Fields, y: &Fields) -> (Fields, Fields) {
    let only_in = |a: &Fields, b: &Fields| -> Fields {
        a.iter().filter(|&(k, v)| b.get(k) != Some(v)).collect()
    };
    (only_in(x, y), only_in(y, x))
}

/// Builds the change with its collector's message (the severity is the rules').
fn describe(
    collector: &str,
    kind: ChangeKind,
    key: &str,
    before: Option<Fields>,
    after: Option<Fields>,
) -> Change {
    let mut change = Change {
        collector: collector.to_string(),
        kind,
        key: key.to_string(),
        message: String::new(),
        severity: Default::default(),
        rule: None,
        before,
        after,
    };
    change.message = match collectors::by_name(collector) {
        Some(c) => c.message(&change),
        None => collectors::default_message(collector, &change),
    };
    change
}

#[cfg(test)]
mod tests;

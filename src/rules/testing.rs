//! For tests: judge a change the way a scan does, through the diff and the built-in rules.

use crate::model::{Change, ChangeKind, Item, Outcome, Severity, Snapshot};

/// The change between `old` and `new` (one item of `collector` on either side, or none), as
/// the diff builds and judges it with the built-in rules.
pub fn change(collector: &str, old: Option<Item>, new: Option<Item>) -> Change {
    let snap = |item: Option<Item>| Snapshot {
        results: [(
            collector.to_string(),
            Outcome::Items(item.into_iter().collect()),
        )]
        .into(),
    };
    let d = crate::diff::diff(&snap(old), &snap(new));
    assert_eq!(d.changes.len(), 1, "expected one change: {d:?}");
    d.changes.into_iter().next().unwrap()
}

/// The severity the built-in rules give `c`, judged as the diff does: the change's `before`
/// and `after` fields taken as the whole items on each side.
pub fn severity(c: &Change) -> Severity {
    let item = |f: &Option<crate::model::Fields>| {
        Some(Item {
            key: c.key.clone(),
            fields: f.clone().unwrap_or_default(),
        })
    };
    let (old, new) = match c.kind {
        ChangeKind::Added => (None, item(&c.after)),
        ChangeKind::Removed => (item(&c.before), None),
        ChangeKind::Modified => (item(&c.before), item(&c.after)),
    };
    change(&c.collector, old, new).severity
}

/// Whether `text` matches `pattern` in the rules' glob dialect (`!` negates, `*` crosses `/`,
/// `{a,b}`, `[...]`, `\` escapes), as the engine matches it.
pub fn glob(pattern: &str, text: &str) -> bool {
    super::Glob::new(pattern)
        .unwrap_or_else(|e| panic!("bad glob {pattern:?}: {e}"))
        .is_match(text)
}

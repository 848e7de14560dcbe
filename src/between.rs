//! What lived only between two scans, pure: observations (items the realtime watch saw when an
//! event showed them, see [`crate::store::Observation`]) and the later scan's snapshot in,
//! changes out.
//!
//! An observation is reported when the later scan ran its collector and no longer has the item
//! as it was seen (no item with that key, or one that differs in a field the observation
//! recorded): "appeared at T1 by pid N (comm, uid U, exe), gone by T2". It is an `added` change
//! judged by the rules on the fields seen (the same rule as for an item that stayed), with the
//! observation's facts added to its `after` fields (`seen_at`, `gone_by`, `pid`, `uid`, `comm`,
//! `exe`). An item still there is the diff's ordinary change and is not repeated. The same item
//! seen several times is reported once, at its first sighting.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::collectors;
use crate::model::{Change, ChangeKind, Fields, Item, Outcome, Snapshot};
use crate::rules::{Rules, Subject};
use crate::store::Observation;

/// The field every transient change carries (and nothing else does).
pub const SEEN_AT: &str = "seen_at";

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Who did it, as far as the kernel said: `pid 42 (sh, uid 1000, /usr/bin/dash)`.
pub fn actor(o: &Observation) -> String {
    let Some(pid) = o.pid.filter(|p| *p > 0) else {
        return "an unknown process".into();
    };
    let mut about = Vec::new();
    if let Some(c) = &o.comm {
        about.push(c.clone());
    }
    if let Some(u) = o.uid {
        about.push(format!("uid {u}"));
    }
    if let Some(e) = &o.exe {
        about.push(e.clone());
    }
    if about.is_empty() {
        format!("pid {pid} (gone before it could be read)")
    } else {
        format!("pid {pid} ({})", about.join(", "))
    }
}

/// Whether `now` still holds what `seen` recorded (every seen field equal).
fn still_there(seen: &Fields, now: Option<&Item>) -> bool {
    now.is_some_and(|item| seen.iter().all(|(k, v)| item.fields.get(k) == Some(v)))
}

/// The transient changes: observations whose `seen_at` is after `after(collector)` (the start
/// of the earlier scan that ran that collector; `None`: leave the collector out) and at or
/// before `upto`, that `to` (the later scan, finished at `gone_by`) no longer holds.
pub fn transients(
    observations: &[Observation],
    after: &dyn Fn(&str) -> Option<DateTime<Utc>>,
    upto: DateTime<Utc>,
    to: &Snapshot,
    gone_by: DateTime<Utc>,
    rules: &Rules,
) -> Vec<Change> {
    let mut index: BTreeMap<&str, BTreeMap<&str, &Item>> = BTreeMap::new();
    let mut reported: HashSet<(&str, &str, &Fields)> = HashSet::new();
    let mut out = Vec::new();
    for o in observations {
        if o.seen_at > upto || after(&o.collector).is_none_or(|a| o.seen_at <= a) {
            continue;
        }
        let Some(Outcome::Items(items)) = to.results.get(&o.collector) else {
            continue; // not run (or failed) in the later scan: it cannot tell
        };
        let by_key = index
            .entry(o.collector.as_str())
            .or_insert_with(|| items.iter().map(|i| (i.key.as_str(), i)).collect());
        if still_there(&o.fields, by_key.get(o.key.as_str()).copied()) {
            continue;
        }
        if !reported.insert((&o.collector, &o.key, &o.fields)) {
            continue;
        }
        out.push(change(o, gone_by, rules));
    }
    out
}

/// Names who made the changes `changes` (those of scan `to`) where the watch saw it: an added
/// or modified item whose observation in the window (as for [`transients`]) matches what the
/// scan found gets ` (seen at T1, made by pid N (...))` at the end of its message.
pub fn attribute(
    changes: &mut [Change],
    observations: &[Observation],
    after: &dyn Fn(&str) -> Option<DateTime<Utc>>,
    upto: DateTime<Utc>,
) {
    if observations.is_empty() {
        return;
    }
    // The newest sighting of each item.
    let mut newest: BTreeMap<(&str, &str), &Observation> = BTreeMap::new();
    for o in observations {
        if o.seen_at > upto || after(&o.collector).is_none_or(|a| o.seen_at <= a) {
            continue;
        }
        newest.insert((o.collector.as_str(), o.key.as_str()), o);
    }
    for c in changes.iter_mut() {
        if c.kind == ChangeKind::Removed
            || c.after.as_ref().is_some_and(|f| f.get(SEEN_AT).is_some())
        {
            continue;
        }
        let Some(o) = newest.get(&(c.collector.as_str(), c.key.as_str())) else {
            continue;
        };
        if o.pid.is_none_or(|p| p <= 0) {
            continue;
        }
        c.message = format!(
            "{} (seen at {}, made by {})",
            c.message,
            at(o.seen_at),
            actor(o)
        );
    }
}

fn change(o: &Observation, gone_by: DateTime<Utc>, rules: &Rules) -> Change {
    let subject = Subject {
        collector: &o.collector,
        kind: ChangeKind::Added,
        key: &o.key,
        old: None,
        new: Some(&o.fields),
    };
    let (severity, rule) = rules.judge(&subject);
    let mut change = Change {
        collector: o.collector.clone(),
        kind: ChangeKind::Added,
        key: o.key.clone(),
        message: String::new(),
        severity,
        rule: rule.map(str::to_string),
        before: None,
        after: Some(o.fields.clone()),
    };
    let what = match collectors::by_name(&o.collector) {
        Some(c) => c.message(&change),
        None => collectors::default_message(&o.collector, &change),
    };
    change.message = format!(
        "{what}: seen between scans, appeared at {} by {}, gone by {}",
        at(o.seen_at),
        actor(o),
        at(gone_by)
    );
    let after = change.after.get_or_insert_with(Fields::new);
    after.insert(SEEN_AT, at(o.seen_at));
    after.insert("gone_by", at(gone_by));
    if let Some(p) = o.pid {
        after.insert("pid", p.to_string());
    }
    if let Some(u) = o.uid {
        after.insert("uid", u.to_string());
    }
    if let Some(c) = &o.comm {
        after.insert("comm", c);
    }
    if let Some(e) = &o.exe {
        after.insert("exe", e);
    }
    change
}

#[cfg(test)]
mod tests;

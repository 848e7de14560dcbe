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
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn obs(key: &str, perm: &str, secs: i64) -> Observation {
        let mut fields = Fields::new();
        fields.insert("owner", "root");
        fields.insert("group", "root");
        fields.insert("perm", perm);
        Observation {
            seen_at: Utc.timestamp_opt(secs, 0).unwrap(),
            collector: "list_suids".into(),
            key: key.into(),
            fields,
            pid: Some(4242),
            uid: Some(0),
            comm: Some("sh".into()),
            exe: Some("/usr/bin/dash".into()),
        }
    }

    fn snap(items: Vec<Item>) -> Snapshot {
        let mut s = Snapshot::default();
        s.results.insert("list_suids".into(), Outcome::Items(items));
        s
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn a_setuid_file_gone_by_the_later_scan_is_reported_with_who_and_when() {
        let o = obs("/var/tmp/x", "-rwsr-xr-x", 150);
        let rules = Rules::builtin();
        let out = transients(
            &[o],
            &|_| Some(t(100)),
            t(200),
            &snap(vec![]),
            t(210),
            &rules,
        );
        assert_eq!(out.len(), 1);
        let c = &out[0];
        assert!(
            c.message.contains("suid binary /var/tmp/x got created"),
            "{}",
            c.message
        );
        assert!(
            c.message.contains(
                "appeared at 1970-01-01T00:02:30Z by pid 4242 (sh, uid 0, /usr/bin/dash)"
            )
        );
        assert!(c.message.contains("gone by 1970-01-01T00:03:30Z"));
        assert!(
            c.severity >= crate::model::Severity::High,
            "{:?}",
            c.severity
        );
        assert_eq!(c.after.as_ref().unwrap().get("pid"), Some("4242"));
    }

    #[test]
    fn an_item_still_there_or_outside_the_window_is_not_repeated() {
        let rules = Rules::builtin();
        let there = Item::new("/var/tmp/x")
            .with("owner", "root")
            .with("group", "root")
            .with("perm", "-rwsr-xr-x")
            .with("sha256", "ab");
        let o = obs("/var/tmp/x", "-rwsr-xr-x", 150);
        let both = [o.clone(), o.clone()];
        assert!(
            transients(
                &both,
                &|_| Some(t(100)),
                t(200),
                &snap(vec![there]),
                t(210),
                &rules
            )
            .is_empty()
        );
        assert_eq!(
            transients(
                &both,
                &|_| Some(t(100)),
                t(200),
                &snap(vec![]),
                t(210),
                &rules
            )
            .len(),
            1
        );
        // Before the earlier scan, after the later one, or a collector the later scan did not run.
        assert!(
            transients(
                &[o.clone()],
                &|_| Some(t(150)),
                t(200),
                &snap(vec![]),
                t(210),
                &rules
            )
            .is_empty()
        );
        assert!(
            transients(
                &[o.clone()],
                &|_| Some(t(100)),
                t(149),
                &snap(vec![]),
                t(210),
                &rules
            )
            .is_empty()
        );
        assert!(
            transients(
                &[o.clone()],
                &|_| None,
                t(200),
                &snap(vec![]),
                t(210),
                &rules
            )
            .is_empty()
        );
        assert!(
            transients(
                &[o],
                &|_| Some(t(100)),
                t(200),
                &Snapshot::default(),
                t(210),
                &rules
            )
            .is_empty()
        );
    }
}

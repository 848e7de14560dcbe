use super::*;
use crate::model::Item;

fn snap(entries: &[(&str, Outcome)]) -> Snapshot {
    Snapshot {
        results: entries
            .iter()
            .map(|(n, o)| (n.to_string(), o.clone()))
            .collect(),
    }
}

/// The first scan after an upgrade that records `ctime`, `dev` and `inode` for unhashed
/// files reports nothing for them; a later change of those fields, or of any other field at
/// the same time, is reported.
#[test]
fn fields_a_newer_release_records_are_not_a_change_until_they_change() {
    let old_item = Item::new("/srv/big").with("size", 9).with("mtime", 5);
    let upgraded = old_item
        .clone()
        .with("ctime", "5.123456789")
        .with("dev", 2049)
        .with("inode", 77);
    let scans = |a: &Item, b: &Item| {
        diff(
            &snap(&[("check_etc", Outcome::Items(vec![a.clone()]))]),
            &snap(&[("check_etc", Outcome::Items(vec![b.clone()]))]),
        )
    };
    assert!(scans(&old_item, &upgraded).changes.is_empty());
    // Once recorded, a new ctime (content written, mtime put back) is a change.
    let rewritten = upgraded.clone().with("ctime", "9.000000001");
    let d = scans(&upgraded, &rewritten);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(
        d.changes[0].after.as_ref().unwrap().get("ctime"),
        Some("9.000000001")
    );
    // A new field beside another change is reported with it.
    let grown = upgraded.clone().with("size", 10);
    assert_eq!(scans(&old_item, &grown).changes.len(), 1);
    // Only the listed fields: a field that appears and is not one of them is a change.
    let other = old_item.clone().with("setuid", "yes");
    assert_eq!(scans(&old_item, &other).changes.len(), 1);
    // A field that disappears is a change.
    assert_eq!(scans(&upgraded, &old_item).changes.len(), 1);
}

#[test]
fn added_removed_and_modified_items_with_only_changed_fields() {
    let old = snap(&[(
        "check_groups",
        Outcome::Items(vec![
            Item::new("adm").with("gid", 4).with("members", ""),
            Item::new("gone").with("gid", 9),
        ]),
    )]);
    let new = snap(&[(
        "check_groups",
        Outcome::Items(vec![
            Item::new("adm").with("gid", 4).with("members", "alice"),
            Item::new("vboxusers").with("gid", 130),
        ]),
    )]);
    let d = diff(&old, &new);
    assert!(d.warnings.is_empty());
    let kinds: Vec<_> = d.changes.iter().map(|c| (c.kind, c.key.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Modified, "adm"),
            (ChangeKind::Removed, "gone"),
            (ChangeKind::Added, "vboxusers")
        ]
    );
    let m = &d.changes[0];
    assert_eq!(m.before.as_ref().unwrap().len(), 1);
    assert_eq!(&m.after.as_ref().unwrap()["members"], "alice");
    assert!(d.changes[2].before.is_none());
}

#[test]
fn unavailable_collector_is_a_warning_not_removals() {
    let items = Outcome::Items(vec![Item::new("/usr/bin/su")]);
    let old = snap(&[("list_suids", items.clone())]);
    let new = snap(&[(
        "list_suids",
        Outcome::Unavailable("permission denied".into()),
    )]);
    let d = diff(&old, &new);
    assert!(d.changes.is_empty());
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(
        d.warnings[0].message,
        "list_suids not compared: permission denied"
    );
    let back = diff(&new, &old);
    assert!(back.changes.is_empty() && back.warnings.len() == 1);
}

#[test]
fn unsorted_and_repeated_keys_compare_like_a_map() {
    let old = snap(&[(
        "check_groups",
        Outcome::Items(vec![
            Item::new("zz").with("gid", 1),
            Item::new("adm").with("gid", 4),
            Item::new("adm").with("gid", 5),
        ]),
    )]);
    let new = snap(&[(
        "check_groups",
        Outcome::Items(vec![
            Item::new("b").with("gid", 2),
            Item::new("adm").with("gid", 5),
        ]),
    )]);
    let d = diff(&old, &new);
    let kinds: Vec<_> = d.changes.iter().map(|c| (c.kind, c.key.as_str())).collect();
    assert_eq!(
        kinds,
        [(ChangeKind::Added, "b"), (ChangeKind::Removed, "zz")],
        "adm: the last of the repeated items (gid 5) is the one compared"
    );
}

#[test]
fn identical_snapshots_have_no_changes() {
    let s = snap(&[(
        "check_users",
        Outcome::Items(vec![Item::new("root").with("uid", 0)]),
    )]);
    assert_eq!(diff(&s, &s), Diff::default());
}

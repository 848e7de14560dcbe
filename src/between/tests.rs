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
        c.message
            .contains("appeared at 1970-01-01T00:02:30Z by pid 4242 (sh, uid 0, /usr/bin/dash)")
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
            std::slice::from_ref(&o),
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
            std::slice::from_ref(&o),
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
            std::slice::from_ref(&o),
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

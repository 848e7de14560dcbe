use super::*;
use crate::model::{ChangeKind, Fields};

fn report() -> Report {
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    Report {
        from: Some(ScanRef {
            id: 1,
            label: Some("pre".into()),
            started_at: at,
        }),
        to: ScanRef {
            id: 2,
            label: None,
            started_at: at,
        },
        changes: vec![Change {
            collector: "list_suids".into(),
            kind: ChangeKind::Added,
            key: "/usr/bin/x".into(),
            message: "suid binary /usr/bin/x got created (owner=root)".into(),
            severity: Severity::High,
            rule: None,
            before: None,
            after: Some(Fields::from([("owner".to_string(), "root".to_string())])),
        }],
        warnings: vec![Warning {
            collector: "kernel_modules".into(),
            message: "kernel_modules not compared: absent".into(),
        }],
        ignored: 0,
    }
}

#[test]
fn text_in_dawgmon_style() {
    let text = render_text(&report(), TextOptions::default());
    assert_eq!(
        text,
        "1 change detected (1 warning): 1 high\n\
         + suid binary /usr/bin/x got created (owner=root) [high]\n\
         ! kernel_modules not compared: absent\n"
    );
    let ts = render_text(
        &report(),
        TextOptions {
            timestamps: true,
            color: true,
            ..Default::default()
        },
    );
    assert!(ts.contains("\x1b[1;31m+ suid binary"), "{ts:?}");
    assert!(ts.lines().nth(1).unwrap().starts_with("[20"), "{ts:?}");
    assert_eq!(headline(0, 0), "0 changes detected (0 warnings)");
}

fn change(key: &str, severity: Severity) -> Change {
    Change {
        collector: "check_groups".into(),
        kind: ChangeKind::Added,
        key: key.into(),
        message: format!("group {key} added"),
        severity,
        rule: None,
        before: None,
        after: Some(Fields::new()),
    }
}

fn five() -> Report {
    let mut r = report();
    r.warnings.clear();
    r.changes = vec![
        change("a", Severity::Low),
        change("b", Severity::High),
        change("c", Severity::Critical),
        change("d", Severity::Low),
        change("e", Severity::High),
    ];
    r
}

#[test]
fn summary_counts_each_level_loudest_first() {
    let r = five();
    let text = render_text(&r, TextOptions::default());
    assert_eq!(
        text.lines().next().unwrap(),
        "5 changes detected (0 warnings): 1 critical, 2 high, 2 low"
    );
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_eq!(
        summary(&[], 0, Severity::Info),
        "0 changes detected (0 warnings)"
    );
}

#[test]
fn a_filtered_report_says_what_it_left_out() {
    let r = five();
    let opts = TextOptions {
        min_severity: Severity::High,
        ..Default::default()
    };
    let text = render_text(&r, opts);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "5 changes detected (0 warnings): 1 critical, 2 high, 2 low; \
         2 below high not shown (--min-severity high)"
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 3, "{text}");
    assert!(rest.iter().all(|l| !l.ends_with("[low]")), "{text}");
    // Nothing below the floor: nothing said about a filter.
    let all = render_text(
        &r,
        TextOptions {
            min_severity: Severity::Low,
            ..Default::default()
        },
    );
    assert!(!all.contains("not shown"), "{all}");

    let v: serde_json::Value =
        serde_json::from_str(&render_json_min(&r, Severity::Critical)).unwrap();
    assert_eq!(v["changes"].as_array().unwrap().len(), 1);
    assert_eq!(v["changes"][0]["key"], "c");
    assert_eq!(v["filter"]["min_severity"], "critical");
    assert_eq!(v["filter"]["hidden"], 4);
    let v: serde_json::Value = serde_json::from_str(&render_json_min(&r, Severity::Info)).unwrap();
    assert!(v.get("filter").is_none());
    assert_eq!(v["changes"].as_array().unwrap().len(), 5);
}

#[test]
fn json_keeps_the_documented_shape() {
    let v: serde_json::Value = serde_json::from_str(&render_json(&report())).unwrap();
    assert_eq!(v["from"]["id"], 1);
    assert_eq!(v["from"]["label"], "pre");
    assert!(
        v["to"]["started_at"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-14T")
    );
    let c = &v["changes"][0];
    for k in [
        "collector",
        "kind",
        "key",
        "message",
        "severity",
        "before",
        "after",
    ] {
        assert!(c.get(k).is_some(), "change lacks {k}");
    }
    assert_eq!(c["kind"], "added");
    assert_eq!(c["severity"], "high");
    assert_eq!(v["warnings"][0]["collector"], "kernel_modules");
}

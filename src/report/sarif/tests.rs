use chrono::DateTime;

use super::*;
use crate::model::{Fields, Warning};
use crate::report::ScanRef;

fn change(collector: &str, kind: ChangeKind, key: &str, severity: Severity) -> Change {
    let fields = Fields::from([("owner".to_string(), "root".to_string())]);
    Change {
        collector: collector.into(),
        kind,
        key: key.into(),
        message: format!("{collector} {key} {}", kind.as_str()),
        severity,
        rule: None,
        before: (kind != ChangeKind::Added).then(|| fields.clone()),
        after: (kind != ChangeKind::Removed).then_some(fields),
    }
}

fn report(changes: Vec<Change>) -> Report {
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    Report {
        from: Some(ScanRef {
            id: 3,
            label: Some("apt-pre".into()),
            started_at: at,
        }),
        to: ScanRef {
            id: 4,
            label: None,
            started_at: at,
        },
        changes,
        warnings: vec![Warning {
            collector: "kernel_modules".into(),
            message: "kernel_modules not compared: absent".into(),
        }],
        ignored: 0,
    }
}

fn sample() -> Report {
    let mut ruled = change(
        "list_suids",
        ChangeKind::Added,
        "/usr/local/bin/x y",
        Severity::Critical,
    );
    ruled.rule = Some("suid.unowned".into());
    report(vec![
        ruled,
        change(
            "list_suids",
            ChangeKind::Removed,
            "/usr/bin/old",
            Severity::High,
        ),
        change(
            "list_tcpudp_ports",
            ChangeKind::Modified,
            "tcp 0.0.0.0:80",
            Severity::Medium,
        ),
        change("check_groups", ChangeKind::Added, "staff", Severity::Low),
        change("check_groups", ChangeKind::Added, "video", Severity::Info),
    ])
}

#[test]
fn one_result_per_change_with_the_required_properties() {
    let v = sarif(&sample(), Severity::Info);
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(v["$schema"], SCHEMA);
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "dawgmon");
    assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let want = [
        ("suid.unowned", "error", "new"),
        ("list_suids.removed", "error", "absent"),
        ("list_tcpudp_ports.modified", "warning", "updated"),
        ("check_groups.added", "note", "new"),
        ("check_groups.added", "note", "new"),
    ];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4, "one rule per id: {rules:#?}");
    for (r, (id, level, state)) in results.iter().zip(want) {
        assert_eq!(r["ruleId"], id);
        assert_eq!(r["level"], level);
        assert_eq!(r["baselineState"], state);
        assert!(r["message"]["text"].as_str().unwrap().contains(' '));
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], id, "ruleIndex points at its rule");
        assert!(!r["properties"]["collector"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "file:///usr/local/bin/x%20y"
    );
    assert!(results[2].get("locations").is_none(), "a port is no file");
    assert_eq!(
        run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"],
        "kernel_modules not compared: absent"
    );
    assert_eq!(run["properties"]["from"]["label"], "apt-pre");
    assert!(run["properties"].get("hiddenChanges").is_none());
}

#[test]
fn fingerprints_follow_collector_and_key_only() {
    let a = sarif(&sample(), Severity::Info);
    // The same items in a later report, changed differently: same fingerprints.
    let mut later = sample();
    for c in &mut later.changes {
        c.kind = ChangeKind::Modified;
        c.message = "something else".into();
        c.severity = Severity::High;
    }
    let b = sarif(&later, Severity::Info);
    let prints = |v: &Value| -> Vec<String> {
        v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"][FINGERPRINT]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(prints(&a), prints(&b));
    let all = prints(&a);
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(unique.len(), 5, "different items differ: {all:?}");
    assert_eq!(all[0].len(), 64);
    // Collector and key are separated: ("ab", "c") is not ("a", "bc").
    assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
    assert_eq!(
        fingerprint("list_suids", "/usr/bin/x"),
        fingerprint("list_suids", "/usr/bin/x")
    );
}

#[test]
fn min_severity_leaves_results_out_and_says_so() {
    let v = sarif(&sample(), Severity::High);
    let run = &v["runs"][0];
    assert_eq!(run["results"].as_array().unwrap().len(), 2);
    assert_eq!(run["properties"]["minSeverity"], "high");
    assert_eq!(run["properties"]["hiddenChanges"], 3);
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 2);
}

#[test]
fn odd_paths_become_valid_uris() {
    assert_eq!(file_uri("relative"), None);
    assert_eq!(file_uri("tcp 0.0.0.0:22"), None);
    assert_eq!(
        file_uri("/etc/a\\x1b[31m\nb%").unwrap(),
        "file:///etc/a%5Cx1b%5B31m%0Ab%25"
    );
    assert_eq!(file_uri("/usr/bin/é").unwrap(), "file:///usr/bin/%C3%A9");
}

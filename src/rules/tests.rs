use super::*;
use crate::model::Item;
use crate::rules::testing::change;

fn spec(text: &str) -> Result<Vec<RuleSpec>, String> {
    #[derive(Deserialize)]
    struct F {
        rule: Vec<RuleSpec>,
    }
    toml::from_str::<F>(text)
        .map(|f| f.rule)
        .map_err(|e| e.to_string())
}

#[test]
fn builtin_rules_parse_and_ids_are_unique() {
    let specs = builtin_specs().unwrap();
    assert!(specs.len() > 50, "{} rules", specs.len());
    let mut seen = BTreeSet::new();
    for s in &specs {
        assert!(
            seen.insert(s.id.as_str()),
            "duplicate built-in rule id {:?}",
            s.id
        );
    }
    // Every one compiles (and names a collector that exists).
    assert_eq!(Rules::builtin().specs().count(), specs.len());
}

#[test]
fn outage_rules_hold_the_critical_sight_collectors() {
    let outage = |name: &str, kind| {
        let mut f = Fields::new();
        f.insert("reason", "x");
        let s = Subject {
            collector: name,
            kind,
            key: crate::engine::OUTAGE_KEY,
            old: (kind == ChangeKind::Removed).then_some(&f),
            new: (kind == ChangeKind::Added).then_some(&f),
        };
        let rules = Rules::builtin();
        let (sev, id) = rules.judge(&s);
        (sev, id.map(str::to_string))
    };
    // A watch tree (any configured path) counts as sight: a blind /usr/bin hides a replaced
    // binary.
    let names = collectors::Registry::default()
        .all()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .into_iter()
        .chain(["watch:/usr/bin", "watch:/"]);
    for name in names {
        let sight = CRITICAL_SIGHT.contains(&name) || name.starts_with("watch:");
        let (sev, id) = outage(name, ChangeKind::Added);
        assert_eq!(
            (sev, id.as_deref()),
            if sight {
                (Severity::High, Some("outage.sight"))
            } else {
                (Severity::Medium, Some("outage.other"))
            },
            "{name}"
        );
        let (sev, _) = outage(name, ChangeKind::Removed);
        assert_eq!(
            sev,
            if sight {
                Severity::Medium
            } else {
                Severity::Low
            },
            "{name}"
        );
    }
}

#[test]
fn first_matching_rule_wins_and_its_id_is_recorded() {
    let suid = |pkg: &str| {
        Item::new("/usr/local/bin/x")
            .with("perm", "-rwsr-xr-x")
            .with("package", pkg)
    };
    let c = change("list_suids", None, Some(suid("none")));
    assert_eq!(
        (c.severity, c.rule.as_deref()),
        (Severity::Critical, Some("suid.unowned"))
    );
    let c = change("list_suids", None, Some(suid("passwd")));
    assert_eq!(
        (c.severity, c.rule.as_deref()),
        (Severity::High, Some("suid.new"))
    );
    // No rule: info and no id.
    let c = change("list_blkdev", Some(Item::new("sda")), None);
    assert_eq!((c.severity, c.rule), (Severity::Info, None));
}

#[test]
fn item_conditions_see_the_full_item_not_only_changed_fields() {
    // A unit whose exec did not change but that is enabled: `item` sees state=enabled.
    let own = spec(
        r#"[[rule]]
id = "local.enabled-touched"
collector = "systemd_unitfiles"
kind = ["modified"]
item = { state = "enabled" }
severity = "critical"
why = "test"
"#,
    )
    .unwrap();
    let rules = Rules::new(&Registry::default(), &own, &[], &[]).unwrap();
    let a = Item::new("x.service")
        .with("state", "enabled")
        .with("sha256", "1");
    let b = a.clone().with("sha256", "2");
    let f = |i: &Item| i.fields.clone();
    let s = Subject {
        collector: "systemd_unitfiles",
        kind: ChangeKind::Modified,
        key: "x.service",
        old: Some(&f(&a)),
        new: Some(&f(&b)),
    };
    assert_eq!(
        rules.judge(&s),
        (Severity::Critical, Some("local.enabled-touched"))
    );
}

#[test]
fn config_rules_come_first_replace_by_id_and_can_be_disabled() {
    let own = spec(
        r#"[[rule]]
id = "port.new"
collector = "list_tcpudp_ports"
kind = ["added"]
severity = "critical"
why = "nothing listens here"
"#,
    )
    .unwrap();
    let rules = Rules::new(&Registry::default(), &own, &[], &[]).unwrap();
    let ids: Vec<&str> = rules.specs().map(|s| s.id.as_str()).collect();
    assert_eq!(ids[0], "port.new");
    assert_eq!(ids.iter().filter(|i| **i == "port.new").count(), 1);
    let f = Fields::new();
    let s = Subject {
        collector: "list_tcpudp_ports",
        kind: ChangeKind::Added,
        key: "tcp 0.0.0.0:80",
        old: None,
        new: Some(&f),
    };
    assert_eq!(rules.judge(&s), (Severity::Critical, Some("port.new")));
    // Config rules precede the built-in loopback rule, too.
    let lo = Subject {
        key: "tcp 127.0.0.1:80",
        ..s
    };
    assert_eq!(rules.judge(&lo).0, Severity::Critical);
    let builtin = Rules::builtin();
    assert_eq!(builtin.judge(&lo), (Severity::Low, Some("port.loopback")));

    let quiet = Rules::new(&Registry::default(), &[], &["port.new".into()], &[]).unwrap();
    assert_eq!(quiet.judge(&s), (Severity::Info, None));
    let err = Rules::new(&Registry::default(), &[], &["port.nope".into()], &[]).unwrap_err();
    assert!(
        err.contains("port.nope") && err.contains("dawgctl rules"),
        "{err}"
    );
}

#[test]
fn bad_rules_are_refused_with_id_key_and_fix() {
    let refuse =
        |text: &str| Rules::new(&Registry::default(), &spec(text).unwrap(), &[], &[]).unwrap_err();
    let e = refuse(
        "[[rule]]\nid = \"x.y\"\ncollector = \"no_such\"\nseverity = \"low\"\nwhy = \"w\"\n",
    );
    assert!(
        e.contains("\"x.y\"") && e.contains("collector") && e.contains("dawgctl collectors"),
        "{e}"
    );
    let e = refuse(
        "[[rule]]\nid = \"x.y\"\ncollector = \"env\"\nkey = [\"[a\"]\nseverity = \"low\"\nwhy = \"w\"\n",
    );
    assert!(
        e.contains("\"x.y\"") && e.contains("key") && e.contains("glob"),
        "{e}"
    );
    let e =
        refuse("[[rule]]\nid = \"nodot\"\ncollector = \"env\"\nseverity = \"low\"\nwhy = \"w\"\n");
    assert!(e.contains("id") && e.contains("<area>.<what>"), "{e}");
    let e =
        refuse("[[rule]]\nid = \"a.b\"\ncollector = \"env\"\nseverity = \"low\"\nwhy = \" \"\n");
    assert!(e.contains("why"), "{e}");
    let e = refuse(
        "[[rule]]\nid = \"a.b\"\ncollector = \"env\"\nseverity = \"low\"\nwhy = \"w\"\n\
         [[rule]]\nid = \"a.b\"\ncollector = \"env\"\nseverity = \"low\"\nwhy = \"w\"\n",
    );
    assert!(e.contains("two [[rule]]"), "{e}");
    // Unknown keys and bad severities are refused by the parser, naming the key.
    let e = spec(
        "[[rule]]\nid = \"a.b\"\ncollector = \"env\"\nseverity = \"low\"\nwhy = \"w\"\nkeys = []\n",
    )
    .unwrap_err();
    assert!(e.contains("keys"), "{e}");
    let e =
        spec("[[rule]]\nid = \"a.b\"\ncollector = \"env\"\nseverity = \"severe\"\nwhy = \"w\"\n")
            .unwrap_err();
    assert!(e.contains("severe"), "{e}");
}

#[test]
fn globs_negate_and_star_crosses_slashes() {
    let g = Glob::new("/etc/*").unwrap();
    assert!(g.is_match("/etc/sudoers.d/x"));
    let n = Glob::new("!{*/nologin,*/false}").unwrap();
    assert!(n.is_match("/bin/bash") && !n.is_match("/usr/sbin/nologin"));
    assert!(
        Glob::new("* \\[::1\\]:*")
            .unwrap()
            .is_match("tcp6 [::1]:631")
    );
}

#[test]
fn list_conditions_grew_has_and_lost() {
    let judge = |rules: &Rules, kind, old: Option<&Fields>, new: Option<&Fields>| {
        rules
            .judge(&Subject {
                collector: "list_mount",
                kind,
                key: "/tmp",
                old,
                new,
            })
            .1
            .map(str::to_string)
    };
    let f = |o: &str| -> Fields { [("options".to_string(), o.to_string())].into() };
    let own = spec(
        r#"[[rule]]
id = "t.grew"
collector = "list_mount"
grew = ["options"]
severity = "low"
why = "w"
[[rule]]
id = "t.has"
collector = "list_mount"
has = { options = "noexec" }
severity = "low"
why = "w"
"#,
    )
    .unwrap();
    let rules = Rules::new(
        &Registry::default(),
        &own,
        &["mount.hardening-lost".into()],
        &[],
    )
    .unwrap();
    let (a, b) = (f("rw,nosuid"), f("rw,nosuid,nodev"));
    assert_eq!(
        judge(&rules, ChangeKind::Modified, Some(&a), Some(&b)).as_deref(),
        Some("t.grew")
    );
    // Losing an entry is not growing; "noexec" is an entry, "errors=noexec-ish" would not be.
    let (c, d) = (f("rw,noexec,nosuid"), f("rw,noexec"));
    assert_eq!(
        judge(&rules, ChangeKind::Modified, Some(&c), Some(&d)).as_deref(),
        Some("t.has")
    );
    let builtin = Rules::builtin();
    assert_eq!(
        judge(&builtin, ChangeKind::Modified, Some(&c), Some(&d)).as_deref(),
        Some("mount.hardening-lost")
    );
    // A removed mount loses nothing: it is gone as a whole (info, no rule).
    assert_eq!(judge(&builtin, ChangeKind::Removed, Some(&c), None), None);
    // "errors=remount-ro" is not "ro": dropping it loses no hardening.
    let (e, g) = (f("rw,errors=remount-ro"), f("rw"));
    assert_eq!(
        judge(&builtin, ChangeKind::Modified, Some(&e), Some(&g)).as_deref(),
        Some("mount.other")
    );
}

#[test]
fn ignores_drop_whole_items_or_only_listed_field_changes() {
    let ig = |text: &str| -> Vec<IgnoreSpec> {
        #[derive(Deserialize)]
        struct F {
            ignore: Vec<IgnoreSpec>,
        }
        toml::from_str::<F>(text).unwrap().ignore
    };
    let rules = Rules::new(
        &Registry::default(),
        &[],
        &[],
        &ig(r#"[[ignore]]
collector = "list_ifaces"
key = ["veth*"]
[[ignore]]
collector = "check_etc"
key = ["/etc/resolv.conf"]
fields = ["sha256", "size"]
"#),
    )
    .unwrap();
    let item =
        |k: &str, sha: &str, owner: &str| Item::new(k).with("sha256", sha).with("owner", owner);
    let snap = |c: &str, items: Vec<Item>| crate::model::Snapshot {
        results: [(c.to_string(), crate::model::Outcome::Items(items))].into(),
    };
    let d = crate::diff::diff_only(
        &snap("list_ifaces", vec![Item::new("veth1"), Item::new("eth0")]),
        &snap("list_ifaces", vec![Item::new("veth2")]),
        None,
        &rules,
        &Registry::default(),
    );
    assert_eq!(d.ignored, 2, "veth1 removed and veth2 added are ignored");
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].key, "eth0");

    let d = crate::diff::diff_only(
        &snap(
            "check_etc",
            vec![
                item("/etc/resolv.conf", "1", "root"),
                item("/etc/hosts", "1", "root"),
            ],
        ),
        &snap(
            "check_etc",
            vec![
                item("/etc/resolv.conf", "2", "root"),
                item("/etc/hosts", "2", "root"),
            ],
        ),
        None,
        &rules,
        &Registry::default(),
    );
    assert_eq!((d.ignored, d.changes.len()), (1, 1));
    assert_eq!(d.changes[0].key, "/etc/hosts");
    // A change of a field not listed stays, and so do additions and removals of the item.
    let d = crate::diff::diff_only(
        &snap("check_etc", vec![item("/etc/resolv.conf", "1", "root")]),
        &snap("check_etc", vec![item("/etc/resolv.conf", "2", "mallory")]),
        None,
        &rules,
        &Registry::default(),
    );
    assert_eq!((d.ignored, d.changes.len()), (0, 1));
    let d = crate::diff::diff_only(
        &snap("check_etc", vec![]),
        &snap("check_etc", vec![item("/etc/resolv.conf", "1", "root")]),
        None,
        &rules,
        &Registry::default(),
    );
    assert_eq!((d.ignored, d.changes.len()), (0, 1));

    let bad = Rules::new(
        &Registry::default(),
        &[],
        &[],
        &ig("[[ignore]]\ncollector = \"nope\"\n"),
    )
    .unwrap_err();
    assert!(
        bad.contains("nope") && bad.contains("dawgctl collectors"),
        "{bad}"
    );
}

#[test]
fn judging_a_large_diff_costs_little() {
    // 200k modified suid-like items against the full rule set: must stay far below a scan.
    let n = 200_000;
    let items = |v: &str| {
        (0..n)
            .map(|i| {
                Item::new(format!("/usr/lib/x/{i:06}"))
                    .with("perm", "-rwsr-xr-x")
                    .with("sha256", v)
                    .with("package", "none")
            })
            .collect::<Vec<_>>()
    };
    let snap = |v| crate::model::Snapshot {
        results: [(
            "check_etc".to_string(),
            crate::model::Outcome::Items(items(v)),
        )]
        .into(),
    };
    let (a, b) = (snap("1"), snap("2"));
    let all: Vec<String> = Rules::builtin().specs().map(|s| s.id.clone()).collect();
    let none = Rules::new(&Registry::default(), &[], &all, &[]).unwrap();
    let t = std::time::Instant::now();
    let bare = crate::diff::diff_only(&a, &b, None, &none, &Registry::default());
    let without = t.elapsed();
    assert!(bare.changes.iter().all(|c| c.rule.is_none()));
    let t = std::time::Instant::now();
    let d = crate::diff::diff(&a, &b);
    let with_rules = t.elapsed();
    assert_eq!(d.changes.len(), n);
    assert!(
        d.changes
            .iter()
            .all(|c| c.rule.as_deref() == Some("etc.changed"))
    );
    eprintln!("diff of {n} changes: {without:?} without rules, {with_rules:?} judged");
}

/// Plain names are compared as text (no regex is built for them) with the same answers as
/// globs, negation included; patterns with glob syntax still match as globs.
#[test]
fn plain_names_and_globs_match_alike() {
    let cases = [
        ("check_etc", "check_etc", true),
        ("check_etc", "check_etc2", false),
        ("!check_etc", "check_etc", false),
        ("!check_etc", "list_suids", true),
        ("list_{msq,sem}", "list_sem", true),
        ("list_*", "list_suids", true),
        ("/etc/a\\*b", "/etc/a*b", true),
        ("/etc/a\\*b", "/etc/axb", false),
    ];
    for (pattern, text, want) in cases {
        let g = super::Glob::new(pattern).unwrap();
        assert_eq!(g.is_match(text), want, "{pattern} vs {text}");
        assert_eq!(
            g.matcher.get().is_some(),
            pattern.contains(['*', '{', '\\']),
            "{pattern}"
        );
    }
}

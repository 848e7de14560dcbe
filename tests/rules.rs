//! Severity rules and noise control end to end: the real `dawgctl` (--local and through the
//! real `dawgmond`) on fake roots, with rules and ignores from a config file.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::helper::{DaemonOptions, TreeBuilder, json, ok};

/// `dawgctl --local` on `root` with the config file `config`, check_etc only (fast).
fn local(db: &Path, root: &Path, config: &Path, args: &[&str]) -> Output {
    crate::helper::local(db, Some(root))
        .arg("--daemon-config")
        .arg(config)
        .args(["-c", "check_etc"])
        .args(args)
        .output()
        .expect("run dawgctl")
}

fn change<'a>(report: &'a Value, key: &str) -> Option<&'a Value> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
}

#[test]
fn suggested_ignores_paste_into_the_config_and_silence_the_churn() {
    let tree = TreeBuilder::with_etc();
    tree.file("etc/resolv.conf", "nameserver 10.0.0.1\n");
    let tmp = tempfile::tempdir().unwrap();
    let (db, config) = (tmp.path().join("d.db"), tmp.path().join("dawgmond.toml"));
    // No config file yet: the built-in rules.
    ok(&local(&db, tree.path(), &config, &["scan"]));
    for n in 2..=3 {
        // resolv.conf rewritten "on its own" (as a DHCP client does) between idle scans.
        tree.file("etc/resolv.conf", &format!("nameserver 10.0.0.{n}\n"));
        ok(&local(&db, tree.path(), &config, &["scan"]));
    }
    let suggested = ok(&local(
        &db,
        tree.path(),
        &config,
        &["ignore", "suggest", "--scans", "3"],
    ));
    assert!(
        suggested.contains(
            "# churned in 2 of 2 scan pairs (modified)\n[[ignore]]\ncollector = \"check_etc\"\n\
             key = [\"/etc/resolv.conf\"]\nfields = [\"sha256\"]\n"
        ),
        "{suggested}"
    );
    assert_eq!(suggested.matches("[[ignore]]").count(), 1, "{suggested}");

    // Pasted verbatim into the config file: the churn vanishes, counted as ignored; other
    // changes of the same item (its owner) and of other files stay, judged by the rules.
    std::fs::write(&config, &suggested).unwrap();
    tree.file("etc/resolv.conf", "nameserver 10.0.0.4\n");
    tree.file("etc/ld.so.preload", "/tmp/evil.so\n");
    let report = json(&local(
        &db,
        tree.path(),
        &config,
        &["--format", "json", "scan"],
    ));
    assert!(change(&report, "/etc/resolv.conf").is_none(), "{report}");
    assert_eq!(report["ignored"], 1, "{report}");
    let preload = change(&report, "/etc/ld.so.preload").expect("ld.so.preload reported");
    assert_eq!(preload["severity"], "critical");
    assert_eq!(preload["rule"], "etc.preload");

    tree.file("etc/resolv.conf", "nameserver 10.0.0.5\n");
    std::fs::set_permissions(
        tree.join("etc/resolv.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let report = json(&local(
        &db,
        tree.path(),
        &config,
        &["--format", "json", "scan"],
    ));
    let perm = change(&report, "/etc/resolv.conf").expect("a perm change is not ignored");
    assert_eq!(perm["severity"], "high");
    assert_eq!(perm["rule"], "etc.writable");
    assert!(report.get("ignored").is_none(), "{report}");
}

#[test]
fn ignore_suggest_needs_two_scans_and_says_so() {
    let tree = TreeBuilder::with_etc();
    let tmp = tempfile::tempdir().unwrap();
    let (db, config) = (tmp.path().join("d.db"), tmp.path().join("none.toml"));
    ok(&local(&db, tree.path(), &config, &["scan"]));
    let out = local(&db, tree.path(), &config, &["ignore", "suggest"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 stored scan: ignore suggest needs two"),
        "{err}"
    );
    ok(&local(&db, tree.path(), &config, &["scan"]));
    let quiet = ok(&local(&db, tree.path(), &config, &["ignore", "suggest"]));
    assert!(quiet.contains("Nothing changed"), "{quiet}");
}

#[test]
fn a_bad_rule_is_refused_with_its_id_key_and_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("dawgmond.toml");
    std::fs::write(
        &config,
        "[[rule]]\nid = \"local.x\"\ncollector = \"list_suidz\"\nseverity = \"high\"\nwhy = \"w\"\n",
    )
    .unwrap();
    let out = Command::new(crate::helper::dawgctl_bin())
        .arg("--daemon-config")
        .arg(&config)
        .arg("rules")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule \"local.x\": collector: \"list_suidz\" matches no collector")
            && err.contains("dawgctl collectors"),
        "{err}"
    );
    // The daemon refuses to start on it, with the same words.
    let out = Command::new(crate::helper::dawgmond_bin())
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"local.x\": collector"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dawgctl_rules_shows_own_rules_first_and_disabled_ones_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("dawgmond.toml");
    std::fs::write(
        &config,
        "disable_rules = [\"uptime.reboot\"]\n[[rule]]\nid = \"port.new\"\n\
         collector = \"list_tcpudp_ports\"\nkind = [\"added\"]\nseverity = \"critical\"\n\
         why = \"nothing may listen here\"\n",
    )
    .unwrap();
    let out = Command::new(crate::helper::dawgctl_bin())
        .arg("--daemon-config")
        .arg(&config)
        .args(["--format", "json", "rules"])
        .output()
        .unwrap();
    let rules = json(&out);
    let ids: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "port.new");
    assert_eq!(rules[0]["severity"], "critical");
    assert_eq!(ids.iter().filter(|i| **i == "port.new").count(), 1);
    assert!(!ids.contains(&"uptime.reboot"));
    assert!(ids.contains(&"suid.unowned"));
}

#[test]
fn the_daemon_judges_with_its_config_rules_and_suggests_ignores() {
    let tree = TreeBuilder::with_etc();
    let daemon = DaemonOptions {
        root: Some(tree.path().to_path_buf()),
        collectors: vec!["check_groups".into()],
        extra: "[[rule]]\nid = \"local.new-group\"\ncollector = \"check_groups\"\n\
                kind = [\"added\"]\nseverity = \"critical\"\nwhy = \"no group is ever added here\"\n\
                [[ignore]]\ncollector = \"check_groups\"\nkey = [\"churn*\"]\n"
            .into(),
        ..DaemonOptions::default()
    }
    .spawn();
    daemon.ctl_ok(&["scan"]);
    tree.append("etc/group", "staff:x:50:\nchurn1:x:51:\n");
    let report = daemon.ctl_json(&["--format", "json", "scan"]);
    let staff = change(&report, "staff").unwrap_or_else(|| panic!("{report}"));
    assert_eq!(staff["severity"], "critical");
    assert_eq!(staff["rule"], "local.new-group");
    assert_eq!(report["ignored"], 1, "{report}");
    assert!(change(&report, "churn1").is_none());

    // Through the daemon: what changed between the two scans (the ignored group is not).
    let suggested = daemon.ctl_ok(&["ignore", "suggest", "--scans", "2"]);
    assert!(
        suggested.contains("collector = \"check_groups\"\nkey = [\"staff\"]\n"),
        "{suggested}"
    );
    assert!(!suggested.contains("churn1"), "{suggested}");
}

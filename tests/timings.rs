//! `dawgctl --local scan --timings`: how long each collector ran, as text on stderr (slowest
//! first) and as a `timings` list in `--format json`. A fake root where one collector has real
//! work (an 8 MiB file for `check_etc` to hash) and another almost none (`check_groups` reads
//! one short file) shows that the figures measure the collectors, not a constant.

use std::path::Path;
use std::process::{Command, Output};

use crate::helper::{TreeBuilder, json, ok};

/// `dawgctl --local --root ROOT --database DB -c check_etc -c check_groups ARGS`.
fn scan(root: &Path, db: &Path, args: &[&str]) -> Output {
    Command::new(crate::helper::dawgctl_bin())
        .arg("--local")
        .arg("--root")
        .arg(root)
        .arg("--database")
        .arg(db)
        .args(["-c", "check_etc", "-c", "check_groups"])
        .args(args)
        .env_remove("DAWGMON_SYSTEMD_BUS")
        .output()
        .expect("run dawgctl")
}

/// A root whose `etc` holds an 8 MiB file (sparse on disk, still read and hashed in full).
fn root() -> TreeBuilder {
    let t = TreeBuilder::with_etc();
    let big = t.join("etc/big.img");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    t
}

#[test]
fn scan_timings_as_text_list_each_collector_slowest_first() {
    let t = root();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let out = scan(t.path(), &db, &["--color", "never", "scan", "--timings"]);
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("changes detected"), "{stdout}");
    let mut lines = stderr
        .lines()
        .skip_while(|l| !(l.contains("MS") && l.ends_with("COLLECTOR")));
    assert!(lines.next().is_some(), "no timings header:\n{stderr}");
    let rows: Vec<(f64, &str)> = lines
        .map(|l| {
            let (ms, name) = l.trim().split_once("  ").expect("MS  COLLECTOR row");
            (ms.trim().parse().expect("milliseconds"), name.trim())
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.1).collect();
    assert_eq!(names, ["check_etc", "check_groups"], "{stderr}");
    assert!(rows[0].0 >= rows[1].0, "not slowest first:\n{stderr}");
    // Hashing 8 MiB (in a test build) takes tens of milliseconds at least; reading a short
    // group file does not.
    assert!(
        rows[0].0 >= 10.0,
        "check_etc hashed 8 MiB in no time:\n{stderr}"
    );
    assert!(rows[1].0 < rows[0].0 / 2.0, "{stderr}");

    // Without --timings there is no table.
    let out = scan(t.path(), &db, &["scan"]);
    ok(&out);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("COLLECTOR"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scan_timings_in_json_are_a_list_in_the_report() {
    let t = root();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let v = json(&scan(
        t.path(),
        &db,
        &["--format", "json", "scan", "--timings"],
    ));
    assert!(v["changes"].is_array(), "{v:#}");
    let timings = v["timings"].as_array().expect("a timings list");
    // Registry order, each collector once, with its milliseconds.
    let rows: Vec<(&str, f64)> = timings
        .iter()
        .map(|t| (t["collector"].as_str().unwrap(), t["ms"].as_f64().unwrap()))
        .collect();
    let mut names: Vec<&str> = rows.iter().map(|r| r.0).collect();
    names.sort();
    assert_eq!(names, ["check_etc", "check_groups"], "{v:#}");
    let ms = |name: &str| rows.iter().find(|r| r.0 == name).unwrap().1;
    assert!(ms("check_etc") >= 10.0, "{timings:?}");
    assert!(ms("check_groups") < ms("check_etc") / 2.0, "{timings:?}");

    // Without --timings the JSON report has no such key.
    let v = json(&scan(t.path(), &db, &["--format", "json", "scan"]));
    assert!(v.get("timings").is_none(), "{v:#}");
}

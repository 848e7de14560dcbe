//! Watch trees end to end (issue 11): `dawgctl --local --watch PATH` and `[[watch]]` in the
//! daemon's config, over fake roots with a dpkg database, through the real binaries and a real
//! SQLite file: a re-scan reads no unchanged file, a replaced packaged file is reported as
//! critical with its package, and bad input is refused with the fix.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::helper::{DaemonOptions, TreeBuilder, json, ok};

/// A root with /opt/app (a packaged tool whose recorded digest matches, a library, a nested
/// file) and dpkg's records for the tool.
fn tree() -> TreeBuilder {
    let t = TreeBuilder::with_etc();
    t.file("opt/app/bin/tool", "tool v1\n")
        .file("opt/app/lib/libx.so", "library\n")
        .file("opt/app/share/deep/notes", "notes\n")
        .file(
            "var/lib/dpkg/info/tool.list",
            "/.\n/opt\n/opt/app\n/opt/app/bin\n/opt/app/bin/tool\n",
        )
        .file(
            "var/lib/dpkg/info/tool.md5sums",
            // md5("tool v1\n")
            &format!("{}  opt/app/bin/tool\n", md5_hex(b"tool v1\n")),
        );
    t
}

fn md5_hex(data: &[u8]) -> String {
    let out = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .expect("md5sum (coreutils)");
    String::from_utf8(out.stdout).unwrap()[..32].to_string()
}

fn local(root: &Path, db: &Path, args: &[&str]) -> Output {
    crate::helper::local(db, Some(root))
        .args(["--daemon-config", "/nonexistent/dawgmond.toml"])
        .args(args)
        .output()
        .expect("run dawgctl")
}

fn change<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no change of {key}: {report:#}"))
}

#[test]
fn a_local_watch_rescans_by_metadata_and_reports_a_replaced_packaged_file() {
    let t = tree();
    let db = t.path().join("state.db");
    let scan = |extra: &[&str]| {
        let mut args = vec!["--watch", "/opt/app", "-c", "watch", "--format", "json"];
        args.extend_from_slice(extra);
        args.push("scan");
        local(t.path(), &db, &args)
    };
    let first = scan(&[]);
    let err = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(first.status.success(), "{err}");
    assert!(err.contains("files: 3 hashed, 0 unchanged"), "{err}");

    let second = scan(&[]);
    let err = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(
        err.contains("files: 0 hashed, 3 unchanged by metadata"),
        "{err}"
    );
    assert_eq!(json(&second)["changes"].as_array().unwrap().len(), 0);

    // The packaged tool replaced: read again (its metadata moved), and judged critical.
    t.file_mode("opt/app/bin/tool", "tool v2, not from the package\n", 0o755);
    let third = scan(&[]);
    let err = String::from_utf8_lossy(&third.stderr).to_string();
    assert!(err.contains("files: 1 hashed, 2 unchanged"), "{err}");
    let report = json(&third);
    let c = change(&report, "/opt/app/bin/tool");
    assert_eq!(c["collector"], "watch:/opt/app");
    assert_eq!(c["severity"], "critical", "{c:#}");
    assert_eq!(c["rule"], "watch.package-differs");
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("content changed")
            && message.contains("(package tool: digest differs from the package's)"),
        "{message}"
    );

    // In the text report, one line in dawgmon's style.
    t.file("opt/app/share/new-file", "dropped here\n");
    let text = ok(&local(
        t.path(),
        &db,
        &[
            "--watch",
            "/opt/app",
            "-c",
            "watch",
            "--no-timestamps",
            "--color",
            "never",
            "scan",
        ],
    ));
    assert!(
        text.lines().any(
            |l| l.starts_with("+ file /opt/app/share/new-file got created (")
                && l.contains("package=none")
                && l.ends_with("[medium]")
        ),
        "{text}"
    );
}

#[test]
fn watch_collectors_are_listed_and_selected_by_name() {
    let t = tree();
    let db = t.path().join("state.db");
    let list = json(&local(
        t.path(),
        &db,
        &["--watch", "/opt/app", "--format", "json", "collectors"],
    ));
    let tree = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "watch:/opt/app")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(tree["default"], true);
    // Only the tree: its items, nothing else.
    let out = local(
        t.path(),
        &db,
        &["--watch", "/opt/app", "-c", "watch:/opt/app", "scan"],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains(": 8 items in"), "{err}");
}

#[test]
fn bad_watch_input_is_refused_with_the_fix() {
    let t = tree();
    let db = t.path().join("state.db");
    for (args, needle) in [
        (vec!["--watch", "opt/app", "scan"], "absolute path"),
        (vec!["--watch", "/opt/app/", "scan"], "trailing '/'"),
        (
            vec!["-c", "watch:/nope", "scan"],
            "no watch tree is configured",
        ),
    ] {
        let out = local(t.path(), &db, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    // Without --local there is no tree to add: the daemon's config holds them.
    let out = Command::new(crate::helper::dawgctl_bin())
        .args(["--socket", "/nonexistent.sock", "--watch", "/opt", "scan"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("[[watch]]"), "{err}");
    // A tree that is missing is unavailable (a warning), never "everything removed": scanned
    // twice, the second compares with the first.
    let missing = [
        "--watch",
        "/srv/none",
        "-c",
        "watch",
        "--format",
        "json",
        "scan",
    ];
    let out = local(t.path(), &db, &missing);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = local(t.path(), &db, &missing);
    let report = json(&out);
    assert!(
        report["changes"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("/srv/none does not exist"), "{report:#}");
}

#[test]
fn the_daemon_scans_its_configured_trees_and_rejects_bad_ones() {
    let t = tree();
    let d = DaemonOptions {
        root: Some(t.path().to_path_buf()),
        extra: "[[watch]]\npath = \"/opt/app\"\nexclude = [\"/opt/app/share/**\"]\n".into(),
        ..DaemonOptions::default()
    }
    .spawn();
    let list = d.ctl_json(&["collectors"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "watch:/opt/app" && c["default"] == true),
        "{list:#}"
    );
    d.ctl_ok(&["scan"]);
    t.file_mode("opt/app/bin/tool", "replaced\n", 0o755);
    t.file("opt/app/share/deep/notes", "excluded: not watched\n");
    let report = d.ctl_json(&["scan"]);
    let c = change(&report, "/opt/app/bin/tool");
    assert_eq!(c["severity"], "critical", "{c:#}");
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| !c["key"].as_str().unwrap().starts_with("/opt/app/share")),
        "{report:#}"
    );
    drop(d);

    // A config with a bad tree does not start, and says which key to fix.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dawgmond.toml");
    std::fs::write(&cfg, "[[watch]]\npath = \"usr/bin\"\n").unwrap();
    let out = Command::new(crate::helper::dawgmond_bin())
        .arg("--config")
        .arg(&cfg)
        .arg("--check")
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && err.contains("usr/bin") && err.contains("absolute"),
        "{err}"
    );
}

/// Issue 15 item 6: `watch.package-matches` lowers only a content change that still matches
/// the package (an upgrade); who may write the file is judged on its own.
#[test]
fn permission_changes_of_a_packaged_file_are_not_an_upgrade() {
    use std::os::unix::fs::PermissionsExt;
    let t = tree();
    t.append("etc/group", "staff:x:50:\n");
    let db = t.path().join("state.db");
    let scan = || {
        let args = [
            "--watch", "/opt/app", "-c", "watch", "--format", "json", "scan",
        ];
        json(&local(t.path(), &db, &args))
    };
    scan();
    let tool = t.join("opt/app/bin/tool");
    let chmod = |mode| std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(mode));

    // chgrp staff; chmod 775: the content still matches the package, staff may now write it.
    std::os::unix::fs::chown(&tool, None, Some(50)).unwrap();
    chmod(0o775).unwrap();
    let report = scan();
    let c = change(&report, "/opt/app/bin/tool");
    assert_eq!(
        (&c["severity"], &c["rule"]),
        (&"high".into(), &"watch.group-writable".into()),
        "{c:#}"
    );
    // Only the mode, to one nobody else may write: judged as a permission change, not low.
    chmod(0o750).unwrap();
    let c = change(&scan(), "/opt/app/bin/tool").clone();
    assert_eq!(
        (&c["severity"], &c["rule"]),
        (&"medium".into(), &"watch.permissions".into()),
        "{c:#}"
    );
    // An upgrade: new content recorded by the package, owner and mode as they were.
    t.file_mode("opt/app/bin/tool", "tool v2\n", 0o750);
    std::os::unix::fs::chown(&tool, None, Some(50)).unwrap();
    chmod(0o750).unwrap();
    t.file(
        "var/lib/dpkg/info/tool.md5sums",
        &format!("{}  opt/app/bin/tool\n", md5_hex(b"tool v2\n")),
    );
    let c = change(&scan(), "/opt/app/bin/tool").clone();
    assert_eq!(
        (&c["severity"], &c["rule"]),
        (&"low".into(), &"watch.package-matches".into()),
        "{c:#}"
    );
}

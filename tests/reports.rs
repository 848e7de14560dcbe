//! Issue 10, reports: `--min-severity`, `--format sarif` (checked against the SARIF 2.1.0
//! JSON schema) and `--by package`, from the real `dawgctl` on a fixture root whose dpkg
//! database makes the package attribution real: a package install and an upgrade between two
//! scans, with `--local` and through the daemon.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helper::{DaemonOptions, TreeBuilder, json, ok};

/// The collectors these tests compare: packages, setuid files and /etc, all attributed.
pub(crate) const COLLECTORS: [&str; 6] =
    ["-c", "list_packages", "-c", "list_suids", "-c", "check_etc"];

const STATUS_BEFORE: &str = "\
Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9
";

const NGINX: &str = "
Package: nginx
Status: install ok installed
Architecture: amd64
Version: 1.24.0-1
";

/// A fake root with a dpkg database (base-files, libc6).
pub(crate) fn fixture() -> TreeBuilder {
    let root = TreeBuilder::with_etc();
    root.file("var/lib/dpkg/status", STATUS_BEFORE)
        .file(
            "var/lib/dpkg/info/base-files.list",
            "/.\n/etc\n/etc/hostname\n/etc/passwd\n/etc/group\n",
        )
        .file("var/lib/dpkg/info/libc6:amd64.list", "/.\n/usr/bin/ldd\n")
        .file("usr/bin/ldd", "#!/bin/sh\n");
    root
}

/// What `apt-get install nginx` and an upgrade of libc6 leave behind, plus a setuid shell
/// that no package brought.
pub(crate) fn install_nginx(root: &TreeBuilder) {
    let upgraded = STATUS_BEFORE.replace("Version: 2.36-9", "Version: 2.36-9+deb12u4");
    root.file("var/lib/dpkg/status", &format!("{upgraded}{NGINX}"))
        .file(
            "var/lib/dpkg/info/nginx.list",
            "/.\n/etc\n/etc/nginx\n/etc/nginx/nginx.conf\n/usr/lib/nginx/nginx-helper\n",
        )
        .file("etc/nginx/nginx.conf", "user www-data;\n")
        .file_mode("usr/lib/nginx/nginx-helper", "\x7fELF", 0o4755)
        .file_mode("usr/local/bin/rootsh", "\x7fELF", 0o4755);
}

fn dawgctl(db: &Path, root: &Path, args: &[&str]) -> Output {
    crate::helper::local(db, Some(root))
        .args(COLLECTORS)
        .args(["--no-timestamps", "--color", "never"])
        .args(args)
        .env_remove("DAWGMON_SYSTEMD_BUS")
        .output()
        .expect("run dawgctl")
}

/// Scan 1 on the fixture, the install, scan 2: the database and root to diff 1 → 2 on.
fn installed() -> (TreeBuilder, tempfile::TempDir, PathBuf) {
    let root = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    ok(&dawgctl(&db, root.path(), &["scan"]));
    install_nginx(&root);
    ok(&dawgctl(&db, root.path(), &["scan"]));
    (root, tmp, db)
}

const DIFF: [&str; 5] = ["diff", "--since", "1", "--to", "2"];

fn diff(db: &Path, root: &Path, extra: &[&str]) -> Output {
    dawgctl(db, root, &[extra, &DIFF[..]].concat())
}

#[test]
fn by_package_groups_an_install_under_its_package() {
    let (root, _tmp, db) = installed();
    let text = ok(&diff(&db, root.path(), &["--by", "package"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains(" changes detected (0 warnings): "),
        "{text}"
    );
    assert!(
        lines[1].starts_with("Package operation: ")
            && lines[1].contains("upgraded libc6:amd64 2.36-9 → 2.36-9+deb12u4")
            && lines[1].contains("installed nginx 1.24.0-1"),
        "{text}"
    );
    // nginx's verdict, then its own lines, indented.
    let at = lines
        .iter()
        .position(|l| l.starts_with("nginx 1.24.0-1 (installed): "))
        .unwrap_or_else(|| panic!("no nginx verdict: {text}"));
    assert!(
        lines[at].contains("1 suid binary /usr/lib/nginx/nginx-helper ["),
        "{text}"
    );
    assert!(lines[at].contains("file"), "{text}");
    let nginx: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("  + "))
        .copied()
        .collect();
    assert!(
        nginx
            .iter()
            .any(|l| l.contains("/usr/lib/nginx/nginx-helper"))
    );
    assert!(nginx.iter().any(|l| l.contains("/etc/nginx/nginx.conf")));
    assert!(!nginx.iter().any(|l| l.contains("rootsh")), "{text}");
    assert!(
        text.contains("libc6:amd64 2.36-9 → 2.36-9+deb12u4 (upgraded)"),
        "{text}"
    );
    // What no package owns comes last, loud.
    let last = text
        .rfind("\nNO PACKAGE OWNS THESE: 1 suid binary /usr/local/bin/rootsh [")
        .unwrap_or_else(|| panic!("no unowned group: {text}"));
    let tail = &text[last + 1..];
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(
        tail.lines()
            .nth(1)
            .unwrap()
            .contains("/usr/local/bin/rootsh")
    );

    let v = json(&diff(
        &db,
        root.path(),
        &["--by", "package", "--format", "json"],
    ));
    let groups = v["groups"].as_array().unwrap();
    let nginx = groups.iter().find(|g| g["package"] == "nginx").unwrap();
    assert_eq!(nginx["operation"]["verb"], "installed");
    assert_eq!(nginx["operation"]["to_version"], "1.24.0-1");
    let keys: Vec<&str> = nginx["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"/usr/lib/nginx/nginx-helper"), "{keys:?}");
    let last = groups.last().unwrap();
    assert_eq!(last["owner"], "none");
    assert_eq!(last["changes"][0]["key"], "/usr/local/bin/rootsh");
    let ops = v["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["package"] == "libc6:amd64" && o["verb"] == "upgraded")
    );
    // Every change is in exactly one group, or is a group's package change.
    let plain = json(&diff(&db, root.path(), &["--format", "json"]));
    let grouped: usize = groups
        .iter()
        .map(|g| {
            g["changes"].as_array().unwrap().len() + usize::from(!g["package_change"].is_null())
        })
        .sum();
    assert_eq!(grouped, plain["changes"].as_array().unwrap().len());
}

/// The full report's changes and how many are below `level`.
fn below(report: &Value, level: &str) -> usize {
    const ORDER: [&str; 5] = ["info", "low", "medium", "high", "critical"];
    let rank = |s: &str| ORDER.iter().position(|o| *o == s).unwrap();
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| rank(c["severity"].as_str().unwrap()) < rank(level))
        .count()
}

#[test]
fn min_severity_hides_lower_changes_and_says_how_many() {
    let (root, _tmp, db) = installed();
    let full = json(&diff(&db, root.path(), &["--format", "json"]));
    let total = full["changes"].as_array().unwrap().len();
    let hidden = below(&full, "high");
    assert!(hidden > 0 && hidden < total, "fixture needs both: {full:#}");

    let text = ok(&diff(&db, root.path(), &["--min-severity", "high"]));
    let head = text.lines().next().unwrap();
    assert!(
        head.starts_with(&format!("{total} changes detected")),
        "{text}"
    );
    assert!(
        head.ends_with(&format!(
            "; {hidden} below high not shown (--min-severity high)"
        )),
        "{text}"
    );
    let shown: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(shown.len(), total - hidden, "{text}");
    assert!(
        shown
            .iter()
            .all(|l| l.ends_with("[high]") || l.ends_with("[critical]")),
        "{text}"
    );

    let v = json(&diff(
        &db,
        root.path(),
        &["--min-severity", "high", "--format", "json"],
    ));
    assert_eq!(v["changes"].as_array().unwrap().len(), total - hidden);
    assert_eq!(v["filter"]["min_severity"], "high");
    assert_eq!(v["filter"]["hidden"], hidden);

    // --exit-code counts only what is shown.
    let critical = total - below(&full, "critical");
    let code = diff(
        &db,
        root.path(),
        &["--min-severity", "critical", "--exit-code"],
    );
    assert_eq!(code.status.code(), Some(if critical > 0 { 1 } else { 0 }));
    let code = diff(&db, root.path(), &["--min-severity", "high", "--exit-code"]);
    assert_eq!(code.status.code(), Some(1));

    // A bad level is refused by name.
    let bad = diff(&db, root.path(), &["--min-severity", "urgent"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("critical"));
}

#[test]
fn min_severity_and_by_package_through_the_daemon() {
    let root = fixture();
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec![
            "list_packages".into(),
            "list_suids".into(),
            "check_etc".into(),
        ],
        ..Default::default()
    }
    .spawn();
    d.ctl_ok(&["baseline", "pre"]);
    install_nginx(&root);
    let full = d.ctl_json(&["diff", "--since", "pre"]);
    let to = full["to"]["id"].as_i64().unwrap().to_string();
    let hidden = below(&full, "high");
    let text = d.ctl_ok(&[
        "--min-severity",
        "high",
        "--no-timestamps",
        "diff",
        "--since",
        "pre",
        "--to",
        &to,
    ]);
    assert!(
        text.lines().next().unwrap().ends_with(&format!(
            "; {hidden} below high not shown (--min-severity high)"
        )),
        "{text}"
    );
    let grouped = d.ctl_ok(&["--by", "package", "diff", "--since", "pre", "--to", &to]);
    assert!(
        grouped.contains("\nnginx 1.24.0-1 (installed): "),
        "{grouped}"
    );
    let sarif: Value = serde_json::from_str(
        &d.ctl_ok(&["--format", "sarif", "diff", "--since", "pre", "--to", &to]),
    )
    .unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        full["changes"].as_array().unwrap().len()
    );
}

/// Where the SARIF 2.1.0 schema is: `DAWGMON_SARIF_SCHEMA`, else where `.ci/run` puts it.
fn schema() -> PathBuf {
    let path = std::env::var_os("DAWGMON_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/dawgmon-ci/sarif-2.1.0-rtm.5.json".into());
    assert!(
        path.is_file(),
        "{} is missing: it comes in the npm package @microsoft/jest-sarif \
         (lib/schemas/sarif-2.1.0-rtm.5.json; .ci/run installs it), or set DAWGMON_SARIF_SCHEMA",
        path.display()
    );
    path
}

/// Validates `log` against the schema with Python's jsonschema (Debian's python3-jsonschema):
/// `Ok` or the validator's complaint.
fn validate(log: &str) -> Result<(), String> {
    const CHECK: &str = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        cls = jsonschema.validators.validator_for(schema)\n\
        cls.check_schema(schema)\n\
        errors = sorted(cls(schema).iter_errors(json.load(sys.stdin)), key=str)\n\
        for e in errors[:5]: print(list(e.absolute_path), e.message)\n\
        sys.exit(1 if errors else 0)\n";
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(CHECK)
        .arg(schema())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (apt-get install python3-jsonschema)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(log.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("No module named"),
        "{err} (apt-get install python3-jsonschema)"
    );
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) if err.is_empty() => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!("the validator failed: {err}"),
    }
}

#[test]
fn sarif_is_valid_against_the_sarif_2_1_0_schema() {
    let (root, _tmp, db) = installed();
    let plain = json(&diff(&db, root.path(), &["--format", "json"]));
    let out = diff(&db, root.path(), &["--format", "sarif"]);
    let log = ok(&out);
    validate(&log).unwrap_or_else(|e| panic!("invalid SARIF: {e}\n{log}"));

    let v: Value = serde_json::from_str(&log).unwrap();
    let run = &v["runs"][0];
    let results = run["results"].as_array().unwrap();
    let changes = plain["changes"].as_array().unwrap();
    assert_eq!(results.len(), changes.len());
    for (r, c) in results.iter().zip(changes) {
        assert_eq!(r["message"]["text"], c["message"]);
        let state = match c["kind"].as_str().unwrap() {
            "added" => "new",
            "removed" => "absent",
            _ => "updated",
        };
        assert_eq!(r["baselineState"], state);
        let level = match c["severity"].as_str().unwrap() {
            "critical" | "high" => "error",
            "medium" => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], level);
        let rule = c["rule"].as_str().map(String::from).unwrap_or_else(|| {
            format!(
                "{}.{}",
                c["collector"].as_str().unwrap(),
                c["kind"].as_str().unwrap()
            )
        });
        assert_eq!(r["ruleId"], rule.as_str());
    }
    let helper = results
        .iter()
        .find(|r| r["properties"]["key"] == "/usr/lib/nginx/nginx-helper")
        .unwrap();
    assert_eq!(
        helper["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "file:///usr/lib/nginx/nginx-helper"
    );

    // Stable fingerprints: the helper's change in a later report (removed now) has the same.
    std::fs::remove_file(root.join("usr/lib/nginx/nginx-helper")).unwrap();
    ok(&dawgctl(&db, root.path(), &["scan"]));
    let later: Value = serde_json::from_str(&ok(&dawgctl(
        &db,
        root.path(),
        &["--format", "sarif", "diff", "--since", "2", "--to", "3"],
    )))
    .unwrap();
    let gone = later["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["properties"]["key"] == "/usr/lib/nginx/nginx-helper")
        .unwrap();
    assert_eq!(gone["baselineState"], "absent");
    assert_eq!(gone["partialFingerprints"], helper["partialFingerprints"]);

    // Filtered SARIF is valid too, and says what it left out.
    let high = ok(&diff(
        &db,
        root.path(),
        &["--format", "sarif", "--min-severity", "high"],
    ));
    validate(&high).unwrap();
    let hv: Value = serde_json::from_str(&high).unwrap();
    assert_eq!(
        hv["runs"][0]["properties"]["hiddenChanges"],
        below(&plain, "high")
    );

    // The validator is live: a wrong baselineState is refused.
    let mut bad = v.clone();
    bad["runs"][0]["results"][0]["baselineState"] = "brand-new".into();
    let e = validate(&bad.to_string()).unwrap_err();
    assert!(e.contains("baselineState"), "{e}");
    // SARIF is for reports only.
    let refused = dawgctl(&db, root.path(), &["--format", "sarif", "history"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--format sarif is for reports"));
}

/// Issue 15 item 8: a setuid file whose name holds U+202E (right-to-left override) and U+200B
/// would reorder the path on screen; text and SARIF reports carry the escape (`\xe2\x80\xae`),
/// never the raw character.
#[test]
fn unicode_format_characters_in_a_setuid_name_are_escaped_in_text_and_sarif() {
    let root = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    ok(&dawgctl(&db, root.path(), &["scan"]));
    // On screen, "/usr/bin/\u{202e}fdp.sh" shows as "/usr/bin/hs.pdf".
    root.file_mode("usr/bin/\u{202e}fdp.sh\u{200b}", "\x7fELF", 0o4755);
    ok(&dawgctl(&db, root.path(), &["scan"]));
    let escaped = "/usr/bin/\\xe2\\x80\\xaefdp.sh\\xe2\\x80\\x8b";
    let text = ok(&diff(&db, root.path(), &[]));
    let sarif = ok(&diff(&db, root.path(), &["--format", "sarif"]));
    for (what, out) in [("text", &text), ("sarif", &sarif)] {
        let raw: Vec<char> = out
            .chars()
            .filter(|c| ('\u{2000}'..='\u{206f}').contains(c))
            .collect();
        assert!(raw.is_empty(), "{what} carries raw {raw:?}: {out}");
    }
    let line = text
        .lines()
        .find(|l| l.contains("suid binary"))
        .unwrap_or_else(|| panic!("no setuid line: {text}"));
    assert!(line.contains(escaped), "{line}");
    let log: Value = serde_json::from_str(&sarif).unwrap();
    let result = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["properties"]["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("/usr/bin/\\"))
        })
        .unwrap_or_else(|| panic!("no setuid result: {sarif}"));
    assert_eq!(result["properties"]["key"], escaped);
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains(escaped),
        "{result}"
    );
}

/// Issue 15 item 8: the apt hook attributed changes by parsing their text, so a crontab command
/// holding `(file=/bin/ls)` was labelled `[package=coreutils]`, and one holding `package=`
/// skipped the look-up. The real hook (dist/apt/apt-hook, with dawgctl pointed at a fixture
/// root and database) now groups by the items' fields: the steering line names no package, and
/// a crontab a package owns is listed under that package.
#[test]
fn apt_hook_attribution_is_not_steered_by_change_text() {
    let root = fixture();
    root.file("var/lib/dpkg/info/coreutils.list", "/.\n/bin\n/bin/ls\n")
        .file(
            "var/lib/dpkg/info/cronpkg.list",
            "/.\n/etc/cron.d/cronpkg\n",
        )
        .file("bin/ls", "\x7fELF")
        .file("etc/crontab", "");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let wrapper = tmp.path().join("dawgctl");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' --root '{}' --database '{}' -c cron_jobs \"$@\"\n",
            crate::helper::dawgctl_bin(),
            root.path().display(),
            db.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let hook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/apt/apt-hook"))
        .unwrap()
        .replace("/usr/bin/dawgctl", &wrapper.display().to_string())
        .replace("/usr/bin/dawgmond", "/nonexistent/dawgmond");
    let hook_path = tmp.path().join("apt-hook");
    std::fs::write(&hook_path, hook).unwrap();
    let run = |phase: &str| {
        let out = Command::new("sh")
            .arg(&hook_path)
            .arg(phase)
            .env("DAWGMON_SOCKET", tmp.path().join("no.sock"))
            .env_remove("DAWGMON_SYSTEMD_BUS")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run("pre");
    root.file(
        "etc/cron.d/evil",
        "* * * * * root /usr/local/bin/x (file=/bin/ls)\n* * * * * root /usr/local/bin/y package=evil\n",
    )
    .file("etc/cron.d/cronpkg", "0 1 * * * root /usr/bin/true\n");
    let out = run("post");
    assert!(
        out.starts_with("dawgmon: what this package operation changed"),
        "{out}"
    );
    // The heading each change line is listed under.
    let mut heading = "";
    let mut under = Vec::new();
    for line in out.lines().skip(1) {
        if let Some(change) = line.strip_prefix("    + ") {
            under.push((heading, change));
        } else if !line.trim().is_empty() {
            heading = line.trim();
        }
    }
    // Issue 16: the scan records the package of the cron.d file the jobs come from, none.
    for text in ["(file=/bin/ls)", "package=evil"] {
        let evil = under
            .iter()
            .find(|(_, c)| c.contains(text))
            .unwrap_or_else(|| panic!("no line with {text}: {out}"));
        assert!(
            evil.0.starts_with("NO PACKAGE OWNS THESE"),
            "{evil:?}\n{out}"
        );
    }
    assert!(
        !out.contains("coreutils") && !out.contains("[package="),
        "{out}"
    );
    let packaged = under
        .iter()
        .find(|(_, c)| c.contains("/usr/bin/true"))
        .unwrap_or_else(|| panic!("no packaged line: {out}"));
    assert!(packaged.0.starts_with("cronpkg "), "{packaged:?}\n{out}");
}

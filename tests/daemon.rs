//! The real `dawgmond`, driven by the real `dawgctl` and by raw requests.
//!
//! Tests marked "needs real collectors" rely on check_groups reading `etc/group` under the
//! configured root (a change to show), or on check_etc hashing a sparse terabyte there (a
//! collector that hangs until its timeout).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use dawgmon::store::Store;
use nix::sys::signal::{Signal, kill};

use crate::helper::{DaemonOptions, TreeBuilder, split_response, wait_until};

const NOBODY: u32 = 65534;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn becomes_ready_over_notify_socket_and_reports_status() {
    let d = DaemonOptions::default().spawn();
    let notices = d.notices();
    let ready = notices.iter().find(|n| n.contains("READY=1")).unwrap();
    assert!(ready.contains("STATUS=idle"), "{ready}");
    let meta = std::fs::metadata(&d.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let db = std::fs::metadata(&d.database).unwrap();
    assert_eq!(db.permissions().mode() & 0o777, 0o600);

    let s = d.ctl_json(&["status"]);
    assert_eq!(s["api_version"], 1);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert!(s["schedule"].is_null() && s["next_scan"].is_null());
    assert!(s["last_scan"].is_null() && s["scan_in_progress"].is_null());
    assert_eq!(s["scans_stored"], 0);
    assert_eq!(
        s["collectors"],
        serde_json::json!(["check_groups", "check_users"])
    );
    assert!(s["database_bytes"].as_u64().unwrap() > 0);
    let text = d.ctl_ok(&["status"]);
    assert!(text.contains("schedule:  off"), "{text}");
    let colls = d.ctl_json(&["collectors"]);
    let runs: Vec<_> = colls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["default"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["check_groups", "check_users"]);
}

#[test]
fn scheduled_scans_are_stored_pruned_and_recorded() {
    let d = DaemonOptions {
        schedule: "* * * * * *".into(),
        retention: 2,
        ..Default::default()
    }
    .spawn();
    let s = d.ctl_json(&["status"]);
    assert_eq!(s["schedule"], "* * * * * *");
    assert!(s["next_scan"].is_string(), "{s}");
    let s = wait_until(Duration::from_secs(20), "three scheduled scans", || {
        let s = d.ctl_json(&["status"]);
        (s["last_scheduled"]["id"].as_i64().unwrap_or(0) >= 3).then_some(s)
    });
    assert!(s["scans_stored"].as_i64().unwrap() <= 2, "retention: {s}");
    assert!(s["last_scheduled"]["changes"].is_number());
    // Recorded in the database, so `dawgctl --local` prunes with it too (issue 8).
    let recorded = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = Store::open(&d.database).await.unwrap();
            let r = store.retention().await.unwrap();
            store.close().await;
            r
        });
    assert_eq!(recorded, Some(2));
    assert!(d.notices().iter().any(|n| n.contains("STATUS=scanning")));
    assert!(
        d.notices()
            .iter()
            .any(|n| n.contains("STATUS=idle; next scan"))
    );
}

/// Needs real collectors (check_groups).
#[test]
fn baseline_then_live_change_then_diff_through_the_daemon() {
    let root = TreeBuilder::with_etc();
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        ..Default::default()
    }
    .spawn();
    let out = d.ctl(&["baseline", "pre"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("baseline \"pre\" stored as scan 1"));

    root.append("etc/group", "intruders:x:4242:nobody\n");
    let report = d.ctl_json(&["diff", "--since", "pre"]);
    assert_eq!(report["from"]["label"], "pre");
    let changes = report["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["collector"] == "check_groups"
            && c["kind"] == "added"
            && c["key"] == "intruders"),
        "{report:#}"
    );
    // Same report from a stored pair, and --exit-code says "changes".
    let to = report["to"]["id"].as_i64().unwrap().to_string();
    let again = d.ctl_json(&["diff", "--since", "pre", "--to", &to]);
    assert_eq!(again["changes"], report["changes"]);
    let code = d.ctl(&["diff", "--since", "pre", "--to", &to, "--exit-code"]);
    assert_eq!(code.status.code(), Some(1));
    let text = d.ctl_ok(&["diff", "--since", "pre", "--to", &to, "--no-timestamps"]);
    assert!(text.contains("intruders"), "{text}");

    let bl = d.ctl_json(&["baselines"]);
    assert_eq!(bl[0]["label"], "pre");
    d.ctl_ok(&["baseline", "pre", "--delete"]);
    assert_eq!(d.ctl_json(&["baselines"]), serde_json::json!([]));
    let hist = d.ctl_json(&["history"]);
    assert_eq!(hist.as_array().unwrap().len(), 2);
}

/// Issue 9: `dawgctl watch` through the daemon: the exit status passes through, the change is
/// printed, the temporary label is gone.
#[test]
fn watch_through_the_daemon() {
    let root = TreeBuilder::with_etc();
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        ..Default::default()
    }
    .spawn();
    let script = format!(
        "echo 'watched:x:4545:' >> {}; exit 5",
        root.join("etc/group").display()
    );
    let out = d.ctl(&["--no-timestamps", "watch", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("+ group watched added (gid=4545)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ctl_json(&["baselines"]), serde_json::json!([]));
    assert_eq!(d.ctl_json(&["history"]).as_array().unwrap().len(), 2);
}

/// The samples of a Prometheus text exposition, `name{labels}` → value; panics on a line that
/// is not a comment, a sample with a float value, or on a sample without HELP and TYPE.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut samples = std::collections::HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert_eq!(kind, "gauge", "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line:?}"
            );
        }
        assert!(typed.contains(name), "{name} has no # TYPE before it");
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.insert(series.to_string(), v);
    }
    samples
}

/// Issue 9: the fleet hooks. After every scan the daemon runs, the node_exporter textfile is
/// replaced (by rename: readers never see a partial file; 0644 for node_exporter's user) and
/// every change is appended to the JSON-lines log with the host and the scan id.
#[test]
fn prometheus_textfile_and_json_change_log_after_every_scan() {
    let root = TreeBuilder::with_etc();
    let out = tempfile::tempdir().unwrap();
    let prom = out.path().join("textfile/dawgmon.prom");
    let log = out.path().join("changes.jsonl");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        extra: format!("prometheus_textfile = {prom:?}\nchange_log = {log:?}\n"),
        ..Default::default()
    }
    .spawn();
    assert!(!prom.exists(), "written before any scan");
    d.ctl_ok(&["baseline", "pre"]);
    let first = std::fs::read_to_string(&prom).unwrap();
    let m = parse_prometheus(&first);
    assert_eq!(m["dawgmon_last_scan_success"], 1.0, "{first}");
    assert_eq!(m["dawgmon_last_success_scan_id"], 1.0, "{first}");
    assert!(!log.exists(), "a first scan has no changes to log");

    root.append("etc/group", "fleet:x:4747:\nfleet2:x:4748:\n");
    let before = chrono::Utc::now().timestamp() as f64;
    d.ctl_ok(&["scan"]);
    let text = std::fs::read_to_string(&prom).unwrap();
    let m = parse_prometheus(&text);
    assert_eq!(m["dawgmon_last_scan_success"], 1.0, "{text}");
    assert_eq!(m["dawgmon_last_success_scan_id"], 2.0, "{text}");
    assert!(
        m["dawgmon_last_scan_timestamp_seconds"] >= before - 1.0,
        "{text}"
    );
    assert_eq!(
        m["dawgmon_last_scan_timestamp_seconds"],
        m["dawgmon_last_success_timestamp_seconds"]
    );
    assert!(m["dawgmon_last_scan_duration_seconds"] >= 0.0, "{text}");
    let total: f64 = ["info", "low", "medium", "high", "critical"]
        .iter()
        .map(|s| m[&format!("dawgmon_last_scan_changes{{severity=\"{s}\"}}")])
        .sum();
    assert_eq!(total, 2.0, "{text}");
    assert_eq!(m["dawgmon_collectors_unavailable"], 0.0, "{text}");
    assert_eq!(m["dawgmon_last_scan_warnings"], 0.0, "{text}");
    let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for l in &lines {
        assert_eq!(l["host"], "fakehost", "{l}");
        assert_eq!(l["scan_id"], 2, "{l}");
        assert_eq!(l["from_scan_id"], 1, "{l}");
        assert_eq!(l["collector"], "check_groups", "{l}");
        assert_eq!(l["kind"], "added", "{l}");
        assert!(l["message"].as_str().unwrap().contains("fleet"), "{l}");
        assert!(l["severity"].is_string() && l.get("after").is_some(), "{l}");
    }
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // Replaced by rename, never rewritten in place: a reader racing the scans always sees a
    // whole file, and no temporary file is left behind.
    let lines_in_full = text.lines().count();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, prom) = (stop.clone(), prom.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = std::fs::read_to_string(&prom).unwrap();
                assert_eq!(t.lines().count(), lines_in_full, "a partial file: {t:?}");
                reads += 1;
            }
            reads
        })
    };
    // Held open: a file rewritten in place keeps its link; one replaced by rename loses it.
    let old = std::fs::File::open(&prom).unwrap();
    for _ in 0..5 {
        d.ctl_ok(&["scan"]);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(
        old.metadata().unwrap().nlink(),
        0,
        "rewritten in place, not replaced"
    );
    let names: Vec<_> = std::fs::read_dir(prom.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["dawgmon.prom"], "temporary files left behind");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        2,
        "unchanged scans append nothing"
    );

    // A scan that fails (the root is gone): success 0, the last stored scan still described.
    let away = root.path().with_extension("away");
    std::fs::rename(root.path(), &away).unwrap();
    let failed = d.ctl(&["scan"]);
    std::fs::rename(&away, root.path()).unwrap();
    assert!(!failed.status.success());
    let text = std::fs::read_to_string(&prom).unwrap();
    let m = parse_prometheus(&text);
    assert_eq!(m["dawgmon_last_scan_success"], 0.0, "{text}");
    assert_eq!(m["dawgmon_last_success_scan_id"], 7.0, "{text}");
    assert!(
        m["dawgmon_last_scan_timestamp_seconds"] >= m["dawgmon_last_success_timestamp_seconds"],
        "{text}"
    );
}

/// Needs real collectors: check_etc hangs hashing a sparse terabyte until the collector
/// timeout.
#[test]
fn two_concurrent_scan_requests_produce_one_scan_and_hung_collectors_are_cut_off() {
    let root = TreeBuilder::with_etc();
    root.slow_to_hash("etc/huge");
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collector_timeout: 2,
        collectors: vec!["check_groups".into(), "check_etc".into()],
        extra: crate::helper::SLOW_HASH_CONFIG.into(),
        ..Default::default()
    }
    .spawn();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| d.ctl(&["scan", "--format", "json"]));
        std::thread::sleep(Duration::from_millis(500));
        let b = s.spawn(|| d.ctl(&["scan", "--format", "json"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [&a, &b] {
        assert!(out.status.success(), "{}\n{}", stderr(out), d.log());
    }
    let ra: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let rb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(ra["to"]["id"], rb["to"]["id"], "two scans ran");
    assert!(
        stderr(&b).contains("already running this scan"),
        "{}",
        stderr(&b)
    );
    let warnings = ra["warnings"].to_string();
    assert!(warnings.contains("timed out after 2s"), "{warnings}");
    assert_eq!(d.ctl_json(&["status"])["scans_stored"], 1);
}

/// Runs `args` as uid/gid 65534 with no supplementary groups.
fn as_nobody(mut cmd: Command) -> std::process::Output {
    cmd.uid(NOBODY).gid(NOBODY).output().expect("run as nobody")
}

/// The test binary itself, re-run as nobody, makes a raw request (see `raw_client`).
fn raw_as_nobody(socket: &std::path::Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut cmd = Command::new(crate::helper::test_exe());
    cmd.args([
        "daemon::raw_client",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("DAWGMON_RAW_SOCKET", socket)
    .env(
        "DAWGMON_RAW_REQUEST",
        crate::helper::http_request(method, path, Some(body)),
    );
    let out = as_nobody(cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let answer = text
        .split_once("<<<")
        .and_then(|(_, r)| r.split_once(">>>"))
        .map(|(a, _)| a.to_string())
        .unwrap_or_else(|| panic!("raw client printed no answer: {text}{}", stderr(&out)));
    split_response(&answer)
}

/// Not a test on its own: the raw client `raw_as_nobody` runs under another uid.
#[test]
fn raw_client() {
    let (Some(socket), Some(req)) = (
        std::env::var_os("DAWGMON_RAW_SOCKET"),
        std::env::var("DAWGMON_RAW_REQUEST").ok(),
    ) else {
        return;
    };
    let answer = crate::helper::raw_request(std::path::Path::new(&socket), req.as_bytes());
    println!("<<<{answer}>>>");
}

#[test]
fn a_non_admin_peer_can_read_but_not_scan() {
    let d = DaemonOptions {
        socket_mode: 0o666,
        ..Default::default()
    }
    .spawn();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.ctl_ok(&["scan"]);

    let mut scan = d.dawgctl();
    scan.arg("scan");
    let out = as_nobody(scan);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let msg = stderr(&out);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(
        msg.contains("permission denied") && msg.contains("uid 65534") && msg.contains("root"),
        "{msg}"
    );
    let mut baseline = d.dawgctl();
    baseline.args(["baseline", "x"]);
    assert_eq!(as_nobody(baseline).status.code(), Some(2));

    let mut status = d.dawgctl();
    status.args(["status", "--format", "json"]);
    let out = as_nobody(status);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut history = d.dawgctl();
    history.arg("history");
    assert!(as_nobody(history).status.success());

    let (code, body) = raw_as_nobody(&d.socket, "POST", "/v1/scans", "{}");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("permission denied"), "{body}");
    let (code, _) = raw_as_nobody(&d.socket, "DELETE", "/v1/baselines/x", "");
    assert_eq!(code, 403);
    let (code, body) = raw_as_nobody(&d.socket, "GET", "/v1/status", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(d.ctl_json(&["status"])["scans_stored"], 1);
}

#[test]
fn unreachable_daemon_and_socket_permissions_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let out = Command::new(crate::helper::dawgctl_bin())
        .args(["--socket", missing.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(
        msg.starts_with("dawgctl: cannot reach dawgmond at ")
            && msg.contains("no such file")
            && msg.contains("systemctl status dawgmond")
            && msg.contains("--local"),
        "{msg}"
    );

    let d = DaemonOptions::default().spawn(); // socket 0660 root:root
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut status = d.dawgctl();
    status.arg("status");
    let out = as_nobody(status);
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(
        msg.contains("permission denied")
            && msg.contains(
                "ask an admin to add you to the group that owns the socket, or run as root"
            ),
        "{msg}"
    );
}

/// Needs real collectors: check_etc hangs hashing a sparse terabyte, so the scan is still
/// running when SIGTERM arrives.
#[test]
fn sigterm_during_a_scan_leaves_the_database_consistent() {
    let root = TreeBuilder::with_etc();
    let mut d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collector_timeout: 60,
        collectors: vec!["check_users".into(), "check_etc".into()],
        extra: crate::helper::SLOW_HASH_CONFIG.into(),
        ..Default::default()
    }
    .spawn();
    d.ctl_ok(&["baseline", "pre", "-c", "check_users"]);
    root.slow_to_hash("etc/huge");
    let child = d
        .dawgctl()
        .arg("scan")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "the scan to be running", || {
        let s = d.ctl_json(&["status"]);
        (!s["scan_in_progress"].is_null()).then_some(())
    });
    kill(d.pid(), Signal::SIGTERM).unwrap();
    let status = d.wait_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "dawgmond exited with {status}\n{}",
        d.log()
    );
    assert!(d.notices().iter().any(|n| n.contains("STOPPING=1")));
    let client = child.wait_with_output().unwrap();
    assert_eq!(client.status.code(), Some(2));
    assert!(stderr(&client).contains("stopping"), "{}", stderr(&client));
    assert!(!d.socket.exists(), "the socket was left behind");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(&d.database).await.unwrap();
        let scans = store.list(100, 0).await.unwrap();
        for s in &scans {
            store.load(s.id).await.unwrap();
        }
        let labels: Vec<_> = scans.iter().map(|s| s.label.clone()).collect();
        assert!(labels.contains(&Some("pre".to_string())), "{labels:?}");
        store.close().await;
    });
}

#[test]
fn malformed_http_and_json_get_4xx_and_the_daemon_stays_up() {
    let d = DaemonOptions::default().spawn();
    let raw = d.raw(b"GARBAGE\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw:?}");
    let raw = d.raw(b"GET /v1/status HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n");
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw:?}");

    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("POST", "/v1/scans", Some("{not json"), 400, "JSON"),
        ("POST", "/v1/scans", Some("{\"label\": 5}"), 422, "label"),
        ("POST", "/v1/scans", Some("{\"bogus\": 1}"), 422, "bogus"),
        (
            "POST",
            "/v1/scans",
            Some("{\"collectors\": [\"nope\"]}"),
            400,
            "unknown collector",
        ),
        ("POST", "/v1/baselines", Some("{}"), 400, "needs a label"),
        (
            "POST",
            "/v1/baselines",
            Some("{\"label\": \"a b\"}"),
            400,
            "invalid label",
        ),
        ("GET", "/v1/scans/12345", None, 404, "no scan matches"),
        ("GET", "/v1/scans?limit=abc", None, 400, "limit"),
        ("GET", "/v1/scans?limit=0", None, 400, "limit"),
        ("GET", "/v1/diff", None, 404, "no scans yet"),
        ("GET", "/v1/diff?collectors=nope", None, 404, "no scans yet"),
        ("DELETE", "/v1/baselines/nope", None, 404, "no scan matches"),
        ("GET", "/v1/nope", None, 404, "no such route"),
        ("PUT", "/v1/status", None, 405, "not allowed"),
    ];
    for (method, path, body, want, needle) in cases {
        let (code, text) = d.request(method, path, *body);
        assert_eq!(code, *want, "{method} {path}: {text}");
        let v: serde_json::Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{method} {path}: {msg}");
    }
    // Wrong content type, and a body over the limit.
    let raw = d.raw(
        b"POST /v1/scans HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
    );
    assert!(raw.starts_with("HTTP/1.1 415"), "{raw:?}");
    let big = format!("{{\"label\": \"{}\"}}", "a".repeat(100 * 1024));
    let (code, _) = d.request("POST", "/v1/scans", Some(&big));
    assert_eq!(code, 413);

    // Still alive and well.
    d.ctl_ok(&["scan"]);
    let (code, body) = d.request("GET", "/v1/diff?since=1&collectors=nope", None);
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.request("GET", "/v1/status", None);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn a_bad_config_is_refused_with_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "retention = 5\nschedul = \"0 * * * * *\"\n").unwrap();
    let out = Command::new(crate::helper::dawgmond_bin())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(msg.contains("line 2") && msg.contains("schedul"), "{msg}");
    let out = Command::new(crate::helper::dawgmond_bin())
        .args(["--config", "/nonexistent/dawgmond.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/dawgmond.toml"));
}

/// Overwrites `path` from offset `from` to its end with pseudo-random bytes.
fn scribble(path: &std::path::Path, from: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let len = std::fs::metadata(path).unwrap().len();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let garbage: Vec<u8> = (from..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(from)).unwrap();
    f.write_all(&garbage).unwrap();
}

/// A database with its pages overwritten, and a file that is no database at all: dawgmond
/// exits at once with its own status (which the unit does not restart on) and the way out;
/// `dawgctl --local` says the same.
#[test]
fn a_damaged_database_stops_the_daemon_with_the_recovery() {
    let mut d = DaemonOptions::default().spawn();
    for label in ["a", "b", "c"] {
        d.ctl_ok(&["baseline", label]);
    }
    kill(d.pid(), Signal::SIGTERM).unwrap();
    assert!(d.wait_exit(Duration::from_secs(20)).success());
    let damaged = d.database.clone();
    let len = std::fs::metadata(&damaged).unwrap().len();
    assert!(
        len >= 4 * 4096,
        "a database of {len} bytes is too small to damage in the middle"
    );
    // Keep the first page (the header and the schema), scribble over every page after it.
    scribble(&damaged, 4096);
    let random = d.dir.path().join("random.db");
    std::fs::write(&random, vec![0u8; 64 * 1024]).unwrap();
    scribble(&random, 0);

    for (db, why) in [
        (&damaged, ["SQLite's integrity check failed", "malformed"]),
        (&random, ["not an SQLite database"; 2]),
    ] {
        let start = std::time::Instant::now();
        let out = Command::new(crate::helper::dawgmond_bin())
            .arg("--config")
            .arg(&d.config)
            .arg("--database")
            .arg(db)
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap();
        let took = start.elapsed();
        let msg = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(i32::from(dawgmon::daemon::EXIT_DATABASE_DAMAGED)),
            "{msg}"
        );
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(!d.socket.exists(), "a socket was left behind");
        let path = db.display().to_string();
        let last = msg.lines().last().unwrap_or_default();
        for needle in [
            format!("database {path} is damaged"),
            "Move it aside".to_string(),
            format!("mv {path} {path}.corrupt"),
            format!("sqlite3 {path}.corrupt .recover"),
        ] {
            assert!(last.contains(&needle), "no {needle:?} in {last}");
        }
        assert!(why.iter().any(|w| last.contains(w)), "{last}");
        assert!(!msg.contains("error returned from database"), "{msg}");

        let out = Command::new(crate::helper::dawgctl_bin())
            .args(["--local", "--database"])
            .arg(db)
            .arg("history")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let msg = stderr(&out);
        assert_eq!(msg.lines().count(), 1, "{msg}");
        assert!(
            msg.starts_with(&format!("dawgctl: database {path} is damaged"))
                && why.iter().any(|w| msg.contains(w))
                && msg.contains("Move it aside"),
            "{msg}"
        );
    }
}

/// The status docs/daemon.md's error table gives for the row mentioning `needle`.
fn documented_status(doc: &str, needle: &str) -> u16 {
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(needle))
        .collect();
    assert_eq!(rows.len(), 1, "docs/daemon.md: {needle:?} is in {rows:?}");
    rows[0]
        .trim_start_matches("| ")
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("docs/daemon.md: no status in {:?}", rows[0]))
}

/// Pins docs/daemon.md to the daemon: every error-table case marked *tested* there is sent
/// here, and the daemon must answer the status the table gives.
#[test]
fn api_statuses_are_the_documented_ones() {
    let doc = include_str!("../docs/daemon.md");
    let d = DaemonOptions::default().spawn();
    let big = format!("{{\"label\": \"{}\"}}", "a".repeat(100 * 1024));
    let no_type =
        "POST /v1/scans HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}";
    let cases: [(&str, String); 5] = [
        (
            "`{not json`",
            crate::helper::http_request("POST", "/v1/scans", Some("{not json")),
        ),
        (
            "`{\"label\": 5}`",
            crate::helper::http_request("POST", "/v1/scans", Some("{\"label\": 5}")),
        ),
        (
            "`{\"bogus\": 1}`",
            crate::helper::http_request("POST", "/v1/scans", Some("{\"bogus\": 1}")),
        ),
        (
            "body over 64 KiB",
            crate::helper::http_request("POST", "/v1/scans", Some(&big)),
        ),
        (
            "without `content-type: application/json`",
            no_type.to_string(),
        ),
    ];
    assert_eq!(
        doc.lines()
            .filter(|l| l.starts_with("| "))
            .map(|l| l.matches("*tested*").count())
            .sum::<usize>(),
        cases.len(),
        "docs/daemon.md marks a case tested that this test does not send (or the reverse)"
    );
    for (needle, request) in &cases {
        let want = documented_status(doc, needle);
        let (got, body) = split_response(&d.raw(request.as_bytes()));
        assert_eq!(
            got, want,
            "{needle}: the daemon answered {got} ({body}), docs/daemon.md says {want}"
        );
    }
}

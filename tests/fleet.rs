//! Issue 19: the fleet store. Real daemons push to a real PostgreSQL cluster started by the
//! test (tests/helper/pg.rs); `dawgctl fleet` answers across hosts.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::helper::pg::Pg;
use crate::helper::{Daemon, DaemonOptions, TreeBuilder, dawgctl_bin, wait_until};

fn ctl(args: &[&str]) -> Output {
    Command::new(dawgctl_bin())
        .args(args)
        .args(["--daemon-config", "/nonexistent/dawgmond.toml"])
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "dawgctl failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `fleet init`, then a host's `[fleet]` table as `add-host` prints it.
fn init(pg: &Pg) {
    let out = ok(ctl(&["fleet", "init", "--url", &pg.owner_url()]));
    assert!(out.contains("fleet schema 1"), "{out}");
}

fn add_host(pg: &Pg, name: &str) -> String {
    ok(ctl(&["fleet", "add-host", name, "--url", &pg.owner_url()]))
}

/// A reader's URL and a file holding its password.
fn add_reader(pg: &Pg, dir: &std::path::Path) -> (String, String) {
    let v: Value = serde_json::from_str(&ok(ctl(&[
        "fleet",
        "add-reader",
        "alice",
        "--url",
        &pg.owner_url(),
        "--format",
        "json",
    ])))
    .unwrap();
    let file = dir.join("reader-password");
    std::fs::write(&file, v["fleet"]["password"].as_str().unwrap()).unwrap();
    (
        v["fleet"]["url"].as_str().unwrap().to_string(),
        file.display().to_string(),
    )
}

fn host_root(name: &str, machine_id: &str, extra_user: Option<&str>) -> TreeBuilder {
    let t = TreeBuilder::with_etc();
    t.file("etc/hostname", &format!("{name}\n"))
        .file("etc/machine-id", &format!("{machine_id}\n"));
    if let Some(u) = extra_user {
        t.append(
            "etc/passwd",
            &format!("{u}:x:1001:1001::/home/{u}:/bin/sh\n"),
        );
    }
    t
}

fn daemon(root: &TreeBuilder, fleet_table: &str) -> Daemon {
    DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_users".into()],
        extra: fleet_table.to_string(),
        ..Default::default()
    }
    .spawn()
}

fn backlog(d: &Daemon) -> Value {
    d.ctl_json(&["status"])["fleet"]["backlog"].clone()
}

/// Waits until the daemon's fleet outbox is empty.
fn drained(d: &Daemon) {
    wait_until(Duration::from_secs(60), "the fleet outbox to drain", || {
        (backlog(d)["pending"] == 0).then_some(())
    });
}

fn reader(url: &str, pw: &str, args: &[&str]) -> String {
    let mut all = vec!["fleet"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--url", url, "--password-file", pw]);
    ok(ctl(&all))
}

#[test]
fn two_daemons_push_to_one_store_and_fleet_answers_across_both() {
    let pg = Pg::start();
    init(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let (url, pw) = add_reader(&pg, tmp.path());
    let root_a = host_root("alpha", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Some("alice"));
    let root_b = host_root("bravo", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", None);
    // The tables as printed, appended as they are.
    let a = daemon(&root_a, &add_host(&pg, "alpha"));
    let b = daemon(&root_b, &add_host(&pg, "bravo"));
    a.ctl_ok(&["scan"]);
    b.ctl_ok(&["scan"]);
    // bravo gains a second uid-0 account.
    root_b.append("etc/passwd", "mallory:x:0:0::/root:/bin/sh\n");
    b.ctl_ok(&["scan"]);
    drained(&a);
    drained(&b);

    let hosts: Value =
        serde_json::from_str(&reader(&url, &pw, &["hosts", "--format", "json"])).unwrap();
    let hosts = hosts.as_array().unwrap();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert_eq!(hosts[0]["name"], "alpha");
    assert_eq!(hosts[0]["machine_id"], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(hosts[1]["machine_id"], "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    assert_eq!(hosts[1]["last_scan_id"], 2);
    assert_eq!(hosts[0]["stale"], false);
    let text = reader(&url, &pw, &["hosts"]);
    assert!(text.contains("alpha") && text.contains("bravo"), "{text}");

    let changes: Value = serde_json::from_str(&reader(
        &url,
        &pw,
        &["changes", "--since", "1h", "--format", "json"],
    ))
    .unwrap();
    let changes = changes.as_array().unwrap();
    assert_eq!(
        changes.len(),
        1,
        "only bravo's second scan changed: {changes:?}"
    );
    assert_eq!(changes[0]["host"], "bravo");
    assert_eq!(changes[0]["key"], "mallory");
    assert_eq!(changes[0]["kind"], "added");
    let none = reader(&url, &pw, &["changes", "--since", "1h", "--host", "alp*"]);
    assert_eq!(none.trim(), "no changes");
    let high = reader(
        &url,
        &pw,
        &["changes", "--severity", "high", "-c", "check_users"],
    );
    assert!(
        high.contains("bravo: ") && high.contains("mallory"),
        "{high}"
    );

    // Current state: alice only on alpha (from its first scan), mallory only on bravo, root
    // (uid 0) on both.
    let w = reader(&url, &pw, &["where", "alice"]);
    assert!(w.starts_with("alpha: check_users alice"), "{w}");
    assert_eq!(w.lines().count(), 1, "{w}");
    let w = reader(&url, &pw, &["where", "*", "--field", "uid=0"]);
    let lines: Vec<&str> = w.lines().collect();
    assert_eq!(lines.len(), 3, "{w}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("bravo: check_users mallory")),
        "{w}"
    );

    let sarif: Value = serde_json::from_str(&reader(
        &url,
        &pw,
        &["changes", "--since", "1h", "--format", "sarif"],
    ))
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one run per host with changes");
    assert_eq!(runs[0]["properties"]["host"], "bravo");
    assert_eq!(runs[0]["results"].as_array().unwrap().len(), 1);
}

#[test]
fn scans_made_while_postgres_is_down_arrive_once_and_in_order() {
    let pg = Pg::start();
    init(&pg);
    let root = host_root("charlie", "cccccccccccccccccccccccccccccccc", None);
    let d = daemon(&root, &add_host(&pg, "charlie"));
    d.ctl_ok(&["scan"]);
    drained(&d);
    pg.stop();
    for user in ["u1", "u2", "u3"] {
        root.append("etc/passwd", &format!("{user}:x:2000:2000::/:/bin/sh\n"));
        d.ctl_ok(&["scan"]);
    }
    let b = wait_until(Duration::from_secs(30), "a failed push", || {
        let b = backlog(&d);
        (b["attempts"].as_i64().unwrap_or(0) > 0).then_some(b)
    });
    assert_eq!(b["pending"], 3, "{b}");
    assert_eq!(b["oldest_scan"], 2, "{b}");
    let status = d.ctl_ok(&["status"]);
    assert!(
        status.contains("fleet:") && status.contains("3 scans waiting"),
        "{status}"
    );
    pg.start_again();
    d.ctl_ok(&["scan"]); // a scan retries at once, whatever the backoff says
    drained(&d);
    let rows = pg.query(
        "SELECT string_agg(scan_id::text, ',' ORDER BY received_at, scan_id) FROM dawgmon.scans",
    );
    assert_eq!(rows, "1,2,3,4,5", "every scan once, in order");
    let keys = pg.query(
        "SELECT string_agg(key, ',' ORDER BY scan_id) FROM dawgmon.changes WHERE kind = 'added'",
    );
    assert_eq!(keys, "u1,u2,u3");
}

/// Runs `sql` as the host role of `table` (a [fleet] table as printed); returns stderr.
fn as_host(pg: &Pg, table: &str, sql: &str) -> Result<String, String> {
    let t: toml::Value = toml::from_str(table).unwrap();
    let url = t["fleet"]["url"].as_str().unwrap();
    let role = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    let out = pg.psql_as(role, t["fleet"]["password"].as_str(), sql);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn a_host_role_cannot_write_for_another_host_nor_update_or_delete() {
    let pg = Pg::start();
    init(&pg);
    let a = add_host(&pg, "hosta");
    let _b = add_host(&pg, "hostb");
    let b_id = pg.query("SELECT id FROM dawgmon.hosts WHERE name = 'hostb'");
    let now = "now()";
    let scan = |host: &str, id: i64| {
        format!(
            "INSERT INTO dawgmon.scans (host_id, scan_id, started_at, finished_at, hostname, \
             machine_id) VALUES ({host}, {id}, {now}, {now}, 'x', 'y')"
        )
    };
    // Its own rows: allowed (the control).
    as_host(&pg, &a, &scan("dawgmon.my_host()", 1)).expect("a host adds its own scan");
    as_host(
        &pg,
        &a,
        "INSERT INTO dawgmon.changes (scan_id, seq, at, collector, kind, key, severity, message, \
         fields) VALUES (1, 0, now(), 'check_users', 'added', 'eve', 3, 'm', '{}')",
    )
    .expect("a host adds its own change");
    // Another host's rows, and any update or delete: refused.
    let refused = [
        scan(&b_id, 2),
        format!(
            "INSERT INTO dawgmon.changes (host_id, scan_id, seq, at, collector, kind, key, \
             severity, message, fields) VALUES ({b_id}, 1, 0, now(), 'c', 'added', 'k', 0, 'm', '{{}}')"
        ),
        format!(
            "INSERT INTO dawgmon.state (host_id, scan_id, at, collector, key, fields) \
             VALUES ({b_id}, 1, now(), 'c', 'k', '{{}}')"
        ),
        "UPDATE dawgmon.scans SET hostname = 'rewritten'".into(),
        "DELETE FROM dawgmon.scans".into(),
        "UPDATE dawgmon.changes SET severity = 0".into(),
        "DELETE FROM dawgmon.changes".into(),
        "UPDATE dawgmon.hosts SET name = 'x'".into(),
        "DELETE FROM dawgmon.current".into(),
        "INSERT INTO dawgmon.current (host_id, collector, key, fields, since) \
         VALUES (1, 'c', 'k', '{}', now())"
            .into(),
        "INSERT INTO dawgmon.scans (scan_id, started_at, finished_at, hostname, machine_id, \
         received_at) VALUES (9, now(), now(), 'x', 'y', '2000-01-01')"
            .into(),
        "SELECT count(*) FROM dawgmon.changes".into(),
        "DROP TABLE dawgmon.changes_default".into(),
    ];
    for sql in &refused {
        let e = as_host(&pg, &a, sql).expect_err(sql);
        assert!(
            e.contains("permission denied")
                || e.contains("row-level security")
                || e.contains("must be owner"),
            "{sql}: {e}"
        );
    }
    assert_eq!(pg.query("SELECT count(*) FROM dawgmon.scans"), "1");
    assert_eq!(pg.query("SELECT hostname FROM dawgmon.scans"), "x");
    assert_eq!(pg.query("SELECT count(*) FROM dawgmon.changes"), "1");
}

#[test]
fn wrong_password_and_newer_schema_are_clear_errors_and_the_outbox_keeps_the_scans() {
    let pg = Pg::start();
    init(&pg);
    let table = add_host(&pg, "delta");
    let t: toml::Value = toml::from_str(&table).unwrap();
    let wrong = format!(
        "[fleet]\nurl = {:?}\npassword = \"not-the-password\"\n",
        t["fleet"]["url"].as_str().unwrap()
    );
    let root = host_root("delta", "dddddddddddddddddddddddddddddddd", None);
    let d = daemon(&root, &wrong);
    d.ctl_ok(&["scan"]);
    let b = wait_until(Duration::from_secs(30), "a failed push", || {
        let b = backlog(&d);
        b["last_error"].as_str().map(|_| b.clone())
    });
    let e = b["last_error"].as_str().unwrap();
    assert!(
        e.contains("password authentication failed") && e.contains("add-host"),
        "{e}"
    );
    assert_eq!(b["pending"], 1);
    drop(d);

    // A schema newer than this build: refused by the daemon and by dawgctl, nothing sent.
    pg.query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', true, '\\x00', 0)",
    );
    let d = daemon(&root, &table);
    d.ctl_ok(&["scan"]);
    let b = wait_until(Duration::from_secs(30), "a failed push", || {
        let b = backlog(&d);
        b["last_error"].as_str().map(|_| b.clone())
    });
    let e = b["last_error"].as_str().unwrap();
    assert!(
        e.contains("version 99") && e.contains("upgrade dawgmon"),
        "{e}"
    );
    assert_eq!(b["pending"], 1);
    assert_eq!(pg.query("SELECT count(*) FROM dawgmon.scans"), "0");
    let out = ctl(&["fleet", "init", "--url", &pg.owner_url()]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("version 99") && e.contains("newer"), "{e}");
}

#[test]
fn an_untrusted_server_certificate_is_a_clear_error_and_a_trusted_one_works() {
    let pg = Pg::with_tls();
    init(&pg);
    let table = add_host(&pg, "echo");
    let t: toml::Value = toml::from_str(&table).unwrap();
    let role = t["fleet"]["url"]
        .as_str()
        .unwrap()
        .split("://")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_string();
    let password = t["fleet"]["password"].as_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let pwfile = tmp.path().join("pw");
    std::fs::write(&pwfile, format!("{password}\n")).unwrap();
    let fleet = |url: String| format!("[fleet]\nurl = {url:?}\npassword_file = {pwfile:?}\n");
    let root = host_root("echo", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", None);
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_users".into()],
        extra: fleet(pg.tls_url(&role, "")),
        database: Some(tmp.path().join("kept.db")),
        ..Default::default()
    }
    .spawn();
    d.ctl_ok(&["scan"]);
    let b = wait_until(Duration::from_secs(30), "a failed push", || {
        let b = backlog(&d);
        b["last_error"].as_str().map(|_| b.clone())
    });
    let e = b["last_error"].as_str().unwrap();
    assert!(e.contains("TLS") && e.contains("sslrootcert"), "{e}");
    assert_eq!(b["pending"], 1);
    drop(d);
    // The same database, the same outbox, the certificate named: the scan arrives.
    let cert = pg.cert.clone().unwrap();
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_users".into()],
        extra: fleet(pg.tls_url(&role, &format!("?sslrootcert={}", cert.display()))),
        database: Some(tmp.path().join("kept.db")),
        ..Default::default()
    };
    let d = d.spawn();
    drained(&d);
    // The kept scan went first (it is the baseline), then the new one.
    d.ctl_ok(&["scan"]);
    drained(&d);
    assert_eq!(
        pg.query("SELECT string_agg(scan_id::text || ':' || baseline, ',' ORDER BY scan_id) FROM dawgmon.scans"),
        "1:true,2:false"
    );
}

#[test]
fn change_log_lines_carry_the_elastic_common_schema_fields() {
    let root = host_root("foxtrot", "ffffffffffffffffffffffffffffffff", None);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("changes.jsonl");
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_users".into()],
        extra: format!("change_log = {log:?}\n"),
        ..Default::default()
    }
    .spawn();
    d.ctl_ok(&["scan"]);
    root.append("etc/passwd", "toor:x:0:0::/root:/bin/sh\n");
    d.ctl_ok(&["scan"]);
    let text = wait_until(Duration::from_secs(20), "the change log", || {
        std::fs::read_to_string(&log).ok().filter(|t| !t.is_empty())
    });
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    // dawgmon's own fields stay.
    assert_eq!(line["host"], "foxtrot");
    assert_eq!(line["key"], "toor");
    // ECS.
    assert!(chrono::DateTime::parse_from_rfc3339(line["@timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(line["host.name"], "foxtrot");
    assert_eq!(line["host.id"], "ffffffffffffffffffffffffffffffff");
    assert_eq!(line["event.kind"], "event");
    assert_eq!(line["event.action"], "check_users-added");
    assert!(line["event.severity"].as_i64().unwrap() >= 3, "{line}");
    assert!(line["rule.name"].is_string(), "{line}");
    assert!(line.get("file.path").is_none(), "a user is not a file");
}

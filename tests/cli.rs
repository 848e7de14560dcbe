//! End-to-end tests of `dawgctl --local`: the real binary, a real SQLite file, the live host.
//!
//! Tests that change the live host use names no one else uses (`dawgmon-it-<pid>-...`) and undo
//! what they did in a Drop guard, so a failing assertion still cleans up. They hold the live-host lock so
//! that one test's changes never show up in another's "unchanged host" scan.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helper::{json, live_lock, ok, quiet_host};

fn dawgctl(db: &Path, args: &[&str]) -> Output {
    crate::helper::local(db, None)
        .args(args)
        .env_remove("DAWGMON_SYSTEMD_BUS")
        .output()
        .expect("run dawgctl")
}

/// Finds the change of `collector` on `key`, with its kind.
fn find<'a>(report: &'a Value, collector: &str, key: &str) -> Option<&'a Value> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collector"] == collector && c["key"] == key)
}

/// Undoes live-host changes when dropped.
struct Cleanup {
    dir: Option<PathBuf>,
    group: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some(g) = &self.group {
            let _ = Command::new("groupdel").arg(g).output();
        }
    }
}

#[test]
fn two_scans_of_an_unchanged_host_report_nothing() {
    let _quiet = quiet_host();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let first = json(&dawgctl(&db, &["--format", "json", "scan"]));
    assert!(
        first["from"].is_null(),
        "first scan compared with something"
    );
    let second = json(&dawgctl(&db, &["--format", "json", "scan"]));
    assert_eq!(second["from"]["id"], first["to"]["id"]);
    assert_eq!(
        second["changes"].as_array().unwrap().len(),
        0,
        "an idle host changed between two scans: {:#}",
        second["changes"]
    );
    let history = json(&dawgctl(&db, &["--format", "json", "history"]));
    assert_eq!(history.as_array().unwrap().len(), 2);
}

#[test]
fn baseline_then_live_changes_are_each_reported() {
    let _live = live_lock();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let tag = format!("dawgmon-it-{}", std::process::id());
    let collectors = [
        "-c",
        "list_suids",
        "-c",
        "list_pipes",
        "-c",
        "check_groups",
        "-c",
        "list_tcpudp_ports",
    ];
    let mut args = collectors.to_vec();
    args.extend(["baseline", "pre-install"]);
    ok(&dawgctl(&db, &args));

    // /var/tmp is on the root file system here (not a tmpfs), like an installed binary would be.
    let dir = PathBuf::from("/var/tmp").join(&tag);
    let mut cleanup = Cleanup {
        dir: Some(dir.clone()),
        group: None,
    };
    std::fs::create_dir_all(&dir).unwrap();
    let suid = dir.join("suid-tool");
    std::fs::write(&suid, b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let fifo = dir.join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622)).unwrap();
    let status = Command::new("groupadd")
        .arg(&tag)
        .status()
        .expect("groupadd");
    assert!(status.success(), "groupadd {tag} failed");
    cleanup.group = Some(tag.clone());
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let mut args = collectors.to_vec();
    args.extend(["--format", "json", "diff", "--since", "pre-install"]);
    let report = json(&dawgctl(&db, &args));
    assert_eq!(report["from"]["label"], "pre-install");

    let suid_key = suid.to_str().unwrap();
    let c = find(&report, "list_suids", suid_key).expect("new setuid file not reported");
    assert_eq!(c["kind"], "added");
    assert_eq!(c["after"]["perm"], "-rwsr-xr-x");
    assert!(c["message"].as_str().unwrap().contains(suid_key));
    let c = find(&report, "list_pipes", fifo.to_str().unwrap()).expect("FIFO not reported");
    assert_eq!(c["kind"], "added");
    let c = find(&report, "check_groups", &tag).expect("new group not reported");
    assert_eq!(c["kind"], "added");
    let port_key = format!("tcp 0.0.0.0:{port}");
    let c = find(&report, "list_tcpudp_ports", &port_key).expect("listener not reported");
    assert_eq!(c["kind"], "added");
    assert!(c["message"].as_str().unwrap().contains(&port.to_string()));

    // Undo, scan again: the things are reported gone.
    drop(listener);
    drop(cleanup);
    let mut args = collectors.to_vec();
    args.extend(["--format", "json", "scan"]);
    let after = json(&dawgctl(&db, &args));
    for (collector, key) in [
        ("list_suids", suid_key),
        ("check_groups", tag.as_str()),
        ("list_tcpudp_ports", port_key.as_str()),
    ] {
        let c = find(&after, collector, key).unwrap_or_else(|| panic!("{key} removal missing"));
        assert_eq!(c["kind"], "removed", "{key}");
    }
}

#[test]
fn fake_root_file_changes_and_text_output() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/cron.d")).unwrap();
    std::fs::write(root.join("etc/hostname"), "fakehost\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let db = tmp.path().join("d.db");
    let r = root.to_str().unwrap();
    let base = ["--root", r, "-c", "check_etc", "-c", "check_groups"];
    ok(&dawgctl(
        &db,
        &[&base[..], &["baseline", "before"]].concat(),
    ));
    std::fs::write(root.join("etc/cron.d/evil"), "* * * * * root /tmp/x\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nvboxusers:x:130:\n").unwrap();

    let out = dawgctl(
        &db,
        &[
            &base[..],
            &["--no-timestamps", "--color", "never", "--exit-code", "diff"],
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "--exit-code with changes must exit 1"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    assert!(head.contains("detected (0 warnings): "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("+ ") && l.contains("/etc/cron.d/evil")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("+ group vboxusers added")),
        "{text}"
    );

    // Same scans again, nothing new: exit 0 with --exit-code.
    let out = dawgctl(&db, &[&base[..], &["--exit-code", "scan"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 changes detected"));
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let cases: [(&[&str], &str); 4] = [
        (
            &["-c", "no_such_collector", "scan"],
            "unknown collector \"no_such_collector\"",
        ),
        (&["diff"], "no scans yet"),
        (&["baseline", "bad label"], "invalid label"),
        (&["--root", "/nonexistent/dawgmon", "scan"], "--root"),
    ];
    for (args, expect) in cases {
        let out = dawgctl(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    ok(&dawgctl(&db, &["-c", "check_groups", "scan"]));
    let out = dawgctl(&db, &["diff", "--since", "nope", "--to", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scan matches \"nope\""));

    let garbage = tmp.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let out = dawgctl(&garbage, &["history"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("garbage.db"));
}

#[test]
fn collectors_lists_every_dawgmon_check() {
    // A database of its own: the host's /var/lib/dawgmon/dawgmon.db is none of this test's
    // business (and may be from another version of dawgmon).
    let dir = tempfile::tempdir().unwrap();
    let out = crate::helper::local(&dir.path().join("d.db"), None)
        .arg("collectors")
        .output()
        .unwrap();
    let text = ok(&out);
    for name in [
        "check_boot",
        "check_etc",
        "list_pipes",
        "list_suids",
        "env",
        "list_msq",
        "list_sem",
        "list_shm",
        "list_unix_ports",
        "list_mount",
        "list_processes",
        "systemd_props",
        "systemd_sockets",
        "systemd_timers",
        "systemd_unitfiles",
        "systemd_units",
        "list_sysvinit_jobs",
        "needs_restart",
        "list_packages",
        "uptime",
        "check_groups",
        "check_users",
        "kernel_version",
        "lsb_version",
        "list_tcpudp_ports",
        "list_ifaces",
        "list_blkdev",
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing from `dawgctl collectors`"
        );
    }
}

#[test]
fn unprivileged_user_scans_what_it_can_and_says_so_once() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = tmp.path().join("nobody.db");
    let out = crate::helper::local(&db, None)
        .args(["-c", "check_etc", "-c", "check_users", "scan"])
        .uid(65534)
        .gid(65534)
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let notes = err.lines().filter(|l| l.contains("run as root")).count();
    assert_eq!(notes, 1, "expected one note about permissions: {err}");
    assert!(err.contains("could not be read"), "{err}");
}

/// Issue 9: `dawgctl watch -- COMMAND`: the command's streams and exit status pass through, the
/// change it made is printed, and the temporary label is gone afterwards.
#[test]
fn watch_runs_the_command_and_prints_what_it_changed() {
    let root = crate::helper::TreeBuilder::with_etc();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let group = root.join("etc/group");
    let script = format!(
        "read line; echo \"out:$line\"; echo err >&2; echo 'watchers:x:4343:' >> {}; exit 3",
        group.display()
    );
    let mut child = crate::helper::local(&db, Some(root.path()))
        .args([
            "-c",
            "check_groups",
            "--no-timestamps",
            "watch",
            "--",
            "sh",
            "-c",
        ])
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stdout, "out:typed\n", "the command's stdout, untouched");
    assert!(stderr.lines().any(|l| l == "err"), "{stderr}");
    assert!(
        stderr.contains("1 change detected")
            && stderr.contains("+ group watchers added (gid=4343)"),
        "{stderr}"
    );
    // The label is removed; both scans stay.
    let bl = json(&dawgctl(&db, &["--format", "json", "baselines"]));
    assert_eq!(bl, serde_json::json!([]), "{stderr}");
    let hist = json(&dawgctl(&db, &["--format", "json", "history"]));
    assert_eq!(hist.as_array().unwrap().len(), 2);

    // A command that does not exist: 127, and still no label left behind.
    let out = dawgctl(
        &db,
        &[
            "--root",
            root.path().to_str().unwrap(),
            "-c",
            "check_groups",
            "watch",
            "--",
            "/nonexistent/installer",
        ],
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot run /nonexistent/installer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bl = json(&dawgctl(&db, &["--format", "json", "baselines"]));
    assert_eq!(bl, serde_json::json!([]));
    // --exit-code: a command that succeeded but changed something exits 1.
    let out = dawgctl(
        &db,
        &[
            "--root",
            root.path().to_str().unwrap(),
            "-c",
            "check_groups",
            "--exit-code",
            "watch",
            "--",
            "sh",
            "-c",
            &format!("echo 'more:x:4344:' >> {}", group.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
}

/// A reader that goes away (`dawgctl rules | head -1`) ends dawgctl quietly, as it ends any Unix
/// filter: by SIGPIPE, not with a panic about a broken pipe.
#[test]
fn a_closed_pipe_ends_dawgctl_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = crate::helper::local(&dir.path().join("d.db"), None)
        .arg("rules")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}

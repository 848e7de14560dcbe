//! Issue 15 item 2: the fleet hooks' files in a directory another user writes (node_exporter's
//! textfile directory belongs to `prometheus`), and scans that must never wait for them.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::helper::{Daemon, DaemonOptions, TreeBuilder, wait_until};

/// `dawgctl ARGS`, killed (and the test failed) when it has not answered within `secs`: a hook
/// that blocks the scan must fail the test, not hang it.
fn ctl_within(d: &Daemon, args: &[&str], secs: u64) -> Output {
    let mut child = d
        .dawgctl()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dawgctl");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "dawgctl {args:?} did not answer within {secs}s: the scan is blocked\n{}",
                d.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dawgctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    out
}

/// A file root must not touch: 0600, "precious".
fn victim(p: &Path) -> PathBuf {
    std::fs::write(p, "precious").unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.to_path_buf()
}

fn assert_untouched(p: &Path) {
    assert_eq!(std::fs::read_to_string(p).unwrap(), "precious", "{p:?}");
    let m = std::fs::metadata(p).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600, "{p:?}");
}

/// The textfile and change log of a daemon on `root`, in directories of their own.
struct Hooked {
    daemon: Daemon,
    textfile: PathBuf,
    change_log: PathBuf,
    /// The temporary name dawgmond used to write the textfile through (`.NAME.PID.tmp`).
    old_temp: PathBuf,
    _out: tempfile::TempDir,
}

fn hooked(root: &TreeBuilder, extra: &str) -> Hooked {
    let out = tempfile::tempdir().unwrap();
    let textfile = out.path().join("textfile/dawgmon.prom");
    let change_log = out.path().join("log/changes.jsonl");
    std::fs::create_dir_all(textfile.parent().unwrap()).unwrap();
    std::fs::create_dir_all(change_log.parent().unwrap()).unwrap();
    let daemon = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        extra: format!("prometheus_textfile = {textfile:?}\nchange_log = {change_log:?}\n{extra}"),
        ..Default::default()
    }
    .spawn();
    let old_temp = textfile.with_file_name(format!(".dawgmon.prom.{}.tmp", daemon.pid()));
    Hooked {
        daemon,
        textfile,
        change_log,
        old_temp,
        _out: out,
    }
}

/// The daemon's `status` as JSON.
fn status(d: &Daemon) -> serde_json::Value {
    d.ctl_json(&["status"])
}

/// Links planted where root writes (the old predictable temporary name, the textfile, the change
/// log; a hard link as the change log) are never followed: the files they point at keep their
/// content and mode, the textfile is replaced by a file of its own, and the refused change log
/// is a warning in `status`.
#[test]
fn planted_links_at_the_hook_files_are_not_followed() {
    let root = TreeBuilder::with_etc();
    let h = hooked(&root, "");
    let d = &h.daemon;
    let victims = tempfile::tempdir().unwrap();
    let (a, b, c, e) = (
        victim(&victims.path().join("a")),
        victim(&victims.path().join("b")),
        victim(&victims.path().join("c")),
        victim(&victims.path().join("e")),
    );
    symlink(&a, &h.old_temp).unwrap();
    symlink(&b, &h.textfile).unwrap();
    symlink(&c, &h.change_log).unwrap();
    ctl_within(d, &["baseline", "pre"], 30);
    root.append("etc/group", "planted:x:4949:\n");
    ctl_within(d, &["scan"], 60);
    for v in [&a, &b, &c, &e] {
        assert_untouched(v);
    }
    let prom = std::fs::symlink_metadata(&h.textfile).unwrap();
    assert!(prom.is_file(), "the textfile is still the planted link");
    assert_eq!(prom.mode() & 0o777, 0o644);
    let text = std::fs::read_to_string(&h.textfile).unwrap();
    assert!(text.contains("dawgmon_last_success_scan_id 2\n"), "{text}");
    assert!(
        std::fs::symlink_metadata(&h.change_log)
            .unwrap()
            .is_symlink()
    );
    let s = status(d);
    assert_eq!(s["hooks"]["failing"], true, "{s}");
    let problem = s["hooks"]["last_problem"].as_str().unwrap().to_string();
    assert!(
        problem.contains("cannot append to the change log"),
        "{problem}"
    );
    assert!(problem.contains("symbolic link"), "{problem}");
    assert!(d.log().contains("symbolic link"), "{}", d.log());

    // A hard link to a file root may write (the database, say) is refused as well.
    std::fs::remove_file(&h.change_log).unwrap();
    std::fs::hard_link(&e, &h.change_log).unwrap();
    root.append("etc/group", "planted2:x:4950:\n");
    ctl_within(d, &["scan"], 60);
    assert_untouched(&e);
    let s = status(d);
    let problem = s["hooks"]["last_problem"].as_str().unwrap();
    assert!(problem.contains("2 hard links"), "{problem}");
    assert_eq!(s["hooks"]["problems"], 3, "baseline, scan, scan: {s}");

    // Once the planted file is gone the change log is written again, and status says so.
    std::fs::remove_file(&h.change_log).unwrap();
    root.append("etc/group", "planted3:x:4951:\n");
    ctl_within(d, &["scan"], 60);
    let log = std::fs::read_to_string(&h.change_log).unwrap();
    assert!(log.contains("planted3"), "{log}");
    assert_eq!(status(d)["hooks"]["failing"], false);
    let text = String::from_utf8(d.ctl(&["status"]).stdout).unwrap();
    assert!(text.contains("hooks:     ok now; 3 problems"), "{text}");
}

/// FIFOs planted at the textfile, at its old temporary name and at the change log block
/// nothing: both scans are answered at once, the textfile is written, and the change log's
/// refusal is a warning in the journal and in `dawgctl status`.
#[test]
fn fifos_at_the_hook_files_do_not_block_scans() {
    let root = TreeBuilder::with_etc();
    let h = hooked(&root, "");
    let d = &h.daemon;
    for p in [&h.textfile, &h.old_temp, &h.change_log] {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    }
    ctl_within(d, &["baseline", "pre"], 30);
    root.append("etc/group", "fifo:x:4848:\n");
    let t = Instant::now();
    ctl_within(d, &["scan"], 30);
    root.append("etc/group", "fifo2:x:4849:\n");
    ctl_within(d, &["scan"], 30);
    let took = t.elapsed();
    let text = std::fs::read_to_string(&h.textfile).unwrap();
    assert!(text.contains("dawgmon_last_success_scan_id 3\n"), "{text}");
    assert!(
        std::fs::symlink_metadata(&h.change_log)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let s = status(d);
    assert_eq!(s["hooks"]["failing"], true, "{s}");
    let problem = s["hooks"]["last_problem"].as_str().unwrap();
    assert!(problem.contains("not a regular file"), "{problem}");
    let out = String::from_utf8(d.ctl(&["status"]).stdout).unwrap();
    let line = out.lines().find(|l| l.starts_with("hooks:")).unwrap_or("");
    assert!(line.contains("failing since"), "{out}");
    assert!(line.contains("cannot append to the change log"), "{out}");
    assert!(line.contains("3 problems since dawgmond started"), "{out}");
    assert!(d.log().contains("not a regular file"), "{}", d.log());
    eprintln!("two scans with FIFOs planted: {took:?}");
}

/// A scheduled scan that comes due while another scan runs is skipped: a warning in the
/// journal, counted and explained in `status`.
#[test]
fn a_scheduled_scan_skipped_while_another_runs_is_a_warning_in_status() {
    let root = TreeBuilder::with_etc();
    root.slow_to_hash("etc/huge");
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        schedule: "* * * * * *".into(),
        collectors: vec!["check_groups".into()],
        collector_timeout: 3,
        extra: crate::helper::SLOW_HASH_CONFIG.into(),
        ..Default::default()
    }
    .spawn();
    assert!(status(&d)["skipped_scans"].is_null());
    // check_etc hangs on the sparse terabyte until its 3 s timeout: scheduled ticks come due.
    ctl_within(&d, &["scan", "--collector", "check_etc"], 60);
    let s = wait_until(Duration::from_secs(10), "a skipped scan in status", || {
        let s = status(&d);
        (s["skipped_scans"]["count"].as_u64().unwrap_or(0) >= 1).then_some(s)
    });
    let reason = s["skipped_scans"]["reason"].as_str().unwrap();
    assert!(reason.contains("by request was still running"), "{s}");
    let out = String::from_utf8(d.ctl(&["status"]).stdout).unwrap();
    let line = out
        .lines()
        .find(|l| l.starts_with("skipped:"))
        .unwrap_or("");
    assert!(line.contains("scheduled scan"), "{out}");
    assert!(line.contains("was still running"), "{out}");
    let log = d.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("scheduled scan skipped")),
        "{log}"
    );
}

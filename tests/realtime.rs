//! The realtime watch (issue 17), on the real kernel with the real daemon: fanotify marks the
//! file system of a temporary root, and changes made there between scans are reported, the
//! ones undone before the next scan included ("seen between scans"). Run as root (fanotify
//! file-system marks need CAP_SYS_ADMIN).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helper::smtp::{SmtpSink, free_port};
use crate::helper::{Daemon, DaemonOptions, TreeBuilder, wait_until};

/// One realtime daemon at a time: `realtime_queue` sets the kernel's queue limit for the
/// moment a group is made, and each daemon reads every event of the file system.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long the sudoers drop-in, the cron job and the key live: less than the debounce's quiet
/// time (0.4 s), so no scan ever sees them; only what the watch recorded reports them.
const LIFE: Duration = Duration::from_millis(250);

fn root_needed() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "fanotify file-system marks need CAP_SYS_ADMIN: run the tests as root"
    );
}

/// A root with accounts, sudoers including its drop-in directory, cron.d, root's .ssh and a
/// world-writable var/tmp.
fn tree() -> TreeBuilder {
    let t = TreeBuilder::with_etc();
    t.file_mode(
        "etc/sudoers",
        "root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
        0o440,
    )
    .dir("etc/sudoers.d", 0o755)
    .dir("etc/cron.d", 0o755)
    .dir("root/.ssh", 0o700)
    .file_mode("root/.ssh/authorized_keys", "", 0o600)
    .dir("var/tmp", 0o1777);
    t
}

fn daemon(root: &TreeBuilder, collectors: &[&str], extra: &str) -> Daemon {
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: collectors.iter().map(|c| c.to_string()).collect(),
        extra: format!("realtime = \"auto\"\n{extra}"),
        ..Default::default()
    }
    .spawn();
    wait_until(Duration::from_secs(20), "the fanotify watch", || {
        let s = d.ctl_json(&["status"]);
        (s["realtime"]["mode"] == "fanotify").then_some(())
    });
    d
}

/// The scans stored, oldest first.
fn history(d: &Daemon) -> Vec<Value> {
    let mut v = d.ctl_json(&["history"]).as_array().unwrap().clone();
    v.reverse();
    v
}

fn triggers(d: &Daemon) -> Vec<String> {
    history(d)
        .iter()
        .map(|s| s["trigger"].as_str().unwrap_or("-").to_string())
        .collect()
}

/// The changes of `diff --since SINCE` (a fresh scan of every configured collector).
fn diff_since(d: &Daemon, since: &str) -> Vec<Value> {
    d.ctl_json(&["diff", "--since", since])["changes"]
        .as_array()
        .unwrap()
        .clone()
}

fn seen_between(changes: &[Value], key: &str) -> Option<Value> {
    changes
        .iter()
        .find(|c| c["key"] == key && c["after"]["seen_at"].is_string())
        .cloned()
}

#[test]
fn transient_setuid_sudoers_cron_and_key_are_reported_by_diff_since_and_mail() {
    root_needed();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), mail_dir.path());
    let root = tree();
    let mail = format!(
        "[mail]\nfrom = \"dawgmon@fakehost.example\"\nto = [\"root@fakehost.example\"]\n\
         [mail.smtp]\nport = {}\ntimeout_secs = 5\n",
        sink.port
    );
    let d = daemon(
        &root,
        &["list_suids", "sudo_rules", "cron_jobs", "ssh_access"],
        &mail,
    );
    d.ctl_ok(&["baseline", "before"]);

    // Each lives for a second or less, and no scheduled scan runs (schedule = "off").
    let suid = root.join("var/tmp/rt-suid");
    fs::write(&suid, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    fs::remove_file(&suid).unwrap();
    let drop_in = root.join("etc/sudoers.d/rt-drop");
    fs::write(&drop_in, "eve ALL=(ALL) NOPASSWD: ALL\n").unwrap();
    std::thread::sleep(LIFE);
    fs::remove_file(&drop_in).unwrap();
    let job = root.join("etc/cron.d/rt-job");
    fs::write(&job, "* * * * * root /var/tmp/payload\n").unwrap();
    std::thread::sleep(LIFE);
    fs::remove_file(&job).unwrap();
    let keys = root.join("root/.ssh/authorized_keys");
    fs::write(&keys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHqBqF4H6BqgQ0eJH0YNeXp3nXk0xXgQmWl3KqfJ0X1C eve@evil\n").unwrap();
    std::thread::sleep(LIFE);
    fs::write(&keys, "").unwrap();

    wait_until(Duration::from_secs(30), "the event scans", || {
        (triggers(&d).iter().filter(|t| *t == "event").count() >= 2).then_some(())
    });
    let changes = wait_until(Duration::from_secs(60), "the four transient items", || {
        let c = diff_since(&d, "before");
        let found = [
            seen_between(&c, "/var/tmp/rt-suid"),
            c.iter()
                .find(|c| c["collector"] == "sudo_rules" && c["after"]["seen_at"].is_string())
                .cloned(),
            c.iter()
                .find(|c| c["collector"] == "cron_jobs" && c["after"]["seen_at"].is_string())
                .cloned(),
            c.iter()
                .find(|c| c["collector"] == "ssh_access" && c["after"]["seen_at"].is_string())
                .cloned(),
        ];
        found
            .iter()
            .all(|f| f.is_some())
            .then_some(found.map(|f| f.unwrap()))
    });
    let [suid_c, sudo_c, cron_c, key_c] = &changes;
    // The setuid bit was confirmed at event time (fstatat), and the rules judged it.
    assert_eq!(suid_c["after"]["perm"], "-rwsr-xr-x", "{suid_c}");
    assert!(
        ["high", "critical"].contains(&suid_c["severity"].as_str().unwrap()),
        "{suid_c}"
    );
    let msg = suid_c["message"].as_str().unwrap();
    assert!(
        msg.contains("seen between scans, appeared at") && msg.contains("gone by"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("by pid {}", std::process::id())),
        "{msg}"
    );
    for c in [sudo_c, cron_c, key_c] {
        assert_ne!(c["severity"], "info", "{c}");
        assert!(c["rule"].is_string(), "{c}");
    }
    assert!(
        sudo_c["message"].as_str().unwrap().contains("eve"),
        "{sudo_c}"
    );
    // Event scans, no scheduled one.
    let t = triggers(&d);
    assert!(t.contains(&"event".to_string()), "{t:?}");
    assert!(!t.contains(&"schedule".to_string()), "{t:?}");
    let text = d.ctl_ok(&["history"]);
    assert!(text.contains("TRIGGER") && text.contains("event"), "{text}");

    // The mailed reports carry them too.
    let mailed = wait_until(
        Duration::from_secs(60),
        "the mailed transient items",
        || {
            let all = sink.messages().join("\n");
            (all.contains("/var/tmp/rt-suid")
                && all.contains("seen between scans")
                && all.contains("eve"))
            .then_some(all)
        },
    );
    assert!(mailed.contains("gone by"), "{mailed}");
}

#[test]
fn a_file_nobody_makes_setuid_in_its_home_is_reported_high_with_the_pid() {
    root_needed();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = tree();
    root.dir("home/nob", 0o755);
    std::os::unix::fs::chown(root.join("home/nob"), Some(65534), Some(65534)).unwrap();
    // Other users must reach the home through the temporary root.
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let d = daemon(&root, &["list_suids"], "");
    d.ctl_ok(&["scan"]);
    let file = root.join("home/nob/tool");
    let made = Command::new("/bin/cp")
        .arg("/bin/true")
        .arg(&file)
        .uid(65534)
        .gid(65534)
        .status()
        .unwrap();
    assert!(made.success());
    let mut chmod = Command::new("/bin/chmod")
        .arg("u+s")
        .arg(&file)
        .uid(65534)
        .gid(65534)
        .spawn()
        .unwrap();
    let pid = chmod.id();
    assert!(chmod.wait().unwrap().success());
    let change = wait_until(Duration::from_secs(30), "the event scan", || {
        let last = history(&d).last().cloned()?;
        if last["trigger"] != "event" {
            return None;
        }
        let r = d.ctl_json(&["diff", "--to", &last["id"].to_string()]);
        r["changes"]
            .as_array()?
            .iter()
            .find(|c| c["key"] == "/home/nob/tool")
            .cloned()
    });
    assert_eq!(change["severity"], "high", "{change}");
    let msg = change["message"].as_str().unwrap();
    // chmod is gone by the time the batch is read: the pid is what is certain.
    assert!(msg.contains(&format!("made by pid {pid} (")), "{msg}");
}

#[test]
fn an_overflow_gives_an_overflow_scan_that_reports_a_change_made_during_it() {
    root_needed();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = tree();
    root.dir("etc/flood", 0o755);
    let d = daemon(&root, &["list_suids", "check_etc"], "realtime_queue = 16\n");
    d.ctl_ok(&["scan"]);
    let before = history(&d).last().unwrap()["id"].as_i64().unwrap();
    // The reader paused (a debug-build hook), more events than the queue holds, and a
    // setuid file made while it is overflowed: its event is lost.
    let pause = root.join(".dawgmon-test-pause-realtime");
    fs::write(&pause, "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..100 {
        fs::write(root.join(&format!("etc/flood/f{i}")), "x").unwrap();
    }
    let kept = root.join("var/tmp/rt-kept");
    fs::write(&kept, "x").unwrap();
    fs::set_permissions(&kept, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::remove_file(&pause).unwrap();
    // (Other writers on this file system overflow a 16-event queue too: any overflow scan
    // after the pause may be the one.)
    let r = wait_until(
        Duration::from_secs(60),
        "an overflow scan that reports it",
        || {
            history(&d)
                .into_iter()
                .filter(|s| s["trigger"] == "overflow" && s["id"].as_i64() > Some(before))
                .map(|s| d.ctl_json(&["diff", "--to", &s["id"].to_string()]))
                .find(|r| {
                    r["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["key"] == "/var/tmp/rt-kept" && c["kind"] == "added")
                })
        },
    );
    let changes = r["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["key"] == "/etc/flood/f99"), "{r}");
    let s = d.ctl_json(&["status"]);
    assert!(s["realtime"]["overflows"].as_u64().unwrap() >= 1, "{s}");
    assert!(d.log().contains("events lost"), "{}", d.log());
}

#[test]
fn the_daemons_own_writes_cause_no_scans() {
    root_needed();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = tree();
    // Its database, change log and textfile where check_etc reads: every write the daemon
    // makes lands under a watched path.
    let db = root.join("etc/dawgmon/dawgmon.db");
    let extra = format!(
        "change_log = {:?}\nprometheus_textfile = {:?}\n",
        root.join("etc/dawgmon-changes.jsonl"),
        root.join("etc/dawgmon.prom")
    );
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_etc".into(), "check_groups".into()],
        database: Some(db),
        extra: format!("realtime = \"auto\"\n{extra}"),
        ..Default::default()
    }
    .spawn();
    wait_until(Duration::from_secs(20), "the fanotify watch", || {
        (d.ctl_json(&["status"])["realtime"]["mode"] == "fanotify").then_some(())
    });
    for _ in 0..3 {
        d.ctl_ok(&["scan"]);
    }
    let quiet = Instant::now() + Duration::from_secs(4);
    while Instant::now() < quiet {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(triggers(&d), ["request", "request", "request"]);
    // And the watch does see a change there (the test can fail).
    fs::write(root.join("etc/motd"), "hello\n").unwrap();
    wait_until(Duration::from_secs(20), "an event scan", || {
        triggers(&d).contains(&"event".to_string()).then_some(())
    });
}

//! The fault matrix (issue 8): faults played for real against the real binaries, each ending
//! in checks that nothing was lost, half-stored or reported twice. CI runs each with a few
//! rounds; `bench/reliability.sh` runs them with many (`DAWGMON_FAULT_ROUNDS`) in release
//! mode and copies the `FIGURE` lines they print into RELIABILITY.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dawgmon::engine::Engine;
use dawgmon::store::Store;

use crate::helper::smtp::{SmtpSink, free_port};
use crate::helper::{DaemonOptions, TreeBuilder, block_on, dawgctl_bin, wait_until};

/// Rounds per fault: `DAWGMON_FAULT_ROUNDS`, else `default`.
fn rounds(default: usize) -> usize {
    std::env::var("DAWGMON_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), seeded from the clock and printed, so a
/// failing sequence of kill points can be replayed with `DAWGMON_FAULT_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("DAWGMON_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("fault seed: {seed} (DAWGMON_FAULT_SEED replays it)");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The reports mailed per scan: the scan ids the messages are about ("Compared scan A (...)
/// with scan N (...)", or the first scan's "... in scan N (...)"), each with its messages'
/// Message-IDs. A message is queued once per scan; the same Message-ID twice is a redelivery
/// (a kill between the server's acceptance and the outbox update), which receivers recognise.
fn mailed_scans(messages: &[String]) -> BTreeMap<i64, Vec<String>> {
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for m in messages {
        let text = crate::helper::smtp::decode_qp(m);
        let at = [" with scan ", " in scan "]
            .iter()
            .find_map(|p| text.find(p).map(|i| i + p.len()));
        let id = crate::helper::smtp::header(m, "Message-ID")
            .unwrap_or_default()
            .to_string();
        if let Some(at) = at {
            let digits: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(scan) = digits.parse::<i64>() {
                out.entry(scan).or_default().push(id);
            }
        }
    }
    out
}

/// Checks a database after faults: SQLite's full integrity check passes, every stored scan
/// loads whole (nothing half-stored), none is left unreported, and each scan whose report has
/// changes was mailed as exactly one message (one Message-ID; see [`mailed_scans`]) when
/// `mailed` is given. Returns (scans, scans with changes, redeliveries).
fn check_database(
    db: &Path,
    root: &Path,
    mailed: Option<&BTreeMap<i64, Vec<String>>>,
) -> (usize, usize, usize) {
    block_on(async {
        let store = Store::open(db).await.expect("the database opens");
        store.integrity_check().await.expect("integrity_check");
        let scans = store.list(100_000, 0).await.unwrap();
        let engine = Engine::new(store.clone(), root.to_path_buf());
        let mut with_changes = 0;
        let mut redelivered = 0;
        for s in &scans {
            store
                .load(s.id)
                .await
                .expect("every stored scan loads whole");
            let r = engine.report_stored(s).await.unwrap();
            let expect = usize::from(!r.report.changes.is_empty());
            with_changes += expect;
            let Some(mailed) = mailed else { continue };
            let ids = mailed.get(&s.id).cloned().unwrap_or_default();
            let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
            redelivered += ids.len() - distinct.len();
            if expect == 1 {
                assert_eq!(
                    distinct.len(),
                    1,
                    "scan {} has changes and was mailed as {} messages: {ids:?}",
                    s.id,
                    distinct.len()
                );
            } else {
                assert!(distinct.len() <= 1, "scan {} mailed as {ids:?}", s.id);
            }
        }
        assert_eq!(
            store.unreported_count().await.unwrap(),
            0,
            "scans left unreported"
        );
        store.close().await;
        (scans.len(), with_changes, redelivered)
    })
}

fn mail_config(port: u16) -> String {
    format!(
        "[mail]\nfrom = \"dawgmon@fakehost.example\"\nto = [\"root@fakehost.example\"]\n\
         [mail.smtp]\nport = {port}\ntimeout_secs = 5\n"
    )
}

/// SIGKILL of dawgmond at random points while it scans every second and a group is added
/// every 150 ms: the database stays whole, and every stored scan is reported exactly once
/// (by the daemon that stored it, or at the next start).
#[test]
fn sigkill_at_random_points_loses_nothing_and_reports_each_scan_once() {
    let n = rounds(3);
    let mut rng = Rng::new();
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), mail_dir.path());
    let root = TreeBuilder::with_etc();
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("d.db");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let changer = {
        let stop = stop.clone();
        let group = root.join("etc/group");
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut text = std::fs::read_to_string(&group).unwrap();
                text.push_str(&format!("fault{i}:x:{}:\n", 20000 + i));
                // Replace atomically: a scan never reads half a file.
                std::fs::write(group.with_extension("new"), text).unwrap();
                std::fs::rename(group.with_extension("new"), &group).unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    let options = || DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_groups".into()],
        schedule: "* * * * * *".into(),
        database: Some(db.clone()),
        extra: mail_config(sink.port),
        ..Default::default()
    };
    let t = Instant::now();
    for _ in 0..n {
        let mut d = options().spawn();
        std::thread::sleep(Duration::from_millis(300 + rng.below(2700)));
        d.child.kill().unwrap(); // SIGKILL
        d.child.wait().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    changer.join().unwrap();
    // A last, clean start reports what the killed ones stored and did not report.
    let d = options().spawn();
    wait_until(Duration::from_secs(60), "every scan reported", || {
        let s = d.ctl_json(&["status"]);
        if s["scans_stored"].as_i64().unwrap_or(0) < 1 {
            return None;
        }
        let waiting = s["outbox"]["pending"].as_i64().unwrap_or(1);
        let unreported = block_on(async {
            let store = Store::open(&db).await.ok()?;
            let n = store.unreported_count().await.ok();
            store.close().await;
            n
        })?;
        (waiting == 0 && unreported == 0).then_some(())
    });
    drop(d);
    let mailed = mailed_scans(&sink.messages());
    let (scans, with_changes, redelivered) = check_database(&db, root.path(), Some(&mailed));
    // Kills may all come before a scan finishes: the figure says how many there were.
    assert!(scans >= 1, "no scan stored at all");
    println!(
        "FIGURE sigkill: {n} kills at random points in {:.0}s; {scans} scans stored, \
         integrity ok, none half-stored, none unreported, {with_changes} with changes each \
         queued and mailed as exactly one message ({redelivered} redelivered with the same \
         Message-ID after a kill between the server's acceptance and the outbox update)",
        t.elapsed().as_secs_f64()
    );
}

/// The database's file system fills up: scans fail with a clear error and nothing stored is
/// lost; when space returns, the change made meanwhile is reported.
#[test]
fn a_full_disk_fails_scans_cleanly_and_loses_nothing() {
    let n = rounds(2);
    let _live = crate::helper::live_lock();
    let root = TreeBuilder::with_etc();
    let mnt = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs (not root?): skipped");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let db = mnt.path().join("d.db");
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_groups".into(), "check_etc".into()],
        database: Some(db.clone()),
        ..Default::default()
    }
    .spawn();
    d.ctl_ok(&["scan"]);
    let filler = mnt.path().join("filler");
    let mut failures = 0;
    for round in 0..n {
        // Fill the file system to the last byte.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", filler.display()))
            .output();
        root.append(
            "etc/group",
            &format!("diskfull{round}:x:{}:\n", 30000 + round),
        );
        // A change big enough to need new pages.
        root.file(&format!("etc/bulk{round}"), &"x".repeat(512 * 1024 + round));
        let out = d.ctl(&["scan"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "a scan on a full disk succeeded?");
        assert!(
            err.contains("is full"),
            "unclear error on a full disk: {err}"
        );
        failures += 1;
        // Readers get an answer, or the same clear words (SQLite may need room to read too).
        let status = d.ctl(&["status"]);
        if !status.status.success() {
            let err = String::from_utf8_lossy(&status.stderr);
            assert!(
                err.contains("is full"),
                "unclear error on a full disk: {err}"
            );
        }
        let local = Command::new(dawgctl_bin())
            .arg("--local")
            .arg("--database")
            .arg(&db)
            .arg("history")
            .output()
            .unwrap();
        if !local.status.success() {
            let err = String::from_utf8_lossy(&local.stderr);
            assert!(
                err.contains("is full"),
                "unclear error on a full disk: {err}"
            );
        }
        std::fs::remove_file(&filler).unwrap();
        let report = d.ctl_json(&["scan"]);
        let keys: Vec<&str> = report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["key"].as_str())
            .collect();
        assert!(
            keys.contains(&format!("diskfull{round}").as_str()),
            "the change made while the disk was full is missing: {report:#}"
        );
    }
    drop(d);
    let (scans, _, _) = check_database(&db, root.path(), None);
    println!(
        "FIGURE disk-full: {failures} scans failed with a clear error on a full file system; \
         {scans} scans stored intact; every change made meanwhile reported once space returned"
    );
}

/// Hostile names and a tree that changes under the walk: newline and invalid UTF-8 names, a
/// path deeper than PATH_MAX, symlink loops, an unreadable directory, directories appearing
/// and vanishing during every scan. Each scan succeeds and finds every planted setuid file.
#[test]
fn hostile_names_and_a_churning_tree_never_break_the_walk() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let n = rounds(3);
    let root = TreeBuilder::with_etc();
    let r = root.path().to_path_buf();
    let plant = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o4755)).unwrap();
    };
    plant(&r.join(std::ffi::OsStr::from_bytes(b"tmp/new\nline")));
    plant(&r.join(std::ffi::OsStr::from_bytes(b"tmp/bad\xff\xfeutf8")));
    plant(&r.join("tmp/unreadable/inside"));
    std::fs::set_permissions(
        r.join("tmp/unreadable"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::os::unix::fs::symlink("loop-b", r.join("tmp/loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", r.join("tmp/loop-b")).unwrap();
    std::os::unix::fs::symlink(".", r.join("tmp/self")).unwrap();
    // Deeper than PATH_MAX: built with relative operations.
    let mut deep = r.join("tmp");
    let seg = "d".repeat(250);
    let mut built = 0;
    {
        let mut cwd = std::fs::File::open(&deep).unwrap();
        for _ in 0..20 {
            let c = std::ffi::CString::new(seg.clone()).unwrap();
            // SAFETY: valid descriptor and C strings; results checked.
            unsafe {
                use std::os::fd::{AsRawFd, FromRawFd};
                assert_eq!(libc::mkdirat(cwd.as_raw_fd(), c.as_ptr(), 0o755), 0);
                let next = libc::openat(cwd.as_raw_fd(), c.as_ptr(), libc::O_RDONLY);
                assert!(next >= 0);
                cwd = std::fs::File::from_raw_fd(next);
            }
            deep = deep.join(&seg);
            built += 251;
        }
        // SAFETY: as above.
        unsafe {
            use std::os::fd::AsRawFd;
            let f = libc::openat(
                cwd.as_raw_fd(),
                c"deep".as_ptr(),
                libc::O_CREAT | libc::O_WRONLY,
                0o644,
            );
            assert!(f >= 0);
            assert_eq!(libc::fchmod(f, 0o4755), 0);
            libc::close(f);
        }
    }
    assert!(built > 4096);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let base = r.join("tmp/churn");
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let d = base.join(format!("{}", i % 50));
                let _ = std::fs::create_dir_all(d.join("a/b/c"));
                let _ = std::fs::remove_dir_all(base.join(format!("{}", (i + 25) % 50)));
                i += 1;
            }
        })
    };
    // Scanned as nobody, so the unreadable directory really is (root reads everything).
    std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = state.path().join("d.db");
    // A copy nobody can run, wherever the checkout is (a 0700 home, say).
    let ctl = state.path().join("dawgctl");
    std::fs::copy(dawgctl_bin(), &ctl).unwrap();
    let want = [
        "/tmp/bad\\xff\\xfeutf8".to_string(),
        "/tmp/new\\x0aline".to_string(),
        format!("/tmp/{}/deep", vec![seg.as_str(); 20].join("/")),
    ];
    let t = Instant::now();
    let mut scans = 0;
    for _ in 0..n {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&ctl)
            .arg("--local")
            .arg("--database")
            .arg(&db)
            .arg("--root")
            .arg(&r)
            .args(["-c", "list_suids", "--format", "json", "scan"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        scans += 1;
        let listed = block_on(async {
            let store = Store::open(&db).await.unwrap();
            let latest = store.latest().await.unwrap().unwrap();
            let snap = store.load(latest.id).await.unwrap();
            store.close().await;
            match &snap.results["list_suids"] {
                dawgmon::model::Outcome::Items(items) => {
                    items.iter().map(|i| i.key.clone()).collect::<Vec<_>>()
                }
                other => panic!("list_suids did not work: {other:?}"),
            }
        });
        for w in &want {
            assert!(listed.contains(w), "{w} missing from {listed:?}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    churn.join().unwrap();
    std::fs::set_permissions(
        r.join("tmp/unreadable"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let _ = Command::new("rm")
        .arg("-rf")
        .arg(r.join("tmp").join(&seg))
        .status();
    println!(
        "FIGURE hostile-names: {scans} scans in {:.1}s with newline, invalid UTF-8, a {built}-byte \
         path, symlink loops, an unreadable directory and directories churning mid-walk: \
         every scan complete, every planted setuid file found",
        t.elapsed().as_secs_f64()
    );
}

/// SMTP down for a long time, then back: every report is delivered exactly once.
#[test]
fn smtp_down_then_back_delivers_each_report_once() {
    let n = rounds(3);
    let port = free_port();
    let root = TreeBuilder::with_etc();
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("d.db");
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_groups".into()],
        database: Some(db.clone()),
        extra: mail_config(port),
        ..Default::default()
    }
    .spawn();
    // Scans with a change each while nothing listens on the port.
    for i in 0..n {
        root.append("etc/group", &format!("smtpdown{i}:x:{}:\n", 40000 + i));
        d.ctl_ok(&["scan"]);
    }
    let s = d.ctl_json(&["status"]);
    assert!(
        s["outbox"]["pending"].as_i64().unwrap_or(0) >= n as i64,
        "{s}"
    );
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(port, mail_dir.path());
    // A scan is a retry point: everything waiting goes out.
    d.ctl_ok(&["scan"]);
    wait_until(Duration::from_secs(60), "the outbox to empty", || {
        let s = d.ctl_json(&["status"]);
        (s["outbox"]["pending"].as_i64() == Some(0)).then_some(())
    });
    drop(d);
    let mailed = mailed_scans(&sink.messages());
    let (scans, with_changes, redelivered) = check_database(&db, root.path(), Some(&mailed));
    assert_eq!(redelivered, 0, "no kill here: nothing may arrive twice");
    println!(
        "FIGURE smtp-down: {n} reports queued while the server was down; after it came back \
         {} messages for {with_changes} scans with changes (of {scans}), each exactly once",
        mailed.values().map(Vec::len).sum::<usize>()
    );
}

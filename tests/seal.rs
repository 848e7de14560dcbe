//! Issue 18: the sealed history. Real daemon, real SQLite files tampered with `sqlite3`, the
//! real SMTP server; `dawgctl verify` must call each tampering by its name.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::helper::smtp::{SmtpSink, free_port};
use crate::helper::{Daemon, DaemonOptions, TreeBuilder, block_on, dawgctl_bin, wait_until};

fn daemon(root: &TreeBuilder, extra: &str, database: Option<PathBuf>) -> Daemon {
    DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["check_groups".into()],
        extra: extra.into(),
        database,
        ..Default::default()
    }
    .spawn()
}

/// The verification key the daemon left beside the database at its first start.
fn verification_key(d: &Daemon) -> String {
    let path = format!("{}.verification-key", d.database.display());
    let text = fs::read_to_string(&path).expect("the verification key file");
    text.lines().next().unwrap().to_string()
}

/// A header's value with its folded continuation lines joined.
fn unfolded(message: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}: ");
    let mut lines = message.lines().take_while(|l| !l.is_empty());
    let first = lines
        .by_ref()
        .find_map(|l| l.strip_prefix(prefix.as_str()))?;
    let mut value = first.trim_end().to_string();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        value.push(' ');
        value.push_str(l.trim());
    }
    Some(value)
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A consistent copy of the daemon's database.
fn copy(d: &Daemon, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    sqlite(&d.database, &format!("VACUUM INTO '{}'", to.display()));
    to
}

fn verify(db: &Path, args: &[&str]) -> Output {
    Command::new(dawgctl_bin())
        .arg("verify")
        .arg("--database")
        .arg(db)
        .args(args)
        .env_remove("DAWGMON_DATABASE")
        .arg("--daemon-config")
        .arg("/nonexistent")
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs verify and asserts its exit status and that it said `needle`.
fn expect(db: &Path, args: &[&str], code: i32, needle: &str) -> String {
    let out = verify(db, args);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(code), "{text}");
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    text
}

/// Five scans (a group added between some, so outputs differ), each sealed.
fn five_scans(d: &Daemon, root: &TreeBuilder) {
    for i in 0..5 {
        if i % 2 == 1 {
            root.append("etc/group", &format!("sealed{i}:x:{}:\n", 5000 + i));
        }
        d.ctl_ok(&["scan"]);
    }
}

#[test]
fn five_scans_verify_intact_and_every_tampering_is_named() {
    let root = TreeBuilder::with_etc();
    let d = daemon(&root, "", None);
    five_scans(&d, &root);
    let key = verification_key(&d);
    assert!(key.starts_with("dawgmon-key-v1:0:0:"), "{key}");
    let work = tempfile::tempdir().unwrap();
    let k = ["--key", key.as_str()];

    let intact = copy(&d, work.path(), "intact.db");
    expect(&intact, &k, 0, "intact: 5 scans");
    // Without the key: internal consistency only, and it says so.
    let out = verify(&intact, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("proves nothing against root"),
        "{}",
        said(&out)
    );
    // A wrong key: every seal invalid.
    let other = "dawgmon-key-v1:0:0:".to_string() + &"ab".repeat(32);
    expect(&intact, &["--key", &other], 4, "seal of epoch 0 invalid");

    // A scan row deleted with sqlite3.
    let db = copy(&d, work.path(), "deleted.db");
    sqlite(&db, "DELETE FROM scans WHERE id = 2");
    expect(&db, &k, 2, "scan 2 removed");

    // A stored item edited (outputs and deltas this small are stored as plain JSON).
    let db = copy(&d, work.path(), "edited.db");
    let blob = sqlite(
        &db,
        "SELECT hash FROM blobs WHERE CAST(data AS TEXT) LIKE '%sealed1%' LIMIT 1",
    );
    assert!(!blob.is_empty(), "a plain JSON blob with the group");
    sqlite(
        &db,
        &format!(
            "UPDATE blobs SET data = CAST(replace(CAST(data AS TEXT), 'sealed1', 'innocent') AS BLOB) WHERE hash = '{blob}'"
        ),
    );
    expect(&db, &k, 1, "altered (collector check_groups)");

    // A blob replaced: scan 5's output swapped for scan 1's.
    let db = copy(&d, work.path(), "replaced.db");
    let first = sqlite(
        &db,
        "SELECT b.blob FROM scans s JOIN manifest_blobs b ON b.manifest = s.manifest WHERE s.id = 1",
    );
    let last = sqlite(
        &db,
        "SELECT b.blob FROM scans s JOIN manifest_blobs b ON b.manifest = s.manifest WHERE s.id = 5",
    );
    assert_ne!(first, last);
    sqlite(
        &db,
        &format!(
            "UPDATE blobs SET data = (SELECT data FROM blobs WHERE hash = '{first}'), base = NULL, depth = 0 WHERE hash = '{last}'"
        ),
    );
    expect(&db, &k, 1, "scan 5 altered (collector check_groups)");

    // The last three scans removed: their rows, then also their log entries and seals.
    let db = copy(&d, work.path(), "last3.db");
    sqlite(&db, "DELETE FROM scans WHERE id > 2");
    expect(&db, &k, 2, "scans 3–5 removed");
    let published = d.ctl_json(&["status"])["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    sqlite(
        &db,
        "DELETE FROM log WHERE seq >= (SELECT seq FROM log WHERE kind = 'scan' AND scan_id = 3);
         DELETE FROM seals WHERE tree_size > (SELECT COUNT(*) FROM log);",
    );
    let text = expect(
        &db,
        &["--key", &key, "--checkpoint", &published],
        2,
        "history truncated after scan 2, checkpoint of size",
    );
    assert!(text.contains("was published"), "{text}");

    // The log rebuilt consistently (scan 3 dropped, every leaf recomputed) and re-sealed with
    // the only key the attacker has, the host's current one.
    let db = copy(&d, work.path(), "rebuilt.db");
    fs::copy(
        format!("{}.seal-key", d.database.display()),
        format!("{}.seal-key", db.display()),
    )
    .unwrap();
    fs::set_permissions(
        format!("{}.seal-key", db.display()),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    rebuild_without(&db, 3);
    let text = expect(&db, &k, 4, "seal of epoch 0 invalid");
    assert!(!text.contains("intact"), "{text}");
}

/// Plays the attacker with the whole database and the host's current key: deletes scan
/// `gone`, rewrites the log without it and re-seals every epoch with the current key.
fn rebuild_without(db: &Path, gone: i64) {
    use dawgmon::ledger::checkpoint::Checkpoint;
    use dawgmon::ledger::merkle::Frontier;
    sqlite(
        db,
        &format!("DELETE FROM scans WHERE id = {gone}; DELETE FROM log WHERE scan_id = {gone};"),
    );
    let rows: Vec<(i64, Vec<u8>)> = {
        let text = sqlite(db, "SELECT seq, hex(entry) FROM log ORDER BY seq");
        text.lines()
            .map(|l| {
                let (s, h) = l.split_once('|').unwrap();
                (s.parse().unwrap(), hex::decode(h).unwrap())
            })
            .collect()
    };
    let key = dawgmon::ledger::key::read(&dawgmon::ledger::key::key_path(db))
        .unwrap()
        .expect("the stolen key");
    let mut f = Frontier::default();
    let mut sql = String::from("BEGIN; DELETE FROM log;");
    for (i, (_, entry)) in rows.iter().enumerate() {
        let leaf = dawgmon::ledger::merkle::leaf_hash(entry);
        f.push(leaf);
        sql.push_str(&format!(
            "INSERT INTO log (seq, kind, at, entry, leaf) VALUES ({i}, 'x', 0, X'{}', X'{}');",
            hex::encode(entry),
            hex::encode(leaf)
        ));
    }
    // Every old seal re-made with the stolen key, labelled with its own epoch.
    let epochs = sqlite(db, "SELECT epoch, sealed_at FROM seals ORDER BY epoch");
    for l in epochs.lines() {
        let (e, t) = l.split_once('|').unwrap();
        let mut forged = key.clone();
        forged.epoch = e.parse().unwrap();
        let cp = Checkpoint::seal(&forged, f.size(), f.root(), t.parse().unwrap());
        sql.push_str(&format!(
            "UPDATE seals SET tree_size = {}, root = X'{}', seal = X'{}' WHERE epoch = {e};",
            cp.size,
            hex::encode(cp.root),
            hex::encode(cp.seal)
        ));
    }
    sql.push_str("COMMIT;");
    sqlite(db, &sql);
}

#[test]
fn forward_security_the_current_key_cannot_reseal_the_past() {
    let root = TreeBuilder::with_etc();
    let d = daemon(&root, "", None);
    five_scans(&d, &root);
    let key = verification_key(&d);
    let work = tempfile::tempdir().unwrap();
    let db = copy(&d, work.path(), "attacked.db");
    let stolen = dawgmon::ledger::key::read(&dawgmon::ledger::key::key_path(&d.database))
        .unwrap()
        .expect("the host's current key");
    // The attacker rewrites epoch 2's checkpoint (a tree without its last entry) and seals it
    // with the key they hold: as epoch 2, and as their own epoch relabelled.
    let (size, time): (u64, i64) = {
        let l = sqlite(
            &db,
            "SELECT tree_size, sealed_at FROM seals WHERE epoch = 2",
        );
        let (s, t) = l.split_once('|').unwrap();
        (s.parse().unwrap(), t.parse().unwrap())
    };
    let leaves = block_on(async {
        let store = dawgmon::store::Store::open_read_only(&db).await.unwrap();
        store.log_leaves(0).await.unwrap()
    });
    let mut f = dawgmon::ledger::merkle::Frontier::default();
    for (_, l) in leaves.iter().take(size as usize - 1) {
        f.push(*l);
    }
    for relabel in [true, false] {
        let mut k = stolen.clone();
        if relabel {
            k.epoch = 2;
        }
        let mut cp = dawgmon::ledger::checkpoint::Checkpoint::seal(&k, f.size(), f.root(), time);
        cp.epoch = 2;
        sqlite(
            &db,
            &format!(
                "UPDATE seals SET tree_size = {}, root = X'{}', seal = X'{}' WHERE epoch = 2",
                cp.size,
                hex::encode(cp.root),
                hex::encode(cp.seal)
            ),
        );
        expect(&db, &["--key", &key], 4, "seal of epoch 2 invalid");
    }
    // And the same forged line offered as a published checkpoint is refused too.
    let mut k = stolen.clone();
    k.epoch = 2;
    let cp = dawgmon::ledger::checkpoint::Checkpoint::seal(&k, f.size(), f.root(), time);
    let intact = copy(&d, work.path(), "intact.db");
    expect(
        &intact,
        &["--key", &key, "--checkpoint", &cp.to_line()],
        4,
        "seal of epoch 2 invalid (a published checkpoint)",
    );
}

#[test]
fn a_mailed_checkpoint_verifies_against_the_database() {
    let _live = crate::helper::live_lock();
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), mail_dir.path());
    let root = TreeBuilder::with_etc();
    let mail = format!(
        "[mail]\nfrom = \"dawgmon@fakehost.example\"\nto = [\"root@fakehost.example\"]\n\
         [mail.smtp]\nport = {}\ntimeout_secs = 5\n",
        sink.port
    );
    let d = daemon(&root, &mail, None);
    d.ctl_ok(&["scan"]);
    root.append("etc/group", "mailed:x:4343:\n");
    d.ctl_ok(&["scan"]);
    // Read as stored: the helper's quoted-printable decoding would take the header's `=`s
    // for escapes.
    let raw = || -> Vec<String> {
        fs::read_dir(mail_dir.path().join("maildir/new"))
            .map(|d| {
                d.flatten()
                    .map(|e| fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    let msg = wait_until(Duration::from_secs(20), "the mailed report", || {
        raw().into_iter().find(|m| {
            crate::helper::smtp::decode_qp(m).contains("group mailed added")
                && unfolded(m, "X-Dawgmon-Checkpoint").is_some()
        })
    });
    let cp = unfolded(&msg, "X-Dawgmon-Checkpoint").unwrap();
    // The body carries the same line (7-bit, or quoted-printable with `=` as `=3D`).
    assert!(
        msg.contains(&cp) || crate::helper::smtp::decode_qp(&msg).contains(&cp),
        "the body carries it too:\n{msg}"
    );
    // The verification key made at the first start went out with the first report, once.
    let key = verification_key(&d);
    let with_key: Vec<String> = raw()
        .into_iter()
        .filter(|m| crate::helper::smtp::decode_qp(m).contains(&key))
        .collect();
    assert_eq!(with_key.len(), 1, "{:#?}", raw());
    assert!(with_key[0].contains("monitoring started"), "{with_key:#?}");
    let work = tempfile::tempdir().unwrap();
    let db = copy(&d, work.path(), "copy.db");
    expect(&db, &["--key", &key, "--checkpoint", &cp], 0, "intact");
    // The history cut below the mailed checkpoint: named.
    sqlite(
        &db,
        "DELETE FROM log WHERE seq >= 1; DELETE FROM seals WHERE tree_size > 1;",
    );
    expect(
        &db,
        &["--key", &key, "--checkpoint", &cp],
        2,
        "checkpoint of size",
    );
}

#[test]
fn the_daemon_restarts_takes_new_epochs_and_verifies_across_the_restart() {
    let root = TreeBuilder::with_etc();
    let first = daemon(&root, "", None);
    first.ctl_ok(&["scan"]);
    first.ctl_ok(&["baseline", "before"]);
    let key = verification_key(&first);
    let before = first.ctl_json(&["status"])["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let keep = tempfile::tempdir().unwrap();
    let database = keep.path().join("dawgmon.db");
    let db0 = first.database.clone();
    // Stopped as systemd stops it; its files outlive its temporary directory.
    let mut first = first;
    nix::sys::signal::kill(first.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    first.wait_exit(Duration::from_secs(20));
    for suffix in ["", "-wal", "-shm", ".seal-key"] {
        let from = format!("{}{suffix}", db0.display());
        if Path::new(&from).exists() {
            fs::copy(&from, format!("{}{suffix}", database.display())).unwrap();
        }
    }
    drop(first);
    let second = daemon(&root, "", Some(database.clone()));
    second.ctl_ok(&["scan"]);
    root.append("etc/group", "later:x:4545:\n");
    second.ctl_ok(&["baseline", "before"]);
    let after = second.ctl_json(&["status"])["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let epoch = |cp: &str| {
        dawgmon::ledger::checkpoint::Checkpoint::parse(cp)
            .unwrap()
            .epoch
    };
    assert!(epoch(&after) > epoch(&before) + 2, "{before}\n{after}");
    let work = tempfile::tempdir().unwrap();
    let db = copy(&second, work.path(), "copy.db");
    expect(
        &db,
        &[
            "--key",
            &key,
            "--checkpoint",
            &before,
            "--checkpoint",
            &after,
        ],
        0,
        "intact: 4 scans",
    );
    // The label moved is an entry of its own: two label entries for "before".
    assert_eq!(
        sqlite(&db, "SELECT COUNT(*) FROM log WHERE kind = 'label'"),
        "2"
    );
}

#[test]
fn a_loose_key_file_is_refused_and_reinit_is_explicit_and_recorded() {
    let root = TreeBuilder::with_etc();
    let d = daemon(&root, "", None);
    let key = verification_key(&d);
    let key_file = format!("{}.seal-key", d.database.display());
    fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    d.ctl_ok(&["scan"]);
    let s = d.ctl_json(&["status"]);
    let problem = s["seal_problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("mode 0644") && problem.contains("chmod 600"),
        "{s}"
    );
    fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    // `seal init` over a sealed history refuses and names --reinit.
    let init = |extra: &[&str]| {
        Command::new(dawgctl_bin())
            .args([
                "seal",
                "init",
                "--format",
                "json",
                "--daemon-config",
                "/nonexistent",
            ])
            .args(extra)
            .arg("--database")
            .arg(&d.database)
            .output()
            .unwrap()
    };
    let out = init(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("--reinit"), "{}", said(&out));
    let out = init(&["--reinit"]);
    assert!(out.status.success(), "{}", said(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_key = v["verification_key"].as_str().unwrap().to_string();
    assert!(new_key.starts_with("dawgmon-key-v1:1:"), "{new_key}");
    d.ctl_ok(&["scan"]);
    let work = tempfile::tempdir().unwrap();
    let db = copy(&d, work.path(), "copy.db");
    assert_eq!(
        sqlite(&db, "SELECT COUNT(*) FROM log WHERE kind = 'init'"),
        "2"
    );
    expect(
        &db,
        &["--key", &key],
        4,
        "the seal was re-initialised at epoch",
    );
    expect(&db, &["--key", &key, "--key", &new_key], 0, "intact");
}

#[test]
fn the_hooks_carry_the_checkpoint_and_the_seal_metrics() {
    let root = TreeBuilder::with_etc();
    let out = tempfile::tempdir().unwrap();
    let textfile = out.path().join("dawgmon.prom");
    let change_log = out.path().join("changes.jsonl");
    let d = daemon(
        &root,
        &format!("prometheus_textfile = {textfile:?}\nchange_log = {change_log:?}\n"),
        None,
    );
    d.ctl_ok(&["scan"]);
    root.append("etc/group", "hooked:x:4646:\n");
    d.ctl_ok(&["scan"]);
    let status = d.ctl_json(&["status"]);
    let cp = status["checkpoint"].as_str().unwrap().to_string();
    let parsed = dawgmon::ledger::checkpoint::Checkpoint::parse(&cp).unwrap();
    let metrics = fs::read_to_string(&textfile).unwrap();
    assert!(
        metrics.contains(&format!("dawgmon_seal_epoch {}\n", parsed.epoch))
            && metrics.contains(&format!("dawgmon_seal_tree_size {}\n", parsed.size)),
        "{metrics}\n{cp}"
    );
    let line: serde_json::Value = serde_json::from_str(
        fs::read_to_string(&change_log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["checkpoint"], cp.as_str(), "{line}");
    let key = verification_key(&d);
    let db = copy(&d, out.path(), "copy.db");
    expect(&db, &["--key", &key, "--checkpoint", &cp], 0, "intact");
}

#[test]
fn a_clock_gone_back_a_gap_in_the_log_and_a_missing_key_are_named_never_reinitialised() {
    use dawgmon::seal::{Sealer, init};
    use dawgmon::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dawgmon.db");
    let key = block_on(async {
        let store = Store::open(&db).await.unwrap();
        let done = init(&store, &db, false).await.unwrap();
        let label = dawgmon::ledger::entry::Entry::Label {
            label: "x".into(),
            scan: None,
            at: 0,
        };
        store
            .append_log(&[(label.clone(), 0), (label, 0)])
            .await
            .unwrap();
        let s = Sealer::new(store.clone(), &db);
        s.seal(&[]).await.unwrap();
        store.close().await;
        done.verification_key
    });
    // The clock goes back an hour: the seal keeps the later time, times never go backwards.
    let ahead = chrono::Utc::now().timestamp_millis() + 3_600_000;
    sqlite(
        &db,
        &format!("UPDATE seals SET sealed_at = {ahead} WHERE epoch = 1"),
    );
    let cp = block_on(async {
        let store = Store::open(&db).await.unwrap();
        let cp = Sealer::new(store.clone(), &db).seal(&[]).await.unwrap();
        store.close().await;
        cp
    });
    assert_eq!(cp.time, ahead);
    // (The edited seal itself is invalid, and named as such.)
    let text = expect(&db, &["--key", &key], 4, "seal of epoch 1 invalid");
    assert!(!text.contains("goes back in time"), "{text}");

    // A gap in the log table: the daemon refuses to seal over it, verify names it.
    sqlite(&db, "DELETE FROM log WHERE seq = 0");
    let e = block_on(async {
        let store = Store::open(&db).await.unwrap();
        let e = Sealer::new(store.clone(), &db).seal(&[]).await.unwrap_err();
        store.close().await;
        e
    });
    assert!(
        e.contains("damaged") && e.contains("entry 0 is missing"),
        "{e}"
    );
    let out = verify(&db, &["--key", &key]);
    assert!(
        out.status.code().is_some_and(|c| c & 2 == 2),
        "{}",
        said(&out)
    );
    assert!(
        said(&out).contains("log entries 0–0 removed"),
        "{}",
        said(&out)
    );

    // The key file gone while seals exist: an error with the fix, no new chain.
    fs::remove_file(format!("{}.seal-key", db.display())).unwrap();
    let e = block_on(async {
        let store = Store::open(&db).await.unwrap();
        let e = Sealer::new(store.clone(), &db).seal(&[]).await.unwrap_err();
        store.close().await;
        e
    });
    assert!(
        e.contains("is missing while the database has seals") && e.contains("--reinit"),
        "{e}"
    );
    assert!(!Path::new(&format!("{}.seal-key", db.display())).exists());
}

/// A baseline moved by editing the database, not through dawgmon (which logs each move), is
/// named: `diff --since LABEL` would otherwise compare against another past.
#[test]
fn a_label_moved_in_the_database_is_named() {
    let root = TreeBuilder::with_etc();
    let d = daemon(&root, "", None);
    d.ctl_ok(&["scan"]);
    d.ctl_ok(&["baseline", "pre-install"]);
    five_scans(&d, &root);
    let key = verification_key(&d);
    let k = ["--key", key.as_str()];
    let work = tempfile::tempdir().unwrap();

    let intact = copy(&d, work.path(), "intact.db");
    expect(&intact, &k, 0, "intact");

    let at = sqlite(&intact, "SELECT id FROM scans WHERE label = 'pre-install'");
    let newest = sqlite(&intact, "SELECT MAX(id) FROM scans");
    assert_ne!(at, newest);
    let db = copy(&d, work.path(), "moved.db");
    sqlite(
        &db,
        &format!(
            "UPDATE scans SET label = NULL WHERE id = {at}; \
             UPDATE scans SET label = 'pre-install' WHERE id = {newest}"
        ),
    );
    expect(
        &db,
        &k,
        1,
        &format!(
            "label \"pre-install\" altered: the log puts it on scan {at}, the database on scan {newest}"
        ),
    );

    let db = copy(&d, work.path(), "dropped.db");
    sqlite(
        &db,
        "UPDATE scans SET label = NULL WHERE label = 'pre-install'",
    );
    expect(&db, &k, 1, "the database on nowhere");
}

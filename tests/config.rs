//! Issue 15 item 9: the configuration is checked alike at start, by `--check` and on reload,
//! and `dawgctl --local` takes its settings from the daemon's config file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use serde_json::Value;

use crate::helper::{DaemonOptions, TreeBuilder, dawgctl_bin, dawgmond_bin, wait_until};

/// Lines that parse but name what this host lacks: each one stopped the daemon at start-up
/// (exit 1), and on reload, while `--check` passed it. With the key the error must name.
fn unrunnable(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "admin_group",
            "admin_group = \"dawgmon-no-such-group\"\n".to_string(),
        ),
        (
            "socket_group",
            "socket_group = \"dawgmon-no-such-group\"\n".to_string(),
        ),
        (
            "password_file",
            format!(
                "[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n[mail.smtp]\n\
                 username = \"u\"\npassword_file = {:?}\n",
                dir.join("no-such-password")
            ),
        ),
    ]
}

/// A refused reload (a missing group, an unreadable SMTP password file) keeps the daemon
/// running with the configuration it had, and `dawgctl status` says why until a reload works.
#[test]
fn a_refused_reload_keeps_the_daemon_running_and_says_why() {
    let mut d = DaemonOptions::default().spawn();
    let good = std::fs::read_to_string(&d.config).unwrap();
    let before = d.ctl_json(&["status"]);
    assert!(before.get("reload_refused").is_none(), "{before:#}");
    for (key, bad) in unrunnable(d.dir.path()) {
        std::fs::write(
            &d.config,
            format!(
                "{}{bad}",
                good.replace("schedule = \"off\"", "schedule = \"0 0 3 * * *\"")
            ),
        )
        .unwrap();
        kill(d.pid(), Signal::SIGHUP).unwrap();
        let status = wait_until(Duration::from_secs(20), "the refused reload", || {
            let out = d.ctl(&["--format", "json", "status"]);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            v["reload_refused"]
                .as_str()
                .is_some_and(|w| w.contains(key))
                .then_some(v)
        });
        assert!(
            d.child.try_wait().unwrap().is_none(),
            "dawgmond died:\n{}",
            d.log()
        );
        assert!(
            status["schedule"].is_null(),
            "the old config runs: {status:#}"
        );
        let text = d.ctl_ok(&["status"]);
        assert!(
            text.contains("reload refused") && text.contains(key),
            "{text}"
        );
        // The refusal of one reload is replaced by the next one's.
        std::fs::write(&d.config, &good).unwrap();
        kill(d.pid(), Signal::SIGHUP).unwrap();
        wait_until(Duration::from_secs(20), "a good reload", || {
            let out = d.ctl(&["--format", "json", "status"]);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            v.get("reload_refused").is_none().then_some(())
        });
    }
    assert!(
        d.log().contains("reload refused"),
        "the journal says so too:\n{}",
        d.log()
    );
    d.ctl_ok(&["scan"]);
}

/// `dawgmond --check` refuses what start-up refuses, naming the key; start-up with such a file
/// exits 2 (the unit's RestartPreventExitStatus=), not 1 (restarted five times, then failed).
#[test]
fn check_and_start_refuse_what_would_not_run_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "socket = {:?}\ndatabase = {:?}\nschedule = \"off\"\n",
        dir.path().join("s.sock"),
        dir.path().join("d.db")
    );
    for (key, bad) in unrunnable(dir.path()) {
        let config = dir.path().join(format!("{key}.toml"));
        std::fs::write(&config, format!("{base}{bad}")).unwrap();
        for check in [true, false] {
            let mut cmd = Command::new(dawgmond_bin());
            cmd.arg("--config").arg(&config);
            if check {
                cmd.arg("--check");
            }
            let out = cmd
                .env_remove("NOTIFY_SOCKET")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "--check={check} {key}: {err}");
            assert!(err.contains(key), "--check={check}: {err}");
            let fix = if key == "password_file" {
                "make it readable"
            } else {
                "groupadd"
            };
            assert!(err.contains(fix), "{err}");
        }
        assert!(!dir.path().join("s.sock").exists());
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &base).unwrap();
    let out = Command::new(dawgmond_bin())
        .args(["--check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// `dawgctl --local` with flags for neither.
fn local(config: &Path) -> Command {
    let mut c = Command::new(dawgctl_bin());
    c.arg("--local")
        .arg("--daemon-config")
        .arg(config)
        .env_remove("DAWGMON_DATABASE")
        .env_remove("DAWGMOND_CONFIG")
        .stdin(Stdio::null());
    c
}

/// The root and collectors of the newest stored scan, and its items' debug text.
fn stored(db: &Path) -> (String, Vec<String>, String) {
    crate::helper::block_on(async {
        let store = dawgmon::store::Store::open(db).await.unwrap();
        let info = store.latest().await.unwrap().unwrap();
        let snap = store.load(info.id).await.unwrap();
        store.close().await;
        let ran = snap.results.keys().cloned().collect();
        (info.root, ran, format!("{snap:?}"))
    })
}

/// `--local` ignored the config file's `database`, `root`, `collectors` and `max_hash_mib`
/// (and the timeouts), so its scans and the daemon's in one database disagreed. Now it takes
/// them all from the file; flags override.
#[test]
fn local_takes_the_daemons_settings_and_flags_override_them() {
    let root = TreeBuilder::with_etc();
    let big = "x".repeat(3 << 20);
    root.file("srv/tree/big.bin", &big);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/configured.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let config = dir.path().join("dawgmond.toml");
    std::fs::write(
        &config,
        format!(
            "database = {db:?}\nroot = {:?}\ncollectors = [\"check_groups\"]\nmax_hash_mib = 1\n\
             collector_timeout = 60\n[[watch]]\npath = \"/srv/tree\"\n",
            root.path()
        ),
    )
    .unwrap();
    crate::helper::ok(&local(&config).arg("scan").output().unwrap());
    assert!(db.exists(), "the scan went elsewhere");
    let (scanned, ran, items) = stored(&db);
    assert_eq!(scanned, root.path().display().to_string());
    assert_eq!(ran, ["check_groups", "watch:/srv/tree"], "{items}");
    assert!(
        items.contains("big.bin") && items.contains("not_hashed"),
        "max_hash_mib = 1 leaves a 3 MiB file unhashed: {items}"
    );

    // Flags win: another database, another root, another collector.
    let other_db = dir.path().join("other.db");
    let other_root = TreeBuilder::with_etc();
    let out = local(&config)
        .arg("--database")
        .arg(&other_db)
        .arg("--root")
        .arg(other_root.path())
        .args(["-c", "check_users", "scan"])
        .output()
        .unwrap();
    crate::helper::ok(&out);
    let (scanned, ran, _) = stored(&other_db);
    assert_eq!(scanned, other_root.path().display().to_string());
    assert_eq!(ran, ["check_users"]);
    let status = crate::helper::json(
        &local(&config)
            .args(["--format", "json", "status"])
            .output()
            .unwrap(),
    );
    assert_eq!(status["scans_stored"], 1, "{status:#}");
}

/// The README's figure of collectors is the registry's: the default set, out of all.
#[test]
fn the_readme_counts_the_collectors_there_are() {
    let readme = include_str!("../README.md");
    let all = dawgmon::collectors::COLLECTORS;
    let default = all.iter().filter(|c| c.default_enabled()).count();
    let claim = format!(
        "the {default} collectors of the default set ({} in all)",
        all.len()
    );
    assert!(readme.contains(&claim), "README.md should say {claim:?}");
}

/// The README's `--by package` example is the real output of the reports fixture (an nginx
/// install, a libc6 upgrade, a setuid shell no package owns): it showed that shell as high,
/// where `suid.unowned` makes it critical.
#[test]
fn the_readme_by_package_example_has_the_real_severities() {
    let root = crate::reports::fixture();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let run = |args: &[&str]| {
        local(Path::new("/nonexistent/dawgmond.toml"))
            .arg("--database")
            .arg(&db)
            .arg("--root")
            .arg(root.path())
            .args(crate::reports::COLLECTORS)
            .args(["--no-timestamps", "--color", "never"])
            .args(args)
            .env_remove("DAWGMON_SYSTEMD_BUS")
            .output()
            .unwrap()
    };
    crate::helper::ok(&run(&["scan"]));
    crate::reports::install_nginx(&root);
    crate::helper::ok(&run(&["scan"]));
    let real = crate::helper::ok(&run(&[
        "--by", "package", "diff", "--since", "1", "--to", "2",
    ]));
    let readme = include_str!("../README.md");
    let example: String = readme
        .split_once("  ```\n  6 changes detected")
        .and_then(|(_, rest)| rest.split_once("  ```"))
        .map(|(block, _)| format!("6 changes detected{block}"))
        .expect("the --by package example")
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    assert_eq!(
        example, real,
        "README.md's --by package example is not the real output"
    );
}

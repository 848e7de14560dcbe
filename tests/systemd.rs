//! `dawgmond` as a real `Type=notify` unit under a real systemd manager: `systemd --user` in a
//! private mount namespace (see TESTING.md), with a unit made from
//! `dist/systemd/dawgmond.service`.
//!
//! The unit is used as shipped except: ExecStart points at the built binary, with the socket
//! and database in the unit's RuntimeDirectory (%t) and StateDirectory (%S), as the system unit
//! has them; output goes to a file (no journald in user mode); and ProtectKernelTunables= and
//! ProtectKernelLogs= are dropped, because this sandbox refuses them (the unit then fails with
//! 226/NAMESPACE). Everything else (ProtectSystem=strict, ProtectHome=read-only, PrivateMounts,
//! the capability bounding set, the system call filter, WatchdogSec...) stays.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::helper::{dawgctl_bin, dawgmond_bin, wait_until};

/// Options this sandbox cannot apply, even for a root user manager.
const UNSUPPORTED_HERE: [&str; 2] = ["ProtectKernelTunables=", "ProtectKernelLogs="];

struct UserManager {
    dir: tempfile::TempDir,
    child: Child,
}

impl UserManager {
    fn start() -> UserManager {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let script = d.join("start-user-manager.sh");
        fs::write(
            &script,
            format!(
                "set -e\n\
                 mount -t tmpfs tmpfs /run/systemd\n\
                 mkdir /run/systemd/system\n\
                 export XDG_RUNTIME_DIR={d}/xdg XDG_STATE_HOME={d}/state XDG_CONFIG_HOME={d}/config\n\
                 mkdir -p $XDG_RUNTIME_DIR/systemd/user $XDG_STATE_HOME $XDG_CONFIG_HOME\n\
                 chmod 700 $XDG_RUNTIME_DIR\n\
                 exec /lib/systemd/systemd --user\n",
                d = d.display()
            ),
        )
        .unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh"])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(fs::File::create(d.join("manager.log")).unwrap())
            .stderr(fs::File::create(d.join("manager.err")).unwrap())
            .spawn()
            .expect("start systemd --user");
        let m = UserManager { dir, child };
        wait_until(Duration::from_secs(30), "systemd --user to answer", || {
            if !m.runtime_dir().join("systemd/private").exists() {
                return None;
            }
            m.systemctl(&["is-system-running"])
                .status
                .code()
                .map(|_| ())
        });
        m
    }

    fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("xdg")
    }

    fn systemctl(&self, args: &[&str]) -> Output {
        Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .expect("run systemctl")
    }

    fn systemctl_text(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.systemctl(args).stdout)
            .trim()
            .to_string()
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.systemctl(&["exit"]);
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped unit, adapted to run the built binary under a user manager.
fn test_unit(config: &Path, log: &Path) -> String {
    let shipped = include_str!("../dist/systemd/dawgmond.service");
    let mut out = String::new();
    for line in shipped.lines() {
        if UNSUPPORTED_HERE.iter().any(|o| line.starts_with(o)) {
            continue;
        }
        if line.starts_with("ExecStart=") {
            out.push_str(&format!(
                "ExecStart={} --config {} --socket %t/dawgmon/dawgmond.sock --database %S/dawgmon/dawgmon.db\n",
                dawgmond_bin(),
                config.display()
            ));
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == "[Service]" {
            out.push_str(&format!(
                "StandardOutput=append:{log}\nStandardError=append:{log}\n",
                log = log.display()
            ));
        }
    }
    out
}

#[test]
fn dawgmond_becomes_active_as_a_notify_unit_under_systemd() {
    let _live = crate::helper::live_lock();
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test mounts a tmpfs in a private namespace: run the tests as root"
    );
    let m = UserManager::start();
    let d = m.dir.path();
    let config = d.join("dawgmond.toml");
    fs::write(
        &config,
        "schedule = \"off\"\ncollectors = [\"check_users\", \"check_groups\"]\n",
    )
    .unwrap();
    let log = d.join("dawgmond.log");
    let unit = test_unit(&config, &log);
    assert!(unit.contains("Type=notify") && unit.contains("ProtectSystem=strict"));
    fs::write(m.runtime_dir().join("systemd/user/dawgmond.service"), unit).unwrap();
    m.systemctl(&["daemon-reload"]);

    let start = m.systemctl(&["start", "dawgmond.service"]);
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    assert!(
        start.status.success(),
        "systemctl start failed: {}\n{}\n{}",
        String::from_utf8_lossy(&start.stderr),
        m.systemctl_text(&["status", "dawgmond.service"]),
        log_text()
    );
    assert_eq!(
        m.systemctl_text(&["is-active", "dawgmond.service"]),
        "active"
    );
    let status = m.systemctl_text(&["show", "-p", "StatusText", "dawgmond.service"]);
    assert!(status.contains("idle"), "{status}");
    let watchdog = m.systemctl_text(&["show", "-p", "WatchdogUSec", "dawgmond.service"]);
    assert_eq!(watchdog, "WatchdogUSec=2min");

    // The socket answers, in the unit's RuntimeDirectory; the database is in its StateDirectory.
    let socket = m.runtime_dir().join("dawgmon/dawgmond.sock");
    let ctl = |args: &[&str]| {
        Command::new(dawgctl_bin())
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    let out = ctl(&["status", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log_text()
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["api_version"], 1);
    let db = PathBuf::from(s["database"].as_str().unwrap());
    assert!(
        db.ends_with("dawgmon/dawgmon.db") && db.starts_with(d),
        "{db:?}"
    );
    let out = ctl(&["scan"]);
    assert!(
        out.status.success(),
        "a scan under the hardened unit failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log_text()
    );

    let stop = m.systemctl(&["stop", "dawgmond.service"]);
    assert!(stop.status.success());
    assert_eq!(
        m.systemctl_text(&["is-active", "dawgmond.service"]),
        "inactive"
    );
    let text = log_text();
    assert!(
        text.contains("SIGTERM received") && text.contains("stopped"),
        "{text}"
    );
}

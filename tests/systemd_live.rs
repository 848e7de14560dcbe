//! The D-Bus systemd collectors against a real systemd manager: a `systemd --user` started in a
//! private mount namespace (so the `/run/systemd/system` it needs never shows on the host), with
//! a test service, timer and socket started in it.
//!
//! `DAWGMON_SYSTEMD_BUS` is process-wide, so every check that sets it lives in the one test
//! function below, which restores it before returning.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dawgmon::collectors::by_name;
use dawgmon::error::CollectError;
use dawgmon::host::Host;
use dawgmon::model::Item;

const BUS_ENV: &str = "DAWGMON_SYSTEMD_BUS";

/// A `systemd --user` manager in its own mount namespace; stopped (and killed if need be) on
/// drop, so a failing assertion never leaves it running.
struct UserManager {
    child: Child,
    xdg: PathBuf,
    log: PathBuf,
}

impl UserManager {
    fn start(dir: &Path) -> UserManager {
        let xdg = dir.join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        std::fs::set_permissions(&xdg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let script = dir.join("start-user-manager.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nset -e\nmkdir -p /run/systemd\n\
             mount -t tmpfs tmpfs /run/systemd\nmkdir /run/systemd/system\n\
             exec /lib/systemd/systemd --user\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let log = dir.join("manager.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private"])
            .arg(&script)
            .env("XDG_RUNTIME_DIR", &xdg)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot run unshare (util-linux) to start a systemd --user manager");
        let manager = UserManager { child, xdg, log };
        let bus = manager.xdg.join("bus");
        manager.wait_for("the user bus socket to appear", || bus.exists());
        manager.wait_for("systemctl --user to answer", || {
            manager.systemctl(&["show", "--property=Version"]).is_ok()
        });
        manager
    }

    fn bus_address(&self) -> String {
        format!("unix:path={}", self.xdg.join("bus").display())
    }

    fn systemctl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .env("DBUS_SESSION_BUS_ADDRESS", self.bus_address())
            .output()
            .map_err(|e| format!("cannot run systemctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "systemctl --user {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Polls `ready` for up to 30 s; panics with the manager's log otherwise.
    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what} (is the systemd package installed and are we root?); manager log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.systemctl(&["exit"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(name: &str) -> Result<Vec<Item>, CollectError> {
    by_name(name)
        .unwrap_or_else(|| panic!("no collector {name}"))
        .collect(&Host::new("/"))
}

fn find<'a>(items: &'a [Item], key: &str) -> &'a Item {
    items.iter().find(|i| i.key == key).unwrap_or_else(|| {
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        panic!("no item {key:?} among {keys:?}")
    })
}

fn field<'a>(item: &'a Item, name: &str) -> &'a str {
    item.fields
        .get(name)
        .unwrap_or_else(|| panic!("{} has no field {name}: {:?}", item.key, item.fields))
}

#[test]
fn collectors_read_a_real_systemd_manager() {
    let _live = crate::helper::live_lock();
    let dir = tempfile::tempdir().unwrap();
    let manager = UserManager::start(dir.path());
    let previous = std::env::var_os(BUS_ENV);
    // SAFETY: this is the only test that touches the variable; the library reads it with
    // std::env::var, which takes std's environment lock.
    unsafe { std::env::set_var(BUS_ENV, manager.bus_address()) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        live_checks(&manager, dir.path())
    }));
    unsafe {
        match previous {
            Some(v) => std::env::set_var(BUS_ENV, v),
            None => std::env::remove_var(BUS_ENV),
        }
    }
    drop(manager);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn live_checks(manager: &UserManager, dir: &Path) {
    let name = format!("dawgmon-test-{}", std::process::id());
    let units = manager.xdg.join("systemd/user");
    std::fs::create_dir_all(&units).unwrap();
    let sock = dir.join("test.sock");
    std::fs::write(
        units.join(format!("{name}.service")),
        "[Service]\nExecStart=/bin/sleep 300\nStandardOutput=null\n",
    )
    .unwrap();
    std::fs::write(
        units.join(format!("{name}.timer")),
        "[Timer]\nOnCalendar=*-*-* 03:00:00\nOnBootSec=15min\n",
    )
    .unwrap();
    std::fs::write(
        units.join(format!("{name}.socket")),
        format!("[Socket]\nListenStream={}\n", sock.display()),
    )
    .unwrap();
    manager.systemctl(&["daemon-reload"]).unwrap();
    // The socket first: systemd refuses to start a socket whose service already runs.
    manager
        .systemctl(&["start", &format!("{name}.socket")])
        .unwrap();
    manager
        .systemctl(&[
            "start",
            &format!("{name}.service"),
            &format!("{name}.timer"),
        ])
        .unwrap();

    // The manager joins its bus shortly after the bus daemon is socket-activated: retry.
    let mut units_now = Err(CollectError::Unavailable("not asked yet".into()));
    manager.wait_for("the manager to answer on its bus", || {
        units_now = collect("systemd_units");
        units_now.is_ok()
    });
    let units_now = units_now.unwrap();
    let service = find(&units_now, &format!("{name}.service"));
    assert_eq!(field(service, "load_state"), "loaded");
    assert_eq!(field(service, "active_state"), "active");
    assert_eq!(service.fields.len(), 2, "only load and active state");
    find(&units_now, &format!("{name}.timer"));
    assert!(
        units_now.iter().all(|u| !u.key.ends_with(".scope")),
        "scopes are left out"
    );

    let timers = collect("systemd_timers").unwrap();
    let timer = find(&timers, &format!("{name}.timer"));
    assert_eq!(field(timer, "unit"), format!("{name}.service"));
    assert_eq!(field(timer, "calendar"), "OnCalendar=*-*-* 03:00:00");
    assert_eq!(field(timer, "monotonic"), "OnBootUSec=15min");
    assert_eq!(field(timer, "active_state"), "active");

    let sockets = collect("systemd_sockets").unwrap();
    let socket = find(&sockets, &format!("Stream {}", sock.display()));
    assert_eq!(field(socket, "unit"), format!("{name}.socket"));
    assert_eq!(field(socket, "triggers"), format!("{name}.service"));
    assert_eq!(field(socket, "active_state"), "active");

    let props = collect("systemd_props").unwrap();
    let version = field(find(&props, "Version"), "value").to_string();
    let systemctl_version = Command::new("systemctl").arg("--version").output().unwrap();
    let systemctl_version = String::from_utf8_lossy(&systemctl_version.stdout);
    assert!(
        systemctl_version.contains(&version),
        "Version {version:?} not in {systemctl_version:?}"
    );
    for p in &props {
        assert!(
            !p.key.contains("Timestamp")
                && !["NNames", "NJobs", "Progress"].contains(&p.key.as_str()),
            "ticking property {} kept",
            p.key
        );
    }

    // An idle manager gives identical output twice.
    for c in ["systemd_timers", "systemd_sockets", "systemd_props"] {
        assert_eq!(collect(c).unwrap(), collect(c).unwrap(), "{c} is not quiet");
    }

    // A change in the manager shows in the next scan.
    manager
        .systemctl(&["stop", &format!("{name}.service")])
        .unwrap();
    let after = collect("systemd_units").unwrap();
    let state = field(find(&after, &format!("{name}.service")), "active_state");
    assert!(
        state == "inactive" || state == "deactivating",
        "stopped service is {state}"
    );

    // A bus with no manager behind it: unavailable, never an empty list.
    let nowhere = format!("unix:path={}", dir.join("no-such-bus").display());
    unsafe { std::env::set_var(BUS_ENV, &nowhere) };
    for c in [
        "systemd_units",
        "systemd_timers",
        "systemd_sockets",
        "systemd_props",
    ] {
        match collect(c) {
            Err(CollectError::Unavailable(why)) => {
                assert!(why.contains("no systemd manager answers"), "{c}: {why}")
            }
            other => panic!("{c}: expected Unavailable, got {other:?}"),
        }
    }
}

//! Issue 8 ("trust"): attacks and faults played for real against the real binaries. Each test
//! here failed on the code before the fix it names.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helper::{DaemonOptions, dawgctl_bin, json, wait_until};

fn local(db: &Path, root: &Path, args: &[&str]) -> Output {
    Command::new(dawgctl_bin())
        .arg("--local")
        .arg("--database")
        .arg(db)
        .arg("--root")
        .arg(root)
        .args(["--format", "json"])
        .args(args)
        .env_remove("DAWGMON_SYSTEMD_BUS")
        .output()
        .expect("run dawgctl")
}

fn changes(report: &Value) -> Vec<Value> {
    report["report"]["changes"]
        .as_array()
        .or_else(|| report["changes"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// Runs `script` with sh as the unprivileged user nobody.
fn as_nobody(script: &str) {
    let st = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .status()
        .expect("setpriv");
    assert!(st.success(), "as nobody: {script}");
}

/// A directory tree that nobody may write into (`tmp`, mode 1777), under a root every user
/// can reach (tests may run from a 0700 checkout: the tree lives in /tmp, not there).
fn world_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("dawgmon-trust-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(dir.path().join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::set_permissions(
        dir.path().join("tmp"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    dir
}

/// Item 2: a sparse setuid file of a terabyte, made by an unprivileged user, was hashed to the
/// end (hours), so the setuid check timed out every scan. Now it is reported at once, as a
/// high-severity new setuid file with its size and `not_hashed`.
#[test]
fn a_sparse_setuid_terabyte_is_reported_not_hashed() {
    let root = world_root();
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("d.db");
    let r = root.path();
    json(&local(&db, r, &["-c", "list_suids", "scan"]));
    let giant = r.join("tmp/giant");
    as_nobody(&format!(
        "truncate -s 1T '{0}' && chmod 4755 '{0}'",
        giant.display()
    ));
    assert_eq!(
        std::fs::metadata(&giant).unwrap().permissions().mode() & 0o7777,
        0o4755
    );
    let t = Instant::now();
    let report = json(&local(&db, r, &["-c", "list_suids", "scan"]));
    let took = t.elapsed();
    eprintln!("scan with a 1 TiB sparse setuid file: {took:?}");
    let c = changes(&report);
    let giant_change = c
        .iter()
        .find(|c| c["key"] == "/tmp/giant")
        .unwrap_or_else(|| panic!("no change for the giant: {report:#}"));
    assert_eq!(giant_change["kind"], "added");
    assert_eq!(giant_change["severity"], "high");
    assert_eq!(giant_change["after"]["size"], "1099511627776");
    assert_eq!(giant_change["after"]["not_hashed"], "larger than 256 MiB");
    assert!(giant_change["after"].get("sha256").is_none());
    assert_eq!(giant_change["after"]["owner"], "65534");
    // Generous: hashing the whole file would take an hour or more.
    assert!(took < Duration::from_secs(120), "{took:?}");
}

/// Items 1 and 8: a collector's outage is reported (once), and what changed while it was out
/// is reported when it works again, compared with its last good scan.
#[test]
fn an_outage_is_loud_and_hides_nothing() {
    let root = world_root();
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("d.db");
    let r = root.path();
    let scan = || json(&local(&db, r, &["-c", "check_groups", "scan"]));
    scan();
    std::fs::rename(r.join("etc/group"), r.join("etc/group.away")).unwrap();
    let out1 = scan();
    let c = changes(&out1);
    assert_eq!(c.len(), 1, "{out1:#}");
    assert_eq!(c[0]["key"], "(collector)");
    assert_eq!(c[0]["severity"], "high");
    let out2 = scan();
    assert!(
        changes(&out2).is_empty(),
        "a continuing outage is no new change"
    );
    std::fs::write(r.join("etc/group.away"), "root:x:0:\nbackdoor:x:0:\n").unwrap();
    std::fs::rename(r.join("etc/group.away"), r.join("etc/group")).unwrap();
    let back = scan();
    let keys: Vec<(String, String)> = changes(&back)
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        keys.contains(&("backdoor".into(), "added".into())),
        "{back:#}"
    );
    assert!(keys.contains(&("(collector)".into(), "removed".into())));
}

/// Item 3: SIGHUP reloads the configuration; it never kills the daemon, and a broken file
/// keeps the configuration in use.
#[test]
fn sighup_reloads_and_never_kills() {
    let mut d = DaemonOptions::default().spawn();
    let status = d.ctl_json(&["status"]);
    assert!(status["schedule"].is_null(), "{status:#}");
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        text.replace("schedule = \"off\"", "schedule = \"0 0 3 * * *\""),
    )
    .unwrap();
    nix::sys::signal::kill(d.pid(), nix::sys::signal::Signal::SIGHUP).unwrap();
    d.wait_for_notice("RELOADING=1", Duration::from_secs(10));
    wait_until(Duration::from_secs(20), "the reloaded schedule", || {
        let s = d.ctl(&["--format", "json", "status"]);
        let v: Value = serde_json::from_slice(&s.stdout).ok()?;
        (v["schedule"] == "0 0 3 * * *").then_some(())
    });
    assert!(
        !d.notices().iter().any(|n| n.contains("STOPPING=1")),
        "a reload is not a stop: {:?}",
        d.notices()
    );

    std::fs::write(&d.config, "this is = not [valid toml\n").unwrap();
    nix::sys::signal::kill(d.pid(), nix::sys::signal::Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let again = wait_until(
        Duration::from_secs(20),
        "an answer after a bad reload",
        || {
            let s = d.ctl(&["--format", "json", "status"]);
            serde_json::from_slice::<Value>(&s.stdout).ok()
        },
    );
    assert_eq!(again["schedule"], "0 0 3 * * *");
    assert!(d.child.try_wait().unwrap().is_none(), "dawgmond died");
    assert!(
        d.log().contains("keeping the configuration in use"),
        "{}",
        d.log()
    );
}

/// Item 6: `--root` on an untrusted image followed the image's absolute symlinks out of it
/// (host data in the report, /dev/zero read until memory ran out) and blocked on its FIFOs.
/// Now every path resolves inside the image, only regular files are read, with a size cap.
#[test]
fn a_hostile_image_cannot_read_the_host_or_hang_the_scan() {
    let img = tempfile::tempdir().unwrap();
    let r = img.path();
    for d in ["etc", "var/lib/dpkg", "proc/self", "usr/lib"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("d.db");
    std::fs::write(
        r.join("etc/passwd"),
        "first:x:1000:1000::/home/first:/bin/sh\n",
    )
    .unwrap();
    json(&local(&db, r, &["scan"]));

    std::fs::remove_file(r.join("etc/passwd")).unwrap();
    std::fs::write(
        r.join("etc/shadow"),
        "imageuser:x:4242:4242::/home/image:/bin/sh\n",
    )
    .unwrap();
    // The image's passwd is "the host's shadow"; its group is an endless device; its package
    // lists are the host's.
    std::os::unix::fs::symlink("/etc/shadow", r.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", r.join("etc/group")).unwrap();
    std::os::unix::fs::symlink("/var/lib/dpkg/info", r.join("var/lib/dpkg/info")).unwrap();
    for fifo in [
        "etc/os-release",
        "var/lib/dpkg/status",
        "proc/self/mountinfo",
    ] {
        nix::unistd::mkfifo(&r.join(fifo), nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    let t = Instant::now();
    let out = local(&db, r, &["scan"]);
    let took = t.elapsed();
    eprintln!("hostile image scanned in {took:?}");
    let report = json(&out);
    let text = report.to_string();
    assert!(took < Duration::from_secs(120), "{took:?}");
    // The image's own shadow line was read through its passwd link, never the host's.
    assert!(text.contains("imageuser"), "{report:#}");
    assert!(
        !text.contains("\"root\""),
        "host accounts leaked: {report:#}"
    );
    for host_pkg in ["\"libc6\"", "\"dpkg\"", "coreutils"] {
        assert!(!text.contains(host_pkg), "host package {host_pkg} leaked");
    }
}

/// The controlling terminal of a process (`tty_nr` in /proc/PID/stat; 0 for none).
fn tty_of(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(4)?.parse().ok()
}

/// Item 3: a local user who swaps a directory for a symlink to /dev/pts between the walk and
/// the hash made the daemon open their pty as its controlling terminal (it is a session
/// leader without one, as under systemd); closing it then sent SIGHUP, which killed it. Now
/// files are opened beneath the root refusing symlinks, with O_NOCTTY, and SIGHUP reloads.
#[test]
fn a_directory_swapped_for_a_symlink_to_dev_pts_cannot_take_the_daemon() {
    let _live = crate::helper::live_lock();
    let root = world_root();
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("s.sock");
    let config = state.path().join("dawgmond.toml");
    std::fs::write(
        &config,
        format!(
            "socket = {:?}\ndatabase = {:?}\nroot = {:?}\nschedule = \"* * * * * *\"\n\
             collectors = [\"list_suids\"]\nretention = 0\n",
            socket,
            state.path().join("d.db"),
            root.path()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(state.path().join("log")).unwrap();
    let mut daemon = {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(crate::helper::dawgmond_bin());
        cmd.arg("--config")
            .arg(&config)
            .env_remove("NOTIFY_SOCKET")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: setsid is async-signal-safe; a new session without a terminal, as systemd
        // gives a service.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        cmd.spawn().unwrap()
    };
    wait_until(Duration::from_secs(20), "the daemon's socket", || {
        socket.exists().then_some(())
    });
    let attacker = format!(
        r#"
import os, time
m, s = os.openpty()
n = os.path.basename(os.ttyname(s))
os.close(s)
d = "{root}/tmp/x"
real = d + ".real"
os.mkdir(real)
f = os.path.join(real, n)
open(f, "w").write("not a terminal")
os.chmod(f, 0o4755)
end = time.time() + 12
flips = 0
while time.time() < end:
    os.rename(real, d)
    time.sleep(0.0003)
    os.rename(d, real)
    os.symlink("/dev/pts", d)
    time.sleep(0.0003)
    os.unlink(d)
    flips += 1
os.close(m)
print(flips)
"#,
        root = root.path().display()
    );
    let mut flipper = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &attacker,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let mut worst = 0;
    while flipper.try_wait().unwrap().is_none() {
        if let Some(t) = tty_of(pid) {
            worst = worst.max(t.abs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = flipper.wait_with_output().unwrap();
    let flips = String::from_utf8_lossy(&out.stdout).trim().to_string();
    std::thread::sleep(Duration::from_secs(2));
    let alive = daemon.try_wait().unwrap().is_none();
    let history = Command::new(dawgctl_bin())
        .arg("--socket")
        .arg(&socket)
        .args(["--format", "json", "history", "--limit", "1000"])
        .output()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    let log = std::fs::read_to_string(state.path().join("log")).unwrap_or_default();
    assert!(alive, "dawgmond died during the swap attack:\n{log}");
    assert_eq!(worst, 0, "dawgmond acquired a controlling terminal:\n{log}");
    let scans: Value = serde_json::from_slice(&history.stdout).unwrap_or(Value::Null);
    let n = scans.as_array().map_or(0, |a| a.len());
    eprintln!("{flips} swaps, {n} scans during the attack");
    assert!(n >= 4, "too few scans ran during the attack ({n}):\n{log}");
}

/// Under the shipped unit, `RestrictSUIDSGID=yes` makes the kernel's `openat2` fail with
/// ENOSYS (seccomp). The fallback then refused every symlink, so `/etc/os-release` (a symlink
/// on Debian) and `/proc/net/tcp` (through `/proc/net -> self/net`) were unavailable. With the
/// fallback forced, the live host's collectors that read through symlinks all still work, and
/// the walk still finds setuid files.
#[test]
fn without_openat2_the_live_host_is_still_read_whole() {
    let _live = crate::helper::live_lock();
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(dawgctl_bin())
        .arg("--local")
        .arg("--database")
        .arg(state.path().join("d.db"))
        .args([
            "-c",
            "lsb_version",
            "-c",
            "list_tcpudp_ports",
            "-c",
            "list_suids",
            "-c",
            "check_users",
            "--format",
            "json",
            "scan",
        ])
        .env("DAWGMON_NO_OPENAT2", "1")
        .output()
        .unwrap();
    let report = json(&out);
    let warnings = report["warnings"].to_string();
    for c in [
        "lsb_version",
        "list_tcpudp_ports",
        "list_suids",
        "check_users",
    ] {
        assert!(
            !warnings.contains(c),
            "{c} unavailable without openat2: {warnings}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" items in "), "{stderr}");
}

/// Issue 15: FIFOs past `max_items` (lowered here to 10 in the daemon's config) make
/// list_pipes an outage whose warning names the cause and the key, on the real daemon, while
/// list_suids, fed by the same walk, still lists its file.
#[test]
fn fifos_past_max_items_are_an_outage_named_in_the_report() {
    let root = crate::helper::TreeBuilder::with_etc();
    root.file_mode("usr/bin/su", "x", 0o4755);
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    for i in 0..30 {
        nix::unistd::mkfifo(
            &root.join(&format!("tmp/p{i}")),
            nix::sys::stat::Mode::S_IRUSR,
        )
        .unwrap();
    }
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        collectors: vec!["list_pipes".into(), "list_suids".into()],
        extra: "max_items = 10\n".into(),
        ..Default::default()
    }
    .spawn();
    let report = d.ctl_json(&["scan"]);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("more than 10 named pipes") && warnings.contains("max_items"),
        "{report:#}"
    );
    assert!(!warnings.contains("list_suids"), "{report:#}");
    // The setuid list still works: a new setuid file is a change.
    root.file_mode("usr/bin/newsu", "x", 0o4755);
    let next = d.ctl_json(&["scan"]);
    let keys: Vec<String> = changes(&next)
        .iter()
        .map(|c| format!("{} {}", c["collector"], c["key"]))
        .collect();
    assert!(
        keys.iter()
            .any(|k| k.contains("list_suids") && k.contains("/usr/bin/newsu")),
        "{next:#}"
    );
}

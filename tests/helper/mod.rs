//! Shared test helpers: fake root trees, the real `dawgmond` on a temporary socket and database,
//! the real `dawgctl` against it, and raw HTTP.

#![allow(dead_code)] // Each test module uses a different part.

pub mod pg;
pub mod smtp;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A fake root file system in a temporary directory.
pub struct TreeBuilder {
    dir: TempDir,
}

impl Default for TreeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        TreeBuilder {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A tree with a minimal `etc`: passwd, group, shadow, gshadow, hostname.
    pub fn with_etc() -> Self {
        let t = Self::new();
        t.file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .file("etc/group", "root:x:0:\nadm:x:4:\nnogroup:x:65534:\n")
        .file_mode("etc/shadow", "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o640)
        .file_mode("etc/gshadow", "root:*::\nadm:*::\nnogroup:*::\n", 0o640)
        .file("etc/hostname", "fakehost\n");
        t
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The real path of `rel` under the root.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel.trim_start_matches('/'))
    }

    /// Writes a file (mode 0644), creating its directories.
    pub fn file(&self, rel: &str, content: &str) -> &Self {
        self.file_mode(rel, content, 0o644)
    }

    /// Writes a file with a mode (setuid bits included: `0o4755`).
    pub fn file_mode(&self, rel: &str, content: &str, mode: u32) -> &Self {
        let p = self.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Appends to a file.
    pub fn append(&self, rel: &str, content: &str) -> &Self {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.join(rel))
            .unwrap();
        f.write_all(content.as_bytes()).unwrap();
        self
    }

    /// Creates a directory with a mode.
    pub fn dir(&self, rel: &str, mode: u32) -> &Self {
        let p = self.join(rel);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Creates a symbolic link.
    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let p = self.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
        self
    }

    /// A sparse file of a terabyte: hashing it takes hours, so with `max_hash_mib` raised to
    /// its maximum ([`SLOW_HASH_CONFIG`]) `check_etc` hangs on it until its timeout, as a
    /// collector stuck on a slow disk would. (FIFOs no longer hang anything: only regular
    /// files are read, without blocking.)
    pub fn slow_to_hash(&self, rel: &str) -> &Self {
        let p = self.join(rel);
        let _ = fs::remove_file(&p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::File::create(&p).unwrap().set_len(1 << 40).unwrap();
        self
    }
}

/// Config lines that let `check_etc` hash a file of any size (see [`TreeBuilder::slow_to_hash`]).
pub const SLOW_HASH_CONFIG: &str = "max_hash_mib = 1048576\n";

/// How to start a test daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub root: Option<PathBuf>,
    pub collectors: Vec<String>,
    pub schedule: String,
    pub socket_mode: u32,
    pub admin_group: Option<String>,
    pub retention: usize,
    pub collector_timeout: u64,
    /// Extra lines for the config file (appended last, so a `[mail]` table fits).
    pub extra: String,
    /// An existing database to reuse (a restart); default: a new one in the daemon's directory.
    pub database: Option<PathBuf>,
    /// `idle_timeout` in the config file (seconds).
    pub idle_timeout: u64,
    /// A descriptor limit (soft and hard) for the daemon, as `prlimit --nofile=N:N` would set.
    pub nofile: Option<u64>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            root: None,
            collectors: vec!["check_groups".into(), "check_users".into()],
            schedule: "off".into(),
            socket_mode: 0o660,
            admin_group: None,
            retention: 0,
            collector_timeout: 300,
            extra: String::new(),
            database: None,
            idle_timeout: 10,
            nofile: None,
        }
    }
}

impl DaemonOptions {
    /// Starts the daemon and waits until it reports READY=1 on its notify socket.
    pub fn spawn(self) -> Daemon {
        spawn_daemon(self)
    }
}

/// A running `dawgmond`, killed when dropped.
pub struct Daemon {
    pub dir: TempDir,
    pub socket: PathBuf,
    pub database: PathBuf,
    pub config: PathBuf,
    pub child: Child,
    log: PathBuf,
    notices: Arc<Mutex<Vec<String>>>,
    /// A daemon's socket is a change of the live host (a listening UNIX socket).
    _live: LiveGuard,
}

/// The built binaries.
pub fn dawgmond_bin() -> &'static str {
    for_anyone(env!("CARGO_BIN_EXE_dawgmond"))
}

pub fn dawgctl_bin() -> &'static str {
    for_anyone(env!("CARGO_BIN_EXE_dawgctl"))
}

/// `dawgctl --local --database DB`, scanning `root` when given (the host's `/` otherwise); the
/// test adds the rest (`--daemon-config`, `-c NAME`, the command).
pub fn local(db: &Path, root: Option<&Path>) -> Command {
    let mut cmd = Command::new(dawgctl_bin());
    cmd.arg("--local").arg("--database").arg(db);
    if let Some(root) = root {
        cmd.arg("--root").arg(root);
    }
    cmd
}

/// The test binary itself, runnable by any user (tests re-run it as `nobody`).
pub fn test_exe() -> &'static str {
    let exe = std::env::current_exe().expect("the test binary's path");
    for_anyone(
        Box::leak(exe.into_boxed_path())
            .to_str()
            .expect("UTF-8 path"),
    )
}

/// The standard output of a successful run of dawgctl; a failure shows both outputs.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "dawgctl failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON a successful run of dawgctl printed.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("dawgctl printed JSON")
}

/// Runs a future on a runtime of its own (tests that use the library's async store).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A path to `exe` that any user can run. The tests run binaries as `nobody`, and a checkout in
/// a 0700 directory (a home made by adduser, /root) hides the build from other users: the
/// binary is hard-linked (copied when /tmp is another file system) once per test process into
/// a 0755 directory under the temporary directory.
pub fn for_anyone(exe: &'static str) -> &'static str {
    static DONE: Mutex<Vec<(&'static str, &'static str)>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, to)) = done.iter().find(|(from, _)| *from == exe) {
        return to;
    }
    let tmp = std::env::temp_dir();
    if done.is_empty() {
        // Those of test processes that are gone (a hard link keeps a whole binary on disk).
        for e in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("dawgmon-test-bin-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tmp.join(format!("dawgmon-test-bin-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a directory for runnable binaries");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let name = Path::new(exe).file_name().expect("a file name");
    let to = dir.join(name);
    if !to.exists() && fs::hard_link(exe, &to).is_err() {
        fs::copy(exe, &to).expect("copy a binary for other users");
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let to: &'static str = Box::leak(
        to.into_os_string()
            .into_string()
            .expect("UTF-8")
            .into_boxed_str(),
    );
    done.push((exe, to));
    to
}

/// Writes a config for `opts` into a temporary directory, starts the real `dawgmond` with a
/// `NOTIFY_SOCKET` the test listens on, and waits for `READY=1`.
pub fn spawn_daemon(opts: DaemonOptions) -> Daemon {
    let live = live_lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("dawgmond.sock");
    let database = opts
        .database
        .clone()
        .unwrap_or_else(|| dir.path().join("state/dawgmon.db"));
    let config = dir.path().join("dawgmond.toml");
    let log = dir.path().join("dawgmond.log");
    let root = opts
        .root
        .clone()
        .unwrap_or_else(|| dir.path().to_path_buf());
    let collectors: Vec<String> = opts.collectors.iter().map(|c| format!("{c:?}")).collect();
    let mut text = format!(
        "socket = {:?}\ndatabase = {:?}\nroot = {:?}\nschedule = {:?}\ncollectors = [{}]\n\
         socket_mode = 0o{:o}\nretention = {}\ncollector_timeout = {}\nidle_timeout = {}\n\
         log_level = \"debug\"\n",
        socket,
        database,
        root,
        opts.schedule,
        collectors.join(", "),
        opts.socket_mode,
        opts.retention,
        opts.collector_timeout,
        opts.idle_timeout,
    );
    if let Some(g) = &opts.admin_group {
        text.push_str(&format!("admin_group = {g:?}\n"));
    }
    // The realtime watch reads every event of the file systems it marks: off unless a test
    // is about it (tests/realtime.rs), so parallel test daemons do not watch each other.
    if !opts.extra.contains("realtime") {
        text.push_str("realtime = \"off\"\n");
    }
    text.push_str(&opts.extra);
    fs::write(&config, text).unwrap();

    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    {
        let notices = notices.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                match notify.recv(&mut buf) {
                    Ok(n) => notices
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        // Stop listening once the test has dropped the daemon.
                        if Arc::strong_count(&notices) == 1 {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
    }
    let mut command = Command::new(dawgmond_bin());
    if let Some(n) = opts.nofile {
        let limit = libc::rlimit {
            rlim_cur: n as libc::rlim_t,
            rlim_max: n as libc::rlim_t,
        };
        // SAFETY: setrlimit is async-signal-safe and reads only `limit`, copied into the closure.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let child = command
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("RUST_LOG")
        .env_remove("WATCHDOG_USEC")
        .env_remove("DAWGMON_SYSTEMD_BUS")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(dir.path().join("dawgmond.stderr")).unwrap())
        .spawn()
        .expect("start dawgmond");
    let mut daemon = Daemon {
        dir,
        socket,
        database,
        config,
        child,
        log,
        notices,
        _live: live,
    };
    daemon.wait_for_notice("READY=1", Duration::from_secs(30));
    daemon
}

impl Daemon {
    /// Every notification received so far (one datagram each).
    pub fn notices(&self) -> Vec<String> {
        self.notices.lock().unwrap().clone()
    }

    /// Waits for a notification containing `needle`; panics with the log on timeout or exit.
    pub fn wait_for_notice(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(n) = self.notices().into_iter().find(|n| n.contains(needle)) {
                return n;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dawgmond exited ({status}) before sending {needle:?}:\n{}",
                    self.log()
                );
            }
            if start.elapsed() > timeout {
                panic!(
                    "no {needle:?} from dawgmond within {timeout:?}; got {:?}\n{}",
                    self.notices(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's output so far.
    pub fn log(&self) -> String {
        let out = fs::read_to_string(&self.log).unwrap_or_default();
        let err = fs::read_to_string(self.dir.path().join("dawgmond.stderr")).unwrap_or_default();
        format!("--- dawgmond output ---\n{out}{err}")
    }

    /// A `dawgctl` command aimed at this daemon.
    pub fn dawgctl(&self) -> Command {
        let mut c = Command::new(dawgctl_bin());
        c.arg("--socket")
            .arg(&self.socket)
            .env_remove("DAWGMON_SOCKET")
            .env_remove("DAWGMON_DATABASE")
            .stdin(Stdio::null());
        c
    }

    /// Runs `dawgctl ARGS` and returns its output.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.dawgctl().args(args).output().expect("run dawgctl")
    }

    /// Runs `dawgctl ARGS`, asserting success, and returns its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "dawgctl {args:?} failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `dawgctl ARGS --format json` and parses its stdout.
    pub fn ctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        serde_json::from_str(&self.ctl_ok(&a)).expect("dawgctl printed JSON")
    }

    /// Sends raw bytes to the socket and returns the whole answer.
    pub fn raw(&self, request: &[u8]) -> String {
        raw_request(&self.socket, request)
    }

    /// Sends a request and returns (status, body).
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let req = http_request(method, path, body);
        split_response(&self.raw(req.as_bytes()))
    }

    /// The daemon's process id.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for the daemon to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("dawgmond did not exit within {timeout:?}\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `METHOD PATH HTTP/1.1` with a JSON body, closing the connection after the answer.
pub fn http_request(method: &str, path: &str, body: Option<&str>) -> String {
    match body {
        Some(b) => format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{b}",
            b.len()
        ),
        None => format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"),
    }
}

/// Writes `request` to the socket at `socket` and reads until the daemon closes.
pub fn raw_request(socket: &Path, request: &[u8]) -> String {
    let mut s = UnixStream::connect(socket).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    // No half-close: the server drops a connection whose client has stopped sending before it
    // answers. `connection: close` (or an error) makes it close after the answer.
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code and body of a raw HTTP/1.1 answer (chunked bodies are left as they are).
pub fn split_response(raw: &str) -> (u16, String) {
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Who holds the live host: tests that change it (a listener, a group, a daemon's socket, a
/// systemd manager) share it; a test that needs it quiet (two scans must agree) holds it alone.
/// Shared holders never wait for each other, so a test may take it twice (two daemons).
static LIVE: Mutex<(usize, bool)> = Mutex::new((0, false));
static LIVE_CHANGED: std::sync::Condvar = std::sync::Condvar::new();

/// Held while a test changes the live host; released on drop.
pub struct LiveGuard {
    exclusive: bool,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut state = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        if self.exclusive {
            state.1 = false;
        } else {
            state.0 -= 1;
        }
        LIVE_CHANGED.notify_all();
    }
}

/// Shares the live host with other tests that change it; waits while a quiet test runs.
pub fn live_lock() -> LiveGuard {
    let mut state = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    while state.1 {
        state = LIVE_CHANGED.wait(state).unwrap_or_else(|p| p.into_inner());
    }
    state.0 += 1;
    LiveGuard { exclusive: false }
}

/// Holds the live host alone: no other test changes it until the guard drops.
pub fn quiet_host() -> LiveGuard {
    let mut state = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    while state.1 || state.0 > 0 {
        state = LIVE_CHANGED.wait(state).unwrap_or_else(|p| p.into_inner());
    }
    state.1 = true;
    LiveGuard { exclusive: true }
}

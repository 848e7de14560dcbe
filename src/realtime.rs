//! The realtime watch: file-system events between scans, turned into targeted scans and
//! observations.
//!
//! - [`fanotify`] (FID mode, one mark per local file system the setuid walk covers) when the
//!   kernel (5.9+) and CAP_SYS_ADMIN allow, else [`inotify`] on the key directories the
//!   collectors declare, else nothing (the schedule alone); `realtime` in the config chooses.
//! - Each event's path goes through the [`map::PathMap`], built from the collectors' own
//!   declarations: the collectors that read it are due for a scan ([`debounce`]), and any new
//!   or changed entry that is setuid, setgid or has file capabilities concerns the setid
//!   collectors, wherever it is.
//! - What an event shows is recorded at once ([`observe`]): a setuid file's mode and owner
//!   (`fstatat` at event time), the items of a cheap collector whose files changed, with the
//!   process the kernel named. The reports list those gone by the next scan.
//! - Lost events (a queue overflow, a reader behind) make a scan of every collector the map
//!   knows, at once.
//!
//! The daemon's own writes never count: events of its own pid are dropped, and so are its
//! database, socket and hook files by path. Everything here runs on two threads of its own;
//! the daemon gets a [`Debounce`] to wait on and a channel of observations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::api::RealtimeStatus;
use crate::collectors::Collector;
use crate::config::{Config, Realtime};
use crate::host::Host;
use crate::model::Fields;
use crate::store::Observation;

pub mod caps;
pub mod debounce;
pub mod fanotify;
mod inotify;
pub mod map;
mod observe;

pub use debounce::{Debounce, Due};
use map::PathMap;

/// The pause between reads: events pile up in the kernel's queue and are read in one go.
/// Reading at every wakeup cost writers 35-50% in a file-churn test; 50 ms cost 2%.
pub const BATCH_PAUSE: Duration = Duration::from_millis(50);
/// The read buffer.
const BUFFER: usize = 256 * 1024;
/// Full buffers read in one go after which the reader counts as behind (an overflow scan).
const BEHIND_AFTER: usize = 64;
/// How often the mount table is read for newly mounted file systems to mark.
const MOUNT_CHECK: Duration = Duration::from_secs(10);

/// Where the watch's results go.
#[derive(Clone)]
pub struct Outputs {
    /// The pending targeted scan.
    pub pending: Arc<Mutex<Debounce>>,
    /// Woken when `pending` changed.
    pub wake: Arc<tokio::sync::Notify>,
    /// Observations for the store (bounded: when full, they are counted as dropped).
    pub observations: tokio::sync::mpsc::Sender<Observation>,
    pub status: Arc<Mutex<RealtimeStatus>>,
}

/// The running watch.
pub struct Watch {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Watch {
    /// Stops the threads (each checks the flag at least every 250 ms).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the watch shares between its threads.
struct Ctx {
    map: PathMap,
    out: Outputs,
    stop: Arc<AtomicBool>,
    probe: Arc<(Mutex<BTreeMap<&'static str, observe::Actor>>, Condvar)>,
    me: i32,
}

/// Starts the watch of `config` over `collectors` (the daemon's default set).
pub fn start(config: &Config, collectors: &[&'static dyn Collector], out: Outputs) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    let mut ignored = vec![config.database.clone(), config.socket.clone()];
    if let Some(dir) = config.database.parent() {
        ignored.push(dir.to_path_buf());
    }
    ignored.extend(config.prometheus_textfile.clone());
    ignored.extend(config.change_log.clone());
    let map = PathMap::new(&config.root, collectors, ignored);
    let mut threads = Vec::new();
    if config.realtime == Realtime::Off {
        set_mode(
            &out,
            "off",
            "realtime = false in the configuration: the schedule alone",
            vec![],
        );
        tracing::info!("realtime watch off (realtime = false): changes are seen by scans only");
        return Watch { stop, threads };
    }
    let ctx = Arc::new(Ctx {
        map,
        out,
        stop: stop.clone(),
        probe: Arc::default(),
        me: std::process::id() as i32,
    });
    let (mode, queue) = (config.realtime, config.realtime_queue);
    let reader = ctx.clone();
    threads.extend(
        std::thread::Builder::new()
            .name("dawgmon-realtime".into())
            .spawn(move || run(&reader, mode, queue))
            .ok(),
    );
    let prober = ctx.clone();
    threads.extend(
        std::thread::Builder::new()
            .name("dawgmon-observe".into())
            .spawn(move || observe::run(&prober))
            .ok(),
    );
    Watch { stop, threads }
}

fn set_mode(out: &Outputs, mode: &str, why: &str, watching: Vec<String>) {
    let mut s = lock(&out.status);
    s.mode = mode.into();
    s.why = why.into();
    s.watching = watching;
}

/// The reader thread: fanotify, else inotify, else nothing.
fn run(ctx: &Ctx, mode: Realtime, queue: u32) {
    let why_not_fanotify = if mode == Realtime::Inotify {
        "realtime = \"inotify\" in the configuration".to_string()
    } else {
        match caps::with_sys_admin(|| open_fanotify(ctx, queue)) {
            Ok(fan) => {
                let marked: Vec<String> = fan
                    .marked()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                tracing::info!(
                    mode = "fanotify",
                    marks = marked.len(),
                    cap_sys_admin = caps::effective(),
                    "realtime watch on: fanotify marks on {}",
                    marked.join(", ")
                );
                set_mode(
                    &ctx.out,
                    "fanotify",
                    "fanotify file-system marks (FAN_REPORT_DFID_NAME)",
                    marked,
                );
                return fanotify_loop(ctx, fan);
            }
            Err(why) => why,
        }
    };
    match inotify::Watcher::new(&ctx.map) {
        Ok(w) => {
            let why = format!(
                "inotify on {} key directories, because {why_not_fanotify} (each watch costs \
                 about 1 KiB of kernel memory, counted against fs.inotify.max_user_watches); \
                 setuid files elsewhere wait for the schedule",
                w.watching().len()
            );
            tracing::warn!(mode = "inotify", "realtime watch: {why}");
            set_mode(&ctx.out, "inotify", &why, w.watching());
            w.run(ctx);
        }
        Err(e) => {
            let why = format!(
                "no realtime watch: {why_not_fanotify}, and inotify failed too ({e}); changes \
                 are seen by scheduled scans only"
            );
            tracing::warn!(mode = "off", "{why}");
            set_mode(&ctx.out, "off", &why, vec![]);
        }
    }
}

/// Makes the group and marks the file systems; a failed mark is recorded and that file
/// system is left to the schedule. Called with CAP_SYS_ADMIN raised.
fn open_fanotify(ctx: &Ctx, queue: u32) -> Result<fanotify::Fanotify, String> {
    let mut fan = fanotify::Fanotify::new(queue).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => "fanotify needs CAP_SYS_ADMIN, which dawgmond does not hold".into(),
        Some(libc::EINVAL) => {
            format!("this kernel has no fanotify FID mode (Linux 5.9 or later needed): {e}")
        }
        _ => format!("fanotify_init failed: {e}"),
    })?;
    mark_new(ctx, &mut fan);
    if fan.marked().is_empty() {
        return Err(format!(
            "no file system could be marked ({})",
            lock(&ctx.out.status).failed.join("; ")
        ));
    }
    Ok(fan)
}

/// Marks the local file systems not marked yet: the root's and those mounted at or below it.
fn mark_new(ctx: &Ctx, fan: &mut fanotify::Fanotify) {
    let root = ctx.map.root();
    let mut points = vec![root.to_path_buf()];
    match crate::sources::fswalk::local_mount_points(Path::new("/proc/self/mountinfo")) {
        Ok(list) => points.extend(list.into_iter().filter(|p| p.starts_with(root))),
        Err(e) => tracing::warn!("realtime watch: {e}; only the root's file system is marked"),
    }
    let marked = fan.marked();
    for p in points {
        if marked.contains(&p)
            || lock(&ctx.out.status)
                .failed
                .iter()
                .any(|f| f.starts_with(&format!("{}: ", p.display())))
        {
            continue;
        }
        if let Err(e) = fan.mark(&p) {
            let why = match e.raw_os_error() {
                Some(libc::EXDEV) => format!("{e} (a btrfs subvolume or an idmapped mount)"),
                Some(libc::ENODEV) => format!("{e} (a file system without an fsid)"),
                _ => e.to_string(),
            };
            tracing::warn!(
                "realtime watch: cannot mark {}: {why}; changes there wait for the schedule",
                p.display()
            );
            lock(&ctx.out.status)
                .failed
                .push(format!("{}: {why}", p.display()));
        }
    }
}

fn poll_in(fd: i32, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) > 0 }
}

/// In debug builds (the tests'), the reader stops reading while this file exists under the
/// scanned root, so a test can fill the kernel's queue (only root can make it at `/`).
pub const TEST_PAUSE: &str = ".dawgmon-test-pause-realtime";

fn fanotify_loop(ctx: &Ctx, mut fan: fanotify::Fanotify) {
    let mut buf = vec![0u8; BUFFER];
    let mut last_mounts = Instant::now();
    let pause = ctx.map.root().join(TEST_PAUSE);
    while !ctx.stop.load(Ordering::SeqCst) {
        if cfg!(debug_assertions) && pause.exists() {
            std::thread::sleep(BATCH_PAUSE);
            continue;
        }
        if last_mounts.elapsed() >= MOUNT_CHECK {
            last_mounts = Instant::now();
            let before = fan.marked().len();
            caps::with_sys_admin(|| mark_new(ctx, &mut fan));
            if fan.marked().len() != before {
                let marked = fan
                    .marked()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                lock(&ctx.out.status).watching = marked;
                tracing::info!("realtime watch: marked a newly mounted file system");
            }
        }
        if !poll_in(fan.raw_fd(), 250) {
            continue;
        }
        std::thread::sleep(BATCH_PAUSE);
        let mut full_reads = 0;
        loop {
            let mut raw = Vec::new();
            let (overflow, full) = match fan.read(&mut buf, &mut raw) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("realtime watch: reading fanotify events failed: {e}");
                    overflowed(ctx, "reading the events failed");
                    std::thread::sleep(Duration::from_secs(1));
                    break;
                }
            };
            if overflow {
                overflowed(ctx, "the kernel's event queue overflowed (realtime_queue)");
            }
            let touches = resolve(ctx, &fan, raw);
            handle(ctx, touches);
            if !full {
                break;
            }
            full_reads += 1;
            if full_reads == BEHIND_AFTER {
                overflowed(ctx, "the reader fell behind the events");
            }
        }
    }
}

/// Events were lost: every collector the map knows is scanned at once.
fn overflowed(ctx: &Ctx, why: &str) {
    lock(&ctx.out.status).overflows += 1;
    tracing::warn!(
        "realtime watch: events lost ({why}): a full scan of the file-based collectors starts now"
    );
    lock(&ctx.out.pending).overflow(Instant::now(), ctx.map.all());
    ctx.out.wake.notify_one();
}

/// What happened to one entry in a batch.
struct Touch {
    pub real: PathBuf,
    /// Its directory, opened, to `fstatat` the name in (`None`: by path).
    pub dir: Option<Arc<OwnedFd>>,
    pub name: Vec<u8>,
    pub flags: u8,
    pub pid: Option<i32>,
}

/// Made or moved in.
const CHANGED: u8 = 1;
/// Written and closed (a write clears the set-id bits: no mode check needed).
const WRITTEN: u8 = 16;
/// Mode, owner or xattrs changed.
const ATTRIB: u8 = 2;
/// Deleted or moved away.
const GONE: u8 = 4;
/// The entry is a directory.
const DIR: u8 = 8;

/// A directory an event named, opened, and its path.
type OpenDir = (Arc<OwnedFd>, PathBuf);

fn resolve(ctx: &Ctx, fan: &fanotify::Fanotify, raw: Vec<fanotify::RawEvent>) -> Vec<Touch> {
    let mut dirs: HashMap<([i32; 2], Vec<u8>), Option<OpenDir>> = HashMap::new();
    let mut out: BTreeMap<PathBuf, Touch> = BTreeMap::new();
    lock(&ctx.out.status).events += raw.len() as u64;
    for e in raw {
        if e.pid == ctx.me {
            continue; // the daemon's own writes
        }
        let dir = dirs.entry((e.fsid, e.handle.clone())).or_insert_with(|| {
            fan.open_dir(e.fsid, &e.handle)
                .ok()
                .map(|(fd, p)| (Arc::new(fd), p))
        });
        let Some((fd, path)) = dir else {
            continue; // the directory is gone already
        };
        let mut flags = 0;
        if e.mask & (libc::FAN_CREATE | libc::FAN_MOVED_TO) != 0 {
            flags |= CHANGED;
        }
        if e.mask & libc::FAN_CLOSE_WRITE != 0 {
            flags |= WRITTEN;
        }
        if e.mask & libc::FAN_ATTRIB != 0 {
            flags |= ATTRIB;
        }
        if e.mask & (libc::FAN_DELETE | libc::FAN_MOVED_FROM) != 0 {
            flags |= GONE;
        }
        if e.mask & libc::FAN_ONDIR != 0 {
            flags |= DIR;
        }
        let real = fanotify::join(path, &e.name);
        let t = out.entry(real.clone()).or_insert_with(|| Touch {
            real,
            dir: Some(fd.clone()),
            name: e.name.clone(),
            flags: 0,
            pid: None,
        });
        t.flags |= flags;
        t.pid = Some(e.pid);
    }
    out.into_values().collect()
}

/// `fstatat` of a touched entry, not following a final symbolic link.
fn stat(t: &Touch) -> Option<libc::stat> {
    let (dirfd, name) = match &t.dir {
        Some(d) if t.name != b"." => (d.as_raw_fd(), std::ffi::CString::new(t.name.clone()).ok()?),
        _ => (
            libc::AT_FDCWD,
            std::ffi::CString::new(t.real.as_os_str().as_encoded_bytes()).ok()?,
        ),
    };
    // SAFETY: a zeroed stat buffer and a valid C string.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstatat(dirfd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0).then_some(st)
    }
}

/// Whether a touched entry carries `security.capability`.
fn has_caps(t: &Touch) -> bool {
    let path = match &t.dir {
        Some(d) if t.name != b"." => {
            let mut p = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd()));
            p.push(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&t.name));
            p
        }
        _ => t.real.clone(),
    };
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: asks for the size only (null buffer, size 0).
    unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        ) > 0
    }
}

/// One batch of touched entries: the collectors due, the observations, the probes.
fn handle(ctx: &Ctx, touches: Vec<Touch>) {
    let mut due: BTreeSet<&'static str> = BTreeSet::new();
    let mut probes: BTreeMap<&'static str, observe::Actor> = BTreeMap::new();
    let mut seen: Vec<Observation> = Vec::new();
    let mut actors: HashMap<i32, observe::Actor> = HashMap::new();
    let mut host: Option<Host> = None;
    let now = Utc::now();
    for t in touches {
        if t.pid == Some(ctx.me) {
            continue;
        }
        let Some(inside) = ctx.map.inside(&t.real) else {
            continue;
        };
        let mut actor = || {
            let pid = t.pid.unwrap_or(0);
            actors
                .entry(pid)
                .or_insert_with(|| observe::Actor::read(pid))
                .clone()
        };
        for c in ctx.map.collectors_for(&inside) {
            due.insert(c);
            if ctx.map.observers.contains(&c) {
                probes.insert(c, actor());
            }
        }
        if t.flags & (CHANGED | ATTRIB) == 0 || t.flags & DIR != 0 || ctx.map.setid.is_empty() {
            continue;
        }
        let Some(st) = stat(&t) else { continue };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            continue;
        }
        let setid = st.st_mode & 0o6000 != 0;
        let capable = t.flags & ATTRIB != 0 && has_caps(&t);
        if !setid && !capable {
            continue;
        }
        due.extend(ctx.map.setid.iter().copied());
        let host = host.get_or_insert_with(|| Host::new(ctx.map.root().to_path_buf()));
        let mut fields = Fields::new();
        fields.insert("owner", host.user_name(st.st_uid));
        fields.insert("group", host.group_name(st.st_gid));
        let (collector, fields) = if setid {
            fields.insert("perm", crate::sources::common::mode_string(st.st_mode));
            fields.insert("size", st.st_size.to_string());
            ("list_suids", fields)
        } else {
            ("list_file_caps", fields)
        };
        if ctx.map.setid.contains(&collector) {
            let key = host.display(&t.real);
            // As the scan would judge it: a set-id file no package owns is critical.
            let mut fields = fields;
            crate::sources::pkgdb::attribute(host, &key, &mut fields);
            seen.push(actor().observation(now, collector, key, fields));
        }
    }
    if !due.is_empty() {
        lock(&ctx.out.pending).note(Instant::now(), due);
        ctx.out.wake.notify_one();
    }
    send(ctx, seen);
    if !probes.is_empty() {
        let (queue, cv) = &*ctx.probe;
        lock(queue).extend(probes);
        cv.notify_one();
    }
}

/// Hands observations to the daemon; a full channel drops them (counted, warned once each
/// time it starts).
fn send(ctx: &Ctx, seen: Vec<Observation>) {
    for o in seen {
        match ctx.out.observations.try_send(o) {
            Ok(()) => lock(&ctx.out.status).observations += 1,
            Err(_) => {
                let mut s = lock(&ctx.out.status);
                if s.observations_dropped == 0 {
                    tracing::warn!(
                        "realtime watch: observations arrive faster than they are stored; some are dropped (the scans still see what remains)"
                    );
                }
                s.observations_dropped += 1;
            }
        }
    }
}

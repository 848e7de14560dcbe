//! Native file-system walks shared by the file collectors.
//!
//! Two walks live here:
//! - [`tree`]: one directory tree (`/etc`, `/boot`) with full `lstat` metadata per entry,
//!   crossing into mounts beneath it (so `/boot/efi` is part of `/boot`).
//! - [`special_files`]: one pass over every LOCAL file system of the host that picks out setuid
//!   and setgid files, FIFOs and files with a `security.capability` xattr. It runs once per scan
//!   (shared through [`Host::shared`]), so `list_suids`, `list_pipes` and `list_file_caps` cost
//!   one walk together.
//!
//! Which file systems: on the live host (or a root holding a `proc/self/mountinfo` file that is
//! not the scanner's own procfs) every mount of a local type is walked from its mount point, and
//! the walk never descends into another mount point (like `find -xdev`, but per mount, so
//! `/boot/efi`, `/home` or `/run` are not missed). Local means disk file systems (ext*, xfs,
//! btrfs, vfat, f2fs, zfs, ...) plus `tmpfs`/`ramfs`: `/run`, `/dev/shm` and `/tmp` are where
//! FIFOs live and where an attacker drops files, so they are in. `overlay` counts only as the
//! root file system (a container); other overlay mounts only mirror layers that the walk of
//! their backing disk already sees. Skipped: pseudo file systems (proc, sysfs, cgroup, devtmpfs,
//! devpts, ...; anything mounted under `/proc` or `/sys`), network and FUSE file systems (slow,
//! may hang), autofs (would trigger mounts), and read-only images (squashfs, iso9660, erofs: their
//! content changes only with a new mount, which `list_mount` reports). Bind mounts of a
//! tree already walked are walked once. Because mount points are recognised by path, a btrfs
//! subvolume that is not mounted separately is still walked. A fake root without a mount table
//! is walked within the device of the root itself.
//!
//! Speed: `readdir`'s `d_type` tells directories, symlinks and devices apart without a `stat`;
//! only regular files and FIFOs are `lstat`ed (relative to the directory's fd), and directories
//! are spread over a few threads.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crate::error::CollectError;
use crate::host::Host;
use crate::hostfs::{self, Hashed, gone};
use crate::model::Fields;

/// A file the whole-file-system walk picked out, with its `lstat` data.
#[derive(Debug, Clone)]
pub struct Special {
    /// The real path (under the host's root).
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Modification time in seconds (stands in for a hash when the content cannot be read).
    pub mtime: i64,
    /// The raw `security.capability` xattr, when present.
    pub caps: Option<Vec<u8>>,
    /// Owner, group and mode of the directory holding it, from the descriptor the walk read
    /// it through (`None` for a directory itself).
    pub dir: Option<DirMeta>,
}

/// Who may write a directory: its owner, group and mode bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirMeta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// What one walk of the local file systems found, each list sorted by path.
#[derive(Debug, Default)]
pub struct SpecialFiles {
    /// Regular files with the setuid or setgid bit.
    pub suid: Vec<Special>,
    /// Named pipes.
    pub fifos: Vec<Special>,
    /// Regular files with any execute bit that carry `security.capability`.
    pub caps: Vec<Special>,
    /// World-writable directories without the sticky bit and world-writable regular files, in
    /// system paths (see [`system_path`]). One mode test per entry already `stat`ed.
    pub writable: Vec<Special>,
    /// Directory entries seen, for measurements.
    pub scanned: u64,
    /// The lists that went over `max_items` and stopped growing (see [`SpecialFiles::list`]).
    pub full: Vec<List>,
    /// The cap they went over.
    pub max_items: usize,
}

/// The lists of [`SpecialFiles`], each capped at `max_items`: one user can make millions of
/// FIFOs or setuid files in /tmp, and the walk must not gather them until the OOM killer ends
/// the daemon (and systemd restarts it into the same walk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Suid,
    Fifos,
    Caps,
    Writable,
}

impl List {
    const ALL: [List; 4] = [List::Suid, List::Fifos, List::Caps, List::Writable];

    fn what(self) -> &'static str {
        match self {
            List::Suid => "setuid and setgid files",
            List::Fifos => "named pipes (FIFOs)",
            List::Caps => "files with capabilities",
            List::Writable => "world-writable entries in system paths",
        }
    }
}

impl SpecialFiles {
    /// One list, or when it went over `max_items` an outage that names the cause and the key
    /// (never a partial list, which would read as removals).
    pub fn list(&self, which: List) -> Result<&[Special], CollectError> {
        if self.full.contains(&which) {
            return Err(CollectError::Unavailable(format!(
                "more than {} {} on the local file systems (max_items): not listed, as a \
                 partial list would read as removals; find who made them (a flood in /tmp or \
                 /dev/shm?), or raise max_items in dawgmond.toml",
                self.max_items,
                which.what()
            )));
        }
        Ok(match which {
            List::Suid => &self.suid,
            List::Fifos => &self.fifos,
            List::Caps => &self.caps,
            List::Writable => &self.writable,
        })
    }
}

/// How many entries each list holds across the walking threads; past the cap an entry is
/// counted but not kept, so memory stays bounded however many there are.
struct Counts {
    max: usize,
    n: [std::sync::atomic::AtomicUsize; 4],
}

impl Counts {
    /// Whether one more entry of `which` may be kept.
    fn take(&self, which: List) -> bool {
        let i = List::ALL.iter().position(|l| *l == which).unwrap_or(0);
        self.n[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed) < self.max
    }

    /// The lists that went over.
    fn full(&self) -> Vec<List> {
        List::ALL
            .iter()
            .zip(&self.n)
            .filter(|(_, n)| n.load(std::sync::atomic::Ordering::Relaxed) > self.max)
            .map(|(l, _)| *l)
            .collect()
    }
}

/// The per-scan shared result (its own type, so [`Host::shared`] keys it uniquely).
struct SharedWalk(Result<Arc<SpecialFiles>, String>);

/// The special files of the host, walked once per scan and shared by the collectors.
pub fn special_files(host: &Host) -> Result<Arc<SpecialFiles>, CollectError> {
    // Two to four threads: the walk is syscall-bound, and a second thread keeps the disk and
    // the other core busy while one waits.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    let shared = host.shared(|| SharedWalk(walk_special(host, threads).map(Arc::new)));
    shared.0.clone().map_err(CollectError::Unavailable)
}

/// One line of `mountinfo`: what is mounted where.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    dev: String,
    root: Vec<u8>,
    point: Vec<u8>,
    fstype: String,
}

/// File systems whose files live on this machine (see the module documentation).
const LOCAL_FS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "vfat", "msdos", "exfat", "ntfs", "ntfs3",
    "f2fs", "zfs", "jfs", "reiserfs", "nilfs2", "hfs", "hfsplus", "ufs", "tmpfs", "ramfs",
    "rootfs",
];

/// Parses mountinfo; malformed lines are skipped. Works on bytes: mount points need not be
/// UTF-8, and a lossy conversion would make two different points compare equal.
fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let cols: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
        let Some(sep) = cols.iter().skip(6).position(|c| *c == b"-").map(|p| p + 6) else {
            continue;
        };
        let (Some(dev), Some(root), Some(point), Some(fstype)) =
            (cols.get(2), cols.get(3), cols.get(4), cols.get(sep + 1))
        else {
            continue;
        };
        out.push(Mount {
            dev: String::from_utf8_lossy(dev).into_owned(),
            root: super::mountinfo::unescape_octal(root),
            point: super::mountinfo::unescape_octal(point),
            fstype: String::from_utf8_lossy(fstype).into_owned(),
        });
    }
    out
}

/// Whether host path `p` is `dir` or below it.
fn is_under(p: &[u8], dir: &[u8]) -> bool {
    p == dir || (p.starts_with(dir) && (dir.ends_with(b"/") || p.get(dir.len()) == Some(&b'/')))
}

/// The mount points to walk, in table order, from all mounts.
fn select_mounts(mounts: &[Mount]) -> Vec<Vec<u8>> {
    // A later mount on the same point hides the earlier one.
    let mut top: HashMap<&[u8], usize> = HashMap::new();
    for (i, m) in mounts.iter().enumerate() {
        top.insert(&m.point, i);
    }
    let mut wanted: Vec<&Mount> = mounts
        .iter()
        .enumerate()
        .filter(|(i, m)| top.get(m.point.as_slice()) == Some(i))
        .map(|(_, m)| m)
        .filter(|m| {
            let local =
                LOCAL_FS.contains(&m.fstype.as_str()) || (m.fstype == "overlay" && m.point == b"/");
            local && !is_under(&m.point, b"/proc") && !is_under(&m.point, b"/sys")
        })
        .collect();
    // Bind mounts: a tree of a device already reached through a mount of it (or of an
    // ancestor of it) is walked once, from the shortest mount point.
    wanted.sort_by_key(|m| (m.point.len(), m.point.clone()));
    let mut kept: Vec<&Mount> = Vec::new();
    for m in wanted {
        let covered = kept
            .iter()
            .any(|k| k.dev == m.dev && is_under(&m.root, &k.root));
        if !covered {
            kept.push(m);
        }
    }
    kept.into_iter().map(|m| m.point.clone()).collect()
}

/// Where the walk starts and where it stops.
struct Plan {
    /// Anchors alive (see [`MAX_ANCHORS`]).
    anchors: Arc<std::sync::atomic::AtomicUsize>,
    starts: Vec<PathBuf>,
    /// Real paths of every mount point, when a mount table was read: the walk never enters
    /// them (they are walked from their own start, or not at all). Without a table, the walk
    /// stays on the device of each start instead.
    mount_points: Option<HashSet<PathBuf>>,
}

fn plan(host: &Host) -> Result<Plan, String> {
    // The scanner's own mount table, never one inside a scanned image: an image's
    // proc/self/mountinfo is just a file its author wrote (it could declare /usr a network
    // mount to hide it). On the live host, init's table (see Host::mountinfo).
    let table = if host.is_live() {
        host.mountinfo()
    } else {
        "/proc/self/mountinfo"
    };
    let all = match host.own_mount_table() {
        Ok(b) => parse_mountinfo(&b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        // Without the table the walk would silently skip every other mount (/boot, /home).
        Err(e) => return Err(format!("cannot read the mount table {table}: {e}")),
    };
    // Mounts at or below the root, with points made relative to it.
    let root = host.root().as_os_str().as_bytes();
    let root = if root.len() > 1 {
        root.strip_suffix(b"/").unwrap_or(root)
    } else {
        root
    };
    let mounts: Vec<Mount> = all
        .into_iter()
        .filter_map(|mut m| {
            if root == b"/" {
                return Some(m);
            }
            let rest = m.point.strip_prefix(root)?;
            if rest.is_empty() {
                m.point = b"/".to_vec();
            } else if rest.starts_with(b"/") {
                m.point = rest.to_vec();
            } else {
                return None;
            }
            Some(m)
        })
        .collect();
    if mounts.is_empty() {
        return Ok(Plan {
            starts: vec![host.path("/")],
            mount_points: None,
            anchors: Arc::default(),
        });
    }
    let mut starts: Vec<PathBuf> = select_mounts(&mounts)
        .iter()
        .map(|p| host.path(OsStr::from_bytes(p)))
        .collect();
    if !mounts.iter().any(|m| m.point == b"/") {
        // A root that is no mount point itself (a directory of the host): still walk it.
        starts.insert(0, host.path("/"));
    }
    let mount_points = mounts
        .iter()
        .map(|m| host.path(OsStr::from_bytes(&m.point)))
        .collect();
    Ok(Plan {
        starts,
        mount_points: Some(mount_points),
        anchors: Arc::default(),
    })
}

/// One directory waiting to be read, and the device it must be on: its parent's (a directory
/// on another device is a mount point, walked from its own start or not at all).
struct Job {
    /// The real path (for keys and messages; it may be longer than PATH_MAX).
    path: PathBuf,
    dev: u64,
    /// Where the directory is opened from: an open ancestor and the path below it (short:
    /// see [`ANCHOR_EVERY`]), or `None` to open `path` beneath the host's root.
    from: Option<(Arc<Anchor>, PathBuf)>,
}

/// An open directory that jobs below it are opened from; counted while alive.
struct Anchor {
    fd: std::os::fd::OwnedFd,
    live: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Anchor {
    fn drop(&mut self) {
        self.live.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Past this many bytes below its anchor, a directory becomes the anchor of its
/// subdirectories: a tree deeper than PATH_MAX (4,096 bytes, which any user can build in
/// /tmp) is walked to the bottom, with one open descriptor per 2 KiB of depth.
const ANCHOR_EVERY: usize = 2048;

/// Without `openat2` (the shipped unit's seccomp filter refuses it), opening a directory by its
/// path from the root costs one system call per component; so each directory with
/// subdirectories becomes their anchor (one `openat` each), up to this many open at once, past
/// which subdirectories fall back to paths from the nearest anchor. Bounded, so a tree of any
/// shape cannot run the daemon out of descriptors.
const MAX_ANCHORS: usize = 256;

/// The work shared by the walking threads: a stack of directories, how many threads are busy
/// (when none is and the stack is empty, the walk is done), and the first error that makes
/// the walk's result incomplete.
struct Queue {
    jobs: Vec<Job>,
    busy: usize,
    failed: Option<String>,
}

fn walk_special(host: &Host, threads: usize) -> Result<SpecialFiles, String> {
    walk_planned(host, &plan(host)?, threads)
}

fn walk_planned(host: &Host, plan: &Plan, threads: usize) -> Result<SpecialFiles, String> {
    let mut jobs = Vec::new();
    for (i, start) in plan.starts.iter().enumerate() {
        match std::fs::symlink_metadata(start) {
            Ok(m) if m.is_dir() => jobs.push(Job {
                path: start.clone(),
                dev: m.dev(),
                from: None,
            }),
            Ok(_) => {}
            Err(e) if i == 0 => {
                return Err(format!("cannot walk {}: {e}", host.display(start)));
            }
            Err(_) => {}
        }
    }
    let counts = Counts {
        max: host.max_items(),
        n: Default::default(),
    };
    let results: Vec<SpecialFiles> = walk_jobs(host, jobs, threads, |job, found, sub| {
        read_dir(host, plan, &counts, job, found, sub)
    })?;
    let mut all = SpecialFiles {
        full: counts.full(),
        max_items: counts.max,
        ..SpecialFiles::default()
    };
    for r in results {
        all.suid.extend(r.suid);
        all.fifos.extend(r.fifos);
        all.caps.extend(r.caps);
        all.writable.extend(r.writable);
        all.scanned += r.scanned;
    }
    for list in [
        &mut all.suid,
        &mut all.fifos,
        &mut all.caps,
        &mut all.writable,
    ] {
        list.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok(all)
}

/// Walks directories from `jobs` on `threads` threads: `visit` reads one directory into the
/// thread's own `T` and pushes the subdirectories to walk. Returns each thread's `T`, or the
/// first error (an incomplete walk would report every file it missed as deleted), or an error
/// when the scan was abandoned meanwhile.
fn walk_jobs<T, F>(host: &Host, jobs: Vec<Job>, threads: usize, visit: F) -> Result<Vec<T>, String>
where
    T: Default + Send,
    F: Fn(&Job, &mut T, &mut Vec<Job>) -> Result<(), String> + Sync,
{
    let queue = Mutex::new(Queue {
        jobs,
        busy: 0,
        failed: None,
    });
    let wake = Condvar::new();
    // The workers stop when the collector that started the walk is abandoned, too.
    let flag = crate::host::collector_flag();
    let results: Vec<T> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let flag = flag.clone();
                s.spawn(|| {
                    let _scope = crate::host::collector_scope(flag);
                    worker(host, &queue, &wake, &visit)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let q = queue.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(why) = q.failed {
        return Err(why);
    }
    if host.cancelled() {
        return Err("scan abandoned during the file-system walk".into());
    }
    Ok(results)
}

fn worker<T, F>(host: &Host, queue: &Mutex<Queue>, wake: &Condvar, visit: &F) -> T
where
    T: Default,
    F: Fn(&Job, &mut T, &mut Vec<Job>) -> Result<(), String>,
{
    let mut found = T::default();
    let mut children = Vec::new();
    loop {
        let job = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if q.failed.is_some() || host.cancelled() {
                    q.jobs.clear();
                }
                if let Some(job) = q.jobs.pop() {
                    q.busy += 1;
                    break job;
                }
                if q.busy == 0 {
                    wake.notify_all();
                    return found;
                }
                q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = visit(&job, &mut found, &mut children);
        let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
        q.busy -= 1;
        if let Err(why) = result {
            q.failed.get_or_insert(why);
            children.clear();
        }
        let more = !children.is_empty();
        q.jobs.append(&mut children);
        if more || q.busy == 0 || q.failed.is_some() {
            wake.notify_all();
        }
    }
}

/// An open directory stream (`opendir` on a descriptor opened without following symlinks).
struct DirStream(std::ptr::NonNull<libc::DIR>);

impl DirStream {
    /// Opens a job's directory (beneath the host root, or beneath its anchor) refusing every
    /// symlink on the way, so a parent directory swapped for a symlink since it was read
    /// cannot steer the walk (see [`hostfs`]). The error is the errno.
    fn open(host: &Host, job: &Job) -> Result<Self, i32> {
        let fd = match &job.from {
            None => host.open_walked_dir(&job.path),
            Some((anchor, rel)) => {
                hostfs::open_dir(std::os::fd::AsRawFd::as_raw_fd(&anchor.fd), rel)
            }
        }
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: raw is an open directory descriptor; on success the stream owns it.
        match std::ptr::NonNull::new(unsafe { libc::fdopendir(raw) }) {
            Some(d) => Ok(DirStream(d)),
            None => {
                let e = errno();
                // SAFETY: raw is ours and not owned by any stream.
                unsafe { libc::close(raw) };
                Err(e)
            }
        }
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: the stream is open until drop.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next entry's name and `d_type`; the name is valid until the next call. An error
    /// of readdir itself (I/O) is returned as its errno.
    fn next_entry(&mut self) -> Option<Result<(&CStr, u8), i32>> {
        // SAFETY: the stream is open; the entry stays valid until the next readdir on it,
        // which the &mut borrow of the returned name prevents. errno is cleared first, as
        // readdir reports an error only through it.
        unsafe {
            *libc::__errno_location() = 0;
            let ent = libc::readdir(self.0.as_ptr());
            if ent.is_null() {
                let e = *libc::__errno_location();
                return (e != 0).then_some(Err(e));
            }
            Some(Ok((CStr::from_ptr((*ent).d_name.as_ptr()), (*ent).d_type)))
        }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: opened by fdopendir, closed once.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `lstat` of `name` relative to the directory descriptor `dirfd`; the error is the errno.
fn stat_at(dirfd: libc::c_int, name: &CStr) -> Result<libc::stat, i32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: name is a C string, st is writable; fstatat fills it on success.
    let rc = unsafe {
        libc::fstatat(
            dirfd,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        // SAFETY: initialised by a successful fstatat.
        Ok(unsafe { st.assume_init() })
    } else {
        Err(errno())
    }
}

/// Why a walk cannot go on: an error other than "gone" or "denied" (out of descriptors or
/// memory, I/O). Reported as the collector being unavailable, never as files removed.
fn fatal(host: &Host, path: &Path, errno: i32) -> String {
    format!(
        "cannot read {}: {}",
        host.display(path),
        io::Error::from_raw_os_error(errno)
    )
}

/// Opens a job's directory for reading: `None` when it is denied (noted) or gone (vanished, or
/// moved and replaced by something else since its parent was read); any other error fails
/// the walk.
fn open_job(host: &Host, job: &Job) -> Result<Option<DirStream>, String> {
    match DirStream::open(host, job) {
        Ok(d) => Ok(Some(d)),
        Err(libc::EACCES | libc::EPERM) => {
            host.note_denied(&host.display(&job.path));
            Ok(None)
        }
        Err(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EXDEV) => Ok(None),
        Err(e) => Err(fatal(host, &job.path, e)),
    }
}

/// Reads one directory: records its special files, and returns its subdirectories to walk.
/// Only "gone" (ENOENT, ENOTDIR; ELOOP for a directory swapped for a symlink) and "denied"
/// are tolerated; any other error fails the walk.
fn read_dir(
    host: &Host,
    plan: &Plan,
    counts: &Counts,
    job: &Job,
    found: &mut SpecialFiles,
    sub: &mut Vec<Job>,
) -> Result<(), String> {
    let Some(mut dir) = open_job(host, job)? else {
        return Ok(());
    };
    let fd = dir.fd();
    // Another device than its parent's: a mount point (its name may not have matched the
    // table, or there is no table). Walked from its own start, or not at all.
    let dir_meta = match hostfs::fstat(fd) {
        Ok(st) if st.st_dev == job.dev => {
            if st.st_mode & 0o1002 == 0o002
                && system_path(host, &job.path)
                && counts.take(List::Writable)
            {
                found.writable.push(Special {
                    path: job.path.clone(),
                    mode: st.st_mode,
                    uid: st.st_uid,
                    gid: st.st_gid,
                    size: 0,
                    mtime: st.st_mtime,
                    caps: None,
                    dir: None,
                });
            }
            DirMeta {
                uid: st.st_uid,
                gid: st.st_gid,
                mode: st.st_mode,
            }
        }
        Ok(_) => return Ok(()),
        Err(e) => {
            return Err(fatal(
                host,
                &job.path,
                e.raw_os_error().unwrap_or(libc::EIO),
            ));
        }
    };
    let mut full: Vec<u8> = Vec::new();
    let mut denied = false;
    // Where this directory's subdirectories are opened from (see ANCHOR_EVERY, MAX_ANCHORS).
    let mut anchor: Option<Arc<Anchor>> = None;
    while let Some(entry) = dir.next_entry() {
        let (name, dtype) = entry.map_err(|e| fatal(host, &job.path, e))?;
        let nb = name.to_bytes();
        if nb == b"." || nb == b".." {
            continue;
        }
        found.scanned += 1;
        let st = match dtype {
            libc::DT_DIR => None,
            libc::DT_REG | libc::DT_FIFO | libc::DT_UNKNOWN => match stat_at(fd, name) {
                Ok(st) => Some(st),
                Err(libc::EACCES) => {
                    denied = true;
                    continue;
                }
                Err(libc::ENOENT | libc::ENOTDIR) => continue, // vanished
                Err(e) => return Err(fatal(host, &job.path.join(OsStr::from_bytes(nb)), e)),
            },
            _ => continue, // symlinks, devices, sockets: nothing to find there
        };
        let fmt = st.map_or(libc::S_IFDIR, |s| s.st_mode & libc::S_IFMT);
        if fmt != libc::S_IFDIR && fmt != libc::S_IFREG && fmt != libc::S_IFIFO {
            continue;
        }
        let path = job.path.join(OsStr::from_bytes(nb));
        let Some(st) = st.filter(|_| fmt != libc::S_IFDIR) else {
            if !plan
                .mount_points
                .as_ref()
                .is_some_and(|m| m.contains(&path))
            {
                let from = child_from(host, &plan.anchors, job, fd, nb, &mut anchor)?;
                sub.push(Job {
                    path,
                    dev: job.dev,
                    from,
                });
            }
            continue;
        };
        let mut special = Special {
            path,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            mtime: st.st_mtime,
            caps: None,
            dir: Some(dir_meta),
        };
        if fmt == libc::S_IFIFO {
            if counts.take(List::Fifos) {
                found.fifos.push(special);
            }
            continue;
        }
        if st.st_mode & 0o002 != 0
            && system_path(host, &special.path)
            && counts.take(List::Writable)
        {
            found.writable.push(special.clone());
        }
        if st.st_mode & 0o111 != 0 {
            // Through the open directory: race-free, and short however deep the file is
            // (without /proc, by its full path).
            full.clear();
            if proc_fd_works() {
                full.extend_from_slice(format!("/proc/self/fd/{fd}/").as_bytes());
                full.extend_from_slice(nb);
            } else {
                full.extend_from_slice(special.path.as_os_str().as_bytes());
            }
            full.push(0);
            special.caps = read_caps_xattr(&full);
        }
        if special.caps.is_some() && counts.take(List::Caps) {
            found.caps.push(special.clone());
        }
        if st.st_mode & 0o6000 != 0 && counts.take(List::Suid) {
            found.suid.push(special);
        }
    }
    if denied {
        host.note_denied(&host.display(&job.path));
    }
    Ok(())
}

/// Where subdirectory `name` of the directory open at `fd` (job `job`) will be opened from:
/// this directory as a new anchor (deep below the last anchor, or every directory while
/// anchors are cheap because `openat2` is missing; see [`ANCHOR_EVERY`], [`MAX_ANCHORS`]), or
/// the job's own anchor with a longer relative path, or the root (`None`). `anchor` is this
/// directory's anchor once made, shared by its later subdirectories.
fn child_from(
    host: &Host,
    anchors: &Arc<std::sync::atomic::AtomicUsize>,
    job: &Job,
    fd: libc::c_int,
    name: &[u8],
    anchor: &mut Option<Arc<Anchor>>,
) -> Result<Option<(Arc<Anchor>, PathBuf)>, String> {
    let below = match &job.from {
        None => job.path.as_os_str().len(),
        Some((_, rel)) => rel.as_os_str().len(),
    };
    let too_deep = below + name.len() + 1 >= ANCHOR_EVERY;
    let cheap =
        !hostfs::has_openat2() && anchors.load(std::sync::atomic::Ordering::Relaxed) < MAX_ANCHORS;
    if anchor.is_none() && !too_deep && !cheap {
        return Ok(job
            .from
            .as_ref()
            .map(|(a, rel)| (a.clone(), rel.join(OsStr::from_bytes(name)))));
    }
    if anchor.is_none() {
        // SAFETY: fd is the open directory of this stream; dup gives our own.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(fatal(host, &job.path, errno()));
        }
        anchors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *anchor = Some(Arc::new(Anchor {
            // SAFETY: a fresh descriptor we own.
            fd: unsafe { std::os::fd::FromRawFd::from_raw_fd(dup) },
            live: anchors.clone(),
        }));
    }
    Ok(anchor
        .as_ref()
        .map(|a| (a.clone(), PathBuf::from(OsStr::from_bytes(name)))))
}

/// The trees whose world-writable entries are reported: where the system's programs,
/// libraries and configuration live.
pub const SYSTEM_TREES: [&str; 13] = [
    "/bin",
    "/boot",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/sbin",
    "/srv",
    "/usr",
    "/var/lib",
    "/var/spool",
];

/// Directories checked themselves (not their content): the root, and the shared temporary
/// directories, which must keep their sticky bit.
pub const SYSTEM_DIRS: [&str; 5] = ["/", "/var", "/tmp", "/var/tmp", "/dev/shm"];

/// Whether a real path under the root is in a system tree or is a system directory.
pub fn system_path(host: &Host, real: &Path) -> bool {
    let rel = real
        .strip_prefix(host.root())
        .unwrap_or(real)
        .as_os_str()
        .as_bytes();
    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
    SYSTEM_TREES
        .iter()
        .any(|t| is_under(rel, &t.as_bytes()[1..]))
        || SYSTEM_DIRS.iter().any(|d| &d.as_bytes()[1..] == rel)
}

/// Whether `/proc/self/fd/N` names an open descriptor (procfs is mounted).
fn proc_fd_works() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| Path::new("/proc/self/fd/0").symlink_metadata().is_ok())
}

/// The `security.capability` xattr of the file at `path` (NUL-terminated), not following links.
fn read_caps_xattr(path_nul: &[u8]) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    // SAFETY: path_nul ends with NUL, the name is a C string literal, buf is writable for its length.
    let n = unsafe {
        libc::lgetxattr(
            path_nul.as_ptr().cast(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

/// Records what identifies a regular file's content: `sha256` when it could be read (at most
/// the configured size: above it, `not_hashed` says so and `mtime` stands in); when it could
/// not be read (not root: /etc/shadow), the denial is noted and `mtime` (seconds) stands in,
/// so a change is still seen. A file that vanished meanwhile gets neither.
pub fn content_fields(
    host: &Host,
    path: &Path,
    mtime: i64,
    hashed: io::Result<Hashed>,
    fields: &mut Fields,
) {
    match hashed {
        Ok(Hashed::Sha256(h)) => {
            fields.insert("sha256", h);
        }
        Ok(Hashed::TooLarge { cap, .. }) => {
            fields.insert("not_hashed", hostfs::not_hashed(cap));
            fields.insert("mtime", mtime.to_string());
        }
        Err(e) if gone(&e) => {}
        Err(e) => {
            if e.kind() == io::ErrorKind::PermissionDenied {
                host.note_denied(&host.display(path));
            }
            fields.insert("mtime", mtime.to_string());
        }
    }
}

mod tree;
pub use tree::{TreeSpec, walk_tree};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;

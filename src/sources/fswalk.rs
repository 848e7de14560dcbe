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

/// The mount points (host paths) of the local file systems the setuid walk covers, from the
/// scanner's own mount table: where the realtime watch places its file-system marks.
pub fn local_mount_points(table: &Path) -> Result<Vec<PathBuf>, String> {
    let text = std::fs::read(table)
        .map_err(|e| format!("cannot read the mount table {}: {e}", table.display()))?;
    Ok(select_mounts(&parse_mountinfo(&text))
        .into_iter()
        .map(|p| PathBuf::from(OsStr::from_bytes(&p)))
        .collect())
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

mod dirs;
mod mounts;
mod tree;
use dirs::*;
use mounts::*;
pub use tree::{TreeSpec, walk_tree};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;

//! `Host { root }`: the one door through which collectors read the machine.
//!
//! Every path a collector reads is resolved under `root` (`/` on a live host, a fake root in
//! tests, a mounted image with `--root`). The host also caches what several collectors need
//! (uid and gid names from the root's own `/etc/passwd` and `/etc/group`), and gathers the
//! permission problems of a scan so the user is told once, not once per file.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::CollectError;
use crate::hostfs::digests::DigestCache;
use crate::hostfs::{self, HashCache, Hashed, Resolve, Stat};
use crate::secret::FingerprintKey;

mod escape;
pub use escape::{escape_bytes, escape_os, is_unsafe_char, unescape_bytes};

/// The machine (or file-system tree) being scanned.
pub struct Host {
    root: PathBuf,
    users: OnceLock<HashMap<u32, String>>,
    groups: OnceLock<HashMap<u32, String>>,
    denied: Mutex<Denied>,
    shared: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The root directory, opened once: every file is opened relative to it.
    root_fd: OnceLock<Result<OwnedFd, i32>>,
    /// Set when the scan gives up (deadline, shutdown): long work stops at its next check.
    cancel: Arc<AtomicBool>,
    /// Bytes hashed at most per file.
    max_hash: u64,
    /// Items one list read from files others may write holds at most (`max_items`).
    max_items: usize,
    /// Digests of the previous scan by file identity, and this scan's.
    hashes: Arc<HashCache>,
    secret: Option<FingerprintKey>,
    /// Per collector, the digests carried over by file metadata (see [`hostfs::digests`]).
    digests: Mutex<HashMap<String, Arc<DigestCache>>>,
    /// Source files several collectors read (passwd, group, the mount tables), read once per
    /// scan: each sees the same content, and none reads it again (see [`Host::read_source`]).
    sources: Mutex<HashMap<PathBuf, SourceSlot>>,
    mountinfo: OnceLock<&'static str>,
}

/// One source file's content, or the error number reading it failed with.
type SourceSlot = Arc<OnceLock<Result<Arc<Vec<u8>>, i32>>>;

/// The default of `max_items`: far above any real host's FIFOs, setuid files or
/// configuration lines, far below what exhausts memory.
pub const DEFAULT_MAX_ITEMS: usize = 100_000;

thread_local! {
    /// The cancel flag of the collector this thread works for: the scan sets it when it gives
    /// up on that collector alone (`collector_timeout`), while the others run on.
    static COLLECTOR_CANCEL: std::cell::RefCell<Option<Arc<AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// While the returned guard lives, [`Host::cancelled`] on this thread also answers `flag`
/// (the collector's own flag; `None`: only the scan's). A walk that spreads over threads takes
/// [`collector_flag`] on its own thread and enters it on each of its workers.
pub fn collector_scope(flag: Option<Arc<AtomicBool>>) -> CollectorScope {
    CollectorScope(COLLECTOR_CANCEL.with(|c| c.replace(flag)))
}

/// The cancel flag of the collector this thread works for, if any.
pub fn collector_flag() -> Option<Arc<AtomicBool>> {
    COLLECTOR_CANCEL.with(|c| c.borrow().clone())
}

/// Restores the thread's previous collector flag when dropped (see [`collector_scope`]).
pub struct CollectorScope(Option<Arc<AtomicBool>>);

impl Drop for CollectorScope {
    fn drop(&mut self) {
        let previous = self.0.take();
        COLLECTOR_CANCEL.with(|c| *c.borrow_mut() = previous);
    }
}

#[derive(Default)]
struct Denied {
    count: u64,
    examples: Vec<String>,
}

impl Host {
    /// A host rooted at `root`. `/` scans the live machine.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Host {
            root: root.into(),
            users: OnceLock::new(),
            groups: OnceLock::new(),
            denied: Mutex::new(Denied::default()),
            shared: Mutex::new(HashMap::new()),
            root_fd: OnceLock::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            max_hash: hostfs::DEFAULT_MAX_HASH,
            max_items: DEFAULT_MAX_ITEMS,
            hashes: Arc::new(HashCache::default()),
            secret: None,
            digests: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
            mountinfo: OnceLock::new(),
        }
    }

    /// Hashes at most `max_hash` bytes per file, and reuses the digests in `cache` for files
    /// whose identity (device, inode, size, mtime, ctime) did not change.
    pub fn with_hashing(mut self, max_hash: u64, cache: Arc<HashCache>) -> Self {
        self.max_hash = max_hash;
        self.hashes = cache;
        self
    }

    /// Starts collectors with the digests the previous scan left them, by collector name.
    pub fn with_digests(self, previous: HashMap<String, Arc<DigestCache>>) -> Self {
        *self.digests.lock().unwrap_or_else(|p| p.into_inner()) = previous;
        self
    }

    /// Collector `name`'s carried-over digests (empty when there were none, or a full re-hash
    /// is due); what it hashes or reuses in this scan is recorded there.
    pub fn digests(&self, name: &str) -> Arc<DigestCache> {
        self.digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Every collector's digests after the scan, to store for the next one.
    pub fn take_digests(&self) -> HashMap<String, Arc<DigestCache>> {
        std::mem::take(&mut *self.digests.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The most bytes hashed per file (`max_hash_mib`).
    pub fn max_hash(&self) -> u64 {
        self.max_hash
    }

    /// At most `max_items` entries in any one list read from files others may write (the
    /// FIFOs, setuid and world-writable files of the whole-file-system walk, the lines and
    /// includes of a configuration walk); past it the collector is unavailable.
    pub fn with_max_items(mut self, max_items: usize) -> Self {
        self.max_items = max_items;
        self
    }

    /// The cap on one list's entries (`max_items`).
    pub fn max_items(&self) -> usize {
        self.max_items
    }

    /// The flag that abandons this scan's remaining work (see [`Host::cancelled`]).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// True once the scan has given up, on the whole scan or on the collector this thread
    /// runs (see [`collector_scope`]): walks, hashing and include walks stop at their next
    /// check.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
            || COLLECTOR_CANCEL.with(|c| {
                c.borrow()
                    .as_ref()
                    .is_some_and(|f| f.load(Ordering::Relaxed))
            })
    }

    fn root_fd(&self) -> io::Result<std::os::fd::RawFd> {
        match self.root_fd.get_or_init(|| {
            hostfs::open_root(&self.root).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        }) {
            Ok(fd) => Ok(fd.as_raw_fd()),
            Err(e) => Err(io::Error::from_raw_os_error(*e)),
        }
    }

    /// Opens a regular file that a walk found at `real` (a path under the root) for reading,
    /// refusing any symlink on the way (a directory swapped for one since the walk) and
    /// anything but a regular file (see [`hostfs`]).
    pub fn open_walked(&self, real: &Path) -> io::Result<(std::fs::File, Stat)> {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        hostfs::open_regular(self.root_fd()?, rel, Resolve::NoSymlinks)
    }

    /// Opens a directory a walk found at `real` (a path under the root), refusing any symlink
    /// on the way.
    pub fn open_walked_dir(&self, real: &Path) -> io::Result<OwnedFd> {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        hostfs::open_dir(self.root_fd()?, rel)
    }

    /// Opens the regular file at a host path (`/etc/passwd`), following symlinks only inside
    /// the root: an image's `/etc/passwd -> /etc/shadow` is the image's shadow.
    pub fn open_file(&self, host_path: impl AsRef<Path>) -> io::Result<(std::fs::File, Stat)> {
        hostfs::open_regular(self.root_fd()?, host_path.as_ref(), Resolve::InRoot)
    }

    /// The status of whatever a host path names (a directory, a mount point, a device), its
    /// symlinks followed only inside the root; nothing is opened for reading.
    pub fn stat(&self, host_path: impl AsRef<Path>) -> io::Result<hostfs::Stat> {
        hostfs::stat_in_root(self.root_fd()?, host_path.as_ref())
    }

    /// The SHA-256 of the regular file a walk found at `real`, at most `max_hash` bytes of it,
    /// reusing the previous scan's digest when the file's identity is unchanged.
    pub fn hash_walked(&self, real: &Path) -> io::Result<Hashed> {
        let (file, st) = self.open_walked(real)?;
        let id = hostfs::Identity::of(&st);
        if let Some(h) = self.hashes.get(&id) {
            return Ok(Hashed::Sha256(h));
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let hashed = hostfs::hash_file(file, size, self.max_hash, &|| self.cancelled())?;
        if let Hashed::Sha256(h) = &hashed {
            self.hashes.remember(id, h.clone());
        }
        Ok(hashed)
    }

    /// Reads a whole regular file at a real path under the root (one a collector built from a
    /// directory listing), as [`Host::read_bytes`] does.
    pub fn read_real(&self, real: &Path) -> io::Result<Vec<u8>> {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        self.read_bytes(Path::new("/").join(rel))
    }

    /// Lists a directory at a real path under the root. Under a root other than `/`, a
    /// directory that leads outside it (an image's absolute symlink, `var/lib/dpkg/info ->
    /// /root`) is refused instead of listing the scanner's own files.
    pub fn read_dir_real(&self, real: &Path) -> io::Result<std::fs::ReadDir> {
        if !self.is_live() {
            let canon = std::fs::canonicalize(real)?;
            let root = std::fs::canonicalize(&self.root)?;
            if !canon.starts_with(&root) {
                return Err(io::Error::other(format!(
                    "{} leads outside the scanned root (to {})",
                    self.display(real),
                    canon.display()
                )));
            }
        }
        std::fs::read_dir(real)
    }

    /// The real path of the directory at a host path, with its symlinks resolved (`/bin ->
    /// usr/bin`), for a directory root controls (a home directory as named in passwd) under
    /// which files a user controls are then opened with [`Host::open_walked`]. Under a root
    /// other than `/`, a directory that leads outside it is refused.
    pub fn real_dir(&self, host_path: impl AsRef<Path>) -> io::Result<PathBuf> {
        let canon = std::fs::canonicalize(self.path(host_path))?;
        if !self.is_live() && !canon.starts_with(std::fs::canonicalize(&self.root)?) {
            return Err(io::Error::other(format!(
                "{} leads outside the scanned root",
                canon.display()
            )));
        }
        if !std::fs::metadata(&canon)?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(canon)
    }

    /// The SHA-256 of the regular file at a real path under the root, following symlinks only
    /// inside the root, at most `max_hash` bytes of it (for files not found by a walk: an init
    /// script's link target).
    pub fn hash_in_root(&self, real: &Path) -> io::Result<Hashed> {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        let (file, st) = self.open_file(Path::new("/").join(rel))?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        hostfs::hash_file(file, size, self.max_hash, &|| self.cancelled())
    }

    /// Resolves a host path the way the kernel would, symlinks followed inside the root only,
    /// recording every directory, symlink and the target met (see [`hostfs::trace`]).
    pub fn trace(&self, host_path: impl AsRef<Path>) -> io::Result<hostfs::trace::Trace> {
        hostfs::trace::trace(self.root_fd()?, host_path.as_ref())
    }

    /// The `lstat` of a host path: symlinks on the way followed inside the root, the last
    /// component described, not followed. Opens nothing for reading.
    pub fn lstat(&self, host_path: impl AsRef<Path>) -> io::Result<Stat> {
        hostfs::lstat_in_root(self.root_fd()?, host_path.as_ref())
    }

    /// Lists a directory at a real path under the root for a collector: sorted entries; a
    /// directory that is missing is empty, one that is denied is noted and empty; any other
    /// error (out of descriptors, I/O, outside the root) is an error, never "empty" — an empty
    /// listing would report everything in it as removed.
    pub fn list_dir(
        &self,
        real: &Path,
    ) -> Result<Vec<(std::ffi::OsString, PathBuf)>, CollectError> {
        let fail = |e: io::Error| CollectError::io(self.display(real), e);
        let rd = match self.read_dir_real(real) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                self.note_denied(&self.display(real));
                return Ok(Vec::new());
            }
            Err(e) if hostfs::gone(&e) => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(fail(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(fail)?;
            out.push((e.file_name(), e.path()));
        }
        out.sort();
        Ok(out)
    }

    /// Reads a whole regular file of the host (at most [`hostfs::MAX_READ`] bytes).
    pub fn read_bytes(&self, host_path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        let (file, _) = self.open_file(host_path)?;
        hostfs::read_capped(file, hostfs::MAX_READ)
    }

    /// A whole file that several collectors read (`/etc/passwd`, `/etc/group`, the mount
    /// table), as [`Host::read_bytes`] reads it, but once per scan: later calls get the same
    /// bytes (or the same error) without touching the file again.
    pub fn read_source(&self, host_path: &str) -> io::Result<Arc<Vec<u8>>> {
        self.cached(Path::new(host_path), || self.read_bytes(host_path))
    }

    /// [`Host::read_to_string`] through [`Host::read_source`]: read once per scan.
    pub fn read_source_string(&self, host_path: &str) -> Result<String, CollectError> {
        match self.read_source(host_path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CollectError::Unavailable(
                format!("{host_path} does not exist on this host"),
            )),
            Err(e) => {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    self.note_denied(host_path);
                }
                Err(CollectError::io(host_path, e))
            }
        }
    }

    /// The scanner's own mount table, read once per scan: init's on the live host (see
    /// [`Host::mountinfo`]), else `/proc/self/mountinfo` of the scanning process, never a file
    /// inside a scanned image (an image's table is just a file its author wrote).
    pub fn own_mount_table(&self) -> io::Result<Arc<Vec<u8>>> {
        let table = if self.is_live() {
            self.mountinfo()
        } else {
            "/proc/self/mountinfo"
        };
        // Keyed apart from the root's own files: under a fake root, "/proc/self/mountinfo" of
        // read_source is the image's.
        self.cached(Path::new(&format!("scanner:{table}")), || {
            hostfs::read_capped(std::fs::File::open(table)?, hostfs::MAX_READ)
        })
    }

    fn cached(
        &self,
        key: &Path,
        read: impl FnOnce() -> io::Result<Vec<u8>>,
    ) -> io::Result<Arc<Vec<u8>>> {
        let slot = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_path_buf())
            .or_default()
            .clone();
        match slot.get_or_init(|| {
            read()
                .map(Arc::new)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        }) {
            Ok(bytes) => Ok(bytes.clone()),
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        }
    }

    /// The same host, fingerprinting secret values with the database's `key` (the engine sets
    /// it; a collector that needs it and finds none is unavailable, see [`crate::secret`]).
    pub fn with_secret(mut self, key: FingerprintKey) -> Self {
        self.secret = Some(key);
        self
    }

    /// The key secret values are fingerprinted with, if the scan has one.
    pub fn secret(&self) -> Option<&FingerprintKey> {
        self.secret.as_ref()
    }

    /// The root directory everything is read under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when scanning the running system itself (root is `/`), so process-wide sources such
    /// as `getifaddrs` or D-Bus describe the same machine as the files.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Resolves a host path (`/etc/passwd` or `etc/passwd`) under the root.
    pub fn path(&self, host_path: impl AsRef<Path>) -> PathBuf {
        let p = host_path.as_ref();
        let rel = p.strip_prefix("/").unwrap_or(p);
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// The host path of a real path under the root, as stored text (`/usr/bin/x`); names that
    /// are not UTF-8 or hold control characters are escaped reversibly (see [`escape_bytes`]).
    pub fn display(&self, real: &Path) -> String {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        let mut bytes = Vec::with_capacity(rel.as_os_str().len() + 1);
        bytes.push(b'/');
        bytes.extend_from_slice(rel.as_os_str().as_bytes());
        if bytes.len() > 1 && bytes[1] == b'/' {
            bytes.remove(0);
        }
        escape_bytes(&bytes)
    }

    /// The mount table to read, as a host path. On the live host, init's (`/proc/1/mountinfo`)
    /// when readable: the daemon runs in a mount namespace of its own under systemd's
    /// sandboxing (read-only binds, its state directory), and the host's mounts are what
    /// matter. Otherwise the scanner's own, `/proc/self/mountinfo`. Decided once per scan.
    pub fn mountinfo(&self) -> &'static str {
        self.mountinfo.get_or_init(|| {
            if self.is_live() && std::fs::File::open("/proc/1/mountinfo").is_ok() {
                "/proc/1/mountinfo"
            } else {
                "/proc/self/mountinfo"
            }
        })
    }

    /// Reads a whole text file of the host. A missing file is `Unavailable` naming it.
    pub fn read_to_string(&self, host_path: &str) -> Result<String, CollectError> {
        match self.read_bytes(host_path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CollectError::Unavailable(
                format!("{host_path} does not exist on this host"),
            )),
            Err(e) => {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    self.note_denied(host_path);
                }
                Err(CollectError::io(host_path, e))
            }
        }
    }

    /// Reads a text file that may legitimately be absent: `Ok(None)` when it does not exist.
    pub fn read_optional(&self, host_path: &str) -> Result<Option<String>, CollectError> {
        match self.read_to_string(host_path) {
            Ok(s) => Ok(Some(s)),
            Err(CollectError::Unavailable(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records that something could not be read for lack of permission. The scan reports the
    /// total once ("could not read N paths... run as root").
    pub fn note_denied(&self, what: &str) {
        let mut d = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        d.count += 1;
        if d.examples.len() < 3 {
            d.examples.push(what.to_string());
        }
    }

    /// How many reads were denied in this scan, and a few examples.
    pub fn denied(&self) -> (u64, Vec<String>) {
        let d = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        (d.count, d.examples.clone())
    }

    /// Work shared by several collectors within one scan (one walk of the file systems, the
    /// package database's file list...): computed by the first caller, reused by the others.
    /// Keyed by the type `T`, so each shared thing gets its own type.
    ///
    /// `init` runs outside the calling collector's own cancel flag (only the scan's stops it):
    /// the result serves every collector that waits for it, and one collector abandoned at
    /// `collector_timeout` must not cut short the walk the others, started later, still have
    /// time for.
    pub fn shared<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let slot = {
            let mut map = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(TypeId::of::<T>())
                .or_insert_with(|| Arc::new(OnceLock::<Arc<T>>::new()))
                .clone()
        };
        let cell = slot
            .downcast::<OnceLock<Arc<T>>>()
            .expect("shared slot holds its own type");
        cell.get_or_init(|| {
            let _scan_only = collector_scope(None);
            Arc::new(init())
        })
        .clone()
    }

    /// The name of `uid` from the root's `/etc/passwd` (control characters escaped), or the
    /// number as text.
    pub fn user_name(&self, uid: u32) -> String {
        let map = self
            .users
            .get_or_init(|| id_map(self.read_source("/etc/passwd")));
        map.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }

    /// The name of `gid` from the root's `/etc/group`, or the number as text.
    pub fn group_name(&self, gid: u32) -> String {
        let map = self
            .groups
            .get_or_init(|| id_map(self.read_source("/etc/group")));
        map.get(&gid).cloned().unwrap_or_else(|| gid.to_string())
    }
}

/// Parses `name:x:id:...` lines (passwd and group share the first three columns); malformed
/// lines are skipped, the first name for an id wins. Names are escaped ([`escape_bytes`]): a
/// hostile image's `\x1b[...` name must not reach a terminal or a mail as a raw escape.
fn id_map(bytes: io::Result<Arc<Vec<u8>>>) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    if let Ok(text) = bytes {
        for line in String::from_utf8_lossy(&text).lines() {
            let mut cols = line.split(':');
            let (Some(name), Some(_), Some(id)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            if let Ok(id) = id.trim().parse::<u32>() {
                map.entry(id)
                    .or_insert_with(|| escape_bytes(name.as_bytes()));
            }
        }
    }
    map
}

#[cfg(test)]
mod tests;

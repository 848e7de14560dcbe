//! Opening, reading and hashing files of the scanned host without being steered elsewhere.
//!
//! dawgmon runs as root and reads places a hostile local user can write to (`/tmp`, their home)
//! or an untrusted image (`--root`). Three rules keep those reads honest:
//! - **No path is trusted twice.** A file found by a walk is opened again relative to the
//!   scanned root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: a directory swapped
//!   for a symlink between the walk and the open makes the open fail (`ELOOP`) instead of
//!   landing on `/dev/pts/N` or `/etc/shadow`. Under a root other than `/`, configuration files
//!   are resolved with `RESOLVE_IN_ROOT`, so an image's absolute symlink (`etc/passwd ->
//!   /etc/shadow`) stays inside the image.
//! - **Only regular files are read**, opened with `O_NOCTTY | O_NONBLOCK`: a terminal never
//!   becomes the daemon's controlling terminal (closing it would send SIGHUP), and a FIFO never
//!   blocks. Under a foreign root the file is first opened with `O_PATH` (no open side effects
//!   at all: a device node in an image is never really opened) and re-opened only when `fstat`
//!   says it is a regular file.
//! - **Work per file is bounded**: a whole-file read has a size cap, and hashing stops at a
//!   configured size (a sparse setuid file of terabytes costs nothing to make; see
//!   [`Hashed::TooLarge`]). Hashing checks a cancel flag, so a scan that gave up on a collector
//!   does not leave a thread hashing for hours.
//!
//! Kernels without `openat2` (before 5.6), and sandboxes that refuse it (systemd's
//! `RestrictSUIDSGID=yes`, which the shipped unit sets, makes it fail with `ENOSYS`), fall back to
//! resolving the path one component at a time with `O_NOFOLLOW`: a walked path refuses every
//! symlink, and a configuration path follows its symlinks by hand, clamped inside the root.
//! `DAWGMON_NO_OPENAT2=1` in the environment forces the fallback (the tests use it).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Largest file read whole into memory (account files, package lists, unit files...).
pub const MAX_READ: u64 = 64 << 20;

/// Default cap on the bytes hashed per file.
pub const DEFAULT_MAX_HASH: u64 = 256 << 20;

/// How symlinks in a path are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// Any symlink in the path fails the open (`ELOOP`): for files a walk found by name.
    NoSymlinks,
    /// Symlinks are followed, with the root as `/` (an image's `/etc/shadow` is its own).
    InRoot,
}

/// The status of an open file.
pub type Stat = libc::stat;

/// Opens the regular file `rel` (relative to the directory `root`) for reading, as the module
/// documentation describes. Errors: `NotFound` when it does not exist, `InvalidInput` ("not a
/// regular file") for anything else that is not a regular file, `ELOOP` for a refused symlink.
pub fn open_regular(root: RawFd, rel: &Path, resolve: Resolve) -> io::Result<(File, Stat)> {
    let rel = relative(rel)?;
    let fd = match resolve {
        Resolve::NoSymlinks => open2(
            root,
            &rel,
            read_flags() | libc::O_NOFOLLOW,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
        ),
        Resolve::InRoot => open2(
            root,
            &rel,
            libc::O_PATH | libc::O_CLOEXEC,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        ),
    };
    let fd = match fd {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => match resolve {
            Resolve::NoSymlinks => open_by_components(root, &rel)?,
            Resolve::InRoot => resolve_in_root_by_components(root, &rel)?,
        },
        other => other?,
    };
    let st = fstat(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if resolve == Resolve::NoSymlinks {
        return Ok((File::from(fd), st));
    }
    // Re-open the O_PATH descriptor for reading: through /proc/self/fd, which names exactly
    // the file already checked. Without /proc, open the path again and check it is the same.
    let again = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    // SAFETY: a valid C string; the result is checked.
    let raw = unsafe { libc::open(again.as_ptr(), read_flags()) };
    let file = if raw >= 0 {
        // SAFETY: a fresh descriptor we own.
        File::from(unsafe { OwnedFd::from_raw_fd(raw) })
    } else {
        let how = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        File::from(
            match open2(root, &rel, read_flags() | libc::O_NOFOLLOW, how) {
                // Neither /proc nor openat2: a path without symlinks still opens.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    open_by_components(root, &rel)?
                }
                other => other?,
            },
        )
    };
    let now = fstat(file.as_raw_fd())?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(io::Error::other("file replaced while it was opened"));
    }
    Ok((file, now))
}

/// The status of whatever `rel` names (any file type), resolving symlinks inside `root` as
/// [`Resolve::InRoot`] does. Opened with `O_PATH` only: nothing is really opened, so a FIFO or a
/// device costs nothing and has no side effect.
pub fn stat_in_root(root: RawFd, rel: &Path) -> io::Result<Stat> {
    let rel = relative(rel)?;
    let fd = match open2(
        root,
        &rel,
        libc::O_PATH | libc::O_CLOEXEC,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    ) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            resolve_in_root_by_components(root, &rel)?
        }
        other => other?,
    };
    fstat(fd.as_raw_fd())
}

/// Opens the directory `rel` (relative to the directory `root`) for reading its entries,
/// refusing every symlink on the way (the walk's own directories: see the module docs).
pub fn open_dir(root: RawFd, rel: &Path) -> io::Result<OwnedFd> {
    let rel = relative(rel)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match open2(
        root,
        &rel,
        flags,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
    ) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            open_by_components_with(root, &rel, flags)
        }
        other => other,
    }
}

/// Whether an error means the file is really gone (it vanished between a listing and the
/// read), as opposed to could not be read (permissions, descriptors, I/O): only then may an
/// item be left out.
pub fn gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// The `not_hashed` field of a file larger than the hashing cap.
pub fn not_hashed(cap: u64) -> String {
    format!("larger than {}", human_size(cap))
}

/// Reads a whole regular file, refusing one larger than `cap` bytes.
pub fn read_capped(mut file: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    (&mut file).take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {}: not read", human_size(cap)),
        ));
    }
    Ok(out)
}

/// What hashing a file produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hashed {
    /// The SHA-256 of the whole content, lowercase hex.
    Sha256(String),
    /// The file is larger than the hashing cap: its content was not read (`size`: its size,
    /// or `cap + 1` when it grew past the cap while it was read).
    TooLarge { size: u64, cap: u64 },
}

/// Hashes an open regular file of `size` bytes, or says it is over `cap`. Stops with an error
/// when `cancel` is set.
pub fn hash_file(file: File, size: u64, cap: u64, cancel: &dyn Fn() -> bool) -> io::Result<Hashed> {
    if size > cap {
        return Ok(Hashed::TooLarge { size, cap });
    }
    let mut hasher = Sha256::new();
    match read_bounded(file, cap, cancel, |chunk| hasher.update(chunk))? {
        Some(_) => Ok(Hashed::Sha256(hex::encode(hasher.finalize()))),
        // Grew while we read it.
        None => Ok(Hashed::TooLarge { size: cap + 1, cap }),
    }
}

/// Feeds a file's content to `each`, chunk by chunk, up to `cap` bytes: the bytes read, or
/// `None` when there were more than `cap` (the file grew while it was read). Stops with an
/// error when `cancel` is set, so a scan that gave up does not leave a thread reading.
pub fn read_bounded(
    mut file: File,
    cap: u64,
    cancel: &dyn Fn() -> bool,
    mut each: impl FnMut(&[u8]),
) -> io::Result<Option<u64>> {
    let mut buf = [0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        if cancel() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "scan abandoned while hashing",
            ));
        }
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(Some(total)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > cap {
            return Ok(None);
        }
        each(&buf[..n]);
    }
}

/// `256 MiB`, `1.5 GiB`, `12 B`: sizes for people.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// What identifies a file's content without reading it: if none of these changed, neither did
/// the content (short of someone with root resetting ctime, which needs the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: i64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Identity {
    pub fn of(st: &Stat) -> Self {
        Identity {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// Digests of the previous scan, by file identity, so an unchanged file is not read again;
/// and the digests of this scan, to hand to the next one.
#[derive(Debug, Default)]
pub struct HashCache {
    previous: HashMap<Identity, String>,
    current: Mutex<HashMap<Identity, String>>,
}

impl HashCache {
    /// A cache that answers from `previous` (what the last scan hashed).
    pub fn new(previous: HashMap<Identity, String>) -> Self {
        HashCache {
            previous,
            current: Mutex::new(HashMap::new()),
        }
    }

    /// The digest of a file with this identity, if the previous scan hashed it.
    pub fn get(&self, id: &Identity) -> Option<String> {
        let hit = self.previous.get(id).cloned();
        if let Some(h) = &hit {
            self.remember(*id, h.clone());
        }
        hit
    }

    /// Records a digest computed in this scan.
    pub fn remember(&self, id: Identity, digest: String) {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, digest);
    }

    /// What this scan hashed (or reused), for the next scan. Takes it: a thread abandoned
    /// by the scan may still hold the cache.
    pub fn take_current(&self) -> HashMap<Identity, String> {
        std::mem::take(&mut *self.current.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn read_flags() -> libc::c_int {
    libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC
}

/// `rel` without its leading `/`, `.` components; `..` is refused (never needed by callers).
fn relative(p: &Path) -> io::Result<CString> {
    let mut out: Vec<u8> = Vec::with_capacity(p.as_os_str().len());
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path with '..' refused",
                ));
            }
            Component::Normal(n) => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(n.as_bytes());
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    CString::new(out).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// Whether `openat2` works here (probed once): without it, every open beneath a root costs one
/// system call per path component, and the walk anchors more often to keep paths short.
pub fn has_openat2() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let dot = CString::new(".").expect("no NUL");
        !matches!(
            open2(libc::AT_FDCWD, &dot, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
        )
    })
}

/// Whether `openat2` is to be treated as missing (`DAWGMON_NO_OPENAT2` set).
fn openat2_disabled() -> bool {
    static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DISABLED.get_or_init(|| std::env::var_os("DAWGMON_NO_OPENAT2").is_some_and(|v| v != "0"))
}

fn open2(root: RawFd, rel: &CString, flags: libc::c_int, resolve: u64) -> io::Result<OwnedFd> {
    if openat2_disabled() {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    // SAFETY: open_how is plain data; zeroed is its documented initial state.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: rel is a C string, how is a valid open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                rel.as_ptr(),
                &mut how as *mut libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh descriptor we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a rename raced the lookup (RESOLVE_IN_ROOT/BENEATH); try again.
        if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) {
            return Err(e);
        }
    }
}

/// The fallback without `openat2`: each directory with `O_NOFOLLOW | O_DIRECTORY`, the last
/// component with `O_NOFOLLOW`. Every symlink is refused.
fn open_by_components(root: RawFd, rel: &CString) -> io::Result<OwnedFd> {
    open_by_components_with(root, rel, read_flags() | libc::O_NOFOLLOW)
}

fn open_by_components_with(root: RawFd, rel: &CString, last_flags: i32) -> io::Result<OwnedFd> {
    let bytes = rel.as_bytes();
    let parts: Vec<&[u8]> = bytes.split(|b| *b == b'/').collect();
    let mut dir: Option<OwnedFd> = None;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let name = CString::new(*part).expect("split of a C string");
        let flags = if last {
            last_flags
        } else {
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC
        };
        let at = dir.as_ref().map_or(root, |d| d.as_raw_fd());
        // SAFETY: name is a C string; the result is checked.
        let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        dir = Some(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    dir.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))
}

/// The fallback of `RESOLVE_IN_ROOT`: `rel` is resolved one component at a time from `root`
/// with `O_PATH | O_NOFOLLOW`; a symlink met on the way is read and its target resolved in turn
/// (an absolute one from `root`, never from the scanner's `/`), and `..` never climbs above
/// `root`. At most 40 symlinks, as the kernel allows. Returns an `O_PATH` descriptor.
fn resolve_in_root_by_components(root: RawFd, rel: &CString) -> io::Result<OwnedFd> {
    let mut todo: Vec<Vec<u8>> = Vec::new();
    let push = |todo: &mut Vec<Vec<u8>>, path: &[u8]| {
        for c in path.split(|b| *b == b'/').rev() {
            if !c.is_empty() && c != b"." {
                todo.push(c.to_vec());
            }
        }
    };
    push(&mut todo, rel.as_bytes());
    // The directories from the root down to where we are.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == b".." {
            dirs.pop();
            continue;
        }
        let at = dirs.last().map_or(root, |d| d.as_raw_fd());
        let name = CString::new(c).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: name is a C string; the result is checked.
        let fd = unsafe {
            libc::openat(
                at,
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let kind = fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT;
        if kind == libc::S_IFLNK {
            hops += 1;
            if hops > 40 {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            // SAFETY: `at` is an open directory (or the root) for the duration of the call.
            let dir = unsafe { std::os::fd::BorrowedFd::borrow_raw(at) };
            let target = nix::fcntl::readlinkat(dir, name.as_c_str())
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                dirs.clear();
            }
            push(&mut todo, target);
            continue;
        }
        if todo.is_empty() {
            return Ok(fd);
        }
        if kind != libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        dirs.push(fd);
    }
    // The root itself.
    // SAFETY: dup of an open descriptor; the result is checked.
    let fd = unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat` of a descriptor.
pub fn fstat(fd: RawFd) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is writable; fstat fills it on success.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0 {
        // SAFETY: initialised by a successful fstat.
        Ok(unsafe { st.assume_init() })
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens the directory `path` to resolve paths beneath it.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: a valid C string; the result is checked.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lstat` of the host path `rel` beneath the directory `root`: symlinks on the way are
/// followed inside the root (as [`Resolve::InRoot`]), the last component is not (a symlink is
/// described, not followed). Nothing is opened for reading.
pub fn lstat_in_root(root: RawFd, rel: &Path) -> io::Result<Stat> {
    let c = relative(rel)?;
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match open2(
        root,
        &c,
        flags,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => fstat(fd.as_raw_fd()),
        // Without openat2: resolve the parent in the root, then lstat the name in it.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            lstat_by_components(root, &c)
        }
        Err(e) => Err(e),
    }
}

/// [`lstat_in_root`] without `openat2`: the parent resolved by hand inside the root, then an
/// `fstatat` of the last name in it without following it.
fn lstat_by_components(root: RawFd, c: &CString) -> io::Result<Stat> {
    let bytes = c.as_bytes();
    let (parent, name) = match bytes.iter().rposition(|b| *b == b'/') {
        Some(i) => (Some(&bytes[..i]), &bytes[i + 1..]),
        None => (None, bytes),
    };
    let dir = match parent {
        Some(p) => resolve_in_root_by_components(root, &CString::new(p).expect("no NUL"))?,
        None => {
            // SAFETY: dup of an open descriptor; the result is checked.
            let fd = unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor we own.
            unsafe { OwnedFd::from_raw_fd(fd) }
        }
    };
    let name = CString::new(name).expect("no NUL");
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: name is a C string, st is writable; fstatat fills it on success.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by a successful fstatat.
    Ok(unsafe { st.assume_init() })
}

pub mod digests;
pub mod trace;

#[cfg(test)]
mod tests;

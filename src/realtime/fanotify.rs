//! fanotify in FID mode (`FAN_REPORT_DFID_NAME`, Linux 5.9+), in raw `libc`: nix's fanotify
//! module reads only events that carry a file descriptor and does not parse the FID info
//! records this mode reports, so the parsing is here (see `fanotify(7)`).
//!
//! One `FAN_MARK_FILESYSTEM` mark per local file system; an event names the directory (a file
//! handle, opened with `open_by_handle_at`, which needs CAP_DAC_READ_SEARCH) and the entry's
//! name. Reading is batched by the caller (a pause between reads lets events pile up: one
//! read of a large buffer instead of one wakeup per event).

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The events watched, on files and directories.
pub const MASK: u64 = libc::FAN_CREATE
    | libc::FAN_ATTRIB
    | libc::FAN_MOVED_TO
    | libc::FAN_MOVED_FROM
    | libc::FAN_CLOSE_WRITE
    | libc::FAN_DELETE
    | libc::FAN_ONDIR;

/// The kernel's queue limit for new groups (`fs.fanotify.max_queued_events`).
const QUEUE_SYSCTL: &str = "/proc/sys/fs/fanotify/max_queued_events";

/// One event: what happened, who did it, and where (a directory handle and an entry name).
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub mask: u64,
    pub pid: i32,
    pub fsid: [i32; 2],
    /// A `struct file_handle` (its header and bytes), as the kernel gave it.
    pub handle: Vec<u8>,
    pub name: Vec<u8>,
}

/// A fanotify group and the file systems it marks.
pub struct Fanotify {
    fd: OwnedFd,
    /// Per marked file system (by fsid): a directory on it, for `open_by_handle_at`.
    mounts: HashMap<[i32; 2], (OwnedFd, PathBuf)>,
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
}

fn fsid_of(fd: &OwnedFd) -> io::Result<[i32; 2]> {
    // SAFETY: fstatfs fills the zeroed struct; fsid_t is two ints (its fields are private in
    // libc, hence the copy out by bytes).
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::fstatfs(fd.as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(std::mem::transmute::<libc::fsid_t, [i32; 2]>(st.f_fsid))
    }
}

impl Fanotify {
    /// A new group in FID mode with a queue of `queue` events (0: `FAN_UNLIMITED_QUEUE`).
    /// The queue size is the sysctl's value when the group is made: it is set for the call
    /// and put back at once (the group keeps its limit).
    pub fn new(queue: u32) -> io::Result<Fanotify> {
        let mut flags = libc::FAN_CLASS_NOTIF
            | libc::FAN_CLOEXEC
            | libc::FAN_NONBLOCK
            | libc::FAN_REPORT_DFID_NAME;
        let mut restore = None;
        if queue == 0 {
            flags |= libc::FAN_UNLIMITED_QUEUE;
        } else if let Ok(now) = std::fs::read_to_string(QUEUE_SYSCTL)
            && now.trim() != queue.to_string()
            && std::fs::write(QUEUE_SYSCTL, queue.to_string()).is_ok()
        {
            restore = Some(now);
        }
        // SAFETY: plain syscall with flag arguments.
        let fd = unsafe {
            libc::fanotify_init(flags, (libc::O_RDONLY | libc::O_LARGEFILE) as libc::c_uint)
        };
        let err = io::Error::last_os_error();
        if let Some(old) = restore {
            let _ = std::fs::write(QUEUE_SYSCTL, old.trim());
        }
        if fd < 0 {
            return Err(err);
        }
        Ok(Fanotify {
            // SAFETY: fanotify_init returned a new descriptor we own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            mounts: HashMap::new(),
        })
    }

    /// Marks the whole file system that holds `mount_point`.
    pub fn mark(&mut self, mount_point: &Path) -> io::Result<()> {
        let c = cstr(mount_point)?;
        // SAFETY: `c` is a valid C string; the flags are constants.
        let dir = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if dir < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open returned a new descriptor we own.
        let dir = unsafe { OwnedFd::from_raw_fd(dir) };
        let fsid = fsid_of(&dir)?;
        if self.mounts.contains_key(&fsid) {
            return Ok(()); // another mount of a file system already marked
        }
        // SAFETY: marks the file system of the open directory (dirfd + empty path is refused
        // by some kernels, so the path is given relative to it as ".").
        let r = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                MASK,
                dir.as_raw_fd(),
                c".".as_ptr(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        self.mounts.insert(fsid, (dir, mount_point.to_path_buf()));
        Ok(())
    }

    /// The group's descriptor, for poll.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// The marked file systems' mount points.
    pub fn marked(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.mounts.values().map(|(_, p)| p.clone()).collect();
        v.sort();
        v
    }

    /// Reads what is queued into `buf` (until it is full or the queue is empty); appends the
    /// events to `out` and returns whether the kernel reported an overflow, and whether the
    /// buffer filled (more may be waiting).
    pub fn read(&self, buf: &mut [u8], out: &mut Vec<RawEvent>) -> io::Result<(bool, bool)> {
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok((false, false)),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let overflow = parse(&buf[..n], out);
        Ok((overflow, n + 4096 > buf.len()))
    }

    /// The directory an event's handle names, opened (`O_PATH`), and its path.
    pub fn open_dir(&self, fsid: [i32; 2], handle: &[u8]) -> io::Result<(OwnedFd, PathBuf)> {
        let Some((mount, _)) = self.mounts.get(&fsid) else {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        };
        // A u32 buffer: struct file_handle wants 4-byte alignment.
        let mut aligned = vec![0u32; handle.len().div_ceil(4)];
        // SAFETY: copies handle.len() bytes into a buffer at least that large.
        unsafe {
            std::ptr::copy_nonoverlapping(
                handle.as_ptr(),
                aligned.as_mut_ptr().cast::<u8>(),
                handle.len(),
            );
        }
        // SAFETY: the buffer holds a file_handle as the kernel reported it.
        let fd = unsafe {
            libc::open_by_handle_at(
                mount.as_raw_fd(),
                aligned.as_mut_ptr().cast(),
                libc::O_PATH | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = dir_path(&fd)?;
        Ok((fd, path))
    }
}

/// The most levels [`dir_path`] climbs, and the most entries it reads in one directory.
const MAX_DEPTH: usize = 512;
const MAX_ENTRIES: usize = 200_000;

/// The path, from this process's `/`, of the directory `fd` (opened from a file handle).
///
/// The kernel's name for it (`/proc/self/fd/N`) is taken when it leads back to that very
/// directory (same device and inode). It does not when the directory lies outside this
/// process's root or its mount (a container's root is a directory of the host's file system,
/// which its file-system mark covers whole; a bind mount's handle names the directory from the
/// mount's own root). Then the path is found by climbing `..` to `/`, naming each directory by
/// its inode in its parent's listing; a directory from which `/` cannot be reached is not this
/// root's to report (`ENOENT`), never a guess.
fn dir_path(fd: &OwnedFd) -> io::Result<PathBuf> {
    let id = |st: &libc::stat| (st.st_dev, st.st_ino);
    let want = id(&fstat(fd.as_raw_fd())?);
    if let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        && path.is_absolute()
        && let Ok(meta) = std::fs::metadata(&path)
    {
        use std::os::unix::fs::MetadataExt;
        if (meta.dev(), meta.ino()) == want {
            return Ok(path);
        }
    }
    climb(fd, want)
}

/// [`dir_path`] the slow way: up through `..` to `/`.
fn climb(fd: &OwnedFd, want: (libc::dev_t, libc::ino_t)) -> io::Result<PathBuf> {
    let id = |st: &libc::stat| (st.st_dev, st.st_ino);
    let root = std::fs::metadata("/")?;
    let root = {
        use std::os::unix::fs::MetadataExt;
        (root.dev(), root.ino())
    };
    let unreachable = || io::Error::new(io::ErrorKind::NotFound, "not below this root");
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut cur = fd.try_clone()?;
    let mut here = want;
    while here != root {
        if names.len() >= MAX_DEPTH {
            return Err(unreachable());
        }
        let parent = openat_dir(cur.as_raw_fd(), c"..")?;
        let up = id(&fstat(parent.as_raw_fd())?);
        if up == here {
            return Err(unreachable()); // the top of the file system, and not our root
        }
        names.push(name_in(&parent, here).ok_or_else(unreachable)?);
        cur = parent;
        here = up;
    }
    let mut path = PathBuf::from("/");
    for n in names.iter().rev() {
        path.push(OsStr::from_bytes(n));
    }
    Ok(path)
}

fn fstat(fd: i32) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat buffer filled by the kernel.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0 {
            Ok(st)
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

fn openat_dir(dirfd: i32, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: a valid C string; a new descriptor we own on success.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The name under which directory `parent` holds the directory `child` (device, inode): by the
/// listing's inode number, else (a mount point, whose listing shows the covered inode) by
/// `fstatat` of each subdirectory.
fn name_in(parent: &OwnedFd, child: (libc::dev_t, libc::ino_t)) -> Option<Vec<u8>> {
    let list = || -> Option<Vec<(Vec<u8>, u64)>> {
        let dir = nix::dir::Dir::openat(
            parent,
            ".",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .ok()?;
        let mut out = Vec::new();
        for e in dir.into_iter().flatten().take(MAX_ENTRIES) {
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                out.push((n.to_vec(), e.ino()));
            }
        }
        Some(out)
    };
    let entries = list()?;
    let same = |name: &[u8]| -> bool {
        let Ok(c) = CString::new(name) else {
            return false;
        };
        // SAFETY: a zeroed stat buffer and a valid C string.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstatat(
                parent.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) == 0
                && (st.st_dev, st.st_ino) == child
        }
    };
    if let Some((n, _)) = entries.iter().find(|(n, ino)| *ino == child.1 && same(n)) {
        return Some(n.clone());
    }
    entries.into_iter().find(|(n, _)| same(n)).map(|(n, _)| n)
}

/// Parses a buffer of events; returns whether one was `FAN_Q_OVERFLOW`.
pub fn parse(buf: &[u8], out: &mut Vec<RawEvent>) -> bool {
    let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
    let mut overflow = false;
    let mut off = 0;
    while off + meta_len <= buf.len() {
        // SAFETY: at least meta_len bytes remain; read_unaligned copes with any alignment.
        let meta: libc::fanotify_event_metadata =
            unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
        let len = meta.event_len as usize;
        if len < meta_len || off + len > buf.len() || meta.vers != libc::FANOTIFY_METADATA_VERSION {
            break;
        }
        if meta.mask & libc::FAN_Q_OVERFLOW != 0 {
            overflow = true;
        }
        let mut at = off + meta.metadata_len as usize;
        while at + 4 <= off + len {
            let kind = buf[at];
            let info_len = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]) as usize;
            if info_len < 4 || at + info_len > off + len {
                break;
            }
            let info = &buf[at..at + info_len];
            if matches!(
                kind,
                libc::FAN_EVENT_INFO_TYPE_DFID_NAME | libc::FAN_EVENT_INFO_TYPE_DFID
            ) && info.len() >= 4 + 8 + 8
            {
                let fsid = [
                    i32::from_ne_bytes(info[4..8].try_into().expect("4 bytes")),
                    i32::from_ne_bytes(info[8..12].try_into().expect("4 bytes")),
                ];
                let bytes = u32::from_ne_bytes(info[12..16].try_into().expect("4 bytes")) as usize;
                let end = 12 + 8 + bytes;
                if end <= info.len() {
                    let handle = info[12..end].to_vec();
                    let name = if kind == libc::FAN_EVENT_INFO_TYPE_DFID_NAME {
                        let rest = &info[end..];
                        let nul = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                        rest[..nul].to_vec()
                    } else {
                        b".".to_vec()
                    };
                    out.push(RawEvent {
                        mask: meta.mask,
                        pid: meta.pid,
                        fsid,
                        handle,
                        name,
                    });
                }
            }
            at += info_len;
        }
        off += len;
    }
    overflow
}

/// `dir`'s entry `name` (`.` is the directory itself).
pub fn join(dir: &Path, name: &[u8]) -> PathBuf {
    if name == b"." || name.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(OsStr::from_bytes(name))
    }
}

#[cfg(test)]
mod tests;

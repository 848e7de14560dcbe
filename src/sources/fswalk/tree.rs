//! The walk of one directory tree (`/etc`, `/boot`, a configured watch tree): every entry with
//! its metadata, and the content digest of every regular file, on several threads.
//!
//! It is the setuid walk's machinery (directory descriptors, `fstatat` relative to them,
//! anchors for deep trees, symlinks never followed) with a different visitor: every entry is
//! `lstat`ed (owner and mode of directories matter here), and a regular file is opened
//! relative to its directory (`openat`, `O_NOFOLLOW | O_NONBLOCK`) only when its digest cannot
//! be carried over from the previous scan (see [`crate::hostfs::digests`]). Items are built on
//! the walking threads and sorted once at the end.

use std::collections::HashSet;
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use globset::GlobSet;

use super::{Job, LOCAL_FS, child_from, errno, fatal, parse_mountinfo, stat_at};
use crate::error::CollectError;
use crate::host::{Host, escape_os};
use crate::hostfs::digests::{DigestCache, PackageMatch};
use crate::hostfs::{self, Stat};
use crate::model::Item;
use crate::sources::common::mode_string;
use crate::sources::pkgdb;

/// What to walk and how.
pub struct TreeSpec<'a> {
    /// The tree's top, as a host path (`/usr/bin`).
    pub dir: &'a str,
    /// Record the SHA-256 of regular files (else their `mtime` stands for the content).
    pub hash: bool,
    /// Host paths not recorded (a directory matched is not entered).
    pub exclude: Option<&'a GlobSet>,
    /// Enter file systems mounted below the top (local ones only: never proc, sysfs, network
    /// or FUSE mounts); otherwise stay on the top's file system, like `find -xdev`.
    pub cross_mounts: bool,
    /// More entries than this make the walk fail (unavailable) instead of exhausting memory.
    pub max_entries: usize,
    /// Compare packaged files with the digests dpkg recorded (`package_digest`). Watch trees
    /// do; check_etc and check_boot keep the fields they always had (a new field would read
    /// as a change of every such file after an upgrade), and leave that to package_integrity.
    pub verify_packages: bool,
}

/// Entries of a tree, as items keyed by host path, sorted. A missing top is `Unavailable`.
pub fn walk_tree(
    host: &Host,
    spec: &TreeSpec,
    digests: &DigestCache,
) -> Result<Vec<Item>, CollectError> {
    let top = host.path(spec.dir);
    let st = match host.lstat(spec.dir) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CollectError::Unavailable(format!(
                "{} does not exist on this host",
                spec.dir
            )));
        }
        Err(e) => return Err(CollectError::io(spec.dir, e)),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(CollectError::Unavailable(format!(
            "{} is not a directory on this host{}",
            spec.dir,
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                " (a symlink: watch the directory it points to)"
            } else {
                ""
            }
        )));
    }
    let walk = Walk {
        host,
        spec,
        digests,
        entries: AtomicUsize::new(1),
        no_entry: if spec.cross_mounts {
            foreign_mounts(host)
        } else {
            HashSet::new()
        },
        anchors: Default::default(),
        packages: pkgdb::Packages::of(host, spec.hash && spec.verify_packages),
    };
    let mut first = walk.item(&top, &st, None);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    let job = Job {
        path: top,
        dev: st.st_dev,
        from: None,
    };
    let parts: Vec<Vec<Item>> = super::walk_jobs(host, vec![job], threads, |job, out, sub| {
        walk.read_dir(job, out, sub)
    })
    .map_err(CollectError::Unavailable)?;
    // The largest thread's list grows to hold the others (a large block is moved by mremap,
    // not copied), instead of a new list beside all of them: for a million entries that was
    // 40 MB more at the peak of the scan.
    let mut parts = parts;
    let largest = (0..parts.len())
        .max_by_key(|i| parts[*i].len())
        .unwrap_or(0);
    let mut items = if parts.is_empty() {
        Vec::new()
    } else {
        parts.swap_remove(largest)
    };
    items.reserve_exact(1 + parts.iter().map(Vec::len).sum::<usize>());
    items.push(std::mem::replace(&mut first, Item::new("")));
    for part in parts {
        items.extend(part);
    }
    items.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(items)
}

/// Mount points not to enter when crossing mounts: every mount of a type that is not a local
/// disk or memory file system (see [`LOCAL_FS`]), from the scanner's own table.
fn foreign_mounts(host: &Host) -> HashSet<PathBuf> {
    let Ok(text) = host.own_mount_table() else {
        return HashSet::new();
    };
    parse_mountinfo(&text)
        .into_iter()
        .filter(|m| !LOCAL_FS.contains(&m.fstype.as_str()) && m.fstype != "overlay")
        .map(|m| PathBuf::from(OsStr::from_bytes(&m.point)))
        .collect()
}

struct Walk<'a> {
    host: &'a Host,
    spec: &'a TreeSpec<'a>,
    digests: &'a DigestCache,
    entries: AtomicUsize,
    /// Real paths (under the scanner's `/`) of mount points never entered.
    no_entry: HashSet<PathBuf>,
    anchors: std::sync::Arc<AtomicUsize>,
    /// Who installed what, and the digests they recorded (when hashing).
    packages: pkgdb::Packages,
}

impl Walk<'_> {
    /// Reads one directory: an item per entry, its subdirectories pushed to `sub`.
    fn read_dir(&self, job: &Job, out: &mut Vec<Item>, sub: &mut Vec<Job>) -> Result<(), String> {
        let host = self.host;
        let Some(mut dir) = super::open_job(host, job)? else {
            return Ok(());
        };
        let fd = dir.fd();
        let here = hostfs::fstat(fd)
            .map_err(|e| fatal(host, &job.path, e.raw_os_error().unwrap_or(libc::EIO)))?;
        // A mount point below the top (its own entry is recorded): entered only when crossing
        // mounts, and never one of a foreign file system.
        let skip = if self.spec.cross_mounts {
            self.no_entry.contains(&job.path)
        } else {
            here.st_dev != job.dev
        };
        if skip {
            return Ok(());
        }
        let mut anchor = None;
        let mut denied = false;
        while let Some(entry) = dir.next_entry() {
            let (name, _) = entry.map_err(|e| fatal(host, &job.path, e))?;
            let nb = name.to_bytes();
            if nb == b"." || nb == b".." {
                continue;
            }
            let path = job.path.join(OsStr::from_bytes(nb));
            let st = match stat_at(fd, name) {
                Ok(st) => st,
                Err(libc::EACCES) => {
                    denied = true;
                    continue;
                }
                Err(libc::ENOENT | libc::ENOTDIR) => continue, // vanished
                Err(e) => return Err(fatal(host, &path, e)),
            };
            let key = host.display(&path);
            if self.spec.exclude.is_some_and(|x| x.is_match(&key)) {
                continue;
            }
            let n = self.entries.fetch_add(1, Ordering::Relaxed) + 1;
            if n > self.spec.max_entries {
                return Err(format!(
                    "{} holds more than {} entries: exclude the busy part of the tree or \
                     raise max_files for it",
                    self.spec.dir, self.spec.max_entries
                ));
            }
            let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            out.push(self.item_at(&path, key, &st, Some((fd, name))));
            if is_dir {
                let from = child_from(host, &self.anchors, job, fd, nb, &mut anchor)?;
                sub.push(Job {
                    path,
                    dev: job.dev,
                    from,
                });
            }
        }
        if denied {
            host.note_denied(&host.display(&job.path));
        }
        Ok(())
    }

    fn item(&self, path: &Path, st: &Stat, at: Option<(libc::c_int, &CStr)>) -> Item {
        self.item_at(path, self.host.display(path), st, at)
    }

    /// The item of one entry: type, owner, group, perm, size and symlink target, the content
    /// digest of a regular file, and the owning package (see the `check_etc` documentation).
    fn item_at(
        &self,
        path: &Path,
        key: String,
        st: &Stat,
        at: Option<(libc::c_int, &CStr)>,
    ) -> Item {
        let host = self.host;
        let fmt = st.st_mode & libc::S_IFMT;
        // Collected first and packed once: one allocation per item, not one per field (a
        // million items made that a visible cost, and left the heap fragmented).
        let mut f: Vec<(&'static str, String)> = Vec::with_capacity(12);
        f.push(("owner", host.user_name(st.st_uid)));
        f.push(("group", host.group_name(st.st_gid)));
        f.push(("perm", mode_string(st.st_mode)));
        f.push(("type", type_of(fmt).to_string()));
        if fmt == libc::S_IFREG || fmt == libc::S_IFLNK {
            f.push(("size", st.st_size.to_string()));
        }
        if fmt == libc::S_IFLNK
            && let Some((fd, name)) = at
            && let Some(target) = read_link_at(fd, name)
        {
            f.push(("target", escape_os(&target)));
        }
        if fmt == libc::S_IFREG {
            self.content(&key, path, st, at, &mut f);
        }
        if fmt != libc::S_IFDIR
            && let Some(package) = self.packages.package_of(&key)
        {
            f.push(("package", package));
        }
        Item {
            key,
            fields: f.into_iter().collect(),
        }
    }

    /// `sha256` (carried over or computed), or `mtime` when not hashing, when the file is
    /// too large (with `not_hashed`) or unreadable (noted as denied), and then also its
    /// identity (see [`identity`]). A file gone meanwhile gets neither.
    fn content(
        &self,
        key: &str,
        path: &Path,
        st: &Stat,
        at: Option<(libc::c_int, &CStr)>,
        f: &mut Vec<(&'static str, String)>,
    ) {
        let host = self.host;
        let mtime = |f: &mut Vec<(&'static str, String)>| {
            f.push(("mtime", st.st_mtime.to_string()));
            identity(st, f);
        };
        if !self.spec.hash {
            mtime(f);
            return;
        }
        let cap = host.max_hash();
        if u64::try_from(st.st_size).unwrap_or(0) > cap {
            f.push(("not_hashed", hostfs::not_hashed(cap)));
            mtime(f);
            return;
        }
        if let Some((d, verdict)) = self.digests.lookup(st) {
            f.push(("sha256", hex::encode(d)));
            if verdict != PackageMatch::Unknown {
                let package = self.packages.recorded_md5(key).map(|(_, p)| p);
                push_package_match(f, verdict, package.as_deref());
            }
            return;
        }
        // A packaged file is checked against the digest its package recorded, in the same read.
        let (recorded, package) = match self.packages.recorded_md5(key) {
            Some((md5, package)) => (Some(md5), Some(package)),
            None => (None, None),
        };
        let opened = match at {
            Some((fd, name)) => open_at(fd, name, !host.is_live()),
            None => host.open_walked(path).map(|(f, _)| f),
        };
        let hashed = opened.and_then(|file| {
            let now = hostfs::fstat(std::os::fd::AsRawFd::as_raw_fd(&file))?;
            if now.st_mode & libc::S_IFMT != libc::S_IFREG {
                // Swapped for something else since the walk saw it: as if gone.
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            let read = read_digests(file, cap, recorded.is_some(), &|| host.cancelled())?;
            if let Some((sha, md5)) = read {
                let package = match (recorded, md5) {
                    (Some(want), Some(got)) if want == got => PackageMatch::Matches,
                    (Some(_), Some(_)) => PackageMatch::Differs,
                    _ => PackageMatch::Unknown,
                };
                // The status taken after opening, before reading: a write meanwhile changes
                // it, so this digest is never reused for other content.
                self.digests.remember(&now, sha, package);
                return Ok(Some((sha, package)));
            }
            Ok(None)
        });
        match hashed {
            Ok(Some((sha, verdict))) => {
                f.push(("sha256", hex::encode(sha)));
                push_package_match(f, verdict, package.as_deref());
            }
            Ok(None) => {
                f.push(("not_hashed", hostfs::not_hashed(cap)));
                mtime(f);
            }
            Err(e) if hostfs::gone(&e) || e.raw_os_error() == Some(libc::ELOOP) => {}
            Err(e) => {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    host.note_denied(key);
                }
                mtime(f);
            }
        }
    }
}

/// What stands for the content of a file that is not hashed, besides its size and `mtime`
/// (which `touch -d` puts back after a write): `ctime` to the nanosecond (only the kernel sets
/// it; putting it back means setting the clock), `dev` and `inode` (a file replaced by another
/// one). All three stay the same while nothing touches the file.
fn identity(st: &Stat, f: &mut Vec<(&'static str, String)>) {
    f.push(("ctime", format!("{}.{:09}", st.st_ctime, st.st_ctime_nsec)));
    f.push(("dev", st.st_dev.to_string()));
    f.push(("inode", st.st_ino.to_string()));
}

/// Adds `package_digest`: whether the content is what its package installed, with the
/// package's name (`sudo: matches`, `sudo: differs`), so a change of it reads whole.
fn push_package_match(
    f: &mut Vec<(&'static str, String)>,
    verdict: PackageMatch,
    package: Option<&str>,
) {
    let package = package.unwrap_or("?");
    match verdict {
        PackageMatch::Unknown => {}
        PackageMatch::Matches => f.push(("package_digest", format!("{package}: matches"))),
        PackageMatch::Differs => f.push(("package_digest", format!("{package}: differs"))),
    }
}

/// A file's SHA-256, and its MD5 when asked for.
type Digests = ([u8; 32], Option<[u8; 16]>);

/// Reads a file once for its SHA-256 and, when `md5` is asked, its MD5 (what dpkg records).
/// `None` when it holds more than `cap` bytes (it grew past the cap while being read). Stops
/// with an error when the scan is abandoned.
fn read_digests(
    file: std::fs::File,
    cap: u64,
    md5: bool,
    cancel: &dyn Fn() -> bool,
) -> io::Result<Option<Digests>> {
    // Each crate's own Digest trait: they may come from different `digest` versions.
    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut sum = md5.then(<md5::Md5 as md5::Digest>::new);
    let read = hostfs::read_bounded(file, cap, cancel, |chunk| {
        sha2::Digest::update(&mut sha, chunk);
        if let Some(m) = &mut sum {
            md5::Digest::update(m, chunk);
        }
    })?;
    if read.is_none() {
        return Ok(None);
    }
    let md5 = sum.map(|m| {
        let mut out = [0u8; 16];
        out.copy_from_slice(&md5::Digest::finalize(m));
        out
    });
    Ok(Some((sha2::Digest::finalize(sha).into(), md5)))
}

/// The `type` field for a file-type mode.
fn type_of(fmt: u32) -> &'static str {
    match fmt {
        libc::S_IFLNK => "symlink",
        libc::S_IFDIR => "dir",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        _ => "file",
    }
}

/// Opens `name` in the directory `fd` for reading: never through a symlink, never blocking
/// on a FIFO swapped in, never becoming a controlling terminal. Under a foreign root (an
/// image), as [`hostfs`] does: first with `O_PATH` (no open side effect even for a device
/// node), re-opened for reading through `/proc/self/fd` only once `fstat` says it is a regular
/// file.
fn open_at(fd: libc::c_int, name: &CStr, foreign: bool) -> io::Result<std::fs::File> {
    let flags =
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let open = |dir: libc::c_int, path: &CStr, flags: libc::c_int| {
        // SAFETY: path is a C string, dir an open directory or AT_FDCWD; the result is checked.
        let raw = unsafe { libc::openat(dir, path.as_ptr(), flags) };
        if raw < 0 {
            return Err(io::Error::from_raw_os_error(errno()));
        }
        // SAFETY: a fresh descriptor we own.
        Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(raw) }))
    };
    if !foreign {
        return open(fd, name, flags);
    }
    let path = open(fd, name, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)?;
    let st = hostfs::fstat(std::os::fd::AsRawFd::as_raw_fd(&path))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    let again = std::ffi::CString::new(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&path)
    ))
    .expect("no NUL");
    open(libc::AT_FDCWD, &again, flags & !libc::O_NOFOLLOW)
}

/// The target of the symlink `name` in the directory `fd`.
fn read_link_at(fd: libc::c_int, name: &CStr) -> Option<std::ffi::OsString> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: name is a C string; buf is writable for its length.
    let n = unsafe { libc::readlinkat(fd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(std::ffi::OsString::from_vec(buf))
}

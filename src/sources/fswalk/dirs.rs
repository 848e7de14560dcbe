//! Reading one directory: `readdir` through an fd, `fstatat` relative to it, and each entry
//! sorted into the walk's lists (setuid and setgid files, FIFOs, capabilities) or its queue.

use super::*;

/// An open directory stream (`opendir` on a descriptor opened without following symlinks).
pub(super) struct DirStream(std::ptr::NonNull<libc::DIR>);

impl DirStream {
    /// Opens a job's directory (beneath the host root, or beneath its anchor) refusing every
    /// symlink on the way, so a parent directory swapped for a symlink since it was read
    /// cannot steer the walk (see [`hostfs`]). The error is the errno.
    pub(super) fn open(host: &Host, job: &Job) -> Result<Self, i32> {
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

    pub(super) fn fd(&self) -> libc::c_int {
        // SAFETY: the stream is open until drop.
        unsafe { libc::dirfd(self.0.as_ptr()) }
    }

    /// The next entry's name and `d_type`; the name is valid until the next call. An error
    /// of readdir itself (I/O) is returned as its errno.
    pub(super) fn next_entry(&mut self) -> Option<Result<(&CStr, u8), i32>> {
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

pub(super) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `lstat` of `name` relative to the directory descriptor `dirfd`; the error is the errno.
pub(super) fn stat_at(dirfd: libc::c_int, name: &CStr) -> Result<libc::stat, i32> {
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
pub(super) fn fatal(host: &Host, path: &Path, errno: i32) -> String {
    format!(
        "cannot read {}: {}",
        host.display(path),
        io::Error::from_raw_os_error(errno)
    )
}

/// Opens a job's directory for reading: `None` when it is denied (noted) or gone (vanished, or
/// moved and replaced by something else since its parent was read); any other error fails
/// the walk.
pub(super) fn open_job(host: &Host, job: &Job) -> Result<Option<DirStream>, String> {
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
pub(super) fn read_dir(
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
pub(super) fn child_from(
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

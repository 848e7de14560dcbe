//! Resolving a path under the scanned root the way the kernel would, recording everything met
//! on the way: each directory traversed, each symlink followed, and what the path finally names.
//! `root_run_writable` asks of every one of them "can anyone but root change this?": a
//! directory on the way, or one a symlink leads through, is as good a hole as the file itself.
//!
//! Every step is opened relative to the previous one with `O_PATH | O_NOFOLLOW` (no open side
//! effects: a FIFO or a device is never really opened) and `fstat`ed through its descriptor, so
//! what is judged is what was walked even if names are swapped meanwhile. Absolute symlink
//! targets start again at the scanned root, `..` never climbs above it, and at most
//! [`MAX_LINKS`] symlinks are followed, as the kernel allows.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Stat, fstat};

/// Symlinks followed at most while resolving one path (the kernel's limit).
pub const MAX_LINKS: usize = 40;

/// What a step of a resolution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A directory the resolution went through (the root first).
    Dir,
    /// A symlink that was followed.
    Symlink,
    /// What the path names in the end (any type but a directory or symlink on the way).
    Target,
}

/// One thing met while resolving a path.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its host path (`/usr/sbin`), as reached (through symlinks, the path of the link's target).
    pub path: PathBuf,
    pub kind: StepKind,
    pub stat: Stat,
    /// The raw `system.posix_acl_access` xattr of a directory or the target, when it has one.
    pub acl: Option<Vec<u8>>,
}

/// A path resolved under the root: every step, and whether the path exists to its end (when
/// not, the last step is the directory where the missing name would be: whoever can write it
/// can create the rest).
#[derive(Debug, Clone)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub complete: bool,
}

/// Resolves `rel` (a host path) beneath the directory `root`, following every symlink inside the
/// root. Errors: `ELOOP` past [`MAX_LINKS`], and any error other than "missing" (`ENOENT`,
/// `ENOTDIR`), which ends the trace with `complete: false`.
pub fn trace(root: std::os::fd::RawFd, rel: &Path) -> io::Result<Trace> {
    // `..` is resolved here as the kernel would, clamped at the root.
    let mut todo: Vec<Vec<u8>> = Vec::new();
    push(&mut todo, rel.as_os_str().as_bytes());
    let root_dup = dup(root)?;
    let root_stat = fstat(root_dup.as_raw_fd())?;
    let mut steps = vec![Step {
        path: PathBuf::from("/"),
        kind: StepKind::Dir,
        stat: root_stat,
        acl: acl_of(&root_dup),
    }];
    // The directories from the root down to where the resolution is, with their host paths.
    let mut dirs: Vec<(OwnedFd, PathBuf)> = vec![(root_dup, PathBuf::from("/"))];
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == b".." {
            if dirs.len() > 1 {
                dirs.pop();
            }
            continue;
        }
        let (at, here) = dirs.last().expect("the root stays");
        let path = here.join(std::ffi::OsStr::from_bytes(&c));
        let name = CString::new(c).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: name is a C string; the result is checked.
        let fd = unsafe {
            libc::openat(
                at.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if super::gone(&e) {
                // The trace ends with the directory the missing name would be created in.
                if steps.last().map(|s| &s.path) != Some(here) {
                    steps.push(Step {
                        path: here.clone(),
                        kind: StepKind::Dir,
                        stat: fstat(at.as_raw_fd())?,
                        acl: acl_of(at),
                    });
                }
                return Ok(Trace {
                    steps,
                    complete: false,
                });
            }
            return Err(e);
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd.as_raw_fd())?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => {
                hops += 1;
                if hops > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = nix::fcntl::readlinkat(at.as_fd(), name.as_c_str())
                    .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
                steps.push(Step {
                    path,
                    kind: StepKind::Symlink,
                    stat: st,
                    acl: None,
                });
                let target = target.as_bytes();
                if target.starts_with(b"/") {
                    dirs.truncate(1);
                }
                push(&mut todo, target);
            }
            libc::S_IFDIR => {
                steps.push(Step {
                    path: path.clone(),
                    kind: if todo.is_empty() {
                        StepKind::Target
                    } else {
                        StepKind::Dir
                    },
                    stat: st,
                    acl: acl_of(&fd),
                });
                dirs.push((fd, path));
            }
            _ => {
                let acl = if st.st_mode & libc::S_IFMT == libc::S_IFREG {
                    acl_of(&fd)
                } else {
                    None
                };
                steps.push(Step {
                    path,
                    kind: StepKind::Target,
                    stat: st,
                    acl,
                });
                // A file in the middle of a path (`/usr/bin/sh/x`): nothing more exists.
                return Ok(Trace {
                    steps,
                    complete: todo.is_empty(),
                });
            }
        }
    }
    Ok(Trace {
        steps,
        complete: true,
    })
}

/// Pushes the components of `path` so that the first is popped first.
fn push(todo: &mut Vec<Vec<u8>>, path: &[u8]) {
    for c in path.split(|b| *b == b'/').rev() {
        if !c.is_empty() && c != b"." {
            todo.push(c.to_vec());
        }
    }
}

fn dup(fd: std::os::fd::RawFd) -> io::Result<OwnedFd> {
    // SAFETY: dup of an open descriptor; the result is checked.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// The `system.posix_acl_access` xattr of an `O_PATH` descriptor's file, read through
/// `/proc/self/fd/N` (an `O_PATH` descriptor takes no `fgetxattr`). `None` when it has none,
/// or when /proc is not mounted (the mode bits are then all that is judged).
fn acl_of(fd: &OwnedFd) -> Option<Vec<u8>> {
    let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    let mut buf = [0u8; 512];
    // SAFETY: path and the name are C strings, buf is writable for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

#[cfg(test)]
mod tests;

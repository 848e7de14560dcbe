//! The hooks' two file writers, safe in a directory that a less trusted user may write
//! (node_exporter's textfile directory belongs to the `prometheus` user on most hosts).
//!
//! The daemon runs as root, so whoever writes that directory must not be able to make it write
//! elsewhere, or wait forever:
//! - the directory is opened once, not through a symbolic link, and every name is looked up
//!   relative to it (a directory swapped for a link after the check changes nothing);
//! - a new file is created exclusively and without following links: unnamed (`O_TMPFILE`) and
//!   linked in under a random name when the file system supports it, else created under a random
//!   name with `O_CREAT|O_EXCL|O_NOFOLLOW`; it is then renamed over the target, which replaces
//!   whatever is there (a planted link or FIFO included) without opening it;
//! - an existing file is opened with `O_NOFOLLOW|O_NONBLOCK` (a FIFO cannot block the open) and
//!   used only when it is a regular file with one link (a hard link to the database, planted
//!   by the directory's writer, is refused).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, linkat, unlinkat};

/// Random names tried before giving up (each is 128 random bits: a clash means someone
/// guessed, or a bug).
const NAME_TRIES: usize = 8;

/// An error that says what was refused and why.
fn refused(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.into())
}

/// The directory of `path` (opened once, not through a link) and the file's name in it.
fn open_dir(path: &Path) -> io::Result<(OwnedFd, &OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| refused("the path names no file"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match openat(AT_FDCWD, dir, flags, Mode::empty()) {
        Ok(fd) => Ok((fd, name)),
        // O_NOFOLLOW|O_DIRECTORY on a link: ENOTDIR (or ELOOP).
        Err(Errno::ENOTDIR | Errno::ELOOP) if is_link(dir) => Err(refused(format!(
            "its directory {} is a symbolic link, which whoever can write the directory above \
             could point elsewhere: name the real directory in the config",
            dir.display()
        ))),
        Err(e) => Err(io::Error::from(e)),
    }
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// `.dawgmon-<128 random bits>.tmp`: unguessable, and not `*.prom`, so node_exporter never
/// reads a file that is still being written.
fn temp_name() -> String {
    format!(".dawgmon-{}.tmp", uuid::Uuid::new_v4().simple())
}

/// Writes `bytes` to a new file in the directory of `path`, gives it `mode` and renames it over
/// `path`: a reader sees the old file or the new one, never part of one; whatever was at `path`
/// (a link, a FIFO) is replaced, never opened.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    match replace_in(path, bytes, mode, true) {
        // The unnamed file could not be linked in (no /proc mounted, or linkat refused by the
        // file system): the named fallback needs neither.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::EPERM | libc::EACCES)
            ) =>
        {
            replace_in(path, bytes, mode, false)
        }
        done => done,
    }
}

/// [`replace`], trying `O_TMPFILE` first or not (tests of the fallback).
fn replace_in(path: &Path, bytes: &[u8], mode: u32, unnamed: bool) -> io::Result<()> {
    let (dir, name) = open_dir(path)?;
    let opened = if unnamed {
        openat(
            &dir,
            ".",
            OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
    } else {
        Err(Errno::EOPNOTSUPP)
    };
    let (file, temp) = match opened {
        Ok(fd) => (File::from(fd), None),
        // No O_TMPFILE on this file system (or kernel): a named file, created exclusively.
        Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {
            let (fd, temp) = create_named(&dir)?;
            (File::from(fd), Some(temp))
        }
        Err(e) => return Err(e.into()),
    };
    let result = fill_and_rename(&dir, &file, temp.as_deref(), name, bytes, mode);
    result.inspect_err(|_| {
        if let Some(t) = &temp {
            let _ = unlinkat(&dir, t.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    })
}

/// A new file under a random name in `dir`: `O_EXCL` refuses any name that exists, a link
/// included, and `O_NONBLOCK` makes sure nothing waits.
fn create_named(dir: &OwnedFd) -> io::Result<(OwnedFd, String)> {
    let flags = OFlag::O_WRONLY
        | OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC;
    for _ in 0..NAME_TRIES {
        let temp = temp_name();
        match openat(dir, temp.as_str(), flags, Mode::from_bits_truncate(0o600)) {
            Ok(fd) => return Ok((fd, temp)),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(refused(format!(
        "{NAME_TRIES} random temporary names were all taken"
    )))
}

/// Writes the file, then names it (an unnamed file gets a random name first) and renames it
/// over `name`.
fn fill_and_rename(
    dir: &OwnedFd,
    mut file: &File,
    temp: Option<&str>,
    name: &OsStr,
    bytes: &[u8],
    mode: u32,
) -> io::Result<()> {
    file.write_all(bytes)?;
    // The unit's UMask=0077 would leave it 0600: set the mode the reader needs.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    let temp = match temp {
        Some(t) => t.to_string(),
        None => link_unnamed(dir, file)?,
    };
    let renamed = renameat(dir, temp.as_str(), dir, name);
    if renamed.is_err() {
        let _ = unlinkat(dir, temp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    Ok(renamed?)
}

/// Gives an `O_TMPFILE` file a random name in `dir` (through `/proc/self/fd`, which needs no
/// capability; `linkat` never replaces an existing name).
fn link_unnamed(dir: &OwnedFd, file: &File) -> io::Result<String> {
    let proc_path = format!("/proc/self/fd/{}", file.as_fd().as_raw_fd());
    for _ in 0..NAME_TRIES {
        let temp = temp_name();
        match linkat(
            AT_FDCWD,
            proc_path.as_str(),
            dir,
            temp.as_str(),
            AtFlags::AT_SYMLINK_FOLLOW,
        ) {
            Ok(()) => return Ok(temp),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(refused(format!(
        "{NAME_TRIES} random temporary names were all taken"
    )))
}

/// Appends `bytes` to `path` in one write, creating it with `mode` (exclusively) when absent.
/// An existing file keeps its mode; anything but a regular file with a single link is refused.
/// With nothing to append, only checks what is there (so a planted file stays a warning).
pub fn append(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (dir, name) = open_dir(path)?;
    let flags = OFlag::O_WRONLY
        | OFlag::O_APPEND
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    let mut created = false;
    let mut opened = openat(&dir, name, flags, Mode::empty());
    if matches!(opened, Err(Errno::ENOENT)) && bytes.is_empty() {
        return Ok(());
    }
    if matches!(opened, Err(Errno::ENOENT)) {
        opened = openat(
            &dir,
            name,
            flags | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::from_bits_truncate(mode),
        );
        created = opened.is_ok();
        if matches!(opened, Err(Errno::EEXIST)) {
            // Created between the two calls: open what is there now, with the same checks.
            opened = openat(&dir, name, flags, Mode::empty());
        }
    }
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => {
            return Err(refused(
                "it is a symbolic link, refused (it could point at any file root may write): \
                 remove it",
            ));
        }
        // O_NONBLOCK on a FIFO nobody reads, or on a socket: not a file to append to.
        Err(Errno::ENXIO) => {
            return Err(refused(
                "it is not a regular file (a FIFO or a socket), refused: remove it",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused(
            "it is not a regular file (a FIFO or a device), refused: remove it",
        ));
    }
    if meta.nlink() != 1 {
        return Err(refused(format!(
            "it has {} hard links, refused (another name of it could be any file, the \
             database included): remove it",
            meta.nlink()
        )));
    }
    if created {
        // Created under the unit's UMask=0077: give it the documented mode.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    // One write: a reader (or a shipper tailing the file) never sees half a scan's lines.
    file.write_all(bytes)
}

#[cfg(test)]
mod tests;

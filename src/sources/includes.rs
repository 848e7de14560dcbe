//! The budget of one walk through configuration files that include others (`ld.so.conf`'s
//! `include`, sshd's `Include`, sudoers' `@include`/`@includedir`, PAM's services), shared by
//! the collectors that follow includes so that none of them can be blown up by its files.
//!
//! - **Each file is read once per walk**, known by device and inode (a symlink or a second
//!   path to it is the same file), and for sshd by the `Match` block it is read in too (the
//!   same file under another block says something else). Nine files that each include `*`
//!   are nine reads, not 9^depth.
//! - **A cap on items**: every file opened and every line or entry a collector keeps counts;
//!   past `max_items` the walk fails and the collector is unavailable for that scan (a
//!   warning naming the cause and the key), never a partial list that would read as removals.
//! - **Cancel checks**: when the scan gives up on the collector (`collector_timeout`) or on
//!   the whole scan, the next read or count fails, so the thread stops.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use crate::error::CollectError;
use crate::host::Host;
use crate::hostfs;

/// What [`Includes::read`] found.
pub enum Read {
    /// The file's bytes (at most [`hostfs::MAX_READ`]).
    Bytes(Vec<u8>),
    /// This walk read the file already (in the same context): not read again.
    Again,
    /// It could not be opened or read (missing, not a regular file, denied, too large).
    Failed(io::Error),
}

/// One include walk's visited set and item count (see the module documentation).
pub struct Includes<'a> {
    host: &'a Host,
    /// What is walked, for messages (`ld.so.conf and its includes`).
    what: &'static str,
    /// (device, inode, context) of every file read.
    read: HashSet<(u64, u64, String)>,
    items: usize,
    max: usize,
}

impl<'a> Includes<'a> {
    /// A walk of `what` with the host's `max_items`.
    pub fn new(host: &'a Host, what: &'static str) -> Self {
        Includes {
            host,
            what,
            read: HashSet::new(),
            items: 0,
            max: host.max_items(),
        }
    }

    /// Reads the file at a host path, unless this walk already read the same file in the same
    /// `context` (`""` when there is only one). Fails when the scan gave up or the budget is
    /// spent.
    pub fn read(
        &mut self,
        host_path: impl AsRef<Path>,
        context: &str,
    ) -> Result<Read, CollectError> {
        self.count(1)?;
        let (file, st) = match self.host.open_file(host_path.as_ref()) {
            Ok(opened) => opened,
            Err(e) => return Ok(Read::Failed(e)),
        };
        if !self
            .read
            .insert((st.st_dev, st.st_ino, context.to_string()))
        {
            return Ok(Read::Again);
        }
        Ok(match hostfs::read_capped(file, hostfs::MAX_READ) {
            Ok(bytes) => Read::Bytes(bytes),
            Err(e) => Read::Failed(e),
        })
    }

    /// [`Includes::read`] of a real path under the root (one a directory listing gave).
    pub fn read_real(&mut self, real: &Path, context: &str) -> Result<Read, CollectError> {
        let rel = real.strip_prefix(self.host.root()).unwrap_or(real);
        self.read(Path::new("/").join(rel), context)
    }

    /// Whether this walk read the file `st` describes already, in `context`.
    pub fn was_read(&self, st: &hostfs::Stat, context: &str) -> bool {
        self.read
            .contains(&(st.st_dev, st.st_ino, context.to_string()))
    }

    /// Counts `n` more items kept; fails past the cap or when the scan gave up.
    pub fn count(&mut self, n: usize) -> Result<(), CollectError> {
        if self.host.cancelled() {
            return Err(CollectError::Unavailable(format!(
                "{}: the scan gave up while reading them (collector_timeout or scan_timeout)",
                self.what
            )));
        }
        self.items = self.items.saturating_add(n);
        if self.items > self.max {
            return Err(over(self.what, self.max));
        }
        Ok(())
    }
}

/// The outage of a walk past `max_items`: what, how many, and the way out.
pub fn over(what: &str, max: usize) -> CollectError {
    CollectError::Unavailable(format!(
        "{what}: more than {max} files, lines and includes (max_items): not listed, as a \
         partial list would read as removals; look for an include loop or a flood of files, \
         or raise max_items in dawgmond.toml"
    ))
}

#[cfg(test)]
mod tests;

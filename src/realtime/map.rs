//! From a changed path to the collectors that read it: built from the collectors' own
//! declarations ([`Collector::watch_paths`], [`Collector::watches_setid`],
//! [`Collector::observes`]), never from a list of paths kept here.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::collectors::Collector;

/// One declared path, split into components (each a literal or a `*` pattern).
#[derive(Debug, Clone)]
struct Pattern {
    parts: Vec<String>,
    collector: &'static str,
}

/// The map of one daemon's collectors.
#[derive(Debug, Clone, Default)]
pub struct PathMap {
    root: PathBuf,
    patterns: Vec<Pattern>,
    /// Collectors concerned by any setuid, setgid or capability entry.
    pub setid: Vec<&'static str>,
    /// Collectors run at once when their paths change, to record what they saw.
    pub observers: Vec<&'static str>,
    /// Paths no event of which is of interest (the daemon's own database, socket, files).
    ignored: Vec<PathBuf>,
}

/// Whether name `n` matches component pattern `p` (`*` is any run of characters).
fn glob(p: &str, n: &str) -> bool {
    match p.split_once('*') {
        None => p == n,
        Some((head, rest)) => {
            let Some(tail) = n.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

fn parts(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

impl PathMap {
    /// The map of `collectors` scanning `root`; events on `ignored` paths (and below) are
    /// dropped.
    pub fn new(root: &Path, collectors: &[&'static dyn Collector], ignored: Vec<PathBuf>) -> Self {
        let mut map = PathMap {
            root: root.to_path_buf(),
            ignored,
            ..PathMap::default()
        };
        for c in collectors {
            for p in c.watch_paths() {
                map.patterns.push(Pattern {
                    parts: parts(Path::new(&p)),
                    collector: c.name(),
                });
            }
            if c.watches_setid() {
                map.setid.push(c.name());
            }
            if c.observes() && !c.watch_paths().is_empty() {
                map.observers.push(c.name());
            }
        }
        map
    }

    /// The scanned root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every collector the map knows of: what an overflow scan runs.
    pub fn all(&self) -> BTreeSet<&'static str> {
        self.patterns
            .iter()
            .map(|p| p.collector)
            .chain(self.setid.iter().copied())
            .collect()
    }

    /// The host path `real` (as the kernel names it) seen under the root (`/etc/x` for
    /// `<root>/etc/x`); `None` outside the root or on an ignored path.
    pub fn inside(&self, real: &Path) -> Option<PathBuf> {
        if self.ignored.iter().any(|i| real.starts_with(i)) {
            return None;
        }
        let rel = real.strip_prefix(&self.root).ok()?;
        Some(Path::new("/").join(rel))
    }

    /// The collectors reading `path` (a path under the root, see [`PathMap::inside`]): those
    /// that declared it, a directory above it, or (for a directory being made) one below it.
    pub fn collectors_for(&self, path: &Path) -> BTreeSet<&'static str> {
        let have = parts(path);
        self.patterns
            .iter()
            .filter(|p| p.parts.iter().zip(&have).all(|(pat, name)| glob(pat, name)))
            .map(|p| p.collector)
            .collect()
    }

    /// The directories the inotify fallback watches: every declared path that exists (its
    /// parent when it is a file, `*` expanded), and the `.d` directories of those.
    pub fn key_directories(&self, max: usize) -> Vec<PathBuf> {
        let mut out: BTreeSet<PathBuf> = BTreeSet::new();
        for p in &self.patterns {
            let mut found = vec![self.root.clone()];
            for part in &p.parts {
                let mut next = Vec::new();
                for dir in &found {
                    if part.contains('*') {
                        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                            if glob(part, &e.file_name().to_string_lossy()) {
                                next.push(e.path());
                            }
                        }
                    } else {
                        next.push(dir.join(part));
                    }
                }
                found = next;
            }
            for f in found {
                let Ok(meta) = std::fs::symlink_metadata(&f) else {
                    continue;
                };
                let dir = if meta.is_dir() {
                    f
                } else {
                    match f.parent() {
                        Some(d) => d.to_path_buf(),
                        None => continue,
                    }
                };
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".d") && e.file_type().is_ok_and(|t| t.is_dir()) {
                        out.insert(e.path());
                    }
                }
                out.insert(dir);
            }
        }
        out.into_iter().take(max).collect()
    }
}

#[cfg(test)]
mod tests;

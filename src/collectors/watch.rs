//! Watch trees: directory trees an administrator chose to watch (`[[watch]]` in dawgmond.toml,
//! `--watch PATH` with `dawgctl --local`), each its own collector named `watch:PATH`, as AIDE
//! or Tripwire watch `/usr/bin` or `/opt`: every entry's type, owner, group, mode, size and
//! symlink target, the SHA-256 of every regular file (unless `hash = false`: then its mtime),
//! the package that installed it, and for a packaged file whether its content is still what
//! the package installed (`package_digest = PACKAGE: matches | differs`, from dpkg's md5sums).
//!
//! A re-scan reads only files whose metadata changed (see [`crate::hostfs::digests`]); every
//! `rehash_every` (weekly by default) a scan reads them all. None is configured by default: a
//! tree is a deliberate choice (a million unchanged files cost ~3.5 s and ~390 MB per re-scan on
//! two CPUs; BENCHMARKS.md).
//!
//! The registry is a static list and these are configured at run time, so their collectors
//! are made once per configuration load and live as long as the process (`Box::leak`: a few
//! hundred bytes per tree). Reports of trees no longer configured still render: [`by_name`]
//! answers any `watch:` name with the shared message logic.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Item};
use crate::sources::fswalk::{self, TreeSpec};
use crate::sources::tree::tree_message;

/// What every watch collector's name starts with.
pub const PREFIX: &str = "watch:";

/// Entries a tree may hold by default before its walk gives up (unavailable) rather than
/// exhaust memory: about 1 GB of items.
pub const DEFAULT_MAX_FILES: usize = 4_000_000;

/// One `[[watch]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSpec", into = "RawSpec")]
pub struct WatchSpec {
    /// The tree's top, an absolute host path (`/usr/bin`).
    pub path: String,
    /// Hash regular files (default); `false` records their mtime instead.
    pub hash: bool,
    /// Host-path globs left out (`*` stays within one path component, `**` crosses them); a
    /// directory left out is not entered.
    pub exclude: Vec<String>,
    /// Enter local file systems mounted below `path` (default: stay on its file system).
    pub follow_mounts: bool,
    /// More entries than this make the tree unavailable for the scan.
    pub max_files: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    path: String,
    #[serde(default = "yes")]
    hash: bool,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    follow_mounts: bool,
    #[serde(default = "default_max_files")]
    max_files: usize,
}

fn yes() -> bool {
    true
}

fn default_max_files() -> usize {
    DEFAULT_MAX_FILES
}

impl TryFrom<RawSpec> for WatchSpec {
    type Error = String;
    fn try_from(r: RawSpec) -> Result<Self, String> {
        let spec = WatchSpec {
            path: r.path,
            hash: r.hash,
            exclude: r.exclude,
            follow_mounts: r.follow_mounts,
            max_files: r.max_files,
        };
        spec.check()?;
        Ok(spec)
    }
}

impl From<WatchSpec> for RawSpec {
    fn from(s: WatchSpec) -> Self {
        RawSpec {
            path: s.path,
            hash: s.hash,
            exclude: s.exclude,
            follow_mounts: s.follow_mounts,
            max_files: s.max_files,
        }
    }
}

impl WatchSpec {
    /// A tree at `path` with the defaults: hashed, nothing excluded, one file system.
    pub fn new(path: impl Into<String>) -> Result<Self, String> {
        let spec = WatchSpec {
            path: path.into(),
            hash: true,
            exclude: Vec::new(),
            follow_mounts: false,
            max_files: DEFAULT_MAX_FILES,
        };
        spec.check()?;
        Ok(spec)
    }

    /// The collector name: `watch:/usr/bin`.
    pub fn collector_name(&self) -> String {
        format!("{PREFIX}{}", self.path)
    }

    /// Refuses what cannot be meant: a relative or unnormalised path, a bad glob.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.path;
        let normal = p.starts_with('/')
            && (p == "/" || !p.ends_with('/'))
            && !p.contains("//")
            && !p.split('/').any(|c| c == "." || c == "..");
        if !normal {
            return Err(format!(
                "watch path {p:?}: write an absolute path without '.', '..', '//' or a \
                 trailing '/' (e.g. \"/usr/bin\")"
            ));
        }
        if self.max_files == 0 {
            return Err(format!("watch {p:?}: max_files must be at least 1"));
        }
        self.globs().map(|_| ())
    }

    fn globs(&self) -> Result<Option<GlobSet>, String> {
        if self.exclude.is_empty() {
            return Ok(None);
        }
        let mut set = GlobSetBuilder::new();
        for g in &self.exclude {
            if !g.starts_with('/') {
                return Err(format!(
                    "watch {:?}: exclude {g:?} must be an absolute host-path glob \
                     (e.g. \"/usr/lib/**/__pycache__\")",
                    self.path
                ));
            }
            let glob = GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("watch {:?}: exclude {g:?}: {e}", self.path))?;
            set.add(glob);
        }
        set.build()
            .map(Some)
            .map_err(|e| format!("watch {:?}: exclude: {e}", self.path))
    }
}

/// The collectors of configured trees, made once per configuration (see the module
/// documentation). Two trees with one path are refused.
pub fn collectors(specs: &[WatchSpec]) -> Result<Vec<&'static dyn Collector>, String> {
    check_unique(specs)?;
    let mut out: Vec<&'static dyn Collector> = Vec::with_capacity(specs.len());
    for spec in specs {
        let name = spec.collector_name();
        let tree = WatchTree {
            exclude: spec.globs()?,
            name: Box::leak(name.into_boxed_str()),
            spec: spec.clone(),
        };
        out.push(Box::leak(Box::new(tree)));
    }
    Ok(out)
}

/// Refuses two trees with one path (they would be one collector).
pub fn check_unique(specs: &[WatchSpec]) -> Result<(), String> {
    let mut paths: Vec<&str> = specs.iter().map(|w| w.path.as_str()).collect();
    paths.sort_unstable();
    match paths.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(format!(
            "watch path {:?} is configured twice: keep one [[watch]] table for it",
            w[0]
        )),
        None => Ok(()),
    }
}

/// One configured tree.
pub struct WatchTree {
    name: &'static str,
    spec: WatchSpec,
    exclude: Option<GlobSet>,
}

impl Collector for WatchTree {
    fn watch_paths(&self) -> Vec<String> {
        vec![self.spec.path.clone()]
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        "a watched tree ([[watch]]): owner, mode, content hash and package of every file"
    }
    fn noun(&self) -> &'static str {
        "file"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let spec = TreeSpec {
            dir: &self.spec.path,
            hash: self.spec.hash,
            exclude: self.exclude.as_ref(),
            cross_mounts: self.spec.follow_mounts,
            max_entries: self.spec.max_files,
            verify_packages: true,
        };
        fswalk::walk_tree(host, &spec, &host.digests(self.name))
    }
    fn message(&self, change: &Change) -> String {
        watch_message(change)
    }
}

/// Messages of any `watch:` collector, configured or not (see [`by_name`]).
pub struct AnyWatch;

/// The answer of [`super::by_name`] for a `watch:` name.
pub static ANY: AnyWatch = AnyWatch;

impl Collector for AnyWatch {
    fn name(&self) -> &'static str {
        "watch"
    }
    fn description(&self) -> &'static str {
        "a watched tree ([[watch]])"
    }
    fn noun(&self) -> &'static str {
        "file"
    }
    fn default_enabled(&self) -> bool {
        false
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "not a configured watch tree: add a [[watch]] table".into(),
        ))
    }
    fn message(&self, change: &Change) -> String {
        watch_message(change)
    }
}

/// `check_etc`'s messages, with the package verdict of a changed file spelled out:
/// `file /usr/bin/sudo changed: content changed (package sudo: digest differs from the
/// package's)`. The verdict (`package_digest`, `PACKAGE: matches|differs`) is said when it is
/// part of the change: a file already differing that changes again reads as plain
/// `content changed` (its severity still comes from the whole item).
pub fn watch_message(change: &Change) -> String {
    let verdict = change
        .after
        .as_ref()
        .and_then(|f| f.get("package_digest"))
        .map(str::to_string);
    let Some(verdict) = verdict.filter(|_| change.kind == ChangeKind::Modified) else {
        return tree_message(change);
    };
    let (package, state) = verdict.rsplit_once(": ").unwrap_or(("?", verdict.as_str()));
    let words = if state == "differs" {
        "digest differs from the package's"
    } else {
        "digest matches the package's"
    };
    // Said in words, not as a field going from one value to another.
    let mut plain = change.clone();
    for side in [&mut plain.before, &mut plain.after].into_iter().flatten() {
        side.remove("package_digest");
    }
    let others = [&plain.before, &plain.after]
        .into_iter()
        .flatten()
        .any(|f| !f.is_empty());
    if others {
        format!("{} (package {package}: {words})", tree_message(&plain))
    } else {
        format!("file {} changed: {words} (package {package})", change.key)
    }
}

#[cfg(test)]
mod tests;

//! `dynamic_loader`: what the dynamic loader injects into every process and where it looks.
//!
//! - `preload ENTRY`: each entry of `etc/ld.so.preload` (separated by white space or `:`, as
//!   glibc reads it), loaded into every dynamically linked program, setuid ones included.
//!   Fields: `position`, `exists`, and for a library that exists its `owner`, `perm` and
//!   `writable_by` (who besides root may write it).
//! - `path DIR`: each library directory of `etc/ld.so.conf` and the files it includes
//!   (`include` globs followed, relative ones from the including file's directory, as ldconfig
//!   does). Fields: `file` (where it is configured), `exists`, `owner`, `perm`, and
//!   `writable_by` when someone besides root may write the directory: they can then plant a
//!   library every program loads.
//! - `include PATTERN`: each include line, with `matches` (how many files it pulled in) and
//!   `loop=yes` when it leads to a file this walk already read (a loop back, or the same file
//!   reached twice: each file is read once per scan, see [`crate::sources::includes`]).
//! - `malformed FILE: TEXT` for a line that is not a directory, and `unreadable FILE` for a file
//!   that cannot be read, so neither is silently lost.
//!
//! No `etc/ld.so.conf` and no `etc/ld.so.preload` (a musl system) is no items. More than
//! `max_items` files, lines and includes make the collector unavailable for that scan.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::Item;
use crate::sources::confdirs::{self, Content, Keys, line_text};
use crate::sources::glob::expand;
use crate::sources::includes::{Includes, Read};

pub struct DynamicLoader;

/// Includes nested deeper than this are not followed (ldconfig has no limit; a loop is caught
/// separately).
const MAX_DEPTH: usize = 16;

impl Collector for DynamicLoader {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d"])
    }
    fn observes(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "dynamic_loader"
    }
    fn description(&self) -> &'static str {
        "dynamic loader: etc/ld.so.preload entries, etc/ld.so.conf(.d) library directories and who may write them"
    }
    fn noun(&self) -> &'static str {
        "dynamic loader"
    }

    /// The loader configuration file an entry is written in.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file")
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut out = Vec::new();
        let mut keys = Keys::default();
        match confdirs::read(host, &host.path("/etc/ld.so.preload")) {
            None => {}
            Some(Content::Failed(why)) => {
                out.push(Item::new("unreadable /etc/ld.so.preload").with("error", why))
            }
            Some(Content::Text(text, _)) => {
                let entries = text.split(|c: char| c.is_whitespace() || c == ':');
                for (i, entry) in entries.filter(|e| !e.is_empty()).enumerate() {
                    let name = escape_bytes(entry.as_bytes());
                    let item =
                        Item::new(keys.unique(format!("preload {name}"))).with("position", i + 1);
                    out.push(with_stat(host, item, entry));
                }
            }
        }
        let mut walk = Walk {
            host,
            keys,
            out,
            budget: Includes::new(host, "etc/ld.so.conf and its includes"),
            dirs: HashSet::new(),
        };
        walk.file("/etc/ld.so.conf", 0)?;
        Ok(walk.out)
    }
}

struct Walk<'a> {
    host: &'a Host,
    keys: Keys,
    out: Vec<Item>,
    /// The files read (each once), the items kept, the cancel checks.
    budget: Includes<'a>,
    /// The library directories already listed.
    dirs: HashSet<String>,
}

impl Walk<'_> {
    fn file(&mut self, path: &str, depth: usize) -> Result<(), CollectError> {
        let shown = escape_bytes(path.as_bytes());
        let text = match self.budget.read(path, "")? {
            Read::Bytes(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // The include item that led here says so (`loop`).
            Read::Again => return Ok(()),
            Read::Failed(e) if confdirs::absent(&e) => return Ok(()),
            Read::Failed(e) => {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    self.host.note_denied(&shown);
                }
                let key = self.keys.unique(format!("unreadable {shown}"));
                self.push(Item::new(key).with("error", confdirs::reason(&e)))?;
                return Ok(());
            }
        };
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next() {
                Some("include") => {
                    let patterns: Vec<&str> = words.collect();
                    if patterns.is_empty() {
                        self.malformed(&shown, n + 1, raw, "include without a pattern")?;
                    }
                    for p in patterns {
                        self.include(&shown, dir, p, depth)?;
                    }
                }
                // Legacy hardware-capability lines: not a directory, nothing to follow.
                Some("hwcap") => {}
                _ if !line.starts_with('/') => {
                    self.malformed(&shown, n + 1, raw, "not an absolute directory")?;
                }
                _ => {
                    // ldconfig takes the whole line as one directory, trailing slashes cut.
                    let d = line.trim_end_matches('/');
                    let d = if d.is_empty() { "/" } else { d };
                    // As ldconfig, a directory given twice counts once.
                    if !self.dirs.insert(d.to_string()) {
                        continue;
                    }
                    let key = self
                        .keys
                        .unique(format!("path {}", escape_bytes(d.as_bytes())));
                    let item = Item::new(key).with("file", &shown);
                    let item = with_stat(self.host, item, d);
                    self.push(item)?;
                }
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        from: &str,
        dir: &str,
        pattern: &str,
        depth: usize,
    ) -> Result<(), CollectError> {
        let full = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("{}/{pattern}", dir.trim_end_matches('/'))
        };
        let key = self
            .keys
            .unique(format!("include {}", escape_bytes(full.as_bytes())));
        let files = expand(self.host, &full);
        self.budget.count(files.len())?;
        let mut item = Item::new(key)
            .with("file", from)
            .with("matches", files.len());
        let mut todo = Vec::new();
        for f in files {
            // Known by device and inode, as the walk reads them (a path naming the same file
            // another way is the same file).
            let seen = self
                .host
                .stat(&f)
                .is_ok_and(|st| self.budget.was_read(&st, ""));
            if seen || depth >= MAX_DEPTH {
                item = item.with("loop", "yes");
            } else {
                todo.push(f);
            }
        }
        self.push(item)?;
        for f in todo {
            self.file(&f, depth + 1)?;
        }
        Ok(())
    }

    /// Keeps one item, within the walk's budget.
    fn push(&mut self, item: Item) -> Result<(), CollectError> {
        self.budget.count(1)?;
        self.out.push(item);
        Ok(())
    }

    fn malformed(
        &mut self,
        file: &str,
        line: usize,
        raw: &str,
        error: &str,
    ) -> Result<(), CollectError> {
        let key = self
            .keys
            .unique(format!("malformed {file}: {}", line_text(raw)));
        self.push(Item::new(key).with("line", line).with("error", error))
    }
}

/// `exists`, `owner`, `perm` and `writable_by` of a host path (symlinks followed inside the
/// root, as the loader follows them).
fn with_stat(host: &Host, item: Item, path: &str) -> Item {
    match host.stat(path) {
        Ok(st) => item
            .with("exists", "yes")
            .with("owner", host.user_name(st.st_uid))
            .with("perm", confdirs::perm(&st))
            .with_opt("writable_by", confdirs::writable_by(host, &st)),
        Err(e) if confdirs::absent(&e) => item.with("exists", "no"),
        Err(e) => item.with("exists", format!("unknown ({})", confdirs::reason(&e))),
    }
}

#[cfg(test)]
mod tests;

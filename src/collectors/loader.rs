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
    fn name(&self) -> &'static str {
        "dynamic_loader"
    }
    fn description(&self) -> &'static str {
        "dynamic loader: etc/ld.so.preload entries, etc/ld.so.conf(.d) library directories and who may write them"
    }
    fn noun(&self) -> &'static str {
        "dynamic loader"
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
mod tests {
    use super::*;
    use crate::collectors::testing::write;
    use std::os::unix::fs::PermissionsExt;

    const CONF: &str = "include /etc/ld.so.conf.d/*.conf\n\n# comment\n";

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(
            r,
            "etc/ld.so.preload",
            "/usr/lib/libevil.so  /missing.so:/usr/lib/libevil.so\n",
        );
        write(r, "usr/lib/libevil.so", "x");
        write(r, "etc/ld.so.conf", CONF);
        write(
            r,
            "etc/ld.so.conf.d/libc.conf",
            "# libc default\n/usr/local/lib/\n",
        );
        write(
            r,
            "etc/ld.so.conf.d/x86_64-linux-gnu.conf",
            "  /lib/x86_64-linux-gnu  # arch\n/usr/lib/x86_64-linux-gnu\nhwcap 0 nosegneg\nrelative/dir\ninclude\ninclude sub/*.conf\n",
        );
        write(
            r,
            "etc/ld.so.conf.d/sub/loop.conf",
            "/opt/app/lib\ninclude ../*.conf\n",
        );
        write(r, "etc/ld.so.conf.d/notes.txt", "/not/read\n");
        std::fs::create_dir_all(r.join("usr/local/lib")).unwrap();
        std::fs::create_dir_all(r.join("opt/app/lib")).unwrap();
        std::fs::set_permissions(
            r.join("opt/app/lib"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        dir
    }

    use crate::collectors::testing::fields as by;

    #[test]
    fn preload_paths_includes_and_malformed_lines() {
        let dir = root();
        let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "preload /usr/lib/libevil.so",
                "preload /missing.so",
                "preload /usr/lib/libevil.so#2",
                "include /etc/ld.so.conf.d/*.conf",
                "path /usr/local/lib",
                "path /lib/x86_64-linux-gnu",
                "path /usr/lib/x86_64-linux-gnu",
                "malformed /etc/ld.so.conf.d/x86_64-linux-gnu.conf: relative/dir",
                "malformed /etc/ld.so.conf.d/x86_64-linux-gnu.conf: include",
                "include /etc/ld.so.conf.d/sub/*.conf",
                "path /opt/app/lib",
                "include /etc/ld.so.conf.d/sub/../*.conf",
            ]
        );
        let evil = by(&items, "preload /usr/lib/libevil.so");
        assert_eq!((&evil["exists"], &evil["position"]), ("yes", "1"));
        assert!(evil.contains_key("owner") && evil["perm"].starts_with("-rw"));
        assert_eq!(&by(&items, "preload /missing.so")["exists"], "no");
        assert_eq!(
            &by(&items, "include /etc/ld.so.conf.d/*.conf")["matches"],
            "2"
        );
        let local = by(&items, "path /usr/local/lib");
        assert_eq!(&local["file"], "/etc/ld.so.conf.d/libc.conf");
        assert_eq!(&local["exists"], "yes");
        assert_eq!(&by(&items, "path /lib/x86_64-linux-gnu")["exists"], "no");
        let opt = by(&items, "path /opt/app/lib");
        assert_eq!(&opt["perm"], "drwxrwxrwx");
        assert!(opt["writable_by"].ends_with("others"), "{opt:?}");
        let lp = by(&items, "include /etc/ld.so.conf.d/sub/../*.conf");
        assert_eq!((&lp["matches"], &lp["loop"]), ("2", "yes"));
        let bad = by(
            &items,
            "malformed /etc/ld.so.conf.d/x86_64-linux-gnu.conf: relative/dir",
        );
        assert_eq!(
            (&bad["line"], &bad["error"]),
            ("4", "not an absolute directory")
        );
    }

    #[test]
    fn idle_rescan_is_identical_and_absence_is_no_items() {
        crate::collectors::testing::idle_and_absent(&DynamicLoader, root().path());
    }

    #[test]
    fn an_unreadable_conf_is_an_item() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/ld.so.preload")).unwrap();
        let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].key, "unreadable /etc/ld.so.preload");
        assert_eq!(&items[0].fields["error"], "not a regular file");
    }

    /// Nine drop-ins that each `include *` of their own directory, and the ld.so.conf with
    /// `include` that reaches them all.
    fn include_storm(r: &std::path::Path) {
        write(r, "etc/ld.so.conf", CONF);
        for i in 0..9 {
            write(
                r,
                &format!("etc/ld.so.conf.d/{i}.conf"),
                format!("/opt/lib{i}\ninclude *\n"),
            );
        }
    }

    /// Regression (issue 15): nine ld.so.conf.d files that each `include *` were followed on
    /// every chain that did not repeat a file (61 s, 986,410 items, 207 MB). Each file is now
    /// read once per scan: one path and one include item per file.
    #[test]
    fn nine_files_that_include_everything_are_read_once_each() {
        let dir = tempfile::tempdir().unwrap();
        include_storm(dir.path());
        let t = std::time::Instant::now();
        let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        let paths = items.iter().filter(|i| i.key.starts_with("path ")).count();
        let includes: Vec<&Item> = items
            .iter()
            .filter(|i| i.key.starts_with("include "))
            .collect();
        assert_eq!(
            (paths, includes.len(), items.len()),
            (9, 10, 19),
            "{items:?}"
        );
        let again = by(&items, "include /etc/ld.so.conf.d/*");
        assert_eq!((&again["matches"], &again["loop"]), ("9", "yes"));
    }

    /// More lines than `max_items` make the collector unavailable, naming the key; never a
    /// partial list.
    #[test]
    fn past_max_items_the_collector_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        include_storm(dir.path());
        let lines: String = (0..100).map(|i| format!("/opt/many/{i}\n")).collect();
        write(dir.path(), "etc/ld.so.conf.d/many.conf", &lines);
        let host = Host::new(dir.path()).with_max_items(50);
        let e = DynamicLoader.collect(&host).unwrap_err().to_string();
        assert!(
            e.contains("ld.so.conf and its includes: more than 50") && e.contains("max_items"),
            "{e}"
        );
        // The default cap lets the same files through.
        assert!(DynamicLoader.collect(&Host::new(dir.path())).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(crate::collectors::fuzz::config())]
        /// Random and damaged configuration never panics the collector and stays printable.
        #[test]
        fn fuzz_ld_so_conf(conf in crate::collectors::fuzz::bytes(CONF), preload in crate::collectors::fuzz::bytes("/usr/lib/a.so b.so:c\n")) {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "etc/ld.so.conf", &conf);
            write(dir.path(), "etc/ld.so.preload", &preload);
            let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
            crate::collectors::fuzz::assert_printable(&items);
        }
    }
}

//! sshd's effective settings from `sshd_config` and its `Include`s, as sshd reads them: one
//! keyword a line (`Keyword value` or `Keyword=value`, case-insensitive), the first value of a
//! keyword winning, except the lists that accumulate; `Match` starts a block that lasts until
//! the next `Match` or the end of its file. Each file is read once per `Match` block it is
//! included in (see [`crate::sources::includes`]): a file included again there is an
//! `unread` item (sshd itself refuses a loop), and more than `max_items` files and lines make
//! the collector unavailable.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::Item;
use crate::sources::includes::{Includes, Read};

const MAIN: &str = "/etc/ssh/sshd_config";
const MAX_DEPTH: usize = 8;

/// The settings reported, as spelt in sshd_config(5), with OpenSSH's built-in default.
const WATCHED: [(&str, &str); 23] = [
    ("PermitRootLogin", "prohibit-password"),
    ("PasswordAuthentication", "yes"),
    ("KbdInteractiveAuthentication", "yes"),
    ("PermitEmptyPasswords", "no"),
    ("PubkeyAuthentication", "yes"),
    (
        "AuthorizedKeysFile",
        ".ssh/authorized_keys .ssh/authorized_keys2",
    ),
    ("AuthorizedKeysCommand", "none"),
    ("AuthorizedKeysCommandUser", "none"),
    ("AuthorizedPrincipalsFile", "none"),
    ("TrustedUserCAKeys", "none"),
    ("AllowUsers", "(any)"),
    ("AllowGroups", "(any)"),
    ("DenyUsers", "(none)"),
    ("DenyGroups", "(none)"),
    ("PermitUserEnvironment", "no"),
    ("X11Forwarding", "no"),
    ("AllowTcpForwarding", "yes"),
    ("GatewayPorts", "no"),
    ("Port", "22"),
    ("ListenAddress", "(every address)"),
    ("UsePAM", "no"),
    ("StrictModes", "yes"),
    ("PermitTunnel", "no"),
];

/// Keywords whose lines add to one list instead of the first one winning.
const LISTS: [&str; 6] = [
    "port",
    "listenaddress",
    "allowusers",
    "allowgroups",
    "denyusers",
    "denygroups",
];

/// What the files say.
#[derive(Default)]
pub struct Config {
    /// Whether sshd_config exists at all.
    present: bool,
    /// lower-case keyword → (value, file).
    global: BTreeMap<String, (String, String)>,
    /// (Match criteria, lower-case keyword) → (value, file).
    matched: BTreeMap<(String, String), (String, String)>,
    /// Items for files not read and lines not understood.
    problems: Vec<Item>,
    /// Files already named in an `unread` item (one item each).
    unread: BTreeSet<String>,
}

fn canonical(keyword: &str) -> String {
    match keyword.to_ascii_lowercase().as_str() {
        "challengeresponseauthentication" => "kbdinteractiveauthentication".into(),
        k => k.to_string(),
    }
}

/// Whether `name` matches the shell glob `pat` (`*` and `?` only).
fn glob(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pat[1..], name) || (!name.is_empty() && glob(pat, &name[1..])),
        (Some(b'?'), Some(_)) => glob(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pat[1..], &name[1..]),
        _ => false,
    }
}

impl Config {
    pub fn read(host: &Host) -> Result<Config, CollectError> {
        let mut c = Config::default();
        let mut walk = Includes::new(host, "etc/ssh/sshd_config and its includes");
        match walk.read(MAIN, "")? {
            Read::Bytes(bytes) => {
                c.present = true;
                c.parse(
                    host,
                    &mut walk,
                    MAIN,
                    &String::from_utf8_lossy(&bytes),
                    None,
                    0,
                )?;
            }
            Read::Failed(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Read::Failed(e) => c.unread(MAIN, &e.to_string()),
            Read::Again => {}
        }
        Ok(c)
    }

    fn unread(&mut self, file: &str, why: &str) {
        let file = escape_bytes(file.as_bytes());
        if !self.unread.insert(file.clone()) {
            return;
        }
        self.problems.push(
            Item::new(format!("sshd unread {file}"))
                .with("kind", "unread")
                .with("file", file)
                .with("not_read", escape_bytes(why.as_bytes())),
        );
    }

    fn parse(
        &mut self,
        host: &Host,
        walk: &mut Includes,
        file: &str,
        text: &str,
        mut within: Option<String>,
        depth: usize,
    ) -> Result<(), CollectError> {
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            walk.count(1)?;
            let end = line.find([' ', '\t', '=']).unwrap_or(line.len());
            let keyword = canonical(&line[..end]);
            let rest = line[end..].trim_start_matches([' ', '\t']);
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            let value: String = rest.split_whitespace().collect::<Vec<_>>().join(" ");
            let value = escape_bytes(value.trim_matches('"').as_bytes());
            if value.is_empty() {
                let l = escape_bytes(line.as_bytes());
                self.problems.push(
                    Item::new(format!("sshd malformed {file}: {l}"))
                        .with("kind", "malformed")
                        .with("malformed", "a keyword without a value")
                        .with("file", file),
                );
                continue;
            }
            match keyword.as_str() {
                "match" => within = Some(value),
                "include" => {
                    for pattern in rest.split_whitespace() {
                        self.include(host, walk, pattern, within.clone(), depth + 1)?;
                    }
                }
                _ => {
                    let slot = match &within {
                        Some(m) => self.matched.entry((m.clone(), keyword.clone())),
                        None => {
                            // `global` and `matched` differ in key type: handle global here.
                            match self.global.get_mut(&keyword) {
                                Some((v, _)) if LISTS.contains(&keyword.as_str()) => {
                                    v.push(' ');
                                    v.push_str(&value);
                                }
                                Some(_) => {}
                                None => {
                                    self.global.insert(keyword, (value, file.to_string()));
                                }
                            }
                            continue;
                        }
                    };
                    slot.or_insert((value, file.to_string()));
                }
            }
        }
        Ok(())
    }

    fn include(
        &mut self,
        host: &Host,
        walk: &mut Includes,
        pattern: &str,
        within: Option<String>,
        depth: usize,
    ) -> Result<(), CollectError> {
        let path = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("/etc/ssh/{pattern}")
        };
        if depth > MAX_DEPTH {
            self.unread(&path, &format!("included more than {MAX_DEPTH} deep"));
            return Ok(());
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let files: Vec<String> = if name.contains(['*', '?']) {
            match host.list_dir(&host.path(if dir.is_empty() { "/" } else { dir })) {
                Ok(list) => list
                    .into_iter()
                    .filter(|(n, _)| glob(name.as_bytes(), n.as_encoded_bytes()))
                    .map(|(_, real)| host.display(&real))
                    .collect(),
                Err(e) => {
                    self.unread(&path, &e.to_string());
                    return Ok(());
                }
            }
        } else {
            vec![path.clone()]
        };
        walk.count(files.len())?;
        let context = within.as_deref().unwrap_or("");
        for f in files {
            match walk.read(&f, context)? {
                Read::Bytes(b) => self.parse(
                    host,
                    walk,
                    &f,
                    &String::from_utf8_lossy(&b),
                    within.clone(),
                    depth,
                )?,
                Read::Again => self.unread(
                    &f,
                    "included again (a loop, or twice in one Match block): read once",
                ),
                // A pattern that matches nothing is fine for sshd; a named file must exist.
                Read::Failed(e) if e.kind() == std::io::ErrorKind::NotFound && f != path => {}
                Read::Failed(e) => self.unread(&f, &e.to_string()),
            }
        }
        Ok(())
    }

    /// The AuthorizedKeysFile patterns in force outside Match blocks.
    pub fn authorized_keys_files(&self) -> Vec<String> {
        let v = self
            .global
            .get("authorizedkeysfile")
            .map_or(WATCHED[5].1, |(v, _)| v.as_str());
        v.split_whitespace()
            .filter(|p| *p != "none")
            .map(str::to_string)
            .collect()
    }

    /// One item per watched setting (global and in Match blocks), and the problems.
    pub fn items(&self) -> Vec<Item> {
        let mut out = self.problems.clone();
        if !self.present {
            return out;
        }
        for (name, default) in WATCHED {
            let lower = name.to_ascii_lowercase();
            let (value, source) = match self.global.get(&lower) {
                Some((v, f)) => (v.as_str(), f.as_str()),
                None => (default, "default"),
            };
            out.push(
                Item::new(format!("sshd {name}"))
                    .with("kind", "setting")
                    .with("value", value)
                    .with("source", source),
            );
            for ((criteria, kw), (v, f)) in &self.matched {
                if *kw == lower {
                    out.push(
                        Item::new(format!("sshd Match {criteria}: {name}"))
                            .with("kind", "match")
                            .with("match", criteria)
                            .with("value", v)
                            .with("source", f),
                    );
                }
            }
        }
        out
    }
}

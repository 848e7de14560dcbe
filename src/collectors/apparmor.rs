//! `apparmor_profiles`: AppArmor confinement, profile by profile.
//!
//! When `sys/kernel/security/apparmor/profiles` is readable (root, AppArmor enabled): one item
//! per loaded profile, `profile NAME`, with its `mode` (`enforce`, `complain`, `kill`,
//! `unconfined`...) as the kernel reports it. Otherwise (not root, AppArmor off, an image):
//! one item per profile file at the top of `etc/apparmor.d`, `file NAME`, with its `sha256`,
//! the `flags` of its first profile, the `mode` those give (`complain` from `flags=(complain)`
//! or a `force-complain/` link, `kill`, `unconfined`, else `enforce`), and `disabled=yes` when
//! `disable/NAME` exists. The two sources have different keys: a host whose scans switch
//! between them (root and non-root scans into one database) reports the switch. No AppArmor at
//! all (neither source) is no items, not an error.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::Item;
use crate::sources::confdirs::{self, Content, Keys};
use std::borrow::Cow;

pub struct ApparmorProfiles;

const PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
const DIR: &str = "/etc/apparmor.d";

impl Collector for ApparmorProfiles {
    fn watch_paths(&self) -> Vec<String> {
        super::paths(&["/etc/apparmor.d"])
    }
    fn name(&self) -> &'static str {
        "apparmor_profiles"
    }
    fn description(&self) -> &'static str {
        "AppArmor profiles and modes (loaded ones as root, else etc/apparmor.d files); none without AppArmor"
    }
    fn noun(&self) -> &'static str {
        "AppArmor"
    }

    /// The profile file in etc/apparmor.d (loaded profiles name no file).
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        let name = item.key.strip_prefix("file ")?;
        Some(Cow::Owned(format!("{DIR}/{name}")))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut keys = Keys::default();
        if let Ok(bytes) = host.read_bytes(PROFILES) {
            return Ok(loaded(&String::from_utf8_lossy(&bytes), &mut keys));
        }
        let mut out = Vec::new();
        for f in confdirs::merged(host, &[DIR], "")? {
            let skip = f.name.ends_with(".dpkg-old")
                || f.name.ends_with(".dpkg-dist")
                || f.name.ends_with(".dpkg-new")
                || f.name.ends_with('~')
                || f.name == "README";
            let is_file = confdirs::stat_real(host, &f.real)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
            if skip || !is_file {
                continue;
            }
            let mut item = Item::new(keys.unique(format!("file {}", f.name)));
            let base = f.real.parent().unwrap_or(&f.real);
            let flag = |sub: &str| {
                let marker = base.join(sub).join(f.real.file_name().unwrap_or_default());
                confdirs::stat_real(host, &marker).is_ok()
            };
            match confdirs::read(host, &f.real) {
                None => continue,
                Some(Content::Failed(why)) => item = item.with("error", why),
                Some(Content::Text(text, sha)) => {
                    let flags = flags(&text);
                    let mode = if flag("force-complain") {
                        "complain"
                    } else {
                        mode_of(flags.as_deref().unwrap_or(""))
                    };
                    item = item
                        .with("sha256", sha)
                        .with("mode", mode)
                        .with_opt("flags", flags);
                }
            }
            if flag("disable") {
                item = item.with("disabled", "yes");
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// Items from the kernel's list: `NAME (MODE)` per line.
fn loaded(text: &str, keys: &mut Keys) -> Vec<Item> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let item = match line
            .rsplit_once(" (")
            .and_then(|(n, m)| Some((n, m.strip_suffix(')')?)))
        {
            Some((name, mode)) => {
                Item::new(keys.unique(format!("profile {}", escape_bytes(name.as_bytes()))))
                    .with("mode", escape_bytes(mode.as_bytes()))
            }
            None => Item::new(keys.unique(format!("malformed {}", confdirs::line_text(line))))
                .with("error", "not NAME (MODE)"),
        };
        out.push(item);
    }
    out
}

/// The `flags=(...)` of the first profile in a file, comments skipped, as `a,b`.
fn flags(text: &str) -> Option<String> {
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("");
        let Some(at) = line.find("flags=(").or_else(|| line.find("flags = (")) else {
            continue;
        };
        let rest = &line[at..];
        let open = rest.find('(')?;
        let close = rest[open..].find(')')? + open;
        let list: Vec<&str> = rest[open + 1..close]
            .split([',', ' '])
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        return Some(confdirs::line_text(&list.join(",")));
    }
    None
}

/// The mode a profile's flags give.
fn mode_of(flags: &str) -> &'static str {
    let has = |f: &str| flags.split(',').any(|x| x == f);
    if has("complain") {
        "complain"
    } else if has("kill") {
        "kill"
    } else if has("unconfined") {
        "unconfined"
    } else if has("prompt") {
        "prompt"
    } else {
        "enforce"
    }
}

#[cfg(test)]
mod tests;

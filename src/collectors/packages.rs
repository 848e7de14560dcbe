//! `list_packages`: the packages installed on the host, from dpkg's status file and, where there
//! is one, the rpm database.
//!
//! dpkg: `var/lib/dpkg/status` is parsed natively (stanzas of `Field: value` lines, continuation
//! lines start with a blank). Every package dpkg knows that is not `not-installed` is listed,
//! with its status text, so half-installed packages and removed-but-not-purged ones
//! (`config-files`) stay visible. Key: the package name, or `name:arch` for `Multi-Arch: same`
//! packages, which alone may be installed for several architectures at once; this is the name
//! `dpkg -l` and `dpkg-query -W -f '${binary:Package}'` print, so keys match what an admin types.
//!
//! rpm: its database is a Berkeley DB / SQLite / ndb file whose format differs across versions,
//! so it is read through the scanner's own `rpm --root ROOT -qa` (one process per scan, not per
//! package; the one place this collector spawns anything). Several installed versions of one
//! name (kernels, multilib) become one item with the versions listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};

pub struct ListPackages;

impl Collector for ListPackages {
    fn name(&self) -> &'static str {
        "list_packages"
    }
    fn description(&self) -> &'static str {
        "installed packages from var/lib/dpkg/status and the rpm database (version, status)"
    }
    fn noun(&self) -> &'static str {
        "package"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let dpkg = host.read_optional("/var/lib/dpkg/status")?;
        let rpm_db = host.path("/var/lib/rpm").is_dir();
        let rpm_bin = if rpm_db { find_rpm() } else { None };
        if dpkg.is_none() && rpm_bin.is_none() {
            let why = if rpm_db {
                " (var/lib/rpm exists but no rpm program is installed on the scanning system to read it)"
            } else {
                ""
            };
            return Err(CollectError::Unavailable(format!(
                "no package database (var/lib/dpkg/status, rpm) under {}{why}",
                host.root().display()
            )));
        }
        let mut items = dpkg.as_deref().map(parse_dpkg_status).unwrap_or_default();
        if let Some(rpm) = rpm_bin {
            let out = Command::new(&rpm)
                .arg("--root")
                .arg(host.root())
                .args(["-qa", "--queryformat", RPM_FORMAT])
                .output()
                .map_err(|e| CollectError::io(&rpm, e))?;
            if !out.status.success() {
                return Err(CollectError::Unavailable(format!(
                    "{} --root {} -qa failed: {}",
                    rpm.display(),
                    host.root().display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let taken: BTreeSet<String> = items.iter().map(|i| i.key.clone()).collect();
            for mut item in parse_rpm(&out.stdout) {
                // The rare host with both databases: keep both entries apart.
                if taken.contains(&item.key) {
                    item.key = format!("{} (rpm)", item.key);
                }
                items.push(item);
            }
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        let key = &change.key;
        fn get<'a>(side: &'a Option<crate::model::Fields>, n: &str) -> Option<&'a str> {
            side.as_ref().and_then(|f| f.get(n))
        }
        match change.kind {
            ChangeKind::Added => {
                let version = get(&change.after, "version").unwrap_or_default();
                let status = get(&change.after, "status").unwrap_or_default();
                if status.is_empty() || status == "install ok installed" || status == "installed" {
                    format!("package {key} version {version} installed")
                } else {
                    format!("package {key} version {version} added with status {status}")
                }
            }
            ChangeKind::Removed => format!("package {key} removed"),
            ChangeKind::Modified => {
                let mut parts = Vec::new();
                for field in ["version", "status", "arch"] {
                    let (b, a) = (get(&change.before, field), get(&change.after, field));
                    if b.is_some() || a.is_some() {
                        parts.push(format!(
                            "{field} changed from {} to {}",
                            b.unwrap_or("(none)"),
                            a.unwrap_or("(none)")
                        ));
                    }
                }
                format!("package {key} {}", parts.join(", "))
            }
        }
    }
}

/// One line per rpm package: name, [epoch:]version-release, arch.
const RPM_FORMAT: &str = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n";

/// The scanning system's rpm program (not the scanned root's: an image's binaries may not run
/// here, and running them as root would execute the image's code).
fn find_rpm() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join("rpm"))
        .find(|p| p.is_file())
}

/// The packages of a dpkg status file, skipping stanzas without a name and `not-installed` ones.
fn parse_dpkg_status(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        let mut last: Option<&str> = None;
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                // A continuation of the previous field (Description, Conffiles...).
                if let Some(name) = last
                    && let Some(v) = fields.get_mut(name)
                {
                    v.push('\n');
                    v.push_str(line.trim());
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                last = None;
                continue;
            };
            let name = name.trim();
            fields.insert(name, value.trim().to_string());
            last = Some(name);
        }
        let Some(package) = fields.get("Package").filter(|p| !p.is_empty()) else {
            continue;
        };
        let status = fields.get("Status").cloned().unwrap_or_default();
        if status.is_empty() || status.ends_with("not-installed") {
            continue;
        }
        let arch = fields.get("Architecture").cloned();
        let multi_same = fields.get("Multi-Arch").is_some_and(|m| m == "same");
        let key = match &arch {
            Some(a) if multi_same && !a.is_empty() => format!("{package}:{a}"),
            _ => package.clone(),
        };
        let item = Item::new(escape_bytes(key.as_bytes()))
            .with_opt(
                "version",
                fields.get("Version").map(|v| escape_bytes(v.as_bytes())),
            )
            .with_opt("arch", arch.map(|a| escape_bytes(a.as_bytes())))
            .with("status", escape_bytes(status.as_bytes()));
        items.push(item);
    }
    items
}

/// Items from `rpm -qa` output in [`RPM_FORMAT`]; several entries of one name merge.
fn parse_rpm(out: &[u8]) -> Vec<Item> {
    let mut by_name: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for line in String::from_utf8_lossy(out).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 3 || cols[0].is_empty() {
            continue;
        }
        let entry = by_name.entry(cols[0].to_string()).or_default();
        entry.0.insert(cols[1].to_string());
        if cols[2] != "(none)" {
            entry.1.insert(cols[2].to_string());
        }
    }
    by_name
        .into_iter()
        .map(|(name, (versions, arches))| {
            let join = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>().join(", ");
            let arch = (!arches.is_empty()).then(|| escape_bytes(join(arches).as_bytes()));
            Item::new(escape_bytes(name.as_bytes()))
                .with("version", escape_bytes(join(versions).as_bytes()))
                .with_opt("arch", arch)
                .with("status", "installed")
        })
        .collect()
}

#[cfg(test)]
mod tests;

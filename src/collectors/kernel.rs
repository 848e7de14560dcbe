//! `kernel_version` and `kernel_modules`: the running kernel and the code loaded into it.
//!
//! `kernel_version` is one item, `kernel`, with the release (`uname -r`), the build version
//! (`uname -v`), the host name (dawgmon 1.1 warned when it changed) and the taint flags of
//! `proc/sys/kernel/tainted` as letters (`OE`: an out-of-tree, unsigned module was loaded),
//! which live here rather than with the modules so they are seen on kernels without module
//! support too.
//!
//! `kernel_modules` keys `proc/modules` by module name with its state, size and taint letters;
//! reference counts, users and load addresses move on an idle host and are left out.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};

pub struct KernelVersion;

impl Collector for KernelVersion {
    fn name(&self) -> &'static str {
        "kernel_version"
    }
    fn description(&self) -> &'static str {
        "running kernel release, build version, host name and taint flags (proc/sys/kernel)"
    }
    fn noun(&self) -> &'static str {
        "kernel"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let release = host
            .read_optional("/proc/sys/kernel/osrelease")?
            .ok_or_else(|| {
                CollectError::Unavailable(format!(
                    "proc/sys/kernel/osrelease is absent under {}: proc is not mounted there (a running kernel is only seen on a live host)",
                    host.root().display()
                ))
            })?;
        let version = match host.read_optional("/proc/sys/kernel/version")? {
            Some(v) => Some(v),
            None => host.read_optional("/proc/version")?,
        };
        let hostname = host.read_optional("/proc/sys/kernel/hostname")?;
        let taint = host
            .read_optional("/proc/sys/kernel/tainted")?
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(taint_letters);
        let clean = |s: String| escape_bytes(s.trim().as_bytes());
        Ok(vec![
            Item::new("kernel")
                .with("release", clean(release))
                .with_opt("version", version.map(clean))
                .with_opt("hostname", hostname.map(clean))
                .with_opt("taint", taint),
        ])
    }

    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Modified => format!(
                "kernel changed: {}",
                crate::sources::common::render_modified(change)
            ),
            ChangeKind::Added => format!(
                "kernel added ({})",
                crate::sources::common::render_fields(
                    change.after.as_ref().unwrap_or(&Default::default())
                )
            ),
            ChangeKind::Removed => "kernel removed".to_string(),
        }
    }
}

pub struct KernelModules;

impl Collector for KernelModules {
    fn name(&self) -> &'static str {
        "kernel_modules"
    }
    fn description(&self) -> &'static str {
        "loaded kernel modules from proc/modules (state, size, taint flags)"
    }
    fn noun(&self) -> &'static str {
        "kernel module"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let text = host.read_optional("/proc/modules")?.ok_or_else(|| {
            let why = if host.path("/proc/self").exists() {
                "kernel built without loadable module support"
            } else {
                "proc is not mounted under the scanned root (loaded modules are only seen on a live host)"
            };
            CollectError::Unavailable(format!("proc/modules is absent: {why}"))
        })?;
        let mut items = Vec::new();
        for line in text.lines() {
            // name size refcount users state address [(taints)]
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 5 || cols[1].parse::<u64>().is_err() {
                continue;
            }
            let taint = cols
                .iter()
                .skip(6)
                .find(|c| c.starts_with('(') && c.ends_with(')'))
                .map(|c| c.trim_matches(['(', ')']).to_string())
                .filter(|t| !t.is_empty());
            items.push(
                Item::new(escape_bytes(cols[0].as_bytes()))
                    .with("size", cols[1])
                    .with("state", cols[4])
                    .with_opt("taint", taint),
            );
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Added => {
                let taint = change.after.as_ref().and_then(|f| f.get("taint"));
                match taint {
                    Some(t) => format!("kernel module {} loaded (taint={t})", change.key),
                    None => format!("kernel module {} loaded", change.key),
                }
            }
            ChangeKind::Removed => format!("kernel module {} unloaded", change.key),
            ChangeKind::Modified => crate::collectors::default_message(self.noun(), change),
        }
    }
}

/// `proc/sys/kernel/tainted` as the letters the kernel prints in oopses (`none` when clean).
fn taint_letters(mask: u64) -> String {
    // Bit n of the mask is the n-th letter (Documentation/admin-guide/tainted-kernels.rst).
    const LETTERS: &[u8] = b"PFSRMBUDAWCIOELKXTNJ";
    let mut out = String::new();
    for bit in 0..64 {
        if mask & (1 << bit) != 0 {
            match LETTERS.get(bit) {
                Some(c) => out.push(*c as char),
                None => out.push_str(&format!("[{bit}]")),
            }
        }
    }
    if out.is_empty() { "none".into() } else { out }
}

#[cfg(test)]
mod tests;

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
mod tests {
    use super::*;
    use crate::model::Severity;

    use crate::collectors::testing::write;

    #[test]
    fn kernel_version_from_proc() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
        write(
            dir.path(),
            "proc/version",
            "Linux version 6.1.0-18-amd64 #1 SMP\n",
        );
        write(dir.path(), "proc/sys/kernel/tainted", "12288\n");
        let items = KernelVersion.collect(&Host::new(dir.path())).unwrap();
        assert_eq!(items.len(), 1);
        let f = &items[0].fields;
        assert_eq!(&f["release"], "6.1.0-18-amd64");
        assert_eq!(
            &f["version"], "Linux version 6.1.0-18-amd64 #1 SMP",
            "proc/version fallback"
        );
        assert_eq!(&f["taint"], "OE");
        assert!(!f.contains_key("hostname"));
        write(
            dir.path(),
            "proc/sys/kernel/version",
            "#1 SMP PREEMPT_DYNAMIC\n",
        );
        let items = KernelVersion.collect(&Host::new(dir.path())).unwrap();
        assert_eq!(&items[0].fields["version"], "#1 SMP PREEMPT_DYNAMIC");
    }

    #[test]
    fn kernel_version_missing_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            KernelVersion.collect(&Host::new(dir.path())),
            Err(CollectError::Unavailable(m)) if m.contains("osrelease")
        ));
    }

    #[test]
    fn live_kernel_version() {
        let items = KernelVersion.collect(&Host::new("/")).unwrap();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(&items[0].fields["release"], release.trim());
        assert!(items[0].fields.contains_key("taint"));
    }

    #[test]
    fn taint_bits_become_letters() {
        assert_eq!(taint_letters(0), "none");
        assert_eq!(taint_letters(1), "P");
        assert_eq!(taint_letters(1 << 9 | 1 << 12), "WO");
        assert_eq!(taint_letters(1 << 40), "[40]");
    }

    #[test]
    fn modules_are_parsed_without_counters() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "proc/modules",
            "vboxdrv 479232 2 vboxnetadp,vboxnetflt, Live 0xffffffffc0a3b000 (OE)\n\
             ext4 737280 1 - Live 0x0000000000000000\n\
             garbage\n\
             nfs abc 0 - Live 0x0\n\
             loop 32768 0 - Unloading 0xffffffffc0001000\n\
             five 4096 0 - Live\n",
        );
        let items = KernelModules.collect(&Host::new(dir.path())).unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["vboxdrv", "ext4", "loop", "five"]);
        assert_eq!(&items[0].fields["taint"], "OE");
        assert_eq!(&items[0].fields["size"], "479232");
        assert_eq!(&items[0].fields["state"], "Live");
        assert_eq!(items[1].fields.len(), 2, "{:?}", items[1]);
        assert_eq!(&items[2].fields["state"], "Unloading");
    }

    #[test]
    fn absent_proc_modules_is_unavailable_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/self/status", "Name: x\n");
        match KernelModules.collect(&Host::new(dir.path())) {
            Err(CollectError::Unavailable(m)) => assert_eq!(
                m,
                "proc/modules is absent: kernel built without loadable module support"
            ),
            other => panic!("{other:?}"),
        }
        // The live host: this kernel has no module support, others list modules.
        let live = KernelModules.collect(&Host::new("/"));
        if std::path::Path::new("/proc/modules").exists() {
            assert!(live.is_ok());
        } else {
            assert!(matches!(live, Err(CollectError::Unavailable(_))));
        }
    }

    #[test]
    fn module_messages_and_severities() {
        let mk = |kind, after: Option<&[(&str, &str)]>| Change {
            collector: "kernel_modules".into(),
            kind,
            key: "vboxdrv".into(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: None,
            after: after.map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
        };
        let plain = mk(ChangeKind::Added, Some(&[("state", "Live")]));
        assert_eq!(
            KernelModules.message(&plain),
            "kernel module vboxdrv loaded"
        );
        assert_eq!(crate::rules::testing::severity(&plain), Severity::Medium);
        let oot = mk(
            ChangeKind::Added,
            Some(&[("state", "Live"), ("taint", "OE")]),
        );
        assert_eq!(crate::rules::testing::severity(&oot), Severity::High);
        let gone = mk(ChangeKind::Removed, None);
        assert_eq!(
            KernelModules.message(&gone),
            "kernel module vboxdrv unloaded"
        );
        assert_eq!(crate::rules::testing::severity(&gone), Severity::Low);
    }
}

//! `uptime`: whether the host rebooted, from the kernel's boot id.
//!
//! One item, `boot`, whose `boot_id` (`proc/sys/kernel/random/boot_id`) is a random UUID the
//! kernel draws once per boot. Unlike the boot time (`btime` in proc/stat, or `uptime -s`,
//! which dawgmon 1.1 used), it does not jitter when the clock is adjusted, so it changes only
//! on a reboot.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};

pub struct Uptime;

impl Collector for Uptime {
    fn name(&self) -> &'static str {
        "uptime"
    }
    fn description(&self) -> &'static str {
        "reboots, from the kernel's per-boot random id (proc/sys/kernel/random/boot_id)"
    }
    fn noun(&self) -> &'static str {
        "boot"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let id = host
            .read_optional("/proc/sys/kernel/random/boot_id")?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CollectError::Unavailable(format!(
                    "proc/sys/kernel/random/boot_id is absent under {}: proc is not mounted there (reboots are only seen on a live host)",
                    host.root().display()
                ))
            })?;
        Ok(vec![
            Item::new("boot").with("boot_id", escape_bytes(id.as_bytes())),
        ])
    }

    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Modified => "system rebooted".to_string(),
            ChangeKind::Added => "boot id recorded".to_string(),
            ChangeKind::Removed => "boot id no longer available".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    #[test]
    fn boot_id_from_a_fixture_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        assert!(matches!(
            Uptime.collect(&host),
            Err(CollectError::Unavailable(m)) if m.contains("boot_id")
        ));
        let p = dir.path().join("proc/sys/kernel/random");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("boot_id"), "0123\n").unwrap();
        let items = Uptime.collect(&host).unwrap();
        assert_eq!(items[0].key, "boot");
        assert_eq!(&items[0].fields["boot_id"], "0123");
    }

    #[test]
    fn live_boot_id_is_a_stable_uuid() {
        let host = Host::new("/");
        let a = Uptime.collect(&host).unwrap();
        let id = &a[0].fields["boot_id"];
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.matches('-').count(), 4, "{id}");
        assert_eq!(a, Uptime.collect(&host).unwrap(), "same boot, same id");
    }

    #[test]
    fn a_changed_id_reads_as_a_reboot() {
        let change = Change {
            collector: "uptime".into(),
            kind: ChangeKind::Modified,
            key: "boot".into(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: Some([("boot_id".to_string(), "a".to_string())].into()),
            after: Some([("boot_id".to_string(), "b".to_string())].into()),
        };
        assert_eq!(Uptime.message(&change), "system rebooted");
        assert_eq!(crate::rules::testing::severity(&change), Severity::Low);
    }
}

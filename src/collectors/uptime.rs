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
mod tests;

//! Judgement as data: how much an event matters, in tables a reviewer reads in one place.
//!
//! For now this holds the severities of collector outages (a check that stopped working) and
//! recoveries; the per-change severities still live in each collector's `severity()` and move
//! here with the rules engine (issue 10).

use crate::model::Severity;

/// Collectors whose blindness hides a way to root or into the host: an outage of one of these
/// is `high`. Every other collector's outage is `medium`: still mailed, never silent.
pub const CRITICAL_SIGHT: &[&str] = &[
    "list_suids",
    "list_file_caps",
    "check_users",
    "check_groups",
    "check_etc",
    "check_boot",
    "list_tcpudp_ports",
    "list_unix_ports",
    "systemd_unitfiles",
    "systemd_units",
    "systemd_timers",
    "systemd_sockets",
    "kernel_modules",
    "list_packages",
];

/// The severity of a collector that worked in the scan before and could not run now.
pub fn outage_severity(collector: &str) -> Severity {
    if CRITICAL_SIGHT.contains(&collector) {
        Severity::High
    } else {
        Severity::Medium
    }
}

/// The severity of a collector working again after an outage: `medium` for those in
/// [`CRITICAL_SIGHT`] (what changed meanwhile is listed beside it, each with its own), `low`
/// otherwise.
pub fn recovery_severity(collector: &str) -> Severity {
    if CRITICAL_SIGHT.contains(&collector) {
        Severity::Medium
    } else {
        Severity::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_collector_exists() {
        for name in CRITICAL_SIGHT {
            assert!(
                crate::collectors::by_name(name).is_some(),
                "{name} is not a collector"
            );
        }
        assert_eq!(outage_severity("list_suids"), Severity::High);
        assert_eq!(outage_severity("uptime"), Severity::Medium);
    }
}

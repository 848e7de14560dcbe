//! The running systemd manager's view of the host, read over D-Bus: which units are loaded and
//! active (`systemd_units`), which timers fire what (`systemd_timers`), which sockets systemd
//! listens on for socket activation (`systemd_sockets`) and the manager's own configuration
//! (`systemd_props`). Unit files on disk are `unitfiles.rs`'s job; this is what is live.
//!
//! The manager is asked once per scan (see `bus.rs`) on the system bus. The environment
//! variable `DAWGMON_SYSTEMD_BUS` picks another: `system` (the default), `session`, or a D-Bus
//! address such as `unix:path=/run/user/1000/bus` (how the tests reach a `systemd --user`
//! manager). These collectors only describe the running host: with another root (`--root`) or
//! without an answering manager they are unavailable, never empty.
//!
//! Keys and fields leave out everything that moves on an idle host: sub-states, job ids, next
//! elapse and last trigger times, counters and timestamps.

mod bus;

use std::sync::Arc;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};

/// The manager's state for this scan, or why there is none.
fn manager(host: &Host) -> Result<Arc<bus::Shared>, CollectError> {
    if !host.is_live() {
        return Err(CollectError::Unavailable(format!(
            "systemd state describes the running host, not the scanned root {}",
            host.root().display()
        )));
    }
    let shared = bus::manager_state(host);
    match &shared.0 {
        Ok(_) => Ok(shared),
        Err(why) => Err(CollectError::Unavailable(why.clone())),
    }
}

/// Runs `f` on the manager's state.
fn with_state<T>(host: &Host, f: impl FnOnce(&bus::ManagerState) -> T) -> Result<T, CollectError> {
    let shared = manager(host)?;
    match &shared.0 {
        Ok(state) => Ok(f(state)),
        Err(why) => Err(CollectError::Unavailable(why.clone())),
    }
}

/// `subject added (load=loaded, active=active)`, `subject removed`,
/// `subject changed: active from inactive to active`: fields are shown in `labels` order under
/// their short label.
fn describe(subject: &str, change: &Change, labels: &[(&str, &str)]) -> String {
    let empty = Fields::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let none = "(none)".to_string();
    match change.kind {
        ChangeKind::Added => {
            let parts: Vec<String> = labels
                .iter()
                .filter_map(|(f, l)| after.get(f).map(|v| format!("{l}={v}")))
                .collect();
            if parts.is_empty() {
                format!("{subject} added")
            } else {
                format!("{subject} added ({})", parts.join(", "))
            }
        }
        ChangeKind::Removed => format!("{subject} removed"),
        ChangeKind::Modified => {
            let parts: Vec<String> = labels
                .iter()
                .filter(|(f, _)| before.get(f) != after.get(f))
                .map(|(f, l)| {
                    format!(
                        "{l} from {} to {}",
                        before.get(f).unwrap_or(&none),
                        after.get(f).unwrap_or(&none)
                    )
                })
                .collect();
            format!("{subject} changed: {}", parts.join(", "))
        }
    }
}

/// Loaded units and their load and active states.
pub struct SystemdUnits;

impl SystemdUnits {
    /// Scopes (`session-42.scope`) are created for each login and numbered, and devices follow
    /// hardware (reported by the block-device and interface collectors): both would only be
    /// noise here. Units with load state `not-found` are names merely referenced by some
    /// dependency; they come and go with garbage collection and are not installed units.
    fn wanted(name: &str) -> bool {
        !(name.ends_with(".scope") || name.ends_with(".device"))
    }
}

const UNIT_LABELS: &[(&str, &str)] = &[("load_state", "load"), ("active_state", "active")];

impl Collector for SystemdUnits {
    fn name(&self) -> &'static str {
        "systemd_units"
    }
    fn description(&self) -> &'static str {
        "units loaded in the running systemd manager, with load and active state (D-Bus)"
    }
    fn noun(&self) -> &'static str {
        "systemd unit"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        with_state(host, |s| {
            s.units
                .iter()
                .filter(|u| Self::wanted(&u.name))
                .map(|u| {
                    Item::new(&u.name)
                        .with("load_state", &u.load_state)
                        .with("active_state", &u.active_state)
                })
                .collect()
        })
    }
    fn message(&self, change: &Change) -> String {
        describe(
            &format!("systemd unit '{}'", change.key),
            change,
            UNIT_LABELS,
        )
    }
}

/// Timer units: what they trigger and when (the configured specs, not the next elapse).
pub struct SystemdTimers;

const TIMER_LABELS: &[(&str, &str)] = &[
    ("unit", "unit"),
    ("calendar", "calendar"),
    ("monotonic", "monotonic"),
    ("active_state", "active"),
];

impl Collector for SystemdTimers {
    fn name(&self) -> &'static str {
        "systemd_timers"
    }
    fn description(&self) -> &'static str {
        "systemd timers: the unit each triggers and its calendar/monotonic specs (D-Bus)"
    }
    fn noun(&self) -> &'static str {
        "systemd timer"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let nonempty = |v: &[String]| (!v.is_empty()).then(|| v.join("; "));
        with_state(host, |s| {
            s.timers
                .iter()
                .map(|t| {
                    Item::new(&t.name)
                        .with("unit", &t.unit)
                        .with_opt("calendar", nonempty(&t.calendar))
                        .with_opt("monotonic", nonempty(&t.monotonic))
                        .with("active_state", &t.active_state)
                })
                .collect()
        })
    }
    fn message(&self, change: &Change) -> String {
        describe(
            &format!("systemd timer {}", change.key),
            change,
            TIMER_LABELS,
        )
    }
}

/// Listening addresses of socket units (socket activation).
pub struct SystemdSockets;

const SOCKET_LABELS: &[(&str, &str)] = &[
    ("unit", "unit"),
    ("triggers", "triggers"),
    ("active_state", "active"),
];

impl Collector for SystemdSockets {
    fn name(&self) -> &'static str {
        "systemd_sockets"
    }
    fn description(&self) -> &'static str {
        "addresses systemd listens on for socket activation, with the units behind them (D-Bus)"
    }
    fn noun(&self) -> &'static str {
        "systemd socket"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        with_state(host, |s| {
            // Two units may declare the same address (only one can bind it): one item, both
            // units named, so keys stay unique.
            let mut by_key: std::collections::BTreeMap<String, (Vec<&str>, Vec<&str>, &str)> =
                Default::default();
            for sock in &s.sockets {
                for (kind, addr) in &sock.listen {
                    let key = format!("{kind} {}", crate::host::escape_bytes(addr.as_bytes()));
                    let entry = by_key.entry(key).or_insert((Vec::new(), Vec::new(), ""));
                    entry.0.push(&sock.name);
                    entry.1.extend(sock.triggers.iter().map(String::as_str));
                    if entry.2.is_empty() || sock.active_state == "active" {
                        entry.2 = &sock.active_state;
                    }
                }
            }
            by_key
                .into_iter()
                .map(|(key, (mut units, mut triggers, active))| {
                    units.sort();
                    units.dedup();
                    triggers.sort();
                    triggers.dedup();
                    Item::new(key)
                        .with("unit", units.join(","))
                        .with_opt(
                            "triggers",
                            (!triggers.is_empty()).then(|| triggers.join(",")),
                        )
                        .with("active_state", active)
                })
                .collect()
        })
    }
    fn message(&self, change: &Change) -> String {
        describe(
            &format!("systemd socket {}", change.key),
            change,
            SOCKET_LABELS,
        )
    }
}

/// The manager's configuration properties (version, defaults, unit path...).
pub struct SystemdProps;

impl Collector for SystemdProps {
    fn name(&self) -> &'static str {
        "systemd_props"
    }
    fn description(&self) -> &'static str {
        "configuration properties of the running systemd manager: version, defaults, unit path (D-Bus)"
    }
    fn noun(&self) -> &'static str {
        "systemd property"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        with_state(host, |s| {
            s.props
                .iter()
                .map(|(name, value)| {
                    Item::new(name).with("value", crate::host::escape_bytes(value.as_bytes()))
                })
                .collect()
        })
    }
    fn message(&self, change: &Change) -> String {
        fn get(f: &Option<Fields>) -> &str {
            f.as_ref().and_then(|f| f.get("value")).unwrap_or_default()
        }
        match change.kind {
            ChangeKind::Added => format!(
                "systemd property {} added (value={})",
                change.key,
                get(&change.after)
            ),
            ChangeKind::Removed => format!("systemd property {} removed", change.key),
            ChangeKind::Modified => format!(
                "systemd property {} changed from {} to {}",
                change.key,
                get(&change.before),
                get(&change.after)
            ),
        }
    }
}

#[cfg(test)]
mod tests;

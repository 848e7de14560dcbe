//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct SystemdProps;

impl Collector for SystemdProps {
    fn name(&self) -> &'static str {
        "systemd_props"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "systemd property"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "systemd_props is not implemented yet".into(),
        ))
    }
}

pub struct SystemdSockets;

impl Collector for SystemdSockets {
    fn name(&self) -> &'static str {
        "systemd_sockets"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "systemd socket"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "systemd_sockets is not implemented yet".into(),
        ))
    }
}

pub struct SystemdTimers;

impl Collector for SystemdTimers {
    fn name(&self) -> &'static str {
        "systemd_timers"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "systemd timer"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "systemd_timers is not implemented yet".into(),
        ))
    }
}

pub struct SystemdUnits;

impl Collector for SystemdUnits {
    fn name(&self) -> &'static str {
        "systemd_units"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "systemd unit"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "systemd_units is not implemented yet".into(),
        ))
    }
}

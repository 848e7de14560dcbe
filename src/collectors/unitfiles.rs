//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct SystemdUnitfiles;

impl Collector for SystemdUnitfiles {
    fn name(&self) -> &'static str {
        "systemd_unitfiles"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "systemd unit file"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "systemd_unitfiles is not implemented yet".into(),
        ))
    }
}

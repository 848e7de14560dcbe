//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct ListIfaces;

impl Collector for ListIfaces {
    fn name(&self) -> &'static str {
        "list_ifaces"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "network interface"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_ifaces is not implemented yet".into(),
        ))
    }
}

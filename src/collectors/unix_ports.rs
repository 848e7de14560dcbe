//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct ListUnixPorts;

impl Collector for ListUnixPorts {
    fn name(&self) -> &'static str {
        "list_unix_ports"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "listening UNIX socket"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_unix_ports is not implemented yet".into(),
        ))
    }
}

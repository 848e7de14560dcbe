//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct ListTcpudpPorts;

impl Collector for ListTcpudpPorts {
    fn name(&self) -> &'static str {
        "list_tcpudp_ports"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "port"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_tcpudp_ports is not implemented yet".into(),
        ))
    }
}

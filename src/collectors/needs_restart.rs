//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct NeedsRestart;

impl Collector for NeedsRestart {
    fn name(&self) -> &'static str {
        "needs_restart"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "restart need"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "needs_restart is not implemented yet".into(),
        ))
    }
}

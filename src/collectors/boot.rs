//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct CheckBoot;

impl Collector for CheckBoot {
    fn name(&self) -> &'static str {
        "check_boot"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "file"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "check_boot is not implemented yet".into(),
        ))
    }
}

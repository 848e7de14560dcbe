//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct KernelVersion;

impl Collector for KernelVersion {
    fn name(&self) -> &'static str {
        "kernel_version"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "kernel"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "kernel_version is not implemented yet".into(),
        ))
    }
}

pub struct KernelModules;

impl Collector for KernelModules {
    fn name(&self) -> &'static str {
        "kernel_modules"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "kernel module"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "kernel_modules is not implemented yet".into(),
        ))
    }
}

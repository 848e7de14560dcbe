//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct ListSysvinitJobs;

impl Collector for ListSysvinitJobs {
    fn name(&self) -> &'static str {
        "list_sysvinit_jobs"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "SysV init job"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_sysvinit_jobs is not implemented yet".into(),
        ))
    }
}

//! Placeholder: to be implemented.
use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;

pub struct ListMsq;

impl Collector for ListMsq {
    fn name(&self) -> &'static str {
        "list_msq"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "message queue"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_msq is not implemented yet".into(),
        ))
    }
}

pub struct ListSem;

impl Collector for ListSem {
    fn name(&self) -> &'static str {
        "list_sem"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "semaphore array"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_sem is not implemented yet".into(),
        ))
    }
}

pub struct ListShm;

impl Collector for ListShm {
    fn name(&self) -> &'static str {
        "list_shm"
    }
    fn description(&self) -> &'static str {
        "not implemented yet"
    }
    fn noun(&self) -> &'static str {
        "shared memory segment"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Err(CollectError::Unavailable(
            "list_shm is not implemented yet".into(),
        ))
    }
}

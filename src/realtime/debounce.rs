//! Coalescing a burst of events into one targeted scan: the scan starts once no event came
//! for [`QUIET`], and at most [`MAX_WAIT`] after the burst's first event, so a package
//! install that writes for minutes still gets a scan every few seconds, not one per file.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Time without events that ends a burst.
pub const QUIET: Duration = Duration::from_millis(400);
/// Longest a burst's first event waits for its scan.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// What is pending.
#[derive(Debug, Default)]
pub struct Debounce {
    collectors: BTreeSet<&'static str>,
    first: Option<Instant>,
    last: Option<Instant>,
    overflow: bool,
}

/// What to scan now.
#[derive(Debug, PartialEq, Eq)]
pub struct Due {
    pub collectors: BTreeSet<&'static str>,
    /// Events were lost: scan every file-based collector, at once.
    pub overflow: bool,
}

impl Debounce {
    /// Events at `now` concern `collectors`.
    pub fn note(&mut self, now: Instant, collectors: impl IntoIterator<Item = &'static str>) {
        let before = self.collectors.len();
        self.collectors.extend(collectors);
        if self.collectors.len() > before || self.first.is_some() {
            self.first.get_or_insert(now);
            self.last = Some(now);
        }
    }

    /// Events were lost at `now`: the scan of `all` is due at once.
    pub fn overflow(&mut self, now: Instant, all: impl IntoIterator<Item = &'static str>) {
        self.collectors.extend(all);
        self.overflow = true;
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the pending scan is due; `None`: nothing pending.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        if self.overflow {
            return Some(first);
        }
        Some((last + QUIET).min(first + MAX_WAIT))
    }

    /// The scan due at `now`, if one is.
    pub fn take(&mut self, now: Instant) -> Option<Due> {
        if self.deadline()? > now {
            return None;
        }
        let due = Due {
            collectors: std::mem::take(&mut self.collectors),
            overflow: self.overflow,
        };
        *self = Debounce::default();
        Some(due)
    }
}

#[cfg(test)]
mod tests;

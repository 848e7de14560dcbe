//! What started a scan: stored with it (`scans.trigger`), shown by `dawgctl history`, in the
//! JSON history and in the journal's `TRIGGER=` field.

use serde::{Deserialize, Serialize};

/// What started a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The schedule came due.
    Schedule,
    /// A client asked (`dawgctl scan`, `baseline`, `diff`, or `--local`).
    Request,
    /// A file-system event under a path a collector reads (targeted: those collectors only).
    Event,
    /// Events were lost (queue overflow, reader behind): every file-based collector at once.
    Overflow,
    /// The daemon started.
    Startup,
    /// A polled surface (listeners, modules, mounts) changed.
    Poll,
}

impl Trigger {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Request => "request",
            Trigger::Event => "event",
            Trigger::Overflow => "overflow",
            Trigger::Startup => "startup",
            Trigger::Poll => "poll",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;

//! `realtime` and `realtime_queue`: the watch between scans (see src/realtime.rs).

use serde::{Deserialize, Serialize};

/// The default `realtime_queue`: fanotify's own default queue length, in events.
pub const DEFAULT_REALTIME_QUEUE: u32 = 16384;

/// `realtime`: `"auto"` (or `true`; fanotify, else inotify on the key directories, else the
/// schedule alone), `"inotify"` (never fanotify: CAP_SYS_ADMIN is never raised), `"off"` (or
/// `false`; the schedule alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RealtimeRepr", into = "String")]
pub enum Realtime {
    Auto,
    Inotify,
    Off,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RealtimeRepr {
    Bool(bool),
    Text(String),
}

impl TryFrom<RealtimeRepr> for Realtime {
    type Error = String;
    fn try_from(r: RealtimeRepr) -> Result<Self, String> {
        match r {
            RealtimeRepr::Bool(true) => Ok(Realtime::Auto),
            RealtimeRepr::Bool(false) => Ok(Realtime::Off),
            RealtimeRepr::Text(t) => match t.as_str() {
                "auto" => Ok(Realtime::Auto),
                "inotify" => Ok(Realtime::Inotify),
                "off" => Ok(Realtime::Off),
                _ => Err(format!(
                    "realtime = {t:?}: write \"auto\" (or true), \"inotify\" or \"off\" (or false)"
                )),
            },
        }
    }
}

impl From<Realtime> for String {
    fn from(r: Realtime) -> String {
        match r {
            Realtime::Auto => "auto",
            Realtime::Inotify => "inotify",
            Realtime::Off => "off",
        }
        .into()
    }
}

#[cfg(test)]
mod tests;

//! `env`: the environment of the scanning process, as dawgmon 1.1 recorded it.
//!
//! Keyed by variable name. A variable that changes how programs load code (`LD_PRELOAD`,
//! `LD_LIBRARY_PATH`, `PYTHONPATH`...) or that is plainly not secret (`PATH`, `HOME`, `LANG`)
//! is stored in clear; any other value may be a token or password, so only a fingerprint of it
//! is kept (a change still shows). Option lists (`*_OPTIONS`, `*_OPTS`: `JAVA_TOOL_OPTIONS=
//! -Dpassword=...`) may carry secrets too and are fingerprinted even when they load code (their
//! changes are still flagged by name). Variables that differ from one login, shell or service
//! start to the next (`PWD`, `SHLVL`, `SSH_CONNECTION`, `INVOCATION_ID`...) are skipped.
//!
//! A fingerprint is the start of an HMAC-SHA256 under the database's own random key
//! ([`crate::secret`]), which the engine passes in through [`Host::secret`]: a plain hash of a
//! short password could be reversed by guessing, by anyone who reads the database. Without a
//! key (a `Host` not built by the engine) the collector is unavailable rather than falling back
//! to a guessable hash or to a per-process key (whose fingerprints would change every run).
//!
//! Off by default: the result describes the process that scans, not the host. The daemon's
//! environment is fixed by its unit, but every interactive `dawgctl scan` inherits its shell's
//! environment, which differs between terminals, su/sudo and cron, so comparing a daemon scan
//! with a `dawgctl` scan would report dozens of meaningless changes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_os};
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::secret::FingerprintKey;
use crate::sources::common::render_fields;

pub struct Env;

/// Stored in clear: not secret, and worth reading in a report.
const CLEAR: &[&str] = &[
    "PATH", "SHELL", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "UMASK", "MAIL",
    "TMPDIR", "EDITOR", "VISUAL", "PAGER",
];

/// Change what code programs load: stored in clear, and flagged.
const LOADERS: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "GCONV_PATH",
    "CLASSPATH",
    "JAVA_TOOL_OPTIONS",
    "GIO_EXTRA_MODULES",
    "GTK_PATH",
];

/// Differ between logins, shells and service starts for no reason a reviewer cares about.
const VOLATILE: &[&str] = &[
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "TERM",
    "COLORTERM",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "GPG_TTY",
    "XDG_SESSION_ID",
    "XDG_SESSION_TYPE",
    "XDG_SESSION_CLASS",
    "XDG_VTNR",
    "XDG_SEAT",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "NOTIFY_SOCKET",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
    "MAINPID",
    "COLUMNS",
    "LINES",
    "DISPLAY",
    "WINDOWID",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "WINDOW",
    "TERM_SESSION_ID",
    "DBUS_SESSION_BUS_ADDRESS",
    "SUDO_COMMAND",
    "SUDO_UID",
    "SUDO_GID",
    "SUDO_USER",
];

const VOLATILE_PREFIXES: &[&str] = &["WATCHDOG_", "LISTEN_", "TERM_PROGRAM", "VTE_", "KONSOLE_"];

impl Collector for Env {
    fn name(&self) -> &'static str {
        "env"
    }
    fn description(&self) -> &'static str {
        "environment of the scanning process (LD_PRELOAD, PATH...; other values as fingerprints)"
    }
    fn noun(&self) -> &'static str {
        "environment variable"
    }
    fn default_enabled(&self) -> bool {
        false
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        if !host.is_live() {
            return Err(CollectError::Unavailable(format!(
                "env describes the scanning process, not the tree under {}: it only runs on the live host (root /)",
                host.root().display()
            )));
        }
        let Some(key) = host.secret() else {
            return Err(CollectError::Unavailable(
                "env needs the database's fingerprint key to store secret values safely; \
                 scans through the engine (dawgctl, dawgmond) provide it"
                    .into(),
            ));
        };
        Ok(std::env::vars_os()
            .filter_map(|(name, value)| item(&name, &value, key))
            .collect())
    }

    fn message(&self, change: &Change) -> String {
        let key = &change.key;
        let empty = Fields::new();
        let (before, after) = (
            change.before.as_ref().unwrap_or(&empty),
            change.after.as_ref().unwrap_or(&empty),
        );
        match change.kind {
            ChangeKind::Added => format!(
                "environment variable {key} added ({})",
                render_fields(after)
            ),
            ChangeKind::Removed => format!("environment variable {key} removed"),
            ChangeKind::Modified => match (before.get("value"), after.get("value")) {
                (Some(a), Some(b)) => {
                    format!("environment variable {key} changed from '{a}' to '{b}'")
                }
                _ => format!("environment variable {key} changed"),
            },
        }
    }
}

/// The item of one variable, or `None` for a volatile one. Secret-looking values are stored as
/// a fingerprint under `secret`.
fn item(name: &OsStr, value: &OsStr, secret: &FingerprintKey) -> Option<Item> {
    let key = escape_os(name);
    if VOLATILE.contains(&key.as_str()) || VOLATILE_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return None;
    }
    let options = key.ends_with("_OPTIONS") || key.ends_with("_OPTS");
    let clear = !options
        && (CLEAR.contains(&key.as_str())
            || LOADERS.contains(&key.as_str())
            || key.starts_with("LD_")
            || key.starts_with("LC_"));
    let item = Item::new(key);
    Some(if clear {
        item.with("value", escape_os(value))
    } else {
        item.with("value_fingerprint", secret.fingerprint(value.as_bytes()))
    })
}

#[cfg(test)]
mod tests;

//! Default locations, the same for the daemon and `dawgctl --local` so both use one database.

use std::path::PathBuf;

/// The daemon's socket unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/dawgmon/dawgmond.sock";

/// The daemon's configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/dawgmon/dawgmond.toml";

/// The system database, used by root and by the daemon.
pub const SYSTEM_DATABASE: &str = "/var/lib/dawgmon/dawgmon.db";

/// The default database: the system one for root, else `$XDG_STATE_HOME/dawgmon/dawgmon.db`
/// (`~/.local/state/dawgmon/dawgmon.db`), so an unprivileged try needs no setup.
pub fn default_database() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(SYSTEM_DATABASE);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("dawgmon/dawgmon.db")
}

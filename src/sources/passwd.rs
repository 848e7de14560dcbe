//! Account files (`etc/passwd`, password hashes), read by `check_users`, `check_groups` and
//! `ssh_access`.

use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::sources::common::sha256_bytes;

/// `locked` (`!` or `*` prefix: no password login), `none` (empty: login without a password),
/// or `set`.
pub(crate) fn password_state(hash: &str) -> &'static str {
    if hash.is_empty() {
        "none"
    } else if hash.starts_with(['!', '*']) {
        "locked"
    } else {
        "set"
    }
}

/// The first 16 hex digits of the SHA-256 of a password hash: changes with it, reveals nothing.
pub(crate) fn fingerprint(hash: &str) -> String {
    sha256_bytes(hash.as_bytes())[..16].to_string()
}

/// Text from an account file as stored text (control characters escaped).
pub(crate) fn text(s: &str) -> String {
    escape_bytes(s.as_bytes())
}

/// The root's `etc/passwd`; its absence makes a collector that needs it unavailable, saying
/// why (users, SSH keys of every account).
pub(crate) fn read_passwd(host: &Host) -> Result<String, CollectError> {
    host.read_source_string("/etc/passwd").map_err(|e| match e {
        CollectError::Unavailable(_) => CollectError::Unavailable(format!(
            "etc/passwd does not exist under {}: not the root of a Linux system?",
            host.root().display()
        )),
        other => other,
    })
}

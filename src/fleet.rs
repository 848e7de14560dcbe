//! The fleet store: many hosts report into one PostgreSQL, and `dawgctl fleet` answers across
//! them.
//!
//! - `config::fleet`: the `[fleet]` table (URL, password file, TLS that verifies the server),
//!   and [`FleetError`].
//! - [`connect`]: one connection, with errors that name the fix (wrong password, untrusted
//!   certificate, no schema yet, a schema newer than this build).
//! - [`push`]: what a host sends for one stored scan (summary, changes, and once its whole
//!   state) and the transaction that sends it exactly once; the daemon queues these in the
//!   local database's fleet outbox (`store::fleet_outbox`) and sends them in scan order.
//! - [`admin`]: `dawgctl fleet init` (schema and roles, as the database owner) and
//!   `fleet add-host` / `fleet add-reader` (a login role and its `[fleet]` table, printed once).
//! - [`query`]: `fleet hosts`, `fleet changes`, `fleet where`, streamed row by row.
//!
//! The schema (migrations/, sqlx-versioned like the SQLite one) partitions scans and changes by
//! month, keeps a current-state table per host, and lets a host role only INSERT rows of its own
//! host (row-level security): a compromised host can add lies about itself, but can neither
//! rewrite its past nor touch other hosts.

pub mod admin;
pub mod connect;
pub mod push;
pub mod query;
pub mod render;

pub use crate::config::fleet::{FleetConfig, FleetError};

/// The fleet schema's migrations (PostgreSQL).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/fleet/migrations");

/// The newest fleet schema this build knows.
pub fn known_schema() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Severity as stored: 0 info .. 4 critical.
pub fn severity_code(s: crate::model::Severity) -> i16 {
    s as i16
}

/// The severity of a stored code (out of range: info).
pub fn severity_of(code: i16) -> crate::model::Severity {
    use crate::model::Severity::*;
    match code {
        4 => Critical,
        3 => High,
        2 => Medium,
        1 => Low,
        _ => Info,
    }
}

/// A shell-style glob (`*`, `?`) as a LIKE pattern with `\` as the escape character.
pub fn glob_to_like(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 2);
    for c in glob.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_like_patterns_with_literals_escaped() {
        assert_eq!(glob_to_like("/usr/bin/*"), "/usr/bin/%");
        assert_eq!(glob_to_like("web?"), "web\\_".replace("\\_", "_"));
        assert_eq!(glob_to_like("a_b%c\\"), "a\\_b\\%c\\\\");
        assert_eq!(
            severity_of(severity_code(crate::model::Severity::High)),
            crate::model::Severity::High
        );
        assert!(known_schema() >= 1);
    }
}

//! dawgmon: an attack-surface change monitor for Linux.
//!
//! The flow, one direction only: [`sources`] read the host through [`host::Host`] →
//! [`collectors`] (the checks) → [`model::Snapshot`] → [`store`] (SQLite, content-addressed) →
//! [`diff`] and [`rules`] (pure) → [`report`] (text / JSON / SARIF, pure), glued by [`engine`] →
//! [`mail`] (outbox in the store, then SMTP or sendmail), [`fleet`] (outbox in the store, then
//! PostgreSQL, which `dawgctl fleet` asks across hosts) and hooks → the daemon's API or the
//! `dawgctl` command line. [`LAYERS`] declares the order; docs/ARCHITECTURE.md draws it.

/// The layers of the crate, lowest first: a module may name modules of its own layer or below,
/// never above (tests/layers.rs reads every `crate::` path of `src/` and holds this). Test code
/// (`tests.rs` files, `#[cfg(test)]` items) may reach anywhere, like a crate's dev-dependencies.
/// docs/ARCHITECTURE.md draws the same order.
pub const LAYERS: &[&[&str]] = &[
    &["model", "error", "paths", "secret", "ledger"],
    &["hostfs"],
    &["host"],
    &["sources"],
    &["collectors"],
    &["scan"],
    &["store"],
    &["diff", "rules", "seal"],
    &["between"],
    &["config"],
    &["report"],
    &["engine"],
    &["mail", "fleet"],
    &["api"],
    &["realtime"],
    &["daemon", "cli", "client"],
];

pub mod api;
pub mod between;
pub mod cli;
pub mod client;
pub mod collectors;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod host;
pub mod hostfs;
pub mod ledger;
pub mod mail;
pub mod model;
pub mod paths;
pub mod realtime;
pub mod report;
pub mod rules;
pub mod scan;
pub mod seal;
pub mod secret;
pub mod sources;
pub mod store;

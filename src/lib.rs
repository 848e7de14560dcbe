//! dawgmon: an attack-surface change monitor for Linux.
//!
//! The flow, one direction only:
//! collectors (read the host through [`host::Host`]) → [`model::Snapshot`] → [`store`] (SQLite,
//! content-addressed) → [`diff`] (pure) → [`report`] (text / JSON, pure) → the daemon's API or
//! the `dawgctl` command line, and
//! [`mail`] (outbox in the store, then SMTP or sendmail).

pub mod api;
pub mod cli;
pub mod client;
pub mod collectors;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod engine;
pub mod error;
pub mod host;
pub mod hostfs;
pub mod mail;
pub mod model;
pub mod paths;
pub mod report;
pub mod rules;
pub mod scan;
pub mod secret;
pub mod sources;
pub mod store;

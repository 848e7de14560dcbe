//! The integration tests: one binary, one module per area. `helper` builds fake roots and runs
//! the real binaries.

mod helper;

mod cli;
mod config;
mod daemon;
mod daemon_limits;
mod faults;
mod hooks;
mod install;
mod journald;
mod layers;
mod mail;
mod nspawn_live;
mod reports;
mod rules;
mod systemd;
mod systemd_live;
mod timings;
mod trust;
mod watch;
mod writable;

//! The integration tests: one binary, one module per area. `helper` builds fake roots and runs
//! the real binaries.

mod helper;

mod cli;
mod config;
mod daemon;
mod daemon_limits;
mod faults;
mod fleet;
mod hooks;
mod install;
mod journald;
mod layers;
mod mail;
mod nspawn_live;
mod package_upgrade;
mod poll_schedule;
mod realtime;
mod reports;
mod rules;
mod seal;
mod systemd;
mod systemd_live;
mod timings;
mod trust;
mod watch;
mod writable;

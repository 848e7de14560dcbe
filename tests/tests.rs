//! The integration tests: one binary, one module per area. They run the real binaries.

mod helper;

mod cli;
mod install;
mod mail;
mod systemd_live;

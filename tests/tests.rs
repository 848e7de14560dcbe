//! The integration tests: one binary, one module per area. They run the real binaries.

mod cli;
mod mail;
mod systemd_live;

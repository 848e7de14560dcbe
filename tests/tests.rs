//! The integration tests: one binary, one module per area. `helper` builds fake roots and runs
//! the real binaries.

mod daemon;
mod helper;
mod systemd;

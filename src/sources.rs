//! Shared readers of the host: each turns one part of the scanned root (a kernel table, a
//! database, a kind of configuration file, a file-system walk) into plain data for the checks
//! (the `collectors` layer above). A source names no check; code two checks need lives here.

pub mod common;
pub(crate) mod confdirs;
pub mod fswalk;
pub(crate) mod glob;
pub(crate) mod includes;
pub(crate) mod mountinfo;
pub(crate) mod passwd;
pub mod pkgdb;
pub(crate) mod procfs;
pub(crate) mod sockdiag;
pub(crate) mod sockproc;
pub(crate) mod tree;
pub(crate) mod unitfiles;
pub(crate) mod xml;

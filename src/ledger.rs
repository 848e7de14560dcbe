//! The sealed history's pure parts, below the store: RFC 6962 Merkle hashing ([`merkle`]), the
//! canonical entries the leaves commit to ([`entry`]), the forward-secure key and its file
//! ([`key`]), and the sealed checkpoint with its one-line text ([`checkpoint`]). The store
//! appends label, report and prune entries with them; the sealer and `dawgctl verify`, above
//! the store, are in `seal`. The scheme and its limits: docs/trust.md.

pub mod checkpoint;
pub mod entry;
pub mod key;
pub mod merkle;

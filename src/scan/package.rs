//! The `package` field of items that come from a file: after a collector ran, each item whose
//! collector names its file ([`Collector::package_path`]) gets the package dpkg's file lists say
//! owns that file, or `none` when the host has a package database that does not list it (a
//! file no package installed). Nothing is added when the host has no dpkg database, and an
//! item whose collector set `package` itself (setuid files, files under `/etc`, listeners by
//! their executables) keeps it.
//!
//! The lists are the shared source of the scan ([`pkgdb::Packages`]): read at most once per
//! scan, and only when some item names a file. A look-up is one hash probe (two on a
//! merged-/usr system), so a hostile list of items costs no more than the items themselves.
//! `diff` and `--by package` then read the package from the item, never from a change's text.

use crate::collectors::Collector;
use crate::host::Host;
use crate::model::Item;
use crate::sources::pkgdb::Packages;

/// Sets `package` on the items of `c` that come from a file and lack it.
pub(super) fn attribute(c: &dyn Collector, host: &Host, items: &mut [Item]) {
    let mut packages: Option<Packages> = None;
    for item in items {
        if item.fields.contains_key("package") {
            continue;
        }
        let Some(path) = c.package_path(item) else {
            continue;
        };
        let db = packages.get_or_insert_with(|| Packages::of(host, false));
        if let Some(package) = db.package_of(&path) {
            item.fields.insert("package", package);
        }
    }
}

#[cfg(test)]
mod tests;

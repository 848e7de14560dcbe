//! The one registry value: the built-in checks plus the configured watch trees, and the
//! configured default set. It alone selects (by name, or the default set), orders (registry
//! order, watch trees last) and names collectors; the daemon, `dawgctl --local`, the config
//! check and the client's name check all ask it.

use super::{COLLECTORS, Collector, is_watch_name};

/// The collectors a scan may run and which of them run by default.
#[derive(Clone)]
pub struct Registry {
    /// The built-in checks, in execution and report order ([`COLLECTORS`], or a test's list).
    builtin: &'static [&'static dyn Collector],
    /// The configured watch trees' collectors.
    watches: Vec<&'static dyn Collector>,
    /// The names a scan that names none runs (the config's `collectors`); empty: every
    /// built-in check that is on by default. Every watch tree runs besides.
    defaults: Vec<String>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(COLLECTORS, Vec::new(), Vec::new())
    }
}

impl Registry {
    pub fn new(
        builtin: &'static [&'static dyn Collector],
        watches: Vec<&'static dyn Collector>,
        defaults: Vec<String>,
    ) -> Self {
        Registry {
            builtin,
            watches,
            defaults,
        }
    }

    /// The configured watch trees' collectors.
    pub fn watches(&self) -> &[&'static dyn Collector] {
        &self.watches
    }

    /// The configured default names (empty: the built-in default set).
    pub fn defaults(&self) -> &[String] {
        &self.defaults
    }

    /// The collectors `names` selects, in registry order with the watch trees last, where
    /// `watch` names every tree; with no names, the default set and every tree. An unknown
    /// name is an error that lists the valid ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&'static dyn Collector>, String> {
        if names.is_empty() {
            let mut out = if self.defaults.is_empty() {
                self.builtin
                    .iter()
                    .copied()
                    .filter(|c| c.default_enabled())
                    .collect()
            } else {
                self.select(&self.defaults)?
            };
            for w in &self.watches {
                if !out.iter().any(|c| c.name() == w.name()) {
                    out.push(*w);
                }
            }
            return Ok(out);
        }
        let (trees, names): (Vec<&String>, Vec<&String>) =
            names.iter().partition(|n| is_watch_name(n));
        for n in &trees {
            if *n != "watch" && !self.watches.iter().any(|w| w.name() == *n) {
                let known: Vec<&str> = self.watches.iter().map(|w| w.name()).collect();
                return Err(if known.is_empty() {
                    format!(
                        "{n:?}: no watch tree is configured (add a [[watch]] table, or --watch PATH with --local)"
                    )
                } else {
                    format!(
                        "{n:?} is not a configured watch tree; configured: {}",
                        known.join(", ")
                    )
                });
            }
        }
        if let Some(n) = names
            .iter()
            .find(|n| !self.builtin.iter().any(|c| c.name() == **n))
        {
            let all: Vec<&str> = self.builtin.iter().map(|c| c.name()).collect();
            return Err(format!(
                "unknown collector {n:?}; known collectors: {}",
                all.join(", ")
            ));
        }
        let mut out: Vec<&'static dyn Collector> = self
            .builtin
            .iter()
            .copied()
            .filter(|c| names.iter().any(|n| *n == c.name()))
            .collect();
        out.extend(
            self.watches
                .iter()
                .copied()
                .filter(|w| trees.iter().any(|n| *n == "watch" || *n == w.name())),
        );
        Ok(out)
    }

    /// Checks collector names where the configured trees are not known (a client before it
    /// asks the daemon, a diff of stored scans): built-in names must exist; `watch` and any
    /// `watch:PATH` pass (the scan that ran them, or the daemon, says whether they exist).
    pub fn check_names(&self, names: &[String]) -> Result<(), String> {
        let builtin: Vec<String> = names
            .iter()
            .filter(|n| !is_watch_name(n))
            .cloned()
            .collect();
        if builtin.is_empty() {
            return Ok(());
        }
        self.select(&builtin).map(|_| ())
    }
}

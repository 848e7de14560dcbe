//! The operations both front ends offer: scan (and store), baseline, diff. `dawgctl --local`
//! calls them in-process; the daemon calls them from its scheduler and API handlers.
//!
//! The engine owns the glue only: scanning is [`crate::scan`], storage [`crate::store`],
//! comparison [`crate::diff`]. Scans run on blocking threads, off the async runtime.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;

use crate::collectors::Collector;
use crate::error::{Error, StoreError};
use crate::host::Host;
use crate::model::Snapshot;
use crate::report::{Report, ScanRef};
use crate::scan::{self, Progress, ScanOptions};
use crate::store::{self, NewScan, ScanInfo, Store};

/// How many earlier scans a scan looks back through for collectors the previous scan skipped.
pub const LOOKBACK: usize = 16;

/// A progress callback, called from worker threads.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The scan-and-compare machinery over one store and one scanned root.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub root: PathBuf,
    pub options: ScanOptions,
    /// Unlabelled scans kept; 0 keeps all.
    pub retention: usize,
}

/// What a scan produced: the stored scan, and its changes against the scan before it.
#[derive(Debug, Clone)]
pub struct ScanResult {
    pub info: ScanInfo,
    pub report: Report,
    /// Number of items recorded, over all collectors.
    pub items: usize,
    /// Paths not readable for lack of permission, with a few examples.
    pub denied: (u64, Vec<String>),
    pub elapsed: std::time::Duration,
}

/// What [`Engine::report_stored`] found.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub report: Report,
    /// For a first scan (nothing to compare with): the items it recorded, over all collectors.
    pub items: Option<usize>,
}

impl Engine {
    /// An engine with default scan options and retention.
    pub fn new(store: Store, root: PathBuf) -> Self {
        Engine {
            store,
            root,
            options: ScanOptions::default(),
            retention: store::DEFAULT_RETENTION,
        }
    }

    /// Scans the host now with `collectors`, stores the result (under `label`, if given), and
    /// compares it with the scan before it, restricted to the collectors that ran.
    pub async fn scan(
        &self,
        label: Option<String>,
        collectors: Vec<&'static dyn Collector>,
        progress: ProgressFn,
    ) -> Result<ScanResult, Error> {
        if let Some(l) = &label {
            store::validate_label(l)?;
        }
        if !self.root.is_dir() {
            return Err(Error::Usage(format!(
                "scan root {} is not a directory: pass an existing directory to --root",
                self.root.display()
            )));
        }
        let started_at = Utc::now();
        let host = Arc::new(Host::new(self.root.clone()));
        let options = self.options.clone();
        let out =
            tokio::task::spawn_blocking(move || scan::run(host, &collectors, &options, &*progress))
                .await
                .map_err(|e| Error::Internal(format!("scan thread failed: {e}")))?;
        let finished_at = Utc::now();
        let meta = NewScan {
            label,
            started_at,
            finished_at,
            hostname: hostname(&self.root),
            root: self.root.display().to_string(),
        };
        let info = self.store.save(&meta, &out.snapshot).await?;
        let names: Vec<String> = out.snapshot.results.keys().cloned().collect();
        let report = match self.earlier_outcomes(info.id, &names).await? {
            Some((prev, old, changed)) => {
                compare(&prev, &old, &info, &out.snapshot, Some(&changed))
            }
            None => Report {
                from: None,
                to: ScanRef::from(&info),
                changes: vec![],
                warnings: unavailable_warnings(&out.snapshot),
            },
        };
        if report.from.is_some() {
            self.store
                .set_summary(info.id, report.changes.len(), report.warnings.len())
                .await?;
        }
        if self.retention > 0 {
            self.store.prune(self.retention).await?;
        }
        let items = out
            .snapshot
            .results
            .values()
            .map(|o| match o {
                crate::model::Outcome::Items(v) => v.len(),
                _ => 0,
            })
            .sum();
        Ok(ScanResult {
            info: self.store.get(info.id).await?,
            report,
            items,
            denied: out.denied,
            elapsed: out.elapsed,
        })
    }

    /// What the collectors in `names` found last before scan `id`: the previous scan's outcomes,
    /// and for a collector it did not run (a scan of a subset, `--collector`), the newest earlier
    /// scan's that did — so a partial scan never hides a change from the next full one. Looks
    /// back at most [`LOOKBACK`] scans.
    ///
    /// Only manifests (content hashes) are read to find them; the content is loaded only for
    /// collectors whose output differs from scan `id`'s, so an unchanged host costs no load and
    /// no diff. Returns the previous scan, the loaded outcomes, and the collectors to compare.
    async fn earlier_outcomes(
        &self,
        id: i64,
        names: &[String],
    ) -> Result<Option<(ScanInfo, Snapshot, Vec<String>)>, Error> {
        let Some(prev) = self.store.previous(id).await? else {
            return Ok(None);
        };
        let mut found = store::Manifest::new();
        let mut cursor = Some(prev.clone());
        for _ in 0..LOOKBACK {
            let Some(scan) = cursor else { break };
            for (name, entry) in self.store.manifest(scan.id).await? {
                if names.contains(&name) {
                    found.entry(name).or_insert(entry);
                }
            }
            if names.iter().all(|n| found.contains_key(n)) {
                break;
            }
            cursor = self.store.previous(scan.id).await?;
        }
        let now = self.store.manifest(id).await?;
        let unchanged = |n: &String| {
            matches!(found.get(n), Some(store::ManifestEntry::Blob(_)))
                && found.get(n) == now.get(n)
        };
        let compare: Vec<String> = names.iter().filter(|n| !unchanged(n)).cloned().collect();
        found.retain(|n, _| compare.contains(n));
        let old = self.store.load_entries(prev.id, found).await?;
        Ok(Some((prev, old, compare)))
    }

    /// The report a stored scan got when it was made, computed again: its changes against the
    /// scan before it (found as [`Engine::scan`] finds them), or for a first scan the
    /// collectors that could not run. Used to mail scans after the fact (see
    /// [`crate::mail::report_unreported`]): a scan `dawgctl --local` stored, or one the daemon
    /// stored just before it stopped.
    pub async fn report_stored(&self, to: &ScanInfo) -> Result<StoredReport, Error> {
        let now = self.store.manifest(to.id).await?;
        let names: Vec<String> = now.keys().cloned().collect();
        match self.earlier_outcomes(to.id, &names).await? {
            Some((prev, old, changed)) => {
                let entries = now.into_iter().filter(|(n, _)| changed.contains(n));
                let new = self.store.load_entries(to.id, entries).await?;
                Ok(StoredReport {
                    report: compare(&prev, &old, to, &new, Some(&changed)),
                    items: None,
                })
            }
            None => {
                let snapshot = self.store.load_entries(to.id, now).await?;
                let items = snapshot
                    .results
                    .values()
                    .map(|o| match o {
                        crate::model::Outcome::Items(v) => v.len(),
                        _ => 0,
                    })
                    .sum();
                Ok(StoredReport {
                    report: Report {
                        from: None,
                        to: ScanRef::from(to),
                        changes: vec![],
                        warnings: unavailable_warnings(&snapshot),
                    },
                    items: Some(items),
                })
            }
        }
    }

    /// Compares two stored scans. `since` defaults to the newest baseline older than `to`, else
    /// the scan before `to`. `only` restricts the comparison to some collectors.
    pub async fn diff_stored(
        &self,
        since: Option<&str>,
        to: &ScanInfo,
        only: Option<&[String]>,
    ) -> Result<Report, Error> {
        let from = match since {
            Some(spec) => self.store.resolve(spec).await?,
            None => self.default_since(to).await?,
        };
        let old = self.store.load(from.id).await?;
        let new = self.store.load(to.id).await?;
        Ok(compare(&from, &old, to, &new, only))
    }

    /// The default "since" scan for `to`: the newest baseline before it, else the scan before.
    pub async fn default_since(&self, to: &ScanInfo) -> Result<ScanInfo, Error> {
        if let Some(b) = self
            .store
            .baselines()
            .await?
            .into_iter()
            .find(|b| b.id < to.id)
        {
            return Ok(b);
        }
        self.store.previous(to.id).await?.ok_or_else(|| {
            Error::Usage(format!(
                "scan {} is the first one: there is nothing earlier to compare it with",
                to.id
            ))
        })
    }

    /// The newest scan, or an error saying how to make one.
    pub async fn latest(&self) -> Result<ScanInfo, Error> {
        self.store
            .latest()
            .await?
            .ok_or(Error::Store(StoreError::Empty))
    }
}

/// For a first scan, which has nothing to compare with: which collectors could not run.
fn unavailable_warnings(snapshot: &Snapshot) -> Vec<crate::model::Warning> {
    snapshot
        .results
        .iter()
        .filter_map(|(name, o)| match o {
            crate::model::Outcome::Unavailable(why) => Some(crate::model::Warning {
                collector: name.clone(),
                message: format!("{name} unavailable: {why}"),
            }),
            _ => None,
        })
        .collect()
}

/// Pure: the report between two loaded snapshots, optionally limited to some collectors.
pub fn compare(
    from: &ScanInfo,
    old: &Snapshot,
    to: &ScanInfo,
    new: &Snapshot,
    only: Option<&[String]>,
) -> Report {
    let d = crate::diff::diff_only(old, new, only);
    Report {
        from: Some(ScanRef::from(from)),
        to: ScanRef::from(to),
        changes: d.changes,
        warnings: d.warnings,
    }
}

/// The host name of the scanned root: the kernel's for `/`, else the root's etc/hostname.
pub fn hostname(root: &std::path::Path) -> String {
    if root == std::path::Path::new("/") {
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            return h.trim().to_string();
        }
    } else if let Ok(h) = std::fs::read_to_string(root.join("etc/hostname")) {
        let h = h.trim();
        if !h.is_empty() {
            return h.to_string();
        }
    }
    "unknown".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::by_name;

    /// Regression: a scan of a subset of collectors must not make the next full scan compare
    /// the others with nothing (and so miss what changed in between).
    #[tokio::test]
    async fn a_partial_scan_does_not_hide_changes_from_the_next_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        std::fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
        let store = Store::open(&dir.path().join("d.db")).await.unwrap();
        let engine = Engine::new(store, root.clone());
        let both = vec![
            by_name("check_groups").unwrap(),
            by_name("lsb_version").unwrap(),
        ];
        let quiet: ProgressFn = Arc::new(|_| {});
        engine
            .scan(None, both.clone(), quiet.clone())
            .await
            .unwrap();

        std::fs::write(root.join("etc/group"), "root:x:0:\nvboxusers:x:130:\n").unwrap();
        let partial = engine
            .scan(None, vec![by_name("lsb_version").unwrap()], quiet.clone())
            .await
            .unwrap();
        assert!(partial.report.changes.is_empty());
        assert!(
            partial.report.warnings.is_empty(),
            "{:?}",
            partial.report.warnings
        );

        let full = engine.scan(None, both, quiet).await.unwrap();
        let keys: Vec<_> = full.report.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["vboxusers"], "{:?}", full.report);
        assert!(
            full.report.warnings.is_empty(),
            "{:?}",
            full.report.warnings
        );
        assert_eq!(full.report.from.unwrap().id, partial.info.id);
    }
}

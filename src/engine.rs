//! The operations both front ends offer: scan (and store), baseline, diff. `dawgctl --local`
//! calls them in-process; the daemon calls them from its scheduler and API handlers.
//!
//! The engine owns the glue only: scanning is [`crate::scan`], storage [`crate::store`],
//! comparison [`crate::diff`]. Scans run on blocking threads, off the async runtime.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::collectors::{COLLECTORS, Collector, Registry};
use crate::error::{Error, StoreError};
use crate::host::Host;
use crate::hostfs::digests::DigestCache;
use crate::hostfs::{HashCache, Identity};
use crate::model::{Change, ChangeKind, Fields, Outcome, Snapshot, Warning};
use crate::report::{Report, ScanRef};
use crate::scan::{self, Progress, ScanOptions};
use crate::store::{self, NewScan, ScanInfo, Store};

mod between;
mod digests;
mod history;

pub use history::OUTAGE_KEY;
use history::{Earlier, unavailable_warnings};

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
    /// The severity and ignore rules every report is judged by.
    pub rules: Arc<crate::rules::Rules>,
    /// The checks a scan may run, the configured watch trees and the default set: it selects,
    /// orders and names them.
    pub registry: Registry,
    /// The digests the last scan computed, by file identity, so the next scan reads only files
    /// that changed (shared by clones: the daemon's scans all go through one engine).
    hashes: Arc<std::sync::Mutex<HashMap<Identity, String>>>,
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
    /// Collectors that could not run in this scan (recorded as unavailable), by name.
    pub unavailable: Vec<String>,
    /// Files read and hashed by the tree collectors in this scan.
    pub files_hashed: u64,
    /// Files whose digest was carried over from the previous scan (metadata unchanged).
    pub files_carried: u64,
    /// How long each collector ran (see [`crate::scan::ScanOutput::timings`]).
    pub timings: Vec<(&'static str, std::time::Duration)>,
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
            rules: crate::rules::Rules::builtin(),
            registry: Registry::default(),
            hashes: Arc::default(),
        }
    }

    /// The engine `config` describes: its root, scan options (timeouts, `max_hash_mib`,
    /// `rehash_every`), retention, rules and ignores, watch trees and default collectors. The
    /// daemon and `dawgctl --local` both build their engine here, so a scan judges, walks and
    /// prunes alike whichever ran it (`--local` then applies its flags). The watch trees'
    /// collectors are made here: call it once per loaded configuration.
    pub fn from_config(store: Store, config: &crate::config::Config) -> Result<Self, Error> {
        let mut engine = Engine::new(store, config.root.clone());
        engine.options = config.scan_options();
        engine.retention = config.retention;
        engine.registry = Registry::new(
            COLLECTORS,
            config.watch_collectors().map_err(Error::Usage)?,
            config.collector_names(),
        );
        engine.rules = Arc::new(config.rules(&engine.registry).map_err(Error::Usage)?);
        Ok(engine)
    }

    /// The collectors `names` selects (see [`Registry::select`]).
    pub fn select(&self, names: &[String]) -> Result<Vec<&'static dyn Collector>, String> {
        self.registry.select(names)
    }

    /// Scans the host now with `collectors`, stores the result (under `label`, if given), and
    /// compares it with the scan before it, restricted to the collectors that ran.
    pub async fn scan(
        &self,
        label: Option<String>,
        collectors: Vec<&'static dyn Collector>,
        progress: ProgressFn,
    ) -> Result<ScanResult, Error> {
        self.scan_triggered(label, collectors, progress, "request")
            .await
    }

    /// [`Engine::scan`], recording what started it (`trigger`: one of the names of the
    /// daemon's `Trigger`). The report includes the items seen between the
    /// scans that this one no longer has ([`crate::between`]).
    pub async fn scan_triggered(
        &self,
        label: Option<String>,
        collectors: Vec<&'static dyn Collector>,
        progress: ProgressFn,
        trigger: &str,
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
        let key = self.store.fingerprint_key().await?;
        let previous = std::mem::take(&mut *self.hashes.lock().unwrap_or_else(|p| p.into_inner()));
        let cache = Arc::new(HashCache::new(previous));
        let carried = self.carried_digests(&collectors, started_at).await?;
        let host = Arc::new(
            Host::new(self.root.clone())
                .with_hashing(self.options.max_hash, cache.clone())
                .with_max_items(self.options.max_items)
                .with_secret(key)
                .with_digests(carried.caches),
        );
        let scanned = host.clone();
        let options = self.options.clone();
        // If this future is dropped (the daemon abandons the scan at shutdown), the collectors
        // still running stop at their next check instead of running on.
        let _cancel_on_drop = CancelOnDrop(host.cancel_flag());
        let out =
            tokio::task::spawn_blocking(move || scan::run(host, &collectors, &options, &*progress))
                .await
                .map_err(|e| Error::Internal(format!("scan thread failed: {e}")))?;
        *self.hashes.lock().unwrap_or_else(|p| p.into_inner()) = cache.take_current();
        let finished_at = Utc::now();
        let meta = NewScan {
            label,
            started_at,
            finished_at,
            hostname: hostname(&self.root),
            root: self.root.display().to_string(),
            trigger: Some(trigger.to_string()),
        };
        // A changed output is stored as a delta against this collector's output in the scan
        // before, and compared with the output of the scan before in which it worked: both
        // read that output item by item beside the new one, keeping only what differs (see
        // `store::stream`), so a million-item output is never held twice.
        let info = self.store.save(&meta, &out.snapshot).await?;
        let names: Vec<String> = out.snapshot.results.keys().cloned().collect();
        let earlier = self
            .earlier_outcomes(info.id, &names, &out.snapshot)
            .await?;
        let starts = match &earlier {
            Some(e) => self.window_starts(&e.base).await?,
            None => BTreeMap::new(),
        };
        let mut report = report_against(earlier, &info, &out.snapshot, &self.rules, &self.registry);
        if report.from.is_some() {
            self.between(&starts, &info, &out.snapshot, &mut report.changes)
                .await?;
        }
        if report.from.is_some() {
            self.store
                .set_summary(info.id, report.changes.len(), report.warnings.len())
                .await?;
        }
        if self.retention > 0 {
            self.store.prune(self.retention).await?;
            self.store.prune_observations().await?;
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
        let unavailable = out
            .snapshot
            .results
            .iter()
            .filter(|(_, o)| matches!(o, crate::model::Outcome::Unavailable(_)))
            .map(|(n, _)| n.clone())
            .collect();
        let worked: Vec<String> = out
            .snapshot
            .results
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Items(_)))
            .map(|(n, _)| n.clone())
            .collect();
        // The snapshot goes before the digests are encoded: with a million-file tree both are
        // large, and only one need be in memory at a time.
        let (denied, elapsed, timings) = (out.denied, out.elapsed, out.timings);
        drop(out.snapshot);
        // glibc keeps freed small blocks resident: without this, the digests' 49 MB per million
        // files would come on top of the freed snapshot's pages (343 MB peak measured for a
        // 1M-file re-scan, instead of the walk's 277 MB).
        release_freed_memory();
        let digest_counts = self
            .keep_digests(&scanned, &worked, &carried.rehashed_at, started_at)
            .await;
        drop(scanned);
        Ok(ScanResult {
            info: self.store.get(info.id).await?,
            report,
            items,
            denied,
            elapsed,
            unavailable,
            files_hashed: digest_counts.0,
            files_carried: digest_counts.1,
            timings,
        })
    }

    /// The report a stored scan got when it was made, computed again (as [`Engine::scan`]
    /// computes it, against the scans before it). Used to mail scans after the fact (see
    /// `mail::report_unreported`): a scan `dawgctl --local` stored, or one the daemon
    /// stored just before it stopped. Loads the whole scan.
    pub async fn report_stored(&self, to: &ScanInfo) -> Result<StoredReport, Error> {
        let snapshot = self.store.load(to.id).await?;
        let names: Vec<String> = snapshot.results.keys().cloned().collect();
        let earlier = self.earlier_outcomes(to.id, &names, &snapshot).await?;
        let starts = match &earlier {
            Some(e) => self.window_starts(&e.base).await?,
            None => BTreeMap::new(),
        };
        let items = earlier.is_none().then(|| {
            snapshot
                .results
                .values()
                .map(|o| match o {
                    crate::model::Outcome::Items(v) => v.len(),
                    _ => 0,
                })
                .sum()
        });
        let mut report = report_against(earlier, to, &snapshot, &self.rules, &self.registry);
        if report.from.is_some() {
            self.between(&starts, to, &snapshot, &mut report.changes)
                .await?;
        }
        Ok(StoredReport { report, items })
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
        let mut report = compare(&from, &old, to, &new, only, &self.rules, &self.registry);
        if from.started_at < to.started_at {
            self.between_stored(&from, to, &new, only, &mut report.changes)
                .await?;
        }
        Ok(report)
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

/// Sets a scan's cancel flag when dropped.
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The report of scan `to` (its `snapshot`) against what came before it, or for a first scan
/// (`earlier` is `None`) the collectors that could not run.
fn report_against(
    earlier: Option<Earlier>,
    to: &ScanInfo,
    snapshot: &Snapshot,
    rules: &crate::rules::Rules,
    registry: &Registry,
) -> Report {
    match earlier {
        Some(earlier) => {
            let mut report = compare(
                &earlier.prev,
                &earlier.old,
                to,
                &earlier.new,
                Some(&earlier.compare),
                rules,
                registry,
            );
            report.changes.extend(earlier.outages(snapshot, rules));
            // The gap warning says more than the diff's "not compared" for the same collector.
            let gaps = earlier.gap_warnings(snapshot);
            report
                .warnings
                .retain(|w| !gaps.iter().any(|g| g.collector == w.collector));
            report.warnings.extend(gaps);
            report
        }
        None => Report {
            from: None,
            to: ScanRef::from(to),
            changes: vec![],
            warnings: unavailable_warnings(snapshot),
            ignored: 0,
        },
    }
}

/// Pure: the report between two loaded snapshots, optionally limited to some collectors, judged
/// by `rules` and named by `registry`.
pub fn compare(
    from: &ScanInfo,
    old: &Snapshot,
    to: &ScanInfo,
    new: &Snapshot,
    only: Option<&[String]>,
    rules: &crate::rules::Rules,
    registry: &Registry,
) -> Report {
    let d = crate::diff::diff_only(old, new, only, rules, registry);
    Report {
        from: Some(ScanRef::from(from)),
        to: ScanRef::from(to),
        changes: d.changes,
        warnings: d.warnings,
        ignored: d.ignored,
    }
}

/// Returns freed heap pages to the system (glibc keeps them otherwise).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The host name of the scanned root: the kernel's for `/`, else the root's etc/hostname
/// (control characters escaped: an image's etc/hostname reaches terminals and mail).
pub fn hostname(root: &std::path::Path) -> String {
    if root == std::path::Path::new("/") {
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            return crate::host::escape_bytes(h.trim().as_bytes());
        }
    } else if let Ok(h) = Host::new(root).read_bytes("/etc/hostname") {
        // Through the host: an image's etc/hostname -> /dev/zero must not be read forever.
        let h = String::from_utf8_lossy(&h);
        let h = h.trim();
        if !h.is_empty() {
            return crate::host::escape_bytes(h.as_bytes());
        }
    }
    "unknown".to_string()
}

#[cfg(test)]
mod tests;

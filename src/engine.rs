//! The operations both front ends offer: scan (and store), baseline, diff. `dawgctl --local`
//! calls them in-process; the daemon calls them from its scheduler and API handlers.
//!
//! The engine owns the glue only: scanning is [`crate::scan`], storage [`crate::store`],
//! comparison [`crate::diff`]. Scans run on blocking threads, off the async runtime.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::collectors::Collector;
use crate::error::{Error, StoreError};
use crate::host::Host;
use crate::hostfs::digests::DigestCache;
use crate::hostfs::{HashCache, Identity};
use crate::model::{Change, ChangeKind, Fields, Outcome, Snapshot, Warning};
use crate::report::{Report, ScanRef};
use crate::scan::{self, Progress, ScanOptions};
use crate::store::{self, NewScan, ScanInfo, Store};

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
    /// The configured watch trees' collectors (see [`crate::collectors::watch`]).
    pub watches: Vec<&'static dyn Collector>,
    /// The collectors a scan that names none runs (the config's `collectors`; empty: the
    /// registry's default set), every watch tree besides.
    pub collectors: Vec<String>,
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
            watches: Vec::new(),
            collectors: Vec::new(),
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
        engine.rules = Arc::new(config.rules().map_err(Error::Usage)?);
        engine.watches = config.watch_collectors().map_err(Error::Usage)?;
        engine.collectors = config.collector_names();
        Ok(engine)
    }

    /// The collectors `names` selects, the watch trees included (see
    /// [`crate::collectors::select_with`]); with no names, [`Engine::collectors`] and every
    /// watch tree.
    pub fn select(&self, names: &[String]) -> Result<Vec<&'static dyn Collector>, String> {
        if !names.is_empty() || self.collectors.is_empty() {
            return crate::collectors::select_with(names, &self.watches);
        }
        let mut out = crate::collectors::select_with(&self.collectors, &self.watches)?;
        for w in &self.watches {
            if !out.iter().any(|c| c.name() == w.name()) {
                out.push(*w);
            }
        }
        Ok(out)
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
        let report = report_against(earlier, &info, &out.snapshot, &self.rules);
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

    /// The digests the selected collectors carry over from their last scans, except for a
    /// collector whose full re-hash is due (`rehash_every`): it starts empty and reads every
    /// file. A row that cannot be read is logged and treated the same way.
    async fn carried_digests(
        &self,
        collectors: &[&'static dyn Collector],
        now: DateTime<Utc>,
    ) -> Result<Carried, Error> {
        let mut out = Carried::default();
        let now_ms = now.timestamp_millis();
        for c in collectors {
            let Some(row) = self.store.digests(c.name()).await? else {
                continue;
            };
            let due = self.options.rehash_every.is_some_and(|every| {
                now_ms.saturating_sub(row.rehashed_at) >= every.as_millis() as i64
            });
            if due {
                tracing::info!("{}: full re-hash due (rehash_every)", c.name());
                continue;
            }
            match DigestCache::decode(&row.chunks) {
                Ok(cache) => {
                    out.caches.insert(c.name().to_string(), Arc::new(cache));
                    out.rehashed_at
                        .insert(c.name().to_string(), row.rehashed_at);
                }
                Err(e) => tracing::warn!(
                    "{}: the carried-over digests are unreadable ({e}); every file is read again",
                    c.name()
                ),
            }
        }
        // The rows read (as large as the digests) are freed: give their pages back before the
        // walk, whose threads allocate elsewhere and would not reuse them.
        release_freed_memory();
        Ok(out)
    }

    /// Stores, for each collector that worked in this scan, the digests it computed or reused,
    /// for the next scan; a collector that could not run keeps its old row. Failing to store
    /// them costs the next scan time, not correctness: logged, not an error. Returns the files
    /// hashed and the files whose digest was carried over.
    async fn keep_digests(
        &self,
        host: &Host,
        worked: &[String],
        rehashed_at: &HashMap<String, i64>,
        started_at: DateTime<Utc>,
    ) -> (u64, u64) {
        let mut counts = (0, 0);
        for (name, cache) in host.take_digests() {
            let (hashed, reused) = cache.counts();
            counts.0 += hashed;
            counts.1 += reused;
            if !worked.contains(&name) {
                continue;
            }
            let row = store::StoredDigests {
                // Carried over: the last full re-hash stays; started empty: this scan was one.
                rehashed_at: rehashed_at
                    .get(&name)
                    .copied()
                    .unwrap_or(started_at.timestamp_millis()),
                chunks: cache.encode(),
            };
            // What the previous scan knew is no longer needed: freed before the rows are written.
            drop(cache);
            if let Err(e) = self.store.set_digests(&name, &row).await {
                tracing::warn!("{name}: cannot store the digests for the next scan: {e}");
            }
        }
        counts
    }

    /// What the collectors in `names` found last before scan `id`: for each, the output of
    /// the newest earlier scan in which it WORKED, however far back — so a change made while a
    /// collector was unavailable (or not run, in a scan of a subset) is reported by the first
    /// scan in which it works again, never lost. Also notes since when each was not compared.
    ///
    /// Only manifests (content hashes) are read to find them; the content is read only for
    /// collectors whose output differs from scan `id`'s (`new`), so an unchanged host costs no
    /// load and no diff, and then item by item, keeping only the items that differ.
    async fn earlier_outcomes(
        &self,
        id: i64,
        names: &[String],
        new: &Snapshot,
    ) -> Result<Option<Earlier>, Error> {
        let Some(prev) = self.store.previous(id).await? else {
            return Ok(None);
        };
        let history = self.store.history_before(id).await?;
        let mut manifests: HashMap<String, store::Manifest> = HashMap::new();
        let mut found = store::Manifest::new();
        let mut base: BTreeMap<String, (i64, DateTime<Utc>)> = BTreeMap::new();
        let mut gaps: BTreeMap<String, Gap> = BTreeMap::new();
        let mut pending: Vec<&String> = names.iter().collect();
        for (scan, finished, hash) in &history {
            if pending.is_empty() {
                break;
            }
            if !manifests.contains_key(hash) {
                let m = self.store.manifest_by_hash(*scan, hash).await?;
                manifests.insert(hash.clone(), m);
            }
            let m = &manifests[hash];
            pending.retain(|name| match m.get(*name) {
                Some(entry @ store::ManifestEntry::Blob(_)) => {
                    found.insert((*name).clone(), entry.clone());
                    base.insert((*name).clone(), (*scan, *finished));
                    false
                }
                Some(store::ManifestEntry::Unavailable(why)) => {
                    // Going back in time: each one found is older.
                    let gap = gaps.entry((*name).clone()).or_insert_with(|| Gap {
                        scans: 0,
                        why: why.clone(),
                    });
                    gap.scans += 1;
                    found
                        .entry((*name).clone())
                        .or_insert_with(|| store::ManifestEntry::Unavailable(why.clone()));
                    true
                }
                None => true, // not run in that scan (a subset): look further back
            });
        }
        let now = self.store.manifest(id).await?;
        let unchanged = |n: &String| {
            matches!(found.get(n), Some(store::ManifestEntry::Blob(_)))
                && found.get(n) == now.get(n)
        };
        let compare: Vec<String> = names.iter().filter(|n| !unchanged(n)).cloned().collect();
        found.retain(|n, _| compare.contains(n));
        let (old, new) = self.store.load_differing(prev.id, found, new).await?;
        Ok(Some(Earlier {
            prev,
            old,
            new,
            compare,
            base,
            gaps,
        }))
    }

    /// The report a stored scan got when it was made, computed again (as [`Engine::scan`]
    /// computes it, against the scans before it). Used to mail scans after the fact (see
    /// [`crate::mail::report_unreported`]): a scan `dawgctl --local` stored, or one the daemon
    /// stored just before it stopped. Loads the whole scan.
    pub async fn report_stored(&self, to: &ScanInfo) -> Result<StoredReport, Error> {
        let snapshot = self.store.load(to.id).await?;
        let names: Vec<String> = snapshot.results.keys().cloned().collect();
        let earlier = self.earlier_outcomes(to.id, &names, &snapshot).await?;
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
        Ok(StoredReport {
            report: report_against(earlier, to, &snapshot, &self.rules),
            items,
        })
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
        Ok(compare(&from, &old, to, &new, only, &self.rules))
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

/// What [`Engine::carried_digests`] found: caches by collector, and when each was last
/// re-hashed in full.
#[derive(Default)]
struct Carried {
    caches: HashMap<String, Arc<DigestCache>>,
    rehashed_at: HashMap<String, i64>,
}

/// Sets a scan's cancel flag when dropped.
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A run of scans in which a collector could not run, back from the scan being compared.
#[derive(Debug, Clone)]
struct Gap {
    /// How many scans in a row it was unavailable.
    scans: usize,
    /// Why, in the newest of them.
    why: String,
}

/// What a new scan is compared with (see [`Engine::earlier_outcomes`]).
struct Earlier {
    /// The scan just before the new one.
    prev: ScanInfo,
    /// Per collector, the output of the newest scan in which it worked (or, if it never
    /// did, its newest failure), for the collectors whose output differs: of their items,
    /// only those that differ from the new scan's (see [`store::Store::load_differing`]).
    old: Snapshot,
    /// The new scan's items that differ from `old`'s, by collector (every other outcome as
    /// it is).
    new: Snapshot,
    /// The collectors to compare.
    compare: Vec<String>,
    /// Per collector, the newest scan in which it worked, and when.
    base: BTreeMap<String, (i64, DateTime<Utc>)>,
    /// Per collector, the scans right before the new one in which it could not run.
    gaps: BTreeMap<String, Gap>,
}

/// The pseudo-key of an outage or recovery change (no item has a key in brackets).
pub const OUTAGE_KEY: &str = "(collector)";

impl Earlier {
    /// An outage is itself a change worth hearing about: a collector that worked in the scan
    /// before and could not run now (what it watches is blind until it recovers), and its
    /// recovery (what changed meanwhile follows in the same report). The severity is the
    /// rules' (`outage.*` and `recovery.*` in dist/config/rules.toml, keyed [`OUTAGE_KEY`]).
    /// A continuing outage is a warning only.
    fn outages(&self, new: &Snapshot, rules: &crate::rules::Rules) -> Vec<Change> {
        let mut out = Vec::new();
        for (name, outcome) in &new.results {
            let worked_before = self.base.contains_key(name) && !self.gaps.contains_key(name);
            match outcome {
                Outcome::Unavailable(why) if worked_before => {
                    let mut after = Fields::new();
                    after.insert("reason", why);
                    out.push(Change {
                        collector: name.clone(),
                        kind: ChangeKind::Added,
                        key: OUTAGE_KEY.into(),
                        message: format!(
                            "collector {name} stopped working: {why} (its changes are not seen \
                             until it works again)"
                        ),
                        severity: Default::default(),
                        rule: None,
                        before: None,
                        after: Some(after),
                    });
                }
                Outcome::Items(_) => {
                    let (Some(gap), Some((scan, at))) = (self.gaps.get(name), self.base.get(name))
                    else {
                        continue;
                    };
                    let mut before = Fields::new();
                    before.insert("reason", &gap.why);
                    out.push(Change {
                        collector: name.clone(),
                        kind: ChangeKind::Removed,
                        key: OUTAGE_KEY.into(),
                        message: format!(
                            "collector {name} works again after failing in the last {} stored \
                             scan{}: compared with scan {scan} ({}), its last good one",
                            gap.scans,
                            if gap.scans == 1 { "" } else { "s" },
                            at.format("%Y-%m-%d %H:%M UTC"),
                        ),
                        severity: Default::default(),
                        rule: None,
                        before: Some(before),
                        after: None,
                    });
                }
                _ => {}
            }
        }
        for change in &mut out {
            let subject = crate::rules::Subject {
                collector: &change.collector,
                kind: change.kind,
                key: &change.key,
                old: change.before.as_ref(),
                new: change.after.as_ref(),
            };
            let (severity, rule) = rules.judge(&subject);
            change.rule = rule.map(str::to_string);
            change.severity = severity;
        }
        out
    }

    /// "Not compared since": for a collector still unavailable that worked in some earlier scan
    /// but not in the previous one, say since when it is blind.
    fn gap_warnings(&self, new: &Snapshot) -> Vec<Warning> {
        let mut out = Vec::new();
        for (name, gap) in &self.gaps {
            if !matches!(new.results.get(name), Some(Outcome::Unavailable(_))) {
                continue;
            }
            // A collector that never worked here (no systemd on this host) has the diff's own
            // "not compared" line; repeating it every scan would be noise.
            let Some((scan, at)) = self.base.get(name) else {
                continue;
            };
            let since = format!(
                "not compared since scan {scan} ({}), the last in which it worked",
                at.format("%Y-%m-%d %H:%M UTC")
            );
            out.push(Warning {
                collector: name.clone(),
                message: format!(
                    "{name} {since}; unavailable in the last {} stored scan{} and this one ({})",
                    gap.scans,
                    if gap.scans == 1 { "" } else { "s" },
                    gap.why,
                ),
            });
        }
        out
    }
}

/// The report of scan `to` (its `snapshot`) against what came before it, or for a first scan
/// (`earlier` is `None`) the collectors that could not run.
fn report_against(
    earlier: Option<Earlier>,
    to: &ScanInfo,
    snapshot: &Snapshot,
    rules: &crate::rules::Rules,
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
    rules: &crate::rules::Rules,
) -> Report {
    let d = crate::diff::diff_only(old, new, only, rules);
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
mod tests {
    use super::*;
    use crate::collectors::by_name;

    /// A fake root with `etc/group` and `etc/os-release`, and an engine over a new database
    /// beside it.
    async fn fixture() -> (tempfile::TempDir, PathBuf, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        std::fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
        let store = Store::open(&dir.path().join("d.db")).await.unwrap();
        let engine = Engine::new(store, root.clone());
        (dir, root, engine)
    }

    /// Digests carry over between scans through the database, and `rehash_every` makes a scan
    /// read every file again; a subset scan without the collector keeps its row.
    #[tokio::test]
    async fn digests_carry_over_until_a_full_rehash_is_due() {
        let (_dir, root, mut engine) = fixture().await;
        for n in 0..5 {
            std::fs::write(root.join(format!("etc/f{n}")), format!("{n}")).unwrap();
        }
        let etc = || vec![by_name("check_etc").unwrap()];
        let quiet: ProgressFn = Arc::new(|_| {});
        let first = engine.scan(None, etc(), quiet.clone()).await.unwrap();
        assert_eq!((first.files_hashed, first.files_carried), (7, 0));
        let second = engine.scan(None, etc(), quiet.clone()).await.unwrap();
        assert_eq!((second.files_hashed, second.files_carried), (0, 7));
        let other = vec![by_name("lsb_version").unwrap()];
        engine.scan(None, other, quiet.clone()).await.unwrap();
        let row = engine.store.digests("check_etc").await.unwrap().unwrap();
        // The last full re-hash was long ago: the next scan reads everything.
        let old = store::StoredDigests {
            rehashed_at: row.rehashed_at - 8 * 24 * 3600 * 1000,
            ..row
        };
        engine.store.set_digests("check_etc", &old).await.unwrap();
        let due = engine.scan(None, etc(), quiet.clone()).await.unwrap();
        assert_eq!((due.files_hashed, due.files_carried), (7, 0));
        assert!(due.report.changes.is_empty(), "{:?}", due.report.changes);
        let after = engine.store.digests("check_etc").await.unwrap().unwrap();
        assert!(
            after.rehashed_at > old.rehashed_at,
            "the re-hash is recorded"
        );
        // Never forced when off; a damaged row only costs a full read.
        engine.options.rehash_every = None;
        engine
            .store
            .set_digests(
                "check_etc",
                &store::StoredDigests {
                    rehashed_at: 0,
                    ..after
                },
            )
            .await
            .unwrap();
        let off = engine.scan(None, etc(), quiet.clone()).await.unwrap();
        assert_eq!(off.files_carried, 7);
        let junk = store::StoredDigests {
            rehashed_at: 0,
            chunks: vec![b"junk".to_vec()],
        };
        engine.store.set_digests("check_etc", &junk).await.unwrap();
        let damaged = engine.scan(None, etc(), quiet).await.unwrap();
        assert_eq!((damaged.files_hashed, damaged.files_carried), (7, 0));
    }

    /// Regression: a scan of a subset of collectors must not make the next full scan compare
    /// the others with nothing (and so miss what changed in between).
    #[tokio::test]
    async fn a_partial_scan_does_not_hide_changes_from_the_next_full_scan() {
        let (_dir, root, engine) = fixture().await;
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

    /// Regression (issue 8, item 1): a change made while a collector was unavailable was never
    /// reported (the next scan compared with the failed outcome). Now it is compared with the
    /// newest scan in which it worked, however many failed scans and prunes lie between; the
    /// outage and the recovery are changes of their own (item 8).
    #[tokio::test]
    async fn a_change_made_during_an_outage_is_reported_when_the_collector_recovers() {
        let (_dir, root, mut engine) = fixture().await;
        engine.retention = 2;
        let groups = vec![by_name("check_groups").unwrap()];
        let quiet: ProgressFn = Arc::new(|_| {});
        let good = engine
            .scan(None, groups.clone(), quiet.clone())
            .await
            .unwrap();

        // The source breaks: one outage change, high.
        std::fs::remove_file(root.join("etc/group")).unwrap();
        let broke = engine
            .scan(None, groups.clone(), quiet.clone())
            .await
            .unwrap();
        let c = &broke.report.changes;
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].key.as_str(), c[0].kind),
            (OUTAGE_KEY, ChangeKind::Added)
        );
        assert_eq!(c[0].severity, crate::model::Severity::High);

        // Still broken, for longer than the retention: warnings only, saying since when.
        for _ in 0..4 {
            let still = engine
                .scan(None, groups.clone(), quiet.clone())
                .await
                .unwrap();
            assert!(still.report.changes.is_empty(), "{:?}", still.report);
            assert!(
                still.report.warnings.iter().any(|w| w
                    .message
                    .contains(&format!("not compared since scan {}", good.info.id))),
                "{:?}",
                still.report.warnings
            );
        }
        assert!(
            engine.store.get(good.info.id).await.is_ok(),
            "the last good scan must survive pruning"
        );

        // Meanwhile a group was added; the source comes back.
        std::fs::write(root.join("etc/group"), "root:x:0:\nsneaky:x:0:\n").unwrap();
        let back = engine.scan(None, groups, quiet).await.unwrap();
        let keys: Vec<(&str, ChangeKind)> = back
            .report
            .changes
            .iter()
            .map(|c| (c.key.as_str(), c.kind))
            .collect();
        assert_eq!(
            keys,
            [
                ("sneaky", ChangeKind::Added),
                (OUTAGE_KEY, ChangeKind::Removed)
            ],
            "{:?}",
            back.report
        );
        let msg = &back.report.changes[1].message;
        assert!(
            msg.contains(&format!("compared with scan {}", good.info.id)),
            "{msg}"
        );
    }

    /// A stored scan's report, computed again later (to mail a scan the daemon did not make),
    /// is the one the scan got: changes, outages, recoveries and warnings alike.
    #[tokio::test]
    async fn a_stored_scan_gets_its_report_again() {
        let (_dir, root, engine) = fixture().await;
        let both = vec![
            by_name("check_groups").unwrap(),
            by_name("lsb_version").unwrap(),
        ];
        let quiet: ProgressFn = Arc::new(|_| {});
        let mut made = vec![
            engine
                .scan(None, both.clone(), quiet.clone())
                .await
                .unwrap(),
        ];
        std::fs::remove_file(root.join("etc/group")).unwrap();
        made.push(
            engine
                .scan(None, both.clone(), quiet.clone())
                .await
                .unwrap(),
        );
        std::fs::write(root.join("etc/group"), "root:x:0:\nsneaky:x:0:\n").unwrap();
        std::fs::write(root.join("etc/os-release"), "ID=ubuntu\n").unwrap();
        made.push(engine.scan(None, both, quiet).await.unwrap());
        assert!(!made[1].report.changes.is_empty() && made[2].report.changes.len() >= 3);

        for m in &made {
            let again = engine.report_stored(&m.info).await.unwrap();
            assert_eq!(again.report, m.report);
            let first = m.report.from.is_none();
            assert_eq!(again.items, first.then_some(m.items));
        }
    }
}

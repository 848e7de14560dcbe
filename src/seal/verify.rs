//! `dawgctl verify`: checks a database (a copy, on any machine) against the verification key
//! and checkpoints that left the host. Every stored scan against its log entry and its content
//! against its hashes; the log's leaves against their entries; the tree against every seal and
//! every given checkpoint (RFC 6962 consistency proofs); every seal against its epoch's key;
//! epochs, sizes and times never going backwards; and that sealing did not stop.
//!
//! Exit status (a bit mask, in the spirit of AIDE's; 0 like `git fsck` when all is well):
//! 0 intact; 1 content altered; 2 history removed or truncated; 4 a seal invalid or missing,
//! a checkpoint not matching; 8 sealing stopped; 16 could not verify (no database, a bad
//! key or checkpoint).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::StoreError;
use crate::ledger::checkpoint::{Checkpoint, time_text};
use crate::ledger::entry::Entry;
use crate::ledger::key::EpochKey;
use crate::ledger::merkle::{self, Frontier, Hash};
use crate::sources::common::sha256_bytes;
use crate::store::{Manifest, Store, content_hash};

/// What a finding is about (its bit in the exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Altered = 1,
    Removed = 2,
    Seal = 4,
    Stopped = 8,
}

/// The exit status of a verification that could not run.
pub const EXIT_ERROR: u8 = 16;

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub message: String,
}

/// What to verify against.
#[derive(Debug, Default)]
pub struct Options {
    /// Verification keys (one per generation that matters).
    pub keys: Vec<EpochKey>,
    /// Checkpoints taken from mail or logs.
    pub checkpoints: Vec<Checkpoint>,
    /// "Now", in unix ms, for "sealing stopped" (a copy verified later passes its time).
    pub as_of: i64,
}

/// The verdict.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Things worth saying that are not failures.
    pub notes: Vec<String>,
    pub scans: usize,
    pub entries: u64,
    pub seals: usize,
    /// Bytes of the largest consistency proof checked.
    pub proof_bytes: usize,
}

impl Outcome {
    /// The exit status: the bits of the kinds found.
    pub fn exit_code(&self) -> u8 {
        self.findings.iter().fold(0, |acc, f| acc | f.kind as u8)
    }

    fn add(&mut self, kind: Kind, message: String) {
        self.findings.push(Finding { kind, message });
    }
}

/// "scan 5" or "scans 5–9".
fn span(lo: i64, hi: i64) -> String {
    if lo == hi {
        format!("scan {lo}")
    } else {
        format!("scans {lo}–{hi}")
    }
}

/// Verifies `store` (opened read-only) with `opts`.
pub async fn verify(store: &Store, opts: &Options) -> Result<Outcome, StoreError> {
    let mut out = Outcome::default();
    let rows = store.log_rows().await?;
    out.entries = rows.len() as u64;

    // The leaves, and the entries they commit to.
    let mut leaves: Vec<Hash> = Vec::with_capacity(rows.len());
    let mut logged: HashMap<i64, Entry> = HashMap::new();
    let mut pruned: BTreeSet<i64> = BTreeSet::new();
    let mut scan_at_leaf: Vec<Option<i64>> = Vec::with_capacity(rows.len());
    let mut inits: Vec<(u64, u64, i64)> = Vec::new();
    // Each label's last logged place (`None`: removed).
    let mut labels: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for row in &rows {
        if row.seq != leaves.len() as i64 {
            out.add(
                Kind::Removed,
                format!(
                    "log entries {}–{} removed (the log was cut)",
                    leaves.len(),
                    row.seq - 1
                ),
            );
            break;
        }
        let Ok(leaf) = Hash::try_from(row.leaf.as_slice()) else {
            out.add(
                Kind::Altered,
                format!("log entry {} altered (its leaf hash is damaged)", row.seq),
            );
            break;
        };
        leaves.push(leaf);
        scan_at_leaf.push(None);
        let Some(bytes) = &row.entry else { continue };
        if merkle::leaf_hash(bytes) != leaf {
            out.add(
                Kind::Altered,
                format!(
                    "log entry {} altered (it no longer matches its leaf)",
                    row.seq
                ),
            );
            continue;
        }
        match Entry::from_bytes(bytes) {
            Ok(e) => match &e {
                Entry::Scan { scan, .. } => {
                    *scan_at_leaf.last_mut().expect("pushed") = Some(*scan);
                    logged.insert(*scan, e.clone());
                }
                Entry::Prune { scans, .. } => {
                    for (lo, hi) in scans {
                        pruned.extend(*lo..=*hi);
                    }
                }
                Entry::Init {
                    generation,
                    epoch,
                    at,
                } => inits.push((*generation, *epoch, *at)),
                Entry::Label { label, scan, .. } => {
                    labels.insert(label.clone(), *scan);
                }
                _ => {}
            },
            Err(e) => out.add(
                Kind::Altered,
                format!("log entry {} altered ({e})", row.seq),
            ),
        }
    }
    // Scans whose entries were emptied by pruning count as pruned even when the prune entry
    // was written by an older dawgmon.
    for row in &rows {
        if row.kind == "scan"
            && row.entry.is_none()
            && let Some(id) = row.scan_id
        {
            pruned.insert(id);
        }
    }

    check_scans(store, &logged, &pruned, &mut out).await?;
    check_labels(store, &labels, &mut out).await?;
    let seals = store.seals().await?;
    out.seals = seals.len();
    check_tree(&leaves, &scan_at_leaf, &seals, opts, &mut out);
    check_seals(&seals, &inits, opts, &mut out);
    if opts.keys.is_empty() {
        out.notes.push(
            "no --key given: this checked internal consistency only, which proves nothing \
             against root (who can rewrite the log and its seals alike); verify a copy off the \
             host with the verification key"
                .into(),
        );
    }
    Ok(out)
}

/// Every label the log knows against where the database has it: a label moved, set or removed
/// by editing the database (not through dawgmon, which logs each move) would make
/// `diff --since LABEL` compare against another past. Labels set before the log began are not
/// in it and are not judged.
async fn check_labels(
    store: &Store,
    logged: &BTreeMap<String, Option<i64>>,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    let stored: BTreeMap<String, i64> = store
        .baselines()
        .await?
        .into_iter()
        .filter_map(|s| s.label.map(|l| (l, s.id)))
        .collect();
    for (label, place) in logged {
        let now = stored.get(label).copied();
        if now != *place {
            let was = |p: Option<i64>| p.map_or("nowhere".to_string(), |id| format!("scan {id}"));
            out.add(
                Kind::Altered,
                format!(
                    "label {label:?} altered: the log puts it on {}, the database on {}",
                    was(*place),
                    was(now)
                ),
            );
        }
    }
    Ok(())
}

/// Every stored scan against its entry, its content against its hashes; entries whose scan is
/// gone without being pruned.
async fn check_scans(
    store: &Store,
    logged: &HashMap<i64, Entry>,
    pruned: &BTreeSet<i64>,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    let scans = store.scan_rows(None).await?;
    out.scans = scans.len();
    let last_logged = logged.keys().max().copied();
    let mut blobs: HashMap<String, bool> = HashMap::new();
    let mut present = BTreeSet::new();
    for row in &scans {
        present.insert(row.id);
        let mut altered: BTreeSet<String> = BTreeSet::new();
        let manifest: Option<Manifest> = match store.manifest_bytes(&row.manifest).await? {
            Some(data) => {
                if sha256_bytes(&data) != row.manifest {
                    altered.insert("manifest".into());
                }
                serde_json::from_slice(&data).ok()
            }
            None => None,
        };
        let Some(manifest) = manifest else {
            out.add(
                Kind::Altered,
                format!(
                    "scan {} altered (its manifest is missing or unreadable)",
                    row.id
                ),
            );
            continue;
        };
        for (name, e) in &manifest {
            if let crate::store::ManifestEntry::Blob(hash) = e {
                let ok = match blobs.get(hash) {
                    Some(ok) => *ok,
                    None => {
                        let ok = match store.blob_items(hash).await? {
                            Ok(items) => content_hash(&items).0 == *hash,
                            Err(_) => false,
                        };
                        blobs.insert(hash.clone(), ok);
                        ok
                    }
                };
                if !ok {
                    altered.insert(format!("collector {name}"));
                }
            }
        }
        match logged.get(&row.id) {
            Some(Entry::Scan {
                trigger,
                collectors,
                ..
            }) => {
                let now = super::scan_entry(row, trigger, &manifest);
                if let Entry::Scan {
                    collectors: ref stored_now,
                    ..
                } = now
                {
                    for name in collectors.keys().chain(stored_now.keys()) {
                        if collectors.get(name) != stored_now.get(name) {
                            altered.insert(format!("collector {name}"));
                        }
                    }
                }
                if &now != logged.get(&row.id).expect("found") && altered.is_empty() {
                    altered.insert("its times, host or root".into());
                }
                // The manifest hash itself is only a storage detail when every collector
                // still matches the log.
                if altered.len() > 1 {
                    altered.remove("manifest");
                }
            }
            _ if last_logged.is_none_or(|l| row.id > l) => {
                out.notes.push(format!(
                    "scan {} was stored after the log's last entry: not sealed yet",
                    row.id
                ));
            }
            _ => out.add(
                Kind::Altered,
                format!("scan {} is not in the log (inserted afterwards)", row.id),
            ),
        }
        if !altered.is_empty() {
            let what: Vec<String> = altered.into_iter().collect();
            out.add(
                Kind::Altered,
                format!("scan {} altered ({})", row.id, what.join(", ")),
            );
        }
    }
    let gone: Vec<i64> = {
        let mut v: Vec<i64> = logged
            .keys()
            .copied()
            .filter(|id| !present.contains(id) && !pruned.contains(id))
            .collect();
        v.sort_unstable();
        v
    };
    for (lo, hi) in crate::ledger::entry::ranges(&gone) {
        out.add(Kind::Removed, format!("{} removed", span(lo, hi)));
    }
    Ok(())
}

/// The tree against every seal and every given checkpoint.
fn check_tree(
    leaves: &[Hash],
    scan_at_leaf: &[Option<i64>],
    seals: &[Checkpoint],
    opts: &Options,
    out: &mut Outcome,
) {
    let n = leaves.len() as u64;
    let mut wanted: BTreeMap<u64, Option<Hash>> = BTreeMap::new();
    for cp in seals.iter().chain(&opts.checkpoints) {
        if cp.size <= n {
            wanted.insert(cp.size, None);
        }
    }
    let mut f = Frontier::default();
    if let Some(r) = wanted.get_mut(&0) {
        *r = Some(f.root());
    }
    for leaf in leaves {
        f.push(*leaf);
        if let Some(r) = wanted.get_mut(&f.size()) {
            *r = Some(f.root());
        }
    }
    let full = f.root();
    let last_scan = |size: u64| {
        scan_at_leaf[..size.min(n) as usize]
            .iter()
            .rev()
            .find_map(|s| *s)
            .map_or("none".to_string(), |s| s.to_string())
    };
    for cp in seals {
        match wanted.get(&cp.size).copied().flatten() {
            Some(root) if root == cp.root => {}
            Some(_) => out.add(
                Kind::Seal,
                format!(
                    "seal of epoch {} invalid (the tree of {} entries it sealed is not the log's: \
                     the history before it was rewritten)",
                    cp.epoch, cp.size
                ),
            ),
            None => out.add(
                Kind::Removed,
                format!(
                    "history truncated after scan {}, checkpoint of size {} was published \
                     (sealed at epoch {})",
                    last_scan(n),
                    cp.size,
                    cp.epoch
                ),
            ),
        }
    }
    for cp in &opts.checkpoints {
        if cp.size > n {
            out.add(
                Kind::Removed,
                format!(
                    "history truncated after scan {}, checkpoint of size {} was published",
                    last_scan(n),
                    cp.size
                ),
            );
            continue;
        }
        let proof = merkle::consistency_proof(leaves, cp.size as usize);
        out.proof_bytes = out.proof_bytes.max(proof.len() * 32);
        if !merkle::verify_consistency(cp.size, n, &cp.root, &full, &proof) {
            out.add(
                Kind::Seal,
                format!(
                    "checkpoint of epoch {} (size {}) does not match the log: the history before \
                     it was rewritten",
                    cp.epoch, cp.size
                ),
            );
        }
        if let Some(s) = seals.iter().find(|s| s.epoch == cp.epoch)
            && s != cp
        {
            out.add(
                Kind::Seal,
                format!(
                    "seal of epoch {} invalid (the database's differs from the checkpoint that \
                     was published)",
                    cp.epoch
                ),
            );
        }
    }
}

/// Every seal (and given checkpoint) against its epoch's key; epochs without a gap from the
/// first; sizes and times never going backwards; sealing still going.
fn check_seals(seals: &[Checkpoint], inits: &[(u64, u64, i64)], opts: &Options, out: &mut Outcome) {
    // The key of each generation, evolved as the seals go (one step per epoch: linear).
    let mut keys: BTreeMap<u64, EpochKey> = opts
        .keys
        .iter()
        .map(|k| (k.generation, k.clone()))
        .collect();
    let check =
        |keys: &mut BTreeMap<u64, EpochKey>, cp: &Checkpoint, out: &mut Outcome, what: &str| {
            let Some(k) = keys.get_mut(&cp.generation) else {
                return;
            };
            match k.at(cp.epoch) {
                Some(at) => {
                    if !cp.valid_under(&at) {
                        out.add(
                            Kind::Seal,
                            format!("seal of epoch {} invalid{what}", cp.epoch),
                        );
                    }
                    *k = at;
                }
                None => out.add(
                    Kind::Seal,
                    format!(
                        "seal of epoch {} invalid{what} (before the first epoch of its key, {})",
                        cp.epoch, k.epoch
                    ),
                ),
            }
        };
    let mut prev: Option<&Checkpoint> = None;
    let mut unkeyed: BTreeMap<u64, (u64, i64)> = BTreeMap::new();
    if let (Some(first), false) = (seals.first(), opts.keys.is_empty()) {
        let start = opts
            .keys
            .iter()
            .filter(|k| k.generation == first.generation)
            .map(|k| k.epoch)
            .next();
        if let Some(start) = start.filter(|s| first.epoch > *s) {
            out.add(
                Kind::Seal,
                format!(
                    "seals of epochs {start}–{} missing (removed, or the history before epoch {} \
                     was rewritten)",
                    first.epoch - 1,
                    first.epoch
                ),
            );
        }
    }
    for cp in seals {
        check(&mut keys, cp, out, "");
        if !opts.keys.is_empty() && !opts.keys.iter().any(|k| k.generation == cp.generation) {
            unkeyed.entry(cp.generation).or_insert((cp.epoch, cp.time));
        }
        if let Some(p) = prev {
            if cp.epoch > p.epoch + 1 {
                out.add(
                    Kind::Seal,
                    format!("seals of epochs {}–{} missing", p.epoch + 1, cp.epoch - 1),
                );
            }
            if cp.size < p.size {
                out.add(
                    Kind::Removed,
                    format!(
                        "seal of epoch {} has {} entries where epoch {} had {}: the history was cut",
                        cp.epoch, cp.size, p.epoch, p.size
                    ),
                );
            }
            if cp.time < p.time {
                out.add(
                    Kind::Seal,
                    format!(
                        "seal of epoch {} goes back in time ({} after {})",
                        cp.epoch,
                        time_text(cp.time),
                        time_text(p.time)
                    ),
                );
            }
            if cp.generation < p.generation {
                out.add(
                    Kind::Seal,
                    format!(
                        "seal of epoch {} invalid (an older key generation)",
                        cp.epoch
                    ),
                );
            }
        }
        prev = Some(cp);
    }
    for (generation, (epoch, time)) in unkeyed {
        let recorded = inits.iter().any(|(g, _, _)| *g == generation);
        out.add(
            Kind::Seal,
            format!(
                "the seal was re-initialised at epoch {epoch} ({}, generation {generation}{}): \
                 seals from there on need that generation's verification key (--key); if nobody \
                 ran `dawgctl seal init --reinit` then, the host is compromised",
                time_text(time),
                if recorded {
                    ""
                } else {
                    ", and no init entry records it"
                }
            ),
        );
    }
    for cp in &opts.checkpoints {
        // From the given key each time: checkpoints come in any order.
        let mut fresh: BTreeMap<u64, EpochKey> = opts
            .keys
            .iter()
            .map(|k| (k.generation, k.clone()))
            .collect();
        check(&mut fresh, cp, out, " (a published checkpoint)");
    }
    let stale = super::EPOCH_MAX.as_millis() as i64 * 2 + 5 * 60_000;
    match seals.last() {
        Some(last) if opts.as_of - last.time > stale => out.add(
            Kind::Stopped,
            format!(
                "sealing stopped at epoch {} (last seal at {})",
                last.epoch,
                time_text(last.time)
            ),
        ),
        None => out.add(
            Kind::Stopped,
            "sealing stopped at epoch 0 (no seal at all: the history was never sealed, or its \
             seals were removed; `dawgctl seal init` starts sealing)"
                .into(),
        ),
        _ => {}
    }
}

//! The sealed history: an append-only log of everything the daemon records (scans, reports,
//! labels, pruning, seal initialisations) as the leaves of an RFC 6962 Merkle tree, and
//! checkpoints of that tree sealed with a forward-secure key: a key that evolves one way at
//! every epoch, so a root attacker who takes the host at time T holds only the keys from T on
//! and cannot seal anything earlier. The pure parts (hashing, entries, key, checkpoint) are in
//! [`crate::ledger`], below the store; here, above it, are [`init`], the [`Sealer`] the daemon
//! runs and [`verify`], which checks a database copy against the verification key and the
//! checkpoints that left the host. The scheme and its limits: docs/trust.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::Utc;

use crate::store::{ManifestEntry, Store};

pub mod verify;

use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::entry::Entry;
use crate::ledger::key::{self, EpochKey};
use crate::ledger::merkle::Frontier;

/// The longest the daemon goes without sealing: a new epoch at least this often, scan or not,
/// so a stopped daemon shows as checkpoints that stop coming.
pub const EPOCH_MAX: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The trigger written in the scan entry of a scan the daemon did not run itself (`dawgctl
/// --local`, or one stored just before a crash).
pub const TRIGGER_OTHER: &str = "local";

/// A scan's collectors as its log entry holds them: `blob:<content hash>` or
/// `unavailable:<reason>`.
pub fn entry_collectors(manifest: &crate::store::Manifest) -> BTreeMap<String, String> {
    manifest
        .iter()
        .map(|(name, e)| {
            let v = match e {
                ManifestEntry::Blob(h) => format!("blob:{h}"),
                ManifestEntry::Unavailable(why) => format!("unavailable:{why}"),
            };
            (name.clone(), v)
        })
        .collect()
}

/// What `seal init` made: the verification key (to print once), and its first checkpoint.
#[derive(Debug)]
pub struct Initialised {
    pub verification_key: String,
    pub checkpoint: Checkpoint,
}

/// Makes a seed, records the initialisation in the log, seals it, and writes the next key.
/// Refuses when a key or seals exist, unless `reinit` (which starts a new generation and is
/// itself an entry of the log).
pub async fn init(store: &Store, database: &Path, reinit: bool) -> Result<Initialised, String> {
    let path = key::key_path(database);
    let current = key::read(&path);
    let latest = store.latest_seal().await.map_err(|e| e.to_string())?;
    let exists = !matches!(current, Ok(None)) || latest.is_some();
    if exists && !reinit {
        return Err(format!(
            "the history of {} is sealed already (key {}{}): keep using it; to start a new key \
             chain run `dawgctl seal init --reinit` (recorded in the log; seals before it still \
             verify with the old verification key)",
            database.display(),
            path.display(),
            latest
                .as_ref()
                .map(|l| format!(", last seal epoch {}", l.epoch))
                .unwrap_or_default()
        ));
    }
    let known = current.ok().flatten();
    let generation = match (&known, &latest) {
        (None, None) => 0,
        _ => known
            .as_ref()
            .map_or(0, |k| k.generation + 1)
            .max(latest.as_ref().map_or(0, |l| l.generation + 1)),
    };
    let epoch = match (&known, &latest) {
        (None, None) => 0,
        _ => known
            .as_ref()
            .map_or(0, |k| k.epoch)
            .max(latest.as_ref().map_or(0, |l| l.epoch + 1)),
    };
    let seed = EpochKey::generate(generation, epoch)
        .map_err(|e| format!("cannot draw a random seed: {e}"))?;
    let now = Utc::now().timestamp_millis();
    store
        .append_log(&[(
            Entry::Init {
                generation,
                epoch,
                at: now,
            },
            now,
        )])
        .await
        .map_err(|e| e.to_string())?;
    key::write(&path, &seed)
        .map_err(|e| format!("cannot write the seal key {}: {e}", path.display()))?;
    let sealer = Sealer::new(store.clone(), database);
    let checkpoint = sealer.seal(&[]).await?;
    Ok(Initialised {
        verification_key: seed.to_text(),
        checkpoint,
    })
}

/// The daemon's sealer: appends the entries of new scans, seals a checkpoint per epoch and
/// evolves the key. The key lives only in its file ([`key`]); nothing keeps it in memory
/// between seals.
pub struct Sealer {
    store: Store,
    key_path: PathBuf,
    /// The tree as far as it was read (leaves are appended by others too: the store).
    tree: tokio::sync::Mutex<Frontier>,
    latest: Mutex<Option<Checkpoint>>,
    problem: Mutex<Option<String>>,
}

impl Sealer {
    /// The sealer of the database at `database` (key file beside it).
    pub fn new(store: Store, database: &Path) -> Self {
        Sealer {
            store,
            key_path: key::key_path(database),
            tree: tokio::sync::Mutex::new(Frontier::default()),
            latest: Mutex::new(None),
            problem: Mutex::new(None),
        }
    }

    /// The key file.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// The newest checkpoint sealed, as its one-line text.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        lock(&self.latest).clone()
    }

    /// Why sealing does not work, if it does not.
    pub fn problem(&self) -> Option<String> {
        lock(&self.problem).clone()
    }

    /// Loads the newest seal from the database (for status before the first seal).
    pub async fn load_latest(&self) {
        if let Ok(Some(cp)) = self.store.latest_seal().await {
            *lock(&self.latest) = Some(cp);
        }
    }

    /// Whether an epoch is due without a scan (the last seal is [`EPOCH_MAX`] old).
    pub fn due(&self) -> bool {
        let now = Utc::now().timestamp_millis();
        lock(&self.latest)
            .as_ref()
            .is_none_or(|cp| now - cp.time >= EPOCH_MAX.as_millis() as i64)
    }

    /// Seals a new epoch, logging it; a failure is a warning (the scan is stored all the same)
    /// and shows in `dawgctl status`.
    pub async fn seal_logged(&self, ran: &[(i64, &str)]) -> Option<Checkpoint> {
        match self.seal(ran).await {
            Ok(cp) => {
                *lock(&self.problem) = None;
                tracing::info!(
                    checkpoint = cp.to_line(),
                    epoch = cp.epoch,
                    tree_size = cp.size,
                    "sealed epoch {}: {} log entries",
                    cp.epoch,
                    cp.size
                );
                Some(cp)
            }
            Err(e) => {
                tracing::warn!("sealing failed, the history is not sealed: {e}");
                *lock(&self.problem) = Some(e);
                None
            }
        }
    }

    /// Appends the entries of scans stored since the log's last one (`ran`: the triggers of the
    /// scans the daemon ran; others get [`TRIGGER_OTHER`]), seals the tree with the current
    /// epoch's key, records the seal, and evolves the key (erasing this epoch's).
    pub async fn seal(&self, ran: &[(i64, &str)]) -> Result<Checkpoint, String> {
        let err = |e: crate::error::StoreError| e.to_string();
        let mut tree = self.tree.lock().await;
        let key = match key::read(&self.key_path)? {
            Some(k) => k,
            None => {
                let sealed = self.store.latest_seal().await.map_err(err)?;
                return Err(match sealed {
                    Some(l) => format!(
                        "the seal key {} is missing while the database has seals up to epoch {}: \
                         the chain is broken; restore the key file from a backup, or start a new \
                         chain with `dawgctl seal init --reinit` (recorded in the log)",
                        self.key_path.display(),
                        l.epoch
                    ),
                    None => format!(
                        "the seal key {} is missing: run `dawgctl seal init` (or restart \
                         dawgmond, which does it when the history was never sealed)",
                        self.key_path.display()
                    ),
                });
            }
        };
        let latest = self.store.latest_seal().await.map_err(err)?;
        let key = match &latest {
            Some(l) if l.generation > key.generation => {
                return Err(format!(
                    "the seal key {} is of generation {} but the database has seals of \
                     generation {}: an old key file was restored; restore the current one or \
                     run `dawgctl seal init --reinit`",
                    self.key_path.display(),
                    key.generation,
                    l.generation
                ));
            }
            // The key file is behind the seals (a crash between recording a seal and writing
            // the next key): catch up.
            Some(l) if l.generation == key.generation && l.epoch >= key.epoch => {
                key.at(l.epoch + 1).expect("forward")
            }
            _ => key,
        };
        self.append_new_scans(ran).await?;
        // Read the leaves appended since (by us and by the store).
        let more = self.store.log_leaves(tree.size()).await.map_err(err)?;
        let contiguous = more
            .iter()
            .enumerate()
            .all(|(i, (seq, _))| *seq as u64 == tree.size() + i as u64);
        let shrunk = latest
            .as_ref()
            .is_some_and(|l| l.size > tree.size() + more.len() as u64);
        if contiguous && !shrunk {
            for (_, leaf) in more {
                tree.push(leaf);
            }
        } else {
            *tree = Frontier::default();
            for (i, (seq, leaf)) in self
                .store
                .log_leaves(0)
                .await
                .map_err(err)?
                .into_iter()
                .enumerate()
            {
                if seq as u64 != i as u64 {
                    return Err(format!(
                        "the sealed log of {} is damaged: entry {i} is missing; nothing is sealed \
                         until it is restored from a backup (dawgctl verify names what is wrong)",
                        self.store.path().display()
                    ));
                }
                tree.push(leaf);
            }
            if let Some(l) = latest.as_ref().filter(|l| l.size > tree.size()) {
                tracing::warn!(
                    "the sealed log has {} entries but epoch {} sealed {}: the history was cut \
                     (dawgctl verify names what is missing); sealing what is left",
                    tree.size(),
                    l.epoch,
                    l.size
                );
            }
        }
        let mut time = Utc::now().timestamp_millis();
        if let Some(l) = latest.as_ref().filter(|l| l.time > time) {
            tracing::warn!(
                "the clock went backwards: the last seal (epoch {}) is dated {}, now is {}; the \
                 seal keeps the later time (fix the clock: timedatectl, chronyc tracking)",
                l.epoch,
                checkpoint::time_text(l.time),
                checkpoint::time_text(time)
            );
            time = l.time;
        }
        let cp = Checkpoint::seal(&key, tree.size(), tree.root(), time);
        self.store.insert_seal(&cp).await.map_err(err)?;
        key::write(&self.key_path, &key.evolve()).map_err(|e| {
            format!(
                "sealed epoch {} but cannot write the next key to {}: {e} (the current key \
                 stays on disk until this is fixed)",
                cp.epoch,
                self.key_path.display()
            )
        })?;
        *lock(&self.latest) = Some(cp.clone());
        Ok(cp)
    }

    /// Appends scan entries for the scans stored after the log's last one.
    async fn append_new_scans(&self, ran: &[(i64, &str)]) -> Result<(), String> {
        let err = |e: crate::error::StoreError| e.to_string();
        let last = self.store.last_logged_scan().await.map_err(err)?;
        let rows = self.store.scan_rows(last).await.map_err(err)?;
        let mut entries = Vec::new();
        for row in rows {
            let manifest = self.store.manifest(row.id).await.map_err(err)?;
            let trigger = ran
                .iter()
                .find(|(id, _)| *id == row.id)
                .map_or(TRIGGER_OTHER, |(_, t)| t);
            entries.push((scan_entry(&row, trigger, &manifest), row.finished_at));
        }
        if !entries.is_empty() {
            self.store.append_log(&entries).await.map_err(err)?;
        }
        Ok(())
    }
}

/// The log entry of a stored scan.
pub fn scan_entry(
    row: &crate::store::ScanRow,
    trigger: &str,
    manifest: &crate::store::Manifest,
) -> Entry {
    Entry::Scan {
        scan: row.id,
        started_at: row.started_at,
        finished_at: row.finished_at,
        hostname: row.hostname.clone(),
        root: row.root.clone(),
        trigger: trigger.to_string(),
        collectors: entry_collectors(manifest),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

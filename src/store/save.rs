//! Storing a scan: its collector outputs (each once per distinct content), its manifest and its
//! row, in one transaction.
//!
//! The outputs are hashed first, outside the transaction and without building their JSON
//! ([`blobs::content_hash`]): an output already stored (the common case, a host that did not
//! change) then costs its hash and one lookup. Only an output not stored yet is encoded, as a
//! delta against this collector's output in the newest scan or whole, straight into the
//! compressor. The earlier outputs loaded as bases are handed back ([`Saved::bases`]): the
//! caller comparing the new scan with the one before usually needs exactly those, and a
//! million-item output is then read and decoded once instead of twice.

use std::collections::BTreeMap;

use super::{
    Manifest, ManifestEntry, NewScan, ScanInfo, Store, blobs, load_blob, or_full, parse_manifest,
    validate_label,
};
use crate::error::StoreError;
use crate::model::{Item, Outcome, Snapshot};
use crate::sources::common::sha256_bytes;

/// What [`Store::save_keeping_bases`] did: the scan stored, and the earlier outputs it loaded.
#[derive(Debug)]
pub struct Saved {
    pub info: ScanInfo,
    pub bases: Loaded,
}

/// Collector outputs already loaded from the store, by collector name, with their content
/// hash, for [`Store::load_entries`] to use instead of reading them again.
#[derive(Debug, Default)]
pub struct Loaded(BTreeMap<String, (String, Vec<Item>)>);

impl Loaded {
    /// The items of blob `hash` if they were loaded for collector `name`, taken out.
    pub fn take(&mut self, name: &str, hash: &str) -> Option<Vec<Item>> {
        match self.0.get(name) {
            Some((h, _)) if h == hash => self.0.remove(name).map(|(_, items)| items),
            _ => None,
        }
    }
}

impl Store {
    /// Stores a scan and its snapshot in one transaction. A label already used by another scan
    /// moves to this one (the older scan stays, unlabelled).
    pub async fn save(&self, scan: &NewScan, snapshot: &Snapshot) -> Result<ScanInfo, StoreError> {
        Ok(self.save_keeping_bases(scan, snapshot).await?.info)
    }

    /// [`Store::save`], also handing back the earlier outputs it loaded to store changed ones
    /// as deltas (see the module documentation).
    pub async fn save_keeping_bases(
        &self,
        scan: &NewScan,
        snapshot: &Snapshot,
    ) -> Result<Saved, StoreError> {
        self.save_inner(scan, snapshot)
            .await
            .map_err(|e| or_full(&self.path, "store the scan", e))
    }

    async fn save_inner(&self, scan: &NewScan, snapshot: &Snapshot) -> Result<Saved, StoreError> {
        if let Some(label) = &scan.label {
            validate_label(label)?;
        }
        // CPU work, before taking the write lock: hashing a million items takes a while.
        let mut manifest = BTreeMap::new();
        let mut outputs = Vec::new();
        for (name, outcome) in &snapshot.results {
            match outcome {
                Outcome::Items(items) => {
                    let (hash, json_len) = blobs::content_hash(items);
                    manifest.insert(name.clone(), ManifestEntry::Blob(hash.clone()));
                    outputs.push((name, hash, json_len, items));
                }
                Outcome::Unavailable(why) => {
                    manifest.insert(name.clone(), ManifestEntry::Unavailable(why.clone()));
                }
            }
        }
        let manifest_data = serde_json::to_vec(&manifest).expect("manifest serialises");
        let manifest_hash = sha256_bytes(&manifest_data);

        // IMMEDIATE: the write lock from the start, so no other writer (a prune by `dawgctl
        // --local`) can delete a blob between finding it stored and referring to it, or a base
        // between choosing it and storing the delta against it.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::sql("starting a transaction"))?;
        let mut previous: Option<Manifest> = None;
        let mut bases = Loaded::default();
        for (name, hash, json_len, items) in &outputs {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::sql("looking up collector output"))?;
            if exists.is_some() {
                continue;
            }
            // The base: this collector's output in the newest scan, if not too deep a delta.
            if previous.is_none() {
                previous = Some(newest_manifest(&mut tx).await?);
            }
            let base = match previous.as_ref().and_then(|m| m.get(*name)) {
                Some(ManifestEntry::Blob(b)) => base(&mut tx, name, b).await?,
                _ => None,
            };
            let (stored, is_delta) = blobs::encode(
                items,
                *json_len,
                base.as_ref().map(|(h, old, _)| (h.as_str(), &old[..])),
            );
            let (base_hash, depth) = match (is_delta, &base) {
                (true, Some((h, _, d))) => (Some(h), *d),
                _ => (None, 0),
            };
            sqlx::query("INSERT INTO blobs (hash, data, base, depth) VALUES (?, ?, ?, ?)")
                .bind(hash)
                .bind(&stored)
                .bind(base_hash)
                .bind(depth)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sql("storing collector output"))?;
            if let Some((h, old, _)) = base {
                bases.0.insert((*name).clone(), (h, old));
            }
        }
        let inserted = sqlx::query("INSERT OR IGNORE INTO manifests (hash, data) VALUES (?, ?)")
            .bind(&manifest_hash)
            .bind(&manifest_data)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("storing the scan manifest"))?;
        if inserted.rows_affected() > 0 {
            for (_, hash, _, _) in &outputs {
                sqlx::query("INSERT OR IGNORE INTO manifest_blobs (manifest, blob) VALUES (?, ?)")
                    .bind(&manifest_hash)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::sql("storing the scan manifest"))?;
            }
        }
        if let Some(label) = &scan.label {
            sqlx::query("UPDATE scans SET label = NULL WHERE label = ?")
                .bind(label)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sql("moving a baseline label"))?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scans (label, started_at, finished_at, hostname, root, manifest)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&scan.label)
        .bind(scan.started_at.timestamp_millis())
        .bind(scan.finished_at.timestamp_millis())
        .bind(&scan.hostname)
        .bind(&scan.root)
        .bind(&manifest_hash)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::sql("recording the scan"))?;
        if let Some(label) = &scan.label {
            // A label set or moved is an event of the sealed history (docs/trust.md).
            let at = chrono::Utc::now().timestamp_millis();
            let entry = crate::ledger::entry::Entry::Label {
                label: label.clone(),
                scan: Some(id),
                at,
            };
            super::log::append(&mut tx, &entry, at).await?;
        }
        tx.commit()
            .await
            .map_err(StoreError::sql("committing the scan"))?;
        Ok(Saved {
            info: self.get(id).await?,
            bases,
        })
    }
}

/// Blob `hash` (collector `name`'s previous output) as a base for a delta: its hash, items and
/// the depth a delta against it would have. `None` when the chain below it is already as deep
/// as allowed, or when it is unreadable (a damaged base must not cost the new scan: the new
/// output is then stored whole).
async fn base(
    conn: &mut sqlx::SqliteConnection,
    name: &str,
    hash: &str,
) -> Result<Option<(String, Vec<Item>, i64)>, StoreError> {
    let depth: Option<i64> = sqlx::query_scalar("SELECT depth FROM blobs WHERE hash = ?")
        .bind(hash)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("looking up collector output"))?;
    let Some(depth) = depth.filter(|d| d + 1 < blobs::MAX_DEPTH) else {
        return Ok(None);
    };
    match load_blob(conn, hash).await {
        Ok(old) => Ok(Some((hash.to_string(), old, depth + 1))),
        Err(e) => {
            tracing::warn!(
                "{name}: the previous output is unreadable ({e}); storing this one whole"
            );
            Ok(None)
        }
    }
}

/// The manifest of the newest stored scan (empty when there is none).
async fn newest_manifest(conn: &mut sqlx::SqliteConnection) -> Result<Manifest, StoreError> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT s.id, m.data FROM scans s JOIN manifests m ON m.hash = s.manifest
         ORDER BY s.id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("reading the newest scan manifest"))?;
    match row {
        Some((id, data)) => parse_manifest(id, &data),
        None => Ok(Manifest::new()),
    }
}

#[cfg(test)]
mod tests;

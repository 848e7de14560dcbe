//! Storing a scan: its collector outputs (each once per distinct content), its manifest and its
//! row, in one transaction.
//!
//! The outputs are hashed first, outside the transaction and without building their JSON
//! ([`blobs::content_hash`]): an output already stored (the common case, a host that did not
//! change) then costs its hash and one lookup. Only an output not stored yet is encoded, as a
//! delta against this collector's output in the newest scan or whole, straight into the
//! compressor. The base is read item by item and merged with the new output
//! ([`super::stream`]): only the keys and items that differ are held, never a second copy of a
//! million-item output.

use std::collections::BTreeMap;

use super::stream::{self, Differs, MergeError};
use super::{
    Manifest, ManifestEntry, NewScan, ScanInfo, Store, blobs, or_full, parse_manifest,
    validate_label,
};
use crate::error::StoreError;
use crate::model::{Item, Outcome, Snapshot};
use crate::sources::common::sha256_bytes;

impl Store {
    /// Stores a scan and its snapshot in one transaction. A label already used by another scan
    /// moves to this one (the older scan stays, unlabelled).
    pub async fn save(&self, scan: &NewScan, snapshot: &Snapshot) -> Result<ScanInfo, StoreError> {
        self.save_inner(scan, snapshot)
            .await
            .map_err(|e| or_full(&self.path, "store the scan", e))
    }

    async fn save_inner(
        &self,
        scan: &NewScan,
        snapshot: &Snapshot,
    ) -> Result<ScanInfo, StoreError> {
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
                Some(ManifestEntry::Blob(b)) => base_depth(&mut tx, b).await?,
                _ => None,
            };
            let delta = match &base {
                Some((h, _)) => delta_against(&mut tx, name, h, items, *json_len).await,
                None => None,
            };
            let (stored, base_hash, depth) = match (delta, base) {
                (Some(bytes), Some((h, d))) => (bytes, Some(h), d),
                _ => (blobs::encode(items, *json_len, None).0, None, 0),
            };
            sqlx::query("INSERT INTO blobs (hash, data, base, depth) VALUES (?, ?, ?, ?)")
                .bind(hash)
                .bind(&stored)
                .bind(base_hash)
                .bind(depth)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::sql("storing collector output"))?;
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
            "INSERT INTO scans (label, started_at, finished_at, hostname, root, manifest, trigger)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&scan.label)
        .bind(scan.started_at.timestamp_millis())
        .bind(scan.finished_at.timestamp_millis())
        .bind(&scan.hostname)
        .bind(&scan.root)
        .bind(&manifest_hash)
        .bind(&scan.trigger)
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
        self.get(id).await
    }
}

/// Blob `hash` (a collector's previous output) as a base for a delta: its hash and the depth
/// a delta against it would have. `None` when the chain below it is already as deep as allowed.
async fn base_depth(
    conn: &mut sqlx::SqliteConnection,
    hash: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    let depth: Option<i64> = sqlx::query_scalar("SELECT depth FROM blobs WHERE hash = ?")
        .bind(hash)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("looking up collector output"))?;
    Ok(depth
        .filter(|d| d + 1 < blobs::MAX_DEPTH)
        .map(|d| (hash.to_string(), d + 1)))
}

/// The stored form of `items` as a delta against blob `base` (collector `name`'s previous
/// output), read item by item; `None` when the delta is not worth it (half the whole output
/// or more: the merge stops as soon as that is certain), or the base is unsorted or unreadable
/// (a damaged base must not cost the new scan: the new output is then stored whole).
async fn delta_against(
    conn: &mut sqlx::SqliteConnection,
    name: &str,
    base: &str,
    items: &[Item],
    json_len: u64,
) -> Option<Vec<u8>> {
    if !stream::sorted(items) {
        return None;
    }
    let old = match stream::open(conn, base).await {
        Ok(old) => old,
        Err(e) => {
            tracing::warn!(
                "{name}: the previous output is unreadable ({e}); storing this one whole"
            );
            return None;
        }
    };
    let limit = json_len / 2;
    // A lower bound of the delta's JSON: each key with its quotes and comma, each item with
    // its braces and "key" name besides.
    let mut bound = 0u64;
    let (mut del, mut put) = (Vec::new(), Vec::new());
    let merged = stream::merge(old, items, |d| {
        match d {
            Differs::Gone(o) => {
                bound += o.key.len() as u64 + 3;
                del.push(o.key);
            }
            Differs::New(n) | Differs::Changed(_, n) => {
                bound += n.key.len() as u64 + 10;
                put.push(n);
            }
        }
        bound < limit
    });
    match merged {
        Ok(()) => blobs::encode_delta(base, &del, put, json_len),
        Err(MergeError::Read(e)) => {
            tracing::warn!(
                "{name}: the previous output is unreadable ({e}); storing this one whole"
            );
            None
        }
        Err(MergeError::Unsorted | MergeError::Stopped) => None,
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

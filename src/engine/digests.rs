//! Carried digests: a file's SHA-256 is taken over from the scan before when its identity
//! (device, inode, size, mtime, ctime) is unchanged, and every file is read again after
//! `rehash_every`.

use super::*;

impl Engine {
    /// The digests the selected collectors carry over from their last scans, except for a
    /// collector whose full re-hash is due (`rehash_every`): it starts empty and reads every
    /// file. A row that cannot be read is logged and treated the same way.
    pub(super) async fn carried_digests(
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
    pub(super) async fn keep_digests(
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
}

/// What [`Engine::carried_digests`] found: caches by collector, and when each was last
/// re-hashed in full.
#[derive(Default)]
pub(super) struct Carried {
    pub(super) caches: HashMap<String, Arc<DigestCache>>,
    pub(super) rehashed_at: HashMap<String, i64>,
}

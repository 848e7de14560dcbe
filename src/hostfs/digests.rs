//! Content digests carried over between scans by file metadata, so a re-scan of an unchanged
//! tree reads no file.
//!
//! A file whose device, inode, size, mtime and ctime (to the nanosecond) all equal those of a
//! file hashed by the previous scan has that file's content: writing changes mtime and ctime,
//! and although `touch` can put mtime back, nothing short of setting the system clock puts ctime
//! back. The periodic full re-hash (`rehash_every`) covers that last case: the engine then
//! starts a collector with an empty cache.
//!
//! Compact on purpose: a million-file tree is a million entries. An entry is the first 16
//! bytes of the SHA-256 of the identity (no secret needed: finding two identities with one
//! 128-bit prefix is out of reach), the 32-byte digest and a byte for how it compared with the
//! package's recorded digest, so 49 bytes each, kept sorted for
//! binary search. The stored form is a version byte and the sorted entries, not compressed
//! (random bytes do not compress: ~49 MB per million files on disk, one row per
//! collector, replaced at each scan).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::Stat;

/// One identity's digest, and how the content compared with its package's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    id: [u8; 16],
    digest: [u8; 32],
    package: PackageMatch,
}

const ENTRY_BYTES: usize = 49;

/// How a file's content compared with the digest its package recorded when it was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackageMatch {
    /// No package recorded a digest for it.
    Unknown,
    Matches,
    Differs,
}

impl PackageMatch {
    fn byte(self) -> u8 {
        match self {
            PackageMatch::Unknown => 0,
            PackageMatch::Matches => 1,
            PackageMatch::Differs => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => PackageMatch::Unknown,
            1 => PackageMatch::Matches,
            2 => PackageMatch::Differs,
            _ => return None,
        })
    }
}

/// The first byte of the stored form: its layout (entries, uncompressed: ids and digests are
/// random bytes, which zstd only copies).
const FORMAT: u8 = 2;

/// The identity of a file's content as far as metadata tells (see the module documentation).
pub fn identity(st: &Stat) -> [u8; 16] {
    let mut h = Sha256::new();
    for v in [
        st.st_dev,
        st.st_ino,
        st.st_size as u64,
        st.st_mtime as u64,
        st.st_mtime_nsec as u64,
        st.st_ctime as u64,
        st.st_ctime_nsec as u64,
    ] {
        h.update(v.to_le_bytes());
    }
    let full = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&full[..16]);
    id
}

/// One collector's carried-over digests: what the previous scan knew (read-only, sorted, with
/// a bucket index), which of those this scan reused, and what it hashed (both kept for the
/// next scan).
#[derive(Debug, Default)]
pub struct DigestCache {
    previous: Vec<Entry>,
    /// `buckets[b]..buckets[b + 1]` are the entries whose id starts with the `bits`-bit prefix
    /// `b`: ids are uniform, so about eight per bucket, and a lookup touches a few cache lines
    /// instead of binary-searching a 50 MB array (20 cache misses per file measured as a fifth
    /// of a million-file re-scan).
    buckets: Vec<u32>,
    bits: u32,
    /// Per entry of `previous`, one bit: reused by this scan.
    seen: Vec<AtomicU64>,
    /// Digests computed in this scan, spread over a few locks (the walk runs on several threads).
    fresh: [Mutex<Vec<Entry>>; SHARDS],
    hashed: AtomicU64,
    reused: AtomicU64,
}

const SHARDS: usize = 8;

/// The id's first eight bytes as a number (ids are SHA-256 prefixes: uniform).
fn prefix(id: &[u8; 16]) -> u64 {
    u64::from_be_bytes(id[..8].try_into().expect("8 bytes"))
}

impl DigestCache {
    /// A cache answering from a stored form (see [`DigestCache::encode`]). A row this build
    /// cannot read is an error: the caller starts empty (everything is hashed again).
    pub fn decode(chunks: &[impl AsRef<[u8]>]) -> Result<Self, String> {
        // One allocation of the right size (growing it would copy, and leave the old blocks
        // resident).
        let total = chunks
            .iter()
            .map(|c| c.as_ref().len().saturating_sub(1) / ENTRY_BYTES)
            .sum();
        let mut previous: Vec<Entry> = Vec::with_capacity(total);
        for chunk in chunks {
            let Some((&FORMAT, body)) = chunk.as_ref().split_first() else {
                return Err("unknown format".into());
            };
            if body.len() % ENTRY_BYTES != 0 {
                return Err(format!(
                    "{} bytes is not a whole number of entries",
                    body.len()
                ));
            }
            for c in body.chunks_exact(ENTRY_BYTES) {
                let mut e = Entry {
                    id: [0; 16],
                    digest: [0; 32],
                    package: PackageMatch::from_byte(c[48]).ok_or("bad package verdict")?,
                };
                e.id.copy_from_slice(&c[..16]);
                e.digest.copy_from_slice(&c[16..48]);
                previous.push(e);
            }
        }
        // Sorted when written; checking costs little and makes lookups safe regardless.
        if !previous.is_sorted() {
            previous.sort_unstable();
        }
        previous.dedup_by_key(|e| e.id);
        Ok(DigestCache::from_sorted(previous))
    }

    fn from_sorted(previous: Vec<Entry>) -> Self {
        let n = previous.len();
        // About eight entries per bucket (within a few cache lines); at most 2^24 buckets.
        let bits = (usize::BITS - (n / 8).leading_zeros()).min(24);
        let mut buckets = vec![0u32; (1usize << bits) + 1];
        let mut at = 0usize;
        for (b, start) in buckets.iter_mut().enumerate() {
            while at < n && bucket(&previous[at].id, bits) < b {
                at += 1;
            }
            *start = at as u32;
        }
        let seen = (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        DigestCache {
            previous,
            buckets,
            bits,
            seen,
            ..DigestCache::default()
        }
    }

    /// The digest the previous scan had for a file with this status, if any; a hit is kept
    /// for the next scan.
    pub fn lookup(&self, st: &Stat) -> Option<([u8; 32], PackageMatch)> {
        if self.previous.is_empty() {
            return None;
        }
        let id = identity(st);
        let b = bucket(&id, self.bits);
        let (from, to) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let i = from + self.previous[from..to].iter().position(|e| e.id == id)?;
        let e = self.previous[i];
        self.seen[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
        self.reused.fetch_add(1, Ordering::Relaxed);
        Some((e.digest, e.package))
    }

    /// Records a digest computed in this scan for a file with status `st` (taken before it
    /// was read: a file written while it was read then gets a new identity next time, and is
    /// read again).
    pub fn remember(&self, st: &Stat, digest: [u8; 32], package: PackageMatch) {
        self.push(Entry {
            id: identity(st),
            digest,
            package,
        });
        self.hashed.fetch_add(1, Ordering::Relaxed);
    }

    fn push(&self, e: Entry) {
        self.fresh[e.id[15] as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    /// Files hashed in this scan, and files whose digest was carried over.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hashed.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
        )
    }

    /// Entries known from the previous scan.
    pub fn previous_len(&self) -> usize {
        self.previous.len()
    }

    /// This scan's digests in their stored form, for the next scan: chunks of at most
    /// [`CHUNK_ENTRIES`] entries, each a format byte and sorted entries. Takes what was hashed.
    pub fn encode(&self) -> Vec<Vec<u8>> {
        let mut fresh: Vec<Entry> = Vec::new();
        for shard in &self.fresh {
            fresh.append(&mut shard.lock().unwrap_or_else(|p| p.into_inner()));
        }
        fresh.sort_unstable();
        let reused = self
            .previous
            .iter()
            .enumerate()
            .filter(|(i, _)| self.seen[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0)
            .map(|(_, e)| *e);
        // Both sorted: merged straight into the stored form, no combined list in between (a
        // million entries are 49 MB).
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut last: Option<[u8; 16]> = None;
        let mut write = |e: Entry| {
            if last == Some(e.id) {
                return;
            }
            last = Some(e.id);
            if chunks
                .last()
                .is_none_or(|c| c.len() > CHUNK_ENTRIES * ENTRY_BYTES)
            {
                let mut c = Vec::with_capacity(1 + CHUNK_ENTRIES * ENTRY_BYTES);
                c.push(FORMAT);
                chunks.push(c);
            }
            let c = chunks.last_mut().expect("just made");
            c.extend_from_slice(&e.id);
            c.extend_from_slice(&e.digest);
            c.push(e.package.byte());
        };
        let mut reused = reused.peekable();
        for e in fresh {
            while let Some(r) = reused.next_if(|r| r.id < e.id) {
                write(r);
            }
            // The same identity hashed again (a hard link met twice): the fresh one counts.
            reused.next_if(|r| r.id == e.id);
            write(e);
        }
        reused.for_each(write);
        if let Some(c) = chunks.last_mut() {
            c.shrink_to_fit();
        }
        chunks
    }
}

/// Entries per stored chunk: about 1 MB.
pub const CHUNK_ENTRIES: usize = 20_000;

/// The bucket of an id: its first `bits` bits.
fn bucket(id: &[u8; 16], bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (prefix(id) >> (64 - bits)) as usize
    }
}

#[cfg(test)]
mod tests;

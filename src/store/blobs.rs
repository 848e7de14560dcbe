//! How a collector's output is stored: whole, or as the change from an earlier output.
//!
//! A blob is still addressed by the sha256 of the canonical JSON of its items (so identical
//! outputs are stored once, whatever their encoding), but what is stored is either
//! - the JSON array of items (schema 1 to 5 wrote only this), or
//! - a delta: `{"base": HASH, "del": [keys], "put": [items]}`, the items removed from and
//!   added to or changed in blob `base`,
//!
//! each compressed with zstd when larger than [`COMPRESS_FROM`] bytes (recognised by zstd's
//! magic number, so old uncompressed rows read as before). One changed file in a million-item
//! output then costs a few hundred bytes instead of the whole output again.
//!
//! Chains are bounded: a delta is made only against a base fewer than [`MAX_DEPTH`] deltas
//! deep, and only when it is less than half the size of the whole output; otherwise the whole
//! output is stored, and later deltas start from it.

use std::cmp::Ordering;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Item;

/// The longest chain of deltas above a whole output: loading a blob reads at most this many
/// deltas and one whole output.
pub const MAX_DEPTH: i64 = 16;

/// Stored bytes above which a blob is compressed (below it zstd's frame costs more than it
/// saves, and small rows stay readable with the sqlite3 shell).
pub const COMPRESS_FROM: usize = 512;

/// zstd's level: 3 is its default, fast to write; the data is JSON, which compresses well.
const LEVEL: i32 = 3;

/// The first four bytes of a zstd frame (RFC 8878), little-endian 0xFD2FB528.
pub(super) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A blob's content as stored, once decompressed.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// The whole output.
    Whole(Vec<Item>),
    /// The change from blob `base`.
    Delta(Delta),
}

/// The change from one output (`base`) to another.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub base: String,
    /// Keys of the base's items that are gone, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub del: Vec<String>,
    /// Items new or changed since the base, sorted by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub put: Vec<Item>,
}

/// The content address of `items`, and the length of their canonical JSON: the sha256 of
/// `serde_json::to_vec(items)`, computed by streaming the JSON through the hash, so a million
/// items (~190 MB of JSON) are hashed without ever holding their JSON.
pub fn content_hash(items: &[Item]) -> (String, u64) {
    let mut sink = Sink {
        hash: Some(Sha256::new()),
        len: 0,
        limit: u64::MAX,
    };
    write_json(&mut sink, items).expect("a sink without a limit accepts everything");
    let digest = sink.hash.expect("hashing").finalize();
    (hex::encode(digest), sink.len)
}

/// What to store for `items` (whose canonical JSON is `json_len` bytes, see [`content_hash`]),
/// given the base (hash and items) it may be a delta against. Returns the bytes, and whether
/// they are a delta. The JSON goes straight into the compressor: neither the whole output's
/// JSON nor a large delta's is ever held uncompressed.
pub fn encode(items: &[Item], json_len: u64, base: Option<(&str, &[Item])>) -> (Vec<u8>, bool) {
    // Deltas need both sides sorted by unique key (as `Outcome::normalized` leaves them);
    // anything else is stored whole, exactly as given.
    let sorted = |v: &[Item]| v.windows(2).all(|w| w[0].key < w[1].key);
    if let Some((hash, old)) = base.filter(|(_, old)| sorted(old) && sorted(items)) {
        let delta = diff(hash, old, items);
        // Measured first, giving up as soon as it is too long to be worth it: a delta of a
        // wholly changed output is never written out.
        let mut sink = Sink {
            hash: None,
            len: 0,
            limit: json_len / 2,
        };
        if write_json(&mut sink, &delta).is_ok() {
            return (compressed(&delta, sink.len), true);
        }
    }
    (compressed(items, json_len), false)
}

/// The stored form of the delta from blob `base` to `items` (whose canonical JSON is
/// `json_len` bytes), given the keys `del` gone from it and the items `put` new or changed
/// (both in key order, as [`super::stream::merge`] finds them), when it is worth storing: less
/// than half the whole output, measured to the byte as [`encode`] does.
pub fn encode_delta(base: &str, del: &[String], put: Vec<&Item>, json_len: u64) -> Option<Vec<u8>> {
    let delta = DeltaRef {
        base,
        del: del.iter().map(String::as_str).collect(),
        put,
    };
    let mut sink = Sink {
        hash: None,
        len: 0,
        limit: json_len / 2,
    };
    write_json(&mut sink, &delta).ok()?;
    Some(compressed(&delta, sink.len))
}

/// Reads a stored blob (compressed or not, whole or delta). A compressed blob is parsed as it
/// is decompressed: a million items' JSON (~190 MB) is never held whole.
pub fn decode(data: &[u8]) -> Result<Stored, String> {
    if !data.starts_with(&ZSTD_MAGIC) {
        return match data.first() {
            Some(b'{') => serde_json::from_slice(data)
                .map(Stored::Delta)
                .map_err(|e| format!("bad delta: {e}")),
            _ => serde_json::from_slice(data)
                .map(Stored::Whole)
                .map_err(|e| e.to_string()),
        };
    }
    let cannot = |e: io::Error| format!("cannot decompress: {e}");
    // serde_json reads a byte at a time: the buffer keeps that off the decompressor.
    let mut json =
        BufReader::with_capacity(64 * 1024, zstd::Decoder::with_buffer(data).map_err(cannot)?);
    match json.fill_buf().map_err(cannot)?.first() {
        Some(b'{') => serde_json::from_reader(json)
            .map(Stored::Delta)
            .map_err(|e| format!("bad delta: {e}")),
        _ => serde_json::from_reader(json)
            .map(Stored::Whole)
            .map_err(|e| e.to_string()),
    }
}

/// `base` (sorted by key) with `delta` applied, sorted by key.
pub fn apply(base: Vec<Item>, delta: Delta) -> Vec<Item> {
    let mut out = Vec::with_capacity(base.len() + delta.put.len());
    let mut put = delta.put.into_iter().peekable();
    let mut del = delta.del.iter().peekable();
    for item in base {
        while let Some(p) = put.next_if(|p| p.key < item.key) {
            out.push(p);
        }
        while del.next_if(|d| d.as_str() < item.key.as_str()).is_some() {}
        if del.next_if(|d| **d == item.key).is_some() {
            continue;
        }
        match put.next_if(|p| p.key == item.key) {
            Some(p) => out.push(p),
            None => out.push(item),
        }
    }
    out.extend(put);
    out
}

/// A [`Delta`] as written: it borrows from the outputs it is made of (a delta of a million
/// changed items costs pointers, not copies), and serialises as a `Delta` does.
#[derive(Serialize)]
struct DeltaRef<'a> {
    base: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    del: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    put: Vec<&'a Item>,
}

/// The delta from `old` to `new`, both sorted by key with unique keys.
fn diff<'a>(base: &'a str, old: &'a [Item], new: &'a [Item]) -> DeltaRef<'a> {
    let mut d = DeltaRef {
        base,
        del: Vec::new(),
        put: Vec::new(),
    };
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.key.cmp(&b.key),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                d.del.push(&old[i].key);
                i += 1;
            }
            Ordering::Greater => {
                d.put.push(&new[j]);
                j += 1;
            }
            Ordering::Equal => {
                if old[i] != new[j] {
                    d.put.push(&new[j]);
                }
                i += 1;
                j += 1;
            }
        }
    }
    d
}

/// The JSON of `value` (`len` bytes), compressed when longer than [`COMPRESS_FROM`].
fn compressed<T: Serialize + ?Sized>(value: &T, len: u64) -> Vec<u8> {
    if len <= COMPRESS_FROM as u64 {
        return serde_json::to_vec(value).expect("items serialise as JSON");
    }
    let mut zstd = zstd::Encoder::new(Vec::new(), LEVEL).expect("zstd starts in memory");
    write_json(&mut zstd, value).expect("zstd compresses in memory");
    zstd.finish().expect("zstd compresses in memory")
}

/// `serde_json::to_writer` through a buffer: serde writes a few bytes at a time, and both the
/// hash and the compressor do better with large writes.
fn write_json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> io::Result<()> {
    let mut buf = BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer(&mut buf, value)?;
    buf.flush()
}

/// Where JSON goes to be hashed or measured: it counts the bytes, feeds them to `hash` if any,
/// and fails once `limit` bytes are reached.
struct Sink {
    hash: Option<Sha256>,
    len: u64,
    limit: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len() as u64;
        if self.len >= self.limit {
            return Err(io::Error::other("longer than the limit"));
        }
        if let Some(h) = &mut self.hash {
            h.update(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;

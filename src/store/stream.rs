//! Stored outputs read item by item, and compared with a new output without loading them.
//!
//! A re-scan of a million-file tree that finds one changed file used to load the previous
//! output whole (a second million items beside the new ones: 608 MB at its peak, against
//! 295 MB for an unchanged re-scan). Here the previous output is decompressed and parsed one
//! item at a time, its chain of deltas applied on the way ([`open`]), and merged with the new
//! output, which is sorted by key ([`merge`]): only the items that differ are kept. The store
//! uses that to write a delta ([`super::save`]) and the engine to compare
//! ([`crate::store::Store::load_differing`]): what the diff sees is the differing items of
//! both sides, which give the same changes as the whole outputs would (an item equal on both
//! sides is never a change).
//!
//! The stream must be sorted by key with unique keys, as every output written since
//! `Outcome::normalized` is; one that is not (written by an early version) is reported as
//! [`Unsorted`], and the caller loads it whole as before.

use std::io::{self, BufRead, BufReader, Cursor};

use serde::Deserialize;

use super::blobs::{self, Delta};
use crate::error::StoreError;
use crate::model::{Item, Outcome, Snapshot};

/// Items of a stored output, in stored order; an error ends the stream.
pub type Items = Box<dyn Iterator<Item = Result<Item, String>> + Send>;

/// Why a merge stopped.
#[derive(Debug)]
pub enum MergeError {
    /// The stored output is not sorted by unique key.
    Unsorted,
    /// It could not be read (named in the text).
    Read(String),
    /// The visitor asked to stop.
    Stopped,
}

/// Opens blob `hash` (decoding `data` as read from its row, and `row` to read any other row of
/// its chain) as a stream of items: the whole output at the bottom of the chain is parsed as
/// it is decompressed, and each delta above it (small, loaded whole) applied as items pass.
pub async fn open(conn: &mut sqlx::SqliteConnection, hash: &str) -> Result<Items, String> {
    let mut deltas = Vec::new();
    let mut next = hash.to_string();
    let whole = loop {
        let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM blobs WHERE hash = ?")
            .bind(&next)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| format!("cannot read blob {next}: {e}"))?
            .ok_or_else(|| format!("blob {next} is missing"))?;
        match Decoded::of(data).map_err(|e| format!("blob {next}: {e}"))? {
            Decoded::Whole(items) => break items,
            Decoded::Delta(d) => {
                if deltas.len() as i64 > blobs::MAX_DEPTH {
                    return Err(format!(
                        "blob {hash}: a chain of deltas deeper than allowed"
                    ));
                }
                next = d.base.clone();
                deltas.push(d);
            }
        }
    };
    Ok(deltas
        .into_iter()
        .rev()
        .fold(whole, |base, delta| -> Items {
            Box::new(Applied::new(base, delta))
        }))
}

/// One row's content: a delta (loaded) or a whole output (to stream).
enum Decoded {
    Whole(Items),
    Delta(Delta),
}

impl Decoded {
    fn of(data: Vec<u8>) -> Result<Decoded, String> {
        let mut reader: Box<dyn BufRead + Send> = if data.starts_with(&blobs::ZSTD_MAGIC) {
            let zstd = zstd::Decoder::with_buffer(Cursor::new(data))
                .map_err(|e| format!("cannot decompress: {e}"))?;
            // serde_json reads a byte at a time: the buffer keeps that off the decompressor.
            Box::new(BufReader::with_capacity(64 * 1024, zstd))
        } else {
            Box::new(Cursor::new(data))
        };
        match peek(&mut reader).map_err(|e| format!("cannot decompress: {e}"))? {
            Some(b'{') => serde_json::from_reader(reader)
                .map(Decoded::Delta)
                .map_err(|e| format!("bad delta: {e}")),
            _ => Ok(Decoded::Whole(Box::new(ItemStream::new(reader)?))),
        }
    }
}

/// The next byte that is not JSON white space, not consumed.
fn peek(r: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buf = r.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            r.consume(1);
        } else {
            return Ok(Some(b));
        }
    }
}

/// The items of a JSON array, parsed one at a time from `reader`.
pub struct ItemStream<R> {
    reader: R,
    first: bool,
    done: bool,
}

impl<R: BufRead> ItemStream<R> {
    /// A stream over the array that `reader` starts with.
    pub fn new(mut reader: R) -> Result<Self, String> {
        match peek(&mut reader).map_err(|e| e.to_string())? {
            Some(b'[') => reader.consume(1),
            _ => return Err("expected a JSON array of items".into()),
        }
        Ok(ItemStream {
            reader,
            first: true,
            done: false,
        })
    }

    fn read_next(&mut self) -> Result<Option<Item>, String> {
        let bad = |e: io::Error| e.to_string();
        let mut next = peek(&mut self.reader).map_err(bad)?;
        if next == Some(b']') {
            return Ok(None);
        }
        if !self.first {
            if next != Some(b',') {
                return Err("expected ',' or ']' between items".into());
            }
            self.reader.consume(1);
            next = peek(&mut self.reader).map_err(bad)?;
        }
        if next != Some(b'{') {
            return Err("expected an item".into());
        }
        self.first = false;
        // An item is an object: its parser stops at the closing brace and reads nothing past
        // it, so the next item starts where this one ended.
        let mut de = serde_json::Deserializer::from_reader(&mut self.reader);
        Item::deserialize(&mut de)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

impl<R: BufRead> Iterator for ItemStream<R> {
    type Item = Result<Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.read_next().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// A stream with one delta applied as its items pass (what [`blobs::apply`] does to a list).
struct Applied {
    base: Items,
    pending: Option<Item>,
    put: std::iter::Peekable<std::vec::IntoIter<Item>>,
    del: std::iter::Peekable<std::vec::IntoIter<String>>,
}

impl Applied {
    fn new(base: Items, delta: Delta) -> Self {
        Applied {
            base,
            pending: None,
            put: delta.put.into_iter().peekable(),
            del: delta.del.into_iter().peekable(),
        }
    }
}

impl Iterator for Applied {
    type Item = Result<Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pending.is_none() {
                match self.base.next() {
                    Some(Ok(item)) => self.pending = Some(item),
                    Some(Err(e)) => return Some(Err(e)),
                    None => return self.put.next().map(Ok),
                }
            }
            let key = &self.pending.as_ref().expect("set above").key;
            if let Some(p) = self.put.next_if(|p| p.key < *key) {
                return Some(Ok(p));
            }
            while self.del.next_if(|d| d < key).is_some() {}
            let item = self.pending.take().expect("set above");
            if self.del.next_if(|d| *d == item.key).is_some() {
                continue;
            }
            return Some(Ok(self.put.next_if(|p| p.key == item.key).unwrap_or(item)));
        }
    }
}

/// One difference between a stored output and a new one.
pub enum Differs<'a> {
    /// Only in the stored output.
    Gone(Item),
    /// Only in the new output.
    New(&'a Item),
    /// In both, not equal.
    Changed(Item, &'a Item),
}

/// Merges the stored output `old` with `new` (sorted by unique key), calling `visit` for each
/// item that differs; `visit` returning false stops the merge ([`MergeError::Stopped`]).
pub fn merge<'a>(
    old: Items,
    new: &'a [Item],
    mut visit: impl FnMut(Differs<'a>) -> bool,
) -> Result<(), MergeError> {
    let mut j = 0;
    let mut last: Option<String> = None;
    let stop = |go: bool| if go { Ok(()) } else { Err(MergeError::Stopped) };
    for item in old {
        let item = item.map_err(MergeError::Read)?;
        if last.as_ref().is_some_and(|l| *l >= item.key) {
            return Err(MergeError::Unsorted);
        }
        while let Some(n) = new.get(j).filter(|n| n.key < item.key) {
            stop(visit(Differs::New(n)))?;
            j += 1;
        }
        match new.get(j) {
            Some(n) if n.key == item.key => {
                j += 1;
                if *n != item {
                    last = Some(item.key.clone());
                    stop(visit(Differs::Changed(item, n)))?;
                    continue;
                }
            }
            _ => {
                last = Some(item.key.clone());
                stop(visit(Differs::Gone(item)))?;
                continue;
            }
        }
        last = Some(item.key);
    }
    for n in &new[j..] {
        stop(visit(Differs::New(n)))?;
    }
    Ok(())
}

impl super::Store {
    /// What a comparison of scan `id`'s earlier outputs `entries` with the new snapshot `new`
    /// needs, without loading a whole output: per collector, the earlier items and the new
    /// items that differ (the old side first). A collector unavailable on either side, or
    /// absent from `new`, gets empty lists: the diff only warns about it. An earlier output not
    /// sorted by key (written by an early version) is loaded whole, with the new one cloned.
    pub async fn load_differing(
        &self,
        id: i64,
        entries: impl IntoIterator<Item = (String, super::ManifestEntry)>,
        new: &Snapshot,
    ) -> Result<(Snapshot, Snapshot), StoreError> {
        let (mut old_side, mut new_side) = (Snapshot::default(), Snapshot::default());
        for (name, entry) in entries {
            let hash = match entry {
                super::ManifestEntry::Unavailable(why) => {
                    old_side.results.insert(name, Outcome::Unavailable(why));
                    continue;
                }
                super::ManifestEntry::Blob(hash) => hash,
            };
            let Some(Outcome::Items(items)) = new.results.get(&name) else {
                old_side.results.insert(name, Outcome::Items(Vec::new()));
                continue;
            };
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(StoreError::sql("reading collector output"))?;
            let corrupt = |message: String| StoreError::Corrupt {
                scan: id,
                what: name.clone(),
                message,
            };
            let (mut gone, mut came) = (Vec::new(), Vec::new());
            let merged = if sorted(items) {
                let stream = open(&mut conn, &hash).await.map_err(corrupt)?;
                merge(stream, items, |d| {
                    match d {
                        Differs::Gone(o) => gone.push(o),
                        Differs::New(n) => came.push(n.clone()),
                        Differs::Changed(o, n) => {
                            gone.push(o);
                            came.push(n.clone());
                        }
                    }
                    true
                })
            } else {
                Err(MergeError::Unsorted)
            };
            match merged {
                Ok(()) => {}
                Err(MergeError::Read(e)) => return Err(corrupt(e)),
                Err(MergeError::Unsorted | MergeError::Stopped) => {
                    gone = super::load_blob(&mut conn, &hash).await.map_err(corrupt)?;
                    came = items.clone();
                }
            }
            old_side.results.insert(name.clone(), Outcome::Items(gone));
            new_side.results.insert(name, Outcome::Items(came));
        }
        for (name, outcome) in &new.results {
            if !new_side.results.contains_key(name) {
                let outcome = match outcome {
                    Outcome::Items(_) => Outcome::Items(Vec::new()),
                    other => other.clone(),
                };
                new_side.results.insert(name.clone(), outcome);
            }
        }
        Ok((old_side, new_side))
    }
}

/// Whether `items` are sorted by unique key (what [`merge`] needs of the new output).
pub fn sorted(items: &[Item]) -> bool {
    items.windows(2).all(|w| w[0].key < w[1].key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(key: &str, v: &str) -> Item {
        Item::new(key).with("v", v)
    }

    fn stream_of(items: &[Item]) -> Items {
        let json = serde_json::to_vec(items).unwrap();
        Box::new(ItemStream::new(Cursor::new(json)).unwrap())
    }

    #[test]
    fn an_array_streams_item_by_item_in_any_spacing() {
        let items = vec![
            Item::new("/etc/\"quoted\"\n\u{7}é"),
            item("b", "x"),
            Item::new("c"),
        ];
        let spaced = serde_json::to_string_pretty(&items).unwrap();
        for json in [serde_json::to_string(&items).unwrap(), spaced] {
            let got: Result<Vec<Item>, String> = ItemStream::new(Cursor::new(json.into_bytes()))
                .unwrap()
                .collect();
            assert_eq!(got.unwrap(), items);
        }
        let empty: Vec<_> = ItemStream::new(Cursor::new(b" [ ] ".to_vec()))
            .unwrap()
            .collect();
        assert!(empty.is_empty());
        let bad: Vec<_> =
            ItemStream::new(Cursor::new(b"[{\"key\":\"a\"} {\"key\":\"b\"}]".to_vec()))
                .unwrap()
                .collect();
        assert!(
            matches!(&bad[..], [Ok(_), Err(e)] if e.contains("between items")),
            "{bad:?}"
        );
        let cut: Vec<_> = ItemStream::new(Cursor::new(b"[{\"key\":\"a\"},{\"ke".to_vec()))
            .unwrap()
            .collect();
        assert!(matches!(&cut[..], [Ok(_), Err(_)]), "{cut:?}");
        assert!(ItemStream::new(Cursor::new(b"{}".to_vec())).is_err());
    }

    #[test]
    fn an_unsorted_stored_output_is_refused_not_misread() {
        let old = vec![item("b", "1"), item("a", "1")];
        let r = merge(stream_of(&old), &[], |_| true);
        assert!(matches!(r, Err(MergeError::Unsorted)), "{r:?}");
        let dup = vec![item("a", "1"), item("a", "2")];
        assert!(matches!(
            merge(stream_of(&dup), &[], |_| true),
            Err(MergeError::Unsorted)
        ));
    }

    proptest! {
        /// A delta applied to a stream gives what it gives applied to the list.
        #[test]
        fn applied_as_a_stream_as_to_a_list(
            old in proptest::collection::btree_map("[a-e]{1,3}", "[xy]", 0..40),
            new in proptest::collection::btree_map("[a-e]{1,3}", "[xy]", 0..40),
        ) {
            let old: Vec<Item> = old.iter().map(|(k, v)| item(k, v)).collect();
            let new: Vec<Item> = new.iter().map(|(k, v)| item(k, v)).collect();
            let mut delta = Delta { base: "h".into(), ..Delta::default() };
            merge(stream_of(&old), &new, |d| {
                match d {
                    Differs::Gone(o) => delta.del.push(o.key),
                    Differs::New(n) | Differs::Changed(_, n) => delta.put.push(n.clone()),
                }
                true
            }).unwrap();
            let streamed: Result<Vec<Item>, String> =
                Applied::new(stream_of(&old), delta).collect();
            prop_assert_eq!(streamed.unwrap(), new);
        }

        /// The merge reports exactly the keys whose items differ, with both sides.
        #[test]
        fn the_merge_finds_exactly_what_differs(
            old in proptest::collection::btree_map("[a-e]{1,3}", "[xy]", 0..40),
            new in proptest::collection::btree_map("[a-e]{1,3}", "[xy]", 0..40),
        ) {
            let (o, n) = (old.clone(), new.clone());
            let old: Vec<Item> = old.iter().map(|(k, v)| item(k, v)).collect();
            let new: Vec<Item> = new.iter().map(|(k, v)| item(k, v)).collect();
            let mut seen = Vec::new();
            merge(stream_of(&old), &new, |d| {
                seen.push(match d {
                    Differs::Gone(x) => (x.key, true, false),
                    Differs::New(y) => (y.key.clone(), false, true),
                    Differs::Changed(x, y) => { assert_eq!(x.key, y.key); (x.key, true, true) }
                });
                true
            }).unwrap();
            let mut want = Vec::new();
            let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                match (o.get(k), n.get(k)) {
                    (Some(a), Some(b)) if a == b => {}
                    (a, b) => want.push((k.clone(), a.is_some(), b.is_some())),
                }
            }
            prop_assert_eq!(seen, want);
        }
    }
}

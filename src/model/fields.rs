//! [`Fields`]: the named text values of one item, packed into a single allocation.
//!
//! A tree of a million files is a million items, each with about seven fields; as a
//! `BTreeMap<String, String>` one item cost ~1.3 KB (a ~540-byte leaf node plus fourteen small
//! strings), so one snapshot of such a tree cost over a gigabyte. Here the entries of an item
//! live in one `Box<str>`, sorted by name, each written as `len(name) name len(value) value`,
//! so an item's fields cost 16 bytes inline plus one heap block of about their text's length.
//!
//! A length is written in ASCII so that the whole buffer stays a valid `str` and every slice of
//! it is a plain, checked `&buf[a..b]`, with no unsafe code and no UTF-8 re-validation: six bits
//! of the length per byte, least significant first, bit 6 set on every byte but the last.
//! Names and values under 64 bytes (nearly all of them) take one length byte.
//!
//! The encoding is canonical (names sorted and unique, lengths in the fewest bytes), so two
//! `Fields` hold the same map exactly when their buffers are equal: equality and hashing compare
//! bytes. The JSON form is the one `BTreeMap<String, String>` had (an object, keys sorted), and
//! stored content hashes depend on those exact bytes.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The fields of an item worth comparing between scans, by name, rendered as text.
///
/// Works like a small sorted map of `String` to `String`: lookups are a linear scan (an item
/// has a handful of fields) and `insert` rewrites the one buffer.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Fields(Box<str>);

/// Bit 6 of a length byte: more length bytes follow.
const MORE: u8 = 0x40;
/// The six bits of a length byte that carry the value.
const BITS: u8 = 0x3f;

/// Appends `len` as length bytes.
fn push_len(buf: &mut String, mut len: usize) {
    loop {
        let low = (len & BITS as usize) as u8;
        len >>= 6;
        if len == 0 {
            buf.push(char::from(low));
            return;
        }
        buf.push(char::from(low | MORE));
    }
}

/// How many bytes [`push_len`] writes for `len`.
fn len_size(len: usize) -> usize {
    (usize::BITS - len.leading_zeros()).div_ceil(6).max(1) as usize
}

/// The length at the start of `bytes`, and how many bytes it took.
#[inline]
fn read_len(bytes: &[u8]) -> (usize, usize) {
    let first = bytes[0];
    if first & MORE == 0 {
        return (first as usize, 1); // the common case: under 64 bytes
    }
    let (mut len, mut shift, mut at) = (0usize, 0, 0);
    loop {
        let b = bytes[at];
        at += 1;
        len |= ((b & BITS) as usize) << shift;
        shift += 6;
        if b & MORE == 0 {
            return (len, at);
        }
    }
}

/// The next name or value of `rest`, moving `rest` past it. `rest` starts at a length byte.
#[inline]
fn take<'a>(rest: &mut &'a str) -> &'a str {
    let (len, at) = read_len(rest.as_bytes());
    let (text, tail) = rest[at..].split_at(len);
    *rest = tail;
    text
}

/// Appends one entry (the caller keeps names sorted and unique).
fn push_entry(buf: &mut String, name: &str, value: &str) {
    push_len(buf, name.len());
    buf.push_str(name);
    push_len(buf, value.len());
    buf.push_str(value);
}

/// The buffer size of one entry.
fn entry_size(name: &str, value: &str) -> usize {
    len_size(name.len()) + name.len() + len_size(value.len()) + value.len()
}

impl Fields {
    pub fn new() -> Self {
        Fields::default()
    }

    /// The entries in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.0 }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(name, _)| name)
    }

    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(_, value)| value)
    }

    /// The number of fields (a scan of the buffer's length bytes).
    pub fn len(&self) -> usize {
        let bytes = self.0.as_bytes();
        let (mut at, mut texts) = (0, 0);
        while at < bytes.len() {
            let (len, used) = read_len(&bytes[at..]);
            at += used + len;
            texts += 1;
        }
        texts / 2 // a name and a value each
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .take_while(|(n, _)| *n <= name)
            .find_map(|(n, v)| (n == name).then_some(v))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Where `name`'s entry is, or would go: its byte range (empty when absent) and whether
    /// it is there.
    fn find(&self, name: &str) -> (Range<usize>, bool) {
        let mut rest: &str = &self.0;
        loop {
            let start = self.0.len() - rest.len();
            if rest.is_empty() {
                return (start..start, false);
            }
            let mut after = rest;
            let n = take(&mut after);
            take(&mut after);
            if n >= name {
                let end = if n == name {
                    self.0.len() - after.len()
                } else {
                    start
                };
                return (start..end, n == name);
            }
            rest = after;
        }
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let (range, _) = self.find(name);
        let mut buf = String::from(std::mem::take(&mut self.0));
        buf.replace_range(range.clone(), "");
        buf.reserve_exact(entry_size(name, value));
        if range.start == buf.len() {
            // Fields are mostly added in name order: append, no shifting.
            push_entry(&mut buf, name, value);
        } else {
            let mut entry = String::with_capacity(entry_size(name, value));
            push_entry(&mut entry, name, value);
            buf.insert_str(range.start, &entry);
        }
        self.0 = buf.into_boxed_str();
    }

    /// Takes `name` out, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let (range, found) = self.find(name);
        if !found {
            return None;
        }
        let value = self.get(name).map(str::to_string);
        let mut buf = String::from(std::mem::take(&mut self.0));
        buf.replace_range(range, "");
        self.0 = buf.into_boxed_str();
        value
    }

    /// Keeps only the fields for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut buf = String::new();
        let mut dropped = false;
        for (name, value) in self.iter() {
            if keep(name, value) {
                push_entry(&mut buf, name, value);
            } else {
                dropped = true;
            }
        }
        if dropped {
            self.0 = buf.into_boxed_str();
        }
    }

    /// Builds from entries in any order; for a repeated name the last value counts (as when
    /// inserting them one by one).
    fn from_pairs(mut pairs: Vec<(&str, &str)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(b.0)); // stable: a repeated name keeps its order
        let mut unique: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match unique.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => unique.push(pair),
            }
        }
        let size = unique.iter().map(|(n, v)| entry_size(n, v)).sum();
        let mut buf = String::with_capacity(size);
        for (name, value) in unique {
            push_entry(&mut buf, name, value);
        }
        Fields(buf.into_boxed_str())
    }
}

/// The entries of a [`Fields`], in name order.
#[derive(Clone)]
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let name = take(&mut self.rest);
        let value = take(&mut self.rest);
        Some((name, value))
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let owned: Vec<(K, V)> = iter.into_iter().collect();
        Fields::from_pairs(
            owned
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .collect(),
        )
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Fields {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Fields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.insert(name, value);
        }
    }
}

/// `fields["name"]`: the value, panicking when there is none (as a map's index does).
impl std::ops::Index<&str> for Fields {
    type Output = str;
    fn index(&self, name: &str) -> &str {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no field {name:?}"),
        }
    }
}

/// Prints like a map: `{"owner": "root", "perm": "-rw-r--r--"}`.
impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A JSON object of strings, keys sorted: the bytes `BTreeMap<String, String>` wrote.
impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of field names to string values")
    }

    /// Writes each name and value straight into the buffer (no string per field); stored
    /// fields come sorted, and anything else is sorted afterwards.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut buf = String::new();
        let mut sorted = true;
        let mut last_name: Option<Range<usize>> = None;
        loop {
            let start = buf.len();
            if map.next_key_seed(Append(&mut buf))?.is_none() {
                break;
            }
            let name_len = take(&mut &buf[start..]).len();
            let name = buf.len() - name_len..buf.len();
            if let Some(last) = last_name {
                sorted &= buf[last] < buf[name.clone()];
            }
            last_name = Some(name);
            map.next_value_seed(Append(&mut buf))?;
        }
        if sorted {
            return Ok(Fields(buf.into_boxed_str()));
        }
        Ok(Fields::from_pairs(Iter { rest: &buf }.collect()))
    }
}

/// Deserialises one string by appending it, length first, to a buffer.
struct Append<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        push_len(self.0, s.len());
        self.0.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

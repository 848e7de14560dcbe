//! Property-test helpers for the parsers of host text (issue 8, fault matrix): every parser is
//! fed random bytes, text in its own format's alphabet, and its fixture cut short, recombined
//! and with bytes changed, and must neither panic nor let a control character into an item.
//!
//! Cases per property: `DAWGMON_PROPTEST_CASES` (default 64, so `cargo test` stays quick; the
//! reliability run sets 100000).

use proptest::prelude::*;
use proptest::sample::Index;

use crate::model::Item;

/// The proptest configuration of every parser property.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("DAWGMON_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        // Failures print their minimal input; no regression files appear in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that break parsers: separators, escapes, quotes, digits, a multi-byte character.
const NASTY: &str = " \t\n\r:;,.=-#[]\\\"'/0123456789abcdefx\u{1b}é\u{0}";

/// Input for a parser whose well-formed input looks like `sample`.
pub fn bytes(sample: &'static str) -> BoxedStrategy<Vec<u8>> {
    let mut alphabet: Vec<u8> = sample.bytes().chain(NASTY.bytes()).collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    let lines: Vec<&'static str> = sample.split_inclusive('\n').collect();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(proptest::sample::select(alphabet), 0..512),
        // The sample cut short, with a few bytes changed.
        (
            0..=sample.len(),
            proptest::collection::vec((any::<Index>(), any::<u8>()), 0..6)
        )
            .prop_map(move |(cut, edits)| {
                let mut b = sample.as_bytes()[..cut].to_vec();
                for (at, v) in edits {
                    if !b.is_empty() {
                        let i = at.index(b.len());
                        b[i] = v;
                    }
                }
                b
            }),
        // The sample's lines recombined, each possibly cut short.
        proptest::collection::vec((proptest::sample::select(lines), any::<Index>()), 0..24)
            .prop_map(|picked| {
                let mut b = Vec::new();
                for (line, cut) in picked {
                    b.extend_from_slice(&line.as_bytes()[..cut.index(line.len() + 1)]);
                }
                b
            }),
    ]
    .boxed()
}

/// [`bytes`] as text, the way `Host::read_to_string` decodes it.
pub fn text(sample: &'static str) -> BoxedStrategy<String> {
    bytes(sample)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
        .boxed()
}

/// Fails when a key or field of `items` holds a control character (they reach terminals).
pub fn assert_printable(items: &[Item]) {
    for item in items {
        let texts = std::iter::once(item.key.as_str()).chain(item.fields.values());
        for t in texts {
            assert!(
                !t.chars().any(crate::host::is_unsafe_char),
                "raw control character in {item:?}"
            );
        }
    }
}

//! Tests of [`Fields`]: it must behave as the `BTreeMap<String, String>` it replaced, down to
//! the JSON bytes (stored content hashes are hashes of those bytes).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::Item;

/// Names and values that stress JSON escaping and the length encoding.
fn awkward() -> Vec<(String, String)> {
    vec![
        ("sha256".into(), "ab".repeat(32)),
        ("".into(), "".into()),
        ("empty".into(), "".into()),
        ("quote\"d".into(), "say \"hi\" \\ back\\slash".into()),
        (
            "ctl".into(),
            "nul\0 bell\x07 tab\t nl\n del\x7f esc\x1b".into(),
        ),
        (
            "unicodé".into(),
            "ünï €uro 𝄞 clef, \u{2028} line sep".into(),
        ),
        ("63".into(), "x".repeat(63)),
        ("64".into(), "y".repeat(64)),
        ("4095".into(), "z".repeat(4095)),
        ("4096".into(), "é".repeat(2048)),
        ("big".into(), "w".repeat(300_000)),
        ("Owner".into(), "upper case sorts first".into()),
    ]
}

fn both(pairs: &[(String, String)]) -> (Fields, BTreeMap<String, String>) {
    let mut fields = Fields::new();
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        fields.insert(k, v);
        map.insert(k.clone(), v.clone());
    }
    (fields, map)
}

#[test]
fn json_is_byte_for_byte_the_btreemap_json() {
    let (fields, map) = both(&awkward());
    assert_eq!(
        serde_json::to_vec(&fields).unwrap(),
        serde_json::to_vec(&map).unwrap()
    );
    assert_eq!(
        serde_json::to_string_pretty(&fields).unwrap(),
        serde_json::to_string_pretty(&map).unwrap()
    );
    // Inside an item, as the store writes them; an empty map is left out of the item.
    #[derive(Serialize)]
    struct OldItem<'a> {
        key: &'a str,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        fields: &'a BTreeMap<String, String>,
    }
    let item = Item {
        key: "/etc/x".into(),
        fields,
    };
    let old = OldItem {
        key: "/etc/x",
        fields: &map,
    };
    assert_eq!(
        serde_json::to_string(&item).unwrap(),
        serde_json::to_string(&old).unwrap()
    );
    let bare = OldItem {
        key: "/etc/x",
        fields: &BTreeMap::new(),
    };
    assert_eq!(
        serde_json::to_string(&Item::new("/etc/x")).unwrap(),
        serde_json::to_string(&bare).unwrap()
    );
    assert_eq!(serde_json::to_string(&Fields::new()).unwrap(), "{}");
}

#[test]
fn reads_back_what_the_btreemap_wrote() {
    let (fields, map) = both(&awkward());
    let json = serde_json::to_string(&map).unwrap();
    let back: Fields = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fields);
    assert_eq!(back.len(), map.len());
    // From a reader too (no borrowed strings there).
    let read: Fields = serde_json::from_reader(json.as_bytes()).unwrap();
    assert_eq!(read, fields);
}

#[test]
fn unsorted_and_repeated_json_keys_read_as_a_map_reads_them() {
    let json = r#"{"perm": "a", "owner": "b", "perm": "c", "": "d", "group": "e", "owner": "f"}"#;
    let fields: Fields = serde_json::from_str(json).unwrap();
    let map: BTreeMap<String, String> = serde_json::from_str(json).unwrap();
    assert!(
        fields
            .iter()
            .eq(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    );
    assert_eq!(fields, Fields::from_iter(&map));
}

#[test]
fn a_value_that_is_not_a_string_is_an_error() {
    assert!(serde_json::from_str::<Fields>(r#"{"size": 12}"#).is_err());
    assert!(serde_json::from_str::<Fields>(r#"["size", "12"]"#).is_err());
    assert!(serde_json::from_str::<Fields>(r#"{"size": "12""#).is_err());
}

#[test]
fn insert_replaces_and_keeps_names_sorted() {
    let mut f = Fields::new();
    f.insert("perm", "-rw-r--r--");
    f.insert("owner", "root");
    f.insert(String::from("size"), 937.to_string());
    f.insert("owner", "alice");
    assert_eq!(f.keys().collect::<Vec<_>>(), ["owner", "perm", "size"]);
    assert_eq!(
        f.values().collect::<Vec<_>>(),
        ["alice", "-rw-r--r--", "937"]
    );
    assert_eq!(f.get("owner"), Some("alice"));
    assert_eq!(&f["size"], "937");
    assert_eq!(f.get("own"), None);
    assert!(f.contains_key("perm") && !f.contains_key("group"));
    assert_eq!(f.len(), 3);
    // A longer and a shorter replacement keep the neighbours intact.
    f.insert("perm", "p".repeat(5000));
    f.insert("owner", "");
    assert_eq!(f.get("perm").map(str::len), Some(5000));
    assert_eq!(f.get("owner"), Some(""));
    assert_eq!(f.get("size"), Some("937"));
}

#[test]
fn remove_and_retain() {
    let mut f = Fields::from([("a", "1"), ("b", "2"), ("c", "3")]);
    assert_eq!(f.remove("b"), Some("2".to_string()));
    assert_eq!(f.remove("b"), None);
    assert_eq!(f, Fields::from([("c", "3"), ("a", "1")]));
    f.retain(|name, _| name != "a");
    assert_eq!(f, Fields::from([("c", "3")]));
    f.retain(|_, value| value == "3");
    assert_eq!(f.len(), 1);
    f.retain(|_, _| false);
    assert!(f.is_empty());
    assert_eq!(f, Fields::new());
}

#[test]
fn equal_maps_are_equal_and_hash_alike_whatever_the_insertion_order() {
    use std::hash::{BuildHasher, RandomState};
    let pairs = awkward();
    let forward: Fields = pairs.iter().cloned().collect();
    let mut backward = Fields::new();
    backward.extend(pairs.iter().rev().cloned());
    assert_eq!(forward, backward);
    let state = RandomState::new();
    assert_eq!(state.hash_one(&forward), state.hash_one(&backward));
    backward.insert("empty", "now set");
    assert_ne!(forward, backward);
}

#[test]
fn from_iter_keeps_the_last_of_a_repeated_name() {
    let f: Fields = [("k", "first"), ("j", "x"), ("k", "last")]
        .into_iter()
        .collect();
    assert_eq!(f.get("k"), Some("last"));
    assert_eq!(f.len(), 2);
}

#[test]
fn debug_prints_like_the_map() {
    let (fields, map) = both(&awkward()[..6]);
    assert_eq!(format!("{fields:?}"), format!("{map:?}"));
}

#[test]
fn length_bytes_round_trip_at_every_width() {
    for len in [0, 1, 63, 64, 4095, 4096, 262_143, 262_144, usize::MAX] {
        let mut buf = String::new();
        push_len(&mut buf, len);
        assert_eq!(buf.len(), len_size(len), "{len}");
        assert!(buf.is_ascii(), "{len}");
        // Read back with a text of that length after it (only small ones: no giant buffer).
        if len <= 262_144 {
            buf.push_str(&"t".repeat(len));
            let mut rest = buf.as_str();
            assert_eq!(take(&mut rest).len(), len);
            assert!(rest.is_empty());
        }
    }
}

/// One step of the model test: insert, remove or retain on both.
#[derive(Debug, Clone)]
enum Op {
    Insert(String, String),
    Remove(String),
    RetainShorterThan(usize),
}

fn op() -> impl Strategy<Value = Op> {
    // Few names, so inserts replace and removes hit; values of any length class.
    let name = "[a-dé]{0,3}";
    let value = prop_oneof![
        "[ -~é€]{0,8}".boxed(),
        (60usize..70).prop_map(|n| "v".repeat(n)).boxed(),
        (4090usize..4100).prop_map(|n| "w".repeat(n)).boxed(),
    ];
    prop_oneof![
        4 => (name, value).prop_map(|(n, v)| Op::Insert(n, v)),
        1 => name.prop_map(Op::Remove),
        1 => (0usize..80).prop_map(Op::RetainShorterThan),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any sequence of edits leaves the same map as on a BTreeMap, with the same JSON.
    #[test]
    fn behaves_as_a_btreemap(ops in proptest::collection::vec(op(), 0..30)) {
        let mut f = Fields::new();
        let mut m: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    f.insert(&k, &v);
                    m.insert(k, v);
                }
                Op::Remove(k) => prop_assert_eq!(f.remove(&k), m.remove(&k)),
                Op::RetainShorterThan(n) => {
                    f.retain(|_, v| v.len() < n);
                    m.retain(|_, v| v.len() < n);
                }
            }
            prop_assert!(f.iter().eq(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        }
        prop_assert_eq!(f.len(), m.len());
        let json = serde_json::to_string(&f).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&m).unwrap());
        prop_assert_eq!(serde_json::from_str::<Fields>(&json).unwrap(), f.clone());
        prop_assert_eq!(Fields::from_iter(&m), f);
    }
}

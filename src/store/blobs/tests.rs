use super::*;
use proptest::prelude::*;

fn item(key: &str, v: &str) -> Item {
    Item::new(key).with("v", v)
}

/// `encode` as the store calls it: with the length [`content_hash`] measured.
fn encode_items(items: &[Item], base: Option<(&str, &[Item])>) -> (Vec<u8>, bool) {
    encode(items, content_hash(items).1, base)
}

/// The streamed hash is the address blobs always had: sha256 of `serde_json::to_vec`, over
/// JSON that needs escaping and spans many buffer fills, and over nothing at all.
#[test]
fn the_streamed_hash_is_the_hash_of_the_whole_json() {
    let mut items: Vec<Item> = (0..5_000)
        .map(|n| item(&format!("/etc/f{n:05}"), &"x".repeat(n % 50)))
        .collect();
    items.push(Item::new("/etc/\"quoted\"\n\u{7}é✓").with("target", "../\\x"));
    items.push(Item::new("bare"));
    for items in [&items[..], &items[..1], &[]] {
        let json = serde_json::to_vec(items).unwrap();
        let whole = hex::encode(Sha256::digest(&json));
        assert_eq!(content_hash(items), (whole, json.len() as u64));
    }
    assert!(serde_json::to_vec(&items).unwrap().len() > 200_000);
}

#[test]
fn a_small_change_is_stored_as_a_small_delta() {
    let old: Vec<Item> = (0..10_000)
        .map(|n| item(&format!("/etc/f{n:05}"), "a"))
        .collect();
    let mut new = old.clone();
    new[5000] = item("/etc/f05000", "b");
    new.remove(7);
    new.push(item("/etc/zz", "new"));
    let (data, is_delta) = encode_items(&new, Some(("h0", &old)));
    assert!(is_delta);
    assert!(data.len() < 200, "{} bytes", data.len());
    let Stored::Delta(d) = decode(&data).unwrap() else {
        panic!("not a delta")
    };
    assert_eq!(d.base, "h0");
    assert_eq!(d.del, ["/etc/f00007"]);
    assert_eq!(d.put.len(), 2);
    assert_eq!(apply(old, d), new);
}

#[test]
fn a_large_change_or_no_base_is_stored_whole_and_compressed() {
    let old: Vec<Item> = (0..1000).map(|n| item(&format!("k{n:04}"), "a")).collect();
    let new: Vec<Item> = (0..1000).map(|n| item(&format!("k{n:04}"), "b")).collect();
    let json = serde_json::to_vec(&new).unwrap();
    let (data, is_delta) = encode_items(&new, Some(("h0", &old)));
    assert!(!is_delta);
    assert!(data.starts_with(&ZSTD_MAGIC));
    assert!(
        data.len() < json.len() / 4,
        "{} of {}",
        data.len(),
        json.len()
    );
    assert_eq!(decode(&data).unwrap(), Stored::Whole(new.clone()));
    let (data, is_delta) = encode_items(&new, None);
    assert!(!is_delta);
    assert_eq!(decode(&data).unwrap(), Stored::Whole(new));
}

/// The rule is the delta's JSON against half the whole output's, to the byte: here a delta
/// of one changed item is just over half of a two-item output, and is not used.
#[test]
fn a_delta_must_be_under_half_of_the_whole() {
    let old = vec![item("a", "1"), item("b", "2")];
    let new = vec![item("a", "1"), item("b", "3")];
    let half = content_hash(&new).1 / 2;
    let delta = serde_json::to_vec(&diff("h0", &old, &new)).unwrap().len() as u64;
    assert!(delta >= half, "{delta} < {half}");
    assert_eq!(
        encode_items(&new, Some(("h0", &old))),
        (serde_json::to_vec(&new).unwrap(), false)
    );
    // Against a whole output of twice its length plus two bytes, the same delta is worth it;
    // plus one, not. Small rows stay uncompressed.
    assert!(!encode(&new, delta * 2 + 1, Some(("h0", &old))).1);
    let (data, is_delta) = encode(&new, delta * 2 + 2, Some(("h0", &old)));
    assert!(is_delta);
    assert_eq!(data, serde_json::to_vec(&diff("h0", &old, &new)).unwrap());
}

#[test]
fn unsorted_output_is_stored_whole_as_given() {
    let old = vec![item("a", "1"), item("b", "2"), item("c", "3")];
    let new = vec![item("b", "2"), item("a", "1"), item("c", "4")];
    let (data, is_delta) = encode_items(&new, Some(("h0", &old)));
    assert!(!is_delta);
    assert_eq!(decode(&data).unwrap(), Stored::Whole(new));
}

#[test]
fn rows_written_before_deltas_read_as_before() {
    let items = vec![item("a", "1"), item("b", "2")];
    let old_row = serde_json::to_vec(&items).unwrap();
    assert_eq!(decode(&old_row).unwrap(), Stored::Whole(items));
    assert_eq!(decode(b"[]").unwrap(), Stored::Whole(vec![]));
    assert!(decode(b"{\"bad\":1}").unwrap_err().contains("delta"));
    assert!(decode(&[0x28, 0xb5, 0x2f, 0xfd, 0]).is_err());
}

proptest! {
    /// Whatever the two outputs, base + delta (as written and read back) gives the new
    /// output back.
    #[test]
    fn apply_inverts_diff(
        old in proptest::collection::btree_map("[a-e]{1,3}", "[xy]", 0..40),
        new in proptest::collection::btree_map("[a-e]{1,3}", "[xy]", 0..40),
    ) {
        let old: Vec<Item> = old.iter().map(|(k, v)| item(k, v)).collect();
        let new: Vec<Item> = new.iter().map(|(k, v)| item(k, v)).collect();
        let json = serde_json::to_vec(&diff("h", &old, &new)).unwrap();
        let d: Delta = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(apply(old, d), new);
    }
}

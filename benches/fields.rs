//! Bench: what one `check_etc`-shaped item costs in memory (the key plus 7 fields: type, owner,
//! group, perm, size, a 64-hex-digit sha256 and package), and how fast a million of them are
//! encoded to JSON, decoded again and compared.
//!
//! `cargo bench --bench fields` builds 1,000,000 items (`FIELDS_ITEMS=N` changes that) and
//! prints the resident memory they added (VmRSS after minus before) per item, then the wall time
//! of each step (the fastest of 3 runs). Under `cargo test` it runs once on 2,000 items and
//! only checks the round trip.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use dawgmon::model::Item;

/// An item like one regular file of the etc collector (keys and values vary like real ones).
fn etc_item(i: usize) -> Item {
    Item::new(format!("/etc/d{:03}/f{:06}", i / 1000, i))
        .with("type", "file")
        .with("owner", "root")
        .with("group", if i.is_multiple_of(7) { "adm" } else { "root" })
        .with("perm", "-rw-r--r--")
        .with("size", 100 + i % 4000)
        .with(
            "sha256",
            format!("{:064x}", (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15),
        )
        .with("package", format!("pkg{}", i % 500))
}

fn main() {
    let full = common::full_run();
    let n = if full {
        common::env_usize("FIELDS_ITEMS", 1_000_000)
    } else {
        2_000
    };
    // Each timed step runs 3 times and reports its fastest run: other processes on the
    // machine only ever add time.
    let runs = if full { 3 } else { 1 };
    let timed = |what: &str, seconds: &mut Vec<f64>| {
        seconds.sort_by(f64::total_cmp);
        if full {
            println!("fields_{what}_seconds={:.3}", seconds[0]);
        }
    };

    let before = common::status_bytes("VmRSS").unwrap_or(0);
    let t = Instant::now();
    let items: Vec<Item> = (0..n).map(etc_item).collect();
    timed("build", &mut vec![t.elapsed().as_secs_f64()]);
    let after = common::status_bytes("VmRSS").unwrap_or(0);
    let per_item = after.saturating_sub(before) / n as u64;

    let mut seconds = Vec::new();
    let mut json = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        json = serde_json::to_vec(&items).expect("items encode");
        seconds.push(t.elapsed().as_secs_f64());
    }
    timed("encode", &mut seconds);

    let mut seconds = Vec::new();
    let mut back: Vec<Item> = Vec::new();
    for _ in 0..runs {
        drop(std::mem::take(&mut back));
        let t = Instant::now();
        back = serde_json::from_slice(&json).expect("items decode");
        seconds.push(t.elapsed().as_secs_f64());
    }
    timed("decode", &mut seconds);

    // The diff's question for an unchanged item: are its fields equal to the stored ones?
    let mut seconds = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let same = items
            .iter()
            .zip(&back)
            .filter(|(a, b)| a.fields == b.fields)
            .count();
        seconds.push(t.elapsed().as_secs_f64());
        assert_eq!(same, n, "a JSON round trip keeps every item's fields");
    }
    timed("compare", &mut seconds);
    assert!(
        items.iter().zip(&back).all(|(a, b)| a.key == b.key) && back.len() == n,
        "and every key"
    );

    if !full {
        println!("fields bench smoke run ok ({n} items); run `cargo bench --bench fields`");
        return;
    }
    println!("fields_items={n}");
    println!("fields_rss_bytes_per_item={per_item}");
    println!("fields_json_bytes={}", json.len());
    println!(
        "{n} check_etc-like items: {per_item} resident bytes per item ({} in all)",
        common::mb(after.saturating_sub(before))
    );
}

//! Bench: the diff of two snapshots of 1,000,000 items each, about 1% of them changed
//! (0.8% modified, 0.1% added, 0.1% removed), as one `check_etc`-shaped collector output.
//!
//! `cargo bench --bench diff` prints the median wall time of 5 diffs and the peak memory the
//! diff itself needed above the two snapshots (VmHWM after resetting it, minus VmRSS before).
//! `DIFF_ITEMS=N` changes the size. Under `cargo test` it runs once on 2,000 items.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use dawgmon::diff::diff;
use dawgmon::model::{ChangeKind, Item, Outcome, Snapshot};

/// An item shaped like one file of the etc collector: owner, group, perm, size, sha256.
fn file_item(i: usize, salt: usize) -> Item {
    Item::new(format!("/etc/d{:03}/f{:06}", i / 1000, i))
        .with("owner", "root")
        .with("group", if i.is_multiple_of(7) { "adm" } else { "root" })
        .with("perm", "-rw-r--r--")
        .with("size", 100 + i % 4000)
        .with(
            "sha256",
            format!(
                "{:064x}",
                (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15 + salt as u128
            ),
        )
}

/// The old and the new snapshot: every 125th item modified, every 1000th removed, and one new
/// item per 1000 added (at the end of the key space and in between).
fn snapshots(n: usize) -> (Snapshot, Snapshot, usize) {
    let mut old = Vec::with_capacity(n);
    let mut new = Vec::with_capacity(n);
    let mut expected = 0;
    for i in 0..n {
        old.push(file_item(i, 0));
        if i % 1000 == 500 {
            expected += 1; // removed
            continue;
        }
        if i % 125 == 7 {
            expected += 1; // modified
            new.push(file_item(i, 1).with("size", 1));
        } else {
            new.push(file_item(i, 0));
        }
    }
    for j in 0..n / 1000 {
        expected += 1; // added
        new.push(Item::new(format!("/etc/d{:03}/new{:06}", j, j)).with("owner", "root"));
    }
    let wrap = |items: Vec<Item>| Snapshot {
        results: BTreeMap::from([("check_etc".to_string(), Outcome::Items(items).normalized())]),
    };
    (wrap(old), wrap(new), expected)
}

fn main() {
    let full = common::full_run();
    let n = if full {
        common::env_usize("DIFF_ITEMS", 1_000_000)
    } else {
        2_000
    };
    let runs = if full { 5 } else { 1 };

    let t = Instant::now();
    let (old, new, expected) = snapshots(n);
    let built = t.elapsed();
    let base_rss = common::status_bytes("VmRSS").unwrap_or(0);
    if full {
        println!(
            "diff bench: two snapshots of {n} items built in {:.2}s, {} resident",
            built.as_secs_f64(),
            common::mb(base_rss)
        );
    }

    let mut times = Vec::new();
    let mut peak_extra = 0u64;
    let mut peak_ok = true;
    for _ in 0..runs {
        let before = common::status_bytes("VmRSS").unwrap_or(0);
        peak_ok &= common::reset_peak();
        let t = Instant::now();
        let d = diff(&old, &new);
        let elapsed = t.elapsed();
        let hwm = common::status_bytes("VmHWM").unwrap_or(0);
        peak_extra = peak_extra.max(hwm.saturating_sub(before));
        assert_eq!(d.changes.len(), expected, "diff found the planted changes");
        assert!(d.changes.iter().any(|c| c.kind == ChangeKind::Modified));
        drop(d);
        times.push(elapsed.as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    if !full {
        println!("diff bench smoke run ok ({n} items); run `cargo bench --bench diff` to measure");
        return;
    }
    let peak = if peak_ok {
        common::mb(peak_extra)
    } else {
        "unknown (cannot reset VmHWM)".to_string()
    };
    println!("diff_items={n}");
    println!("diff_changes={expected}");
    println!("diff_seconds_median={median:.3}");
    println!(
        "diff_seconds_all={}",
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    println!("diff_peak_extra_bytes={peak_extra}");
    println!("diff_snapshots_rss_bytes={base_rss}");
    println!(
        "diff of {n} items ({expected} changes): median {median:.3}s over {runs} runs, peak {peak} above the two snapshots ({} resident)",
        common::mb(base_rss)
    );
}

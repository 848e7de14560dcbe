//! Bench: database size after 1, 100 and 1,000 scans of an unchanged host, and after 100 scans
//! with one changed file each.
//!
//! `cargo bench --bench store` takes one live scan of this host (the default collectors, less
//! those named in `STORE_SKIP`, comma-separated) and saves that snapshot again and again with
//! [`Store::save`] (no retention), closing the store (which checkpoints the WAL) before each
//! measurement of database + WAL size. Under `cargo test` it runs a few saves of a small
//! synthetic snapshot instead.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use dawgmon::collectors;
use dawgmon::host::Host;
use dawgmon::model::{Item, Outcome, Snapshot};
use dawgmon::scan::{self, ScanOptions};
use dawgmon::store::{NewScan, Store};

fn meta() -> NewScan {
    let now = Utc::now();
    NewScan {
        label: None,
        started_at: now,
        finished_at: now,
        hostname: "bench".into(),
        root: "/".into(),
    }
}

fn live_snapshot() -> Snapshot {
    let skip: Vec<String> = std::env::var("STORE_SKIP")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let chosen: Vec<_> = collectors::select(&[])
        .expect("default set")
        .into_iter()
        .filter(|c| !skip.iter().any(|s| s == c.name()))
        .collect();
    let out = scan::run(
        Arc::new(Host::new("/")),
        &chosen,
        &ScanOptions::default(),
        &|_| {},
    );
    out.snapshot
}

fn synthetic_snapshot() -> Snapshot {
    let items = (0..200)
        .map(|i| Item::new(format!("/etc/f{i:04}")).with("size", i))
        .collect();
    let mut s = Snapshot::default();
    s.results.insert("check_etc".into(), Outcome::Items(items));
    s.results.insert(
        "check_users".into(),
        Outcome::Items(vec![Item::new("root")]),
    );
    s.results.insert(
        "systemd_units".into(),
        Outcome::Unavailable("no systemd".into()),
    );
    s
}

/// The collector whose items are changed, one file per scan: check_etc when it has items, else
/// the collector with the most items.
fn changing_collector(s: &Snapshot) -> String {
    let count = |o: &Outcome| match o {
        Outcome::Items(v) => v.len(),
        _ => 0,
    };
    if s.results.get("check_etc").is_some_and(|o| count(o) > 0) {
        return "check_etc".into();
    }
    s.results
        .iter()
        .max_by_key(|(_, o)| count(o))
        .map(|(n, _)| n.clone())
        .expect("a collector with items")
}

/// Saves `snapshot` (through `edit`, given the scan number) `from..to` times, then closes the
/// store and returns the size of database + WAL.
async fn save_range(
    path: &std::path::Path,
    snapshot: &mut Snapshot,
    range: std::ops::Range<usize>,
    edit: &dyn Fn(&mut Snapshot, usize),
) -> u64 {
    let store = Store::open(path).await.expect("open the bench database");
    for i in range {
        edit(snapshot, i);
        store.save(&meta(), snapshot).await.expect("save");
    }
    store.close().await;
    let wal = format!("{}-wal", path.display());
    [path.to_path_buf(), wal.into()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = common::full_run();
    let (scans, changed_scans) = if full {
        (common::env_usize("STORE_SCANS", 1000), 100)
    } else {
        (10, 5)
    };
    let t = Instant::now();
    let mut snapshot = if full {
        live_snapshot()
    } else {
        synthetic_snapshot()
    };
    let scanned = t.elapsed();
    let blob_bytes: usize = snapshot
        .results
        .values()
        .map(|o| match o {
            Outcome::Items(v) => serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0),
            _ => 0,
        })
        .sum();
    let items: usize = snapshot
        .results
        .values()
        .map(|o| match o {
            Outcome::Items(v) => v.len(),
            _ => 0,
        })
        .sum();
    let dir = tempfile::tempdir().expect("temp dir");

    // Unchanged host: the same snapshot saved 1, 100, 1000 times into one database.
    let unchanged = dir.path().join("unchanged.db");
    let same = |_: &mut Snapshot, _: usize| {};
    let marks = [1, scans.min(100), scans];
    let mut sizes = Vec::new();
    let t = Instant::now();
    let mut done = 0;
    for &m in &marks {
        sizes.push((
            m,
            save_range(&unchanged, &mut snapshot, done..m, &same).await,
        ));
        done = m;
    }
    let unchanged_secs = t.elapsed().as_secs_f64();

    // One changed file per scan.
    let name = changing_collector(&snapshot);
    let changed_db = dir.path().join("changed.db");
    let edit = |s: &mut Snapshot, i: usize| {
        if let Some(Outcome::Items(v)) = s.results.get_mut(&name) {
            let n = v.len();
            v[(i * 7919) % n]
                .fields
                .insert("size", format!("{}", 1_000_000 + i));
        }
    };
    let t = Instant::now();
    let changed_size = save_range(&changed_db, &mut snapshot, 0..changed_scans, &edit).await;
    let changed_secs = t.elapsed().as_secs_f64();
    let changed_blob = match snapshot.results.get(&name) {
        Some(Outcome::Items(v)) => serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0),
        _ => 0,
    };

    if !full {
        assert!(sizes.iter().all(|(_, s)| *s > 0));
        println!("store bench smoke run ok; run `cargo bench --bench store` to measure");
        return;
    }
    let (n1, s1) = sizes[0];
    let (nl, sl) = sizes[sizes.len() - 1];
    println!(
        "store bench: one live scan ({items} items, {} of JSON over {} collectors) in {:.1}s",
        common::mb(blob_bytes as u64),
        snapshot.results.len(),
        scanned.as_secs_f64()
    );
    for (m, s) in &sizes {
        println!("store_unchanged_{m}_bytes={s}");
    }
    println!(
        "store_unchanged_per_scan_bytes={}",
        (sl - s1) / (nl - n1).max(1) as u64
    );
    println!("store_unchanged_added_bytes={}", sl - s1);
    println!("store_unchanged_seconds={unchanged_secs:.1}");
    println!("store_changed_{changed_scans}_bytes={changed_size}");
    println!("store_changed_collector={name}");
    println!("store_changed_blob_bytes={changed_blob}");
    println!("store_changed_seconds={changed_secs:.1}");
    println!("store_snapshot_items={items}");
    println!("store_snapshot_json_bytes={blob_bytes}");
}

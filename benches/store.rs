//! Bench: database size after 1, 100 and 1,000 scans of an unchanged host, and after 100 scans
//! with one changed file each.
//!
//! `cargo bench --bench store` takes one live scan of this host (the default collectors, less
//! those named in `STORE_SKIP`, comma-separated) and saves that snapshot again and again with
//! [`Store::save`] (no retention), closing the store (which checkpoints the WAL) before each
//! measurement of database + WAL size. Under `cargo test` it runs a few saves of a small
//! synthetic snapshot instead.
//!
//! `STORE_ITEMS=1000000 cargo bench --bench store` measures one huge output instead (a
//! synthetic check_etc of that many files): its first save, an unchanged save, a save with one
//! file changed, and the load of the previous output that the diff then needs, each with its
//! wall time and peak resident memory (VmHWM, reset before each step). Under `cargo test` a
//! 2,000-item version of it runs too, checking what each save adds to the database.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use dawgmon::collectors;
use dawgmon::host::Host;
use dawgmon::model::{Item, Outcome, Snapshot};
use dawgmon::scan::{self, ScanOptions};
use dawgmon::store::{NewScan, ScanInfo, Store};

fn meta() -> NewScan {
    let now = Utc::now();
    NewScan {
        label: None,
        started_at: now,
        finished_at: now,
        hostname: "bench".into(),
        root: "/".into(),
        trigger: None,
    }
}

fn live_snapshot() -> Snapshot {
    let skip: Vec<String> = std::env::var("STORE_SKIP")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let chosen: Vec<_> = collectors::Registry::default()
        .select(&[])
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

/// A check_etc-like item: a file with owner, group, mode, size, type and content hash (about
/// 190 bytes of JSON, as on a real tree).
fn file_item(n: usize, version: usize) -> Item {
    let digest = format!(
        "{:016x}",
        (n as u64 ^ (version as u64) << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    Item::new(format!("/srv/tree/d{:04}/f{n:07}.conf", n / 1000))
        .with("group", "root")
        .with("owner", "root")
        .with("perm", "-rw-r--r--")
        .with("sha256", digest.repeat(4))
        .with("size", 1000 + n % 5000)
        .with("type", "file")
}

/// Runs `step`, printing its wall time, the peak resident memory while it ran (VmHWM), and how
/// far above the resident memory at its start that peak was (what the step itself cost).
async fn measured<T>(quiet: bool, what: &str, step: impl std::future::Future<Output = T>) -> T {
    common::reset_peak();
    let rss = common::status_bytes("VmRSS").unwrap_or(0);
    let t = Instant::now();
    let out = step.await;
    if !quiet {
        let peak = common::status_bytes("VmHWM").unwrap_or(0);
        println!(
            "store_big_{what}: {:.3} s, peak RSS {} (+{})",
            t.elapsed().as_secs_f64(),
            common::mb(peak),
            common::mb(peak.saturating_sub(rss)),
        );
    }
    out
}

/// Size of the database at `path` once closed (the WAL checkpointed into it). The pool's close
/// returns before its last connection has checkpointed and removed the WAL on a busy machine, so
/// this waits (up to 5 s) for the WAL to go; then it counts what is left in it.
fn settled_size(path: &std::path::Path) -> u64 {
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while len(&wal) > 0 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    len(path) + len(&wal)
}

/// Saves `snapshot` as step `what` (measured), in a store opened for it and closed after, and
/// returns the scan stored and how much the database grew.
async fn save_step(
    path: &std::path::Path,
    snapshot: &Snapshot,
    quiet: bool,
    what: &str,
) -> (ScanInfo, u64) {
    let before = settled_size(path);
    let store = Store::open(path).await.expect("open the bench database");
    let saved = measured(quiet, what, store.save(&meta(), snapshot))
        .await
        .expect("save");
    store.close().await;
    (saved, settled_size(path).saturating_sub(before))
}

/// One huge output saved three times (new, unchanged, one item changed), then the previous
/// output compared with the changed one as the engine does (read item by item, keeping what
/// differs) and read whole from the database as `dawgctl diff` does. Returns the database
/// growth of each save.
async fn big_output(n: usize, quiet: bool) -> [u64; 3] {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.db");
    let mut snapshot = measured(quiet, "build", async {
        let mut s = Snapshot::default();
        s.results.insert(
            "check_etc".into(),
            Outcome::Items((0..n).map(|i| file_item(i, 0)).collect()),
        );
        s
    })
    .await;
    let (_, first) = save_step(&path, &snapshot, quiet, "save_first").await;
    let (prev, unchanged) = save_step(&path, &snapshot, quiet, "save_unchanged").await;
    if let Some(Outcome::Items(v)) = snapshot.results.get_mut("check_etc") {
        v[n / 2] = file_item(n / 2, 1);
    }
    let (_, changed) = save_step(&path, &snapshot, quiet, "save_changed").await;
    let store = Store::open(&path).await.expect("open the bench database");
    let entries = store.manifest(prev.id).await.expect("manifest");
    let id = prev.id;
    let differing = store.load_differing(id, entries.clone(), &snapshot);
    let (old, new) = measured(quiet, "load_previous_streamed", differing)
        .await
        .expect("load");
    for side in [old, new] {
        assert!(matches!(&side.results["check_etc"], Outcome::Items(v) if v.len() == 1));
    }
    let read = store.load_entries(id, entries);
    let read = measured(quiet, "load_previous_read", read).await;
    assert_eq!(read.expect("load").results.len(), 1);
    store.close().await;
    let grew = [first, unchanged, changed];
    if !quiet {
        println!("store_big_items={n}");
        for (what, g) in ["first", "unchanged", "changed"].iter().zip(grew) {
            println!("store_big_{what}_db_growth_bytes={g}");
        }
    }
    grew
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = common::full_run();
    let big = common::env_usize("STORE_ITEMS", 0);
    if full && big > 0 {
        big_output(big, false).await;
        return;
    }
    if !full {
        // An unchanged save adds about a scan row; one changed file adds about a small delta.
        let grew = big_output(2_000, true).await;
        assert!(grew[0] > 0, "{grew:?}");
        assert!(grew[1] < 8_192 && grew[2] < 16_384, "{grew:?}");
    }
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

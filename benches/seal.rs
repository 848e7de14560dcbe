//! Bench: the sealed history's cost per scan (time and bytes) and `dawgctl verify`'s speed at
//! 10^6 scans, with the size of a consistency proof.
//!
//! `cargo bench --bench seal` stores a small scan and seals its epoch (append the scan's entry,
//! fold it into the tree, HMAC, store the seal, write and fsync the next key, erase the old one)
//! `SEAL_PER_SCAN` times (default 200), printing the mean time of the seal step and the bytes it
//! adds to the database. Then it builds a log of `SEAL_SCANS` (default 1,000,000) scan entries
//! through the same code (`Entry` → `Store::append_log`), pruned as retention leaves them
//! (entries emptied, leaf hashes kept), each sealed under its own epoch's evolving key, and
//! times `seal::verify::verify` over it with the verification key and a checkpoint from the
//! first half. Under `cargo test` it runs 20 scans and a 2,000-entry log.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use dawgmon::ledger::checkpoint::Checkpoint;
use dawgmon::ledger::entry::Entry;
use dawgmon::ledger::key::EpochKey;
use dawgmon::ledger::merkle::Frontier;
use dawgmon::model::{Item, Outcome, Snapshot};
use dawgmon::seal::verify::{Options, verify};
use dawgmon::seal::{Sealer, init};
use dawgmon::store::{NewScan, Store};

/// The mean time of the seal step after a scan, and the bytes the sealed history adds per scan:
/// the same `n` scans saved into two databases, one sealed after each scan, both closed (the
/// WAL checkpointed) before their sizes are compared.
async fn per_scan(n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut snap = Snapshot::default();
    snap.results.insert(
        "check_groups".into(),
        Outcome::Items(
            (0..50)
                .map(|i| Item::new(format!("g{i}")).with("gid", i))
                .collect(),
        ),
    );
    let meta = NewScan {
        label: None,
        started_at: Utc::now(),
        finished_at: Utc::now(),
        hostname: "bench".into(),
        root: "/".into(),
        trigger: Some("schedule".into()),
    };
    let mut sizes = [0u64; 2];
    let mut sealing = 0f64;
    for (i, sealed) in [false, true].into_iter().enumerate() {
        let db = dir.path().join(format!("seal{i}.db"));
        let store = Store::open(&db).await.unwrap();
        let sealer = Sealer::new(store.clone(), &db);
        if sealed {
            init(&store, &db, false).await.unwrap();
        }
        for _ in 0..n {
            let s = store.save(&meta, &snap).await.unwrap();
            if sealed {
                let t = Instant::now();
                sealer.seal(&[(s.id, "schedule")]).await.unwrap();
                sealing += t.elapsed().as_secs_f64();
            }
        }
        store.close().await;
        sizes[i] = std::fs::metadata(&db).unwrap().len();
    }
    (
        sealing / n as f64,
        sizes[1].saturating_sub(sizes[0]) as f64 / n as f64,
    )
}

async fn big_log(n: usize) -> (f64, f64, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let store = Store::open(&db).await.unwrap();
    let seed = EpochKey::generate(0, 0).unwrap();
    let collectors: BTreeMap<String, String> = (0..40)
        .map(|i| (format!("collector_{i:02}"), format!("blob:{:064x}", i)))
        .collect();
    let t = Instant::now();
    let mut key = seed.clone();
    let mut tree = Frontier::default();
    let mut half = None;
    let base = Utc::now().timestamp_millis() - n as i64 * 1000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let entries: Vec<(Entry, i64)> = chunk
            .iter()
            .map(|&i| {
                let at = base + i as i64 * 1000;
                let e = Entry::Scan {
                    scan: i as i64 + 1,
                    started_at: at,
                    finished_at: at,
                    hostname: "bench".into(),
                    root: "/".into(),
                    trigger: "schedule".into(),
                    collectors: collectors.clone(),
                };
                (e, at)
            })
            .collect();
        for (e, at) in &entries {
            tree.push(e.leaf());
            let cp = Checkpoint::seal(&key, tree.size(), tree.root(), *at);
            store.insert_seal(&cp).await.unwrap();
            if tree.size() == n as u64 / 2 {
                half = Some(cp);
            }
            key = key.evolve();
        }
        store.append_log(&entries).await.unwrap();
    }
    // Retention pruned them all: entries emptied, leaf hashes kept.
    store.prune_log_entries_for_bench().await.unwrap();
    let built = t.elapsed().as_secs_f64();
    store.close().await;
    let bytes = std::fs::metadata(&db).unwrap().len();
    let store = Store::open_read_only(&db).await.unwrap();
    let opts = Options {
        keys: vec![seed],
        checkpoints: half.into_iter().collect(),
        as_of: Utc::now().timestamp_millis(),
    };
    let t = Instant::now();
    let out = verify(&store, &opts).await.unwrap();
    let took = t.elapsed().as_secs_f64();
    assert_eq!(out.exit_code(), 0, "{:?}", out.findings);
    assert_eq!(out.entries, n as u64);
    (built, took, out.proof_bytes, bytes)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = common::full_run();
    let (scans, entries) = if full {
        (
            common::env_usize("SEAL_PER_SCAN", 200),
            common::env_usize("SEAL_SCANS", 1_000_000),
        )
    } else {
        (20, 2_000)
    };
    let (secs, bytes) = per_scan(scans).await;
    println!("seal_per_scan_ms={:.2}", secs * 1000.0);
    println!("seal_per_scan_db_bytes={bytes:.0}");
    let (built, took, proof, db) = big_log(entries).await;
    println!("seal_log_entries={entries}");
    println!("seal_log_build_s={built:.1}");
    println!("seal_log_db_mb={}", common::mb(db));
    println!("seal_verify_s={took:.2}");
    println!("seal_consistency_proof_bytes={proof}");
    if !full {
        assert!(proof > 0 && proof < 4096, "{proof}");
    }
}

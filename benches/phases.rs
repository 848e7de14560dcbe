//! Bench: where the time and memory of a `check_etc` scan over a big tree go, phase by phase —
//! the walk (collect), hashing the output's JSON, `Store::save`, `Store::load` of the previous
//! scan, and the diff — the same steps `dawgctl --local -c check_etc scan` takes.
//!
//! `PHASES_ROOT=DIR cargo bench --bench phases` scans DIR (as `--root DIR`), twice, into a temp
//! database, printing wall time, resident memory after each phase and the peak. Without
//! `PHASES_ROOT` (and under `cargo test`) it makes a small tree of its own.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use dawgmon::collectors;
use dawgmon::diff::diff;
use dawgmon::host::Host;
use dawgmon::hostfs::digests::DigestCache;
use dawgmon::model::Outcome;
use dawgmon::scan::{self, ScanOptions};
use dawgmon::sources;
use dawgmon::store::{NewScan, Store, content_hash};

struct Clock {
    t: Instant,
    quiet: bool,
}

impl Clock {
    fn lap(&mut self, what: &str) -> f64 {
        let s = self.t.elapsed().as_secs_f64();
        if !self.quiet {
            println!(
                "phase {what:<28} {s:>7.3}s  rss {:>10}  peak {:>10}",
                common::mb(common::status_bytes("VmRSS").unwrap_or(0)),
                common::mb(common::status_bytes("VmHWM").unwrap_or(0))
            );
        }
        self.t = Instant::now();
        s
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = common::full_run();
    let own = tempfile::tempdir().expect("temp dir");
    let root = match std::env::var_os("PHASES_ROOT").filter(|_| full) {
        Some(r) => std::path::PathBuf::from(r),
        None => {
            let etc = own.path().join("etc");
            for d in 0..10 {
                std::fs::create_dir_all(etc.join(format!("d{d}"))).unwrap();
                for f in 0..100 {
                    std::fs::write(etc.join(format!("d{d}/f{f}")), format!("{d} {f}")).unwrap();
                }
            }
            own.path().to_path_buf()
        }
    };
    let etc = collectors::by_name("check_etc").expect("check_etc is registered");
    let store = Store::open(&own.path().join("phases.db"))
        .await
        .expect("open");
    let mut clock = Clock {
        t: Instant::now(),
        quiet: !full,
    };
    {
        let host = Host::new(&root);
        clock.t = Instant::now();
        let spec = |hash| sources::fswalk::TreeSpec {
            dir: "/etc",
            hash,
            exclude: None,
            cross_mounts: true,
            max_entries: usize::MAX,
            verify_packages: false,
        };
        let cache = DigestCache::default();
        let walk = |hash, cache: &DigestCache| {
            sources::fswalk::walk_tree(&host, &spec(hash), cache).expect("walk")
        };
        let entries = walk(false, &cache);
        clock.lap("walk only (no file read)");
        if full {
            println!("      {} entries", entries.len());
        }
        drop(entries);
        drop(walk(true, &cache));
        clock.lap("walk + hash every file");
        let carried = DigestCache::decode(&cache.encode()).expect("decodes");
        drop(walk(true, &carried));
        clock.lap("walk, digests carried over");
        assert_eq!(carried.counts().0, 0, "an unchanged tree reads no file");
        clock.t = Instant::now();
    }
    let mut previous = None;
    for round in 1..=2 {
        if full {
            println!("round {round} over {}", root.display());
        }
        clock.t = Instant::now();
        let out = scan::run(
            Arc::new(Host::new(&root)),
            &[etc],
            &ScanOptions::default(),
            &|_| {},
        );
        clock.lap("collect (walk, hash, sort)");
        let Some(Outcome::Items(items)) = out.snapshot.results.get("check_etc") else {
            panic!("check_etc did not run: {:?}", out.snapshot.results);
        };
        // As Store::save hashes: the JSON streamed through sha256, never held.
        let (hash, json_len) = content_hash(items);
        clock.lap("sha256 of the JSON (streamed)");
        if full {
            println!(
                "      {} items, {} of JSON, hash {}",
                items.len(),
                common::mb(json_len),
                &hash[..12]
            );
        }
        let now = Utc::now();
        let meta = NewScan {
            label: None,
            started_at: now,
            finished_at: now,
            hostname: "bench".into(),
            root: root.display().to_string(),
            trigger: None,
        };
        let info = store.save(&meta, &out.snapshot).await.expect("save");
        clock.lap("Store::save");
        if let Some(prev) = previous {
            let old = store.load(prev).await.expect("load");
            clock.lap("Store::load (previous scan)");
            let d = diff(&old, &out.snapshot);
            clock.lap("diff");
            assert!(d.changes.is_empty(), "an unchanged tree has no changes");
            drop(old);
            clock.lap("drop the previous snapshot");
        }
        previous = Some(info.id);
        drop(out);
        clock.lap("drop the snapshot");
    }
    store.close().await;
    if !full {
        println!(
            "phases bench smoke run ok; PHASES_ROOT=DIR cargo bench --bench phases to measure"
        );
    }
}

use super::*;
use crate::collectors::by_name;

/// A fake root with `etc/group` and `etc/os-release`, and an engine over a new database
/// beside it.
async fn fixture() -> (tempfile::TempDir, PathBuf, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let engine = Engine::new(store, root.clone());
    (dir, root, engine)
}

/// Digests carry over between scans through the database, and `rehash_every` makes a scan
/// read every file again; a subset scan without the collector keeps its row.
#[tokio::test]
async fn digests_carry_over_until_a_full_rehash_is_due() {
    let (_dir, root, mut engine) = fixture().await;
    for n in 0..5 {
        std::fs::write(root.join(format!("etc/f{n}")), format!("{n}")).unwrap();
    }
    let etc = || vec![by_name("check_etc").unwrap()];
    let quiet: ProgressFn = Arc::new(|_| {});
    let first = engine.scan(None, etc(), quiet.clone()).await.unwrap();
    assert_eq!((first.files_hashed, first.files_carried), (7, 0));
    let second = engine.scan(None, etc(), quiet.clone()).await.unwrap();
    assert_eq!((second.files_hashed, second.files_carried), (0, 7));
    let other = vec![by_name("lsb_version").unwrap()];
    engine.scan(None, other, quiet.clone()).await.unwrap();
    let row = engine.store.digests("check_etc").await.unwrap().unwrap();
    // The last full re-hash was long ago: the next scan reads everything.
    let old = store::StoredDigests {
        rehashed_at: row.rehashed_at - 8 * 24 * 3600 * 1000,
        ..row
    };
    engine.store.set_digests("check_etc", &old).await.unwrap();
    let due = engine.scan(None, etc(), quiet.clone()).await.unwrap();
    assert_eq!((due.files_hashed, due.files_carried), (7, 0));
    assert!(due.report.changes.is_empty(), "{:?}", due.report.changes);
    let after = engine.store.digests("check_etc").await.unwrap().unwrap();
    assert!(
        after.rehashed_at > old.rehashed_at,
        "the re-hash is recorded"
    );
    // Never forced when off; a damaged row only costs a full read.
    engine.options.rehash_every = None;
    engine
        .store
        .set_digests(
            "check_etc",
            &store::StoredDigests {
                rehashed_at: 0,
                ..after
            },
        )
        .await
        .unwrap();
    let off = engine.scan(None, etc(), quiet.clone()).await.unwrap();
    assert_eq!(off.files_carried, 7);
    let junk = store::StoredDigests {
        rehashed_at: 0,
        chunks: vec![b"junk".to_vec()],
    };
    engine.store.set_digests("check_etc", &junk).await.unwrap();
    let damaged = engine.scan(None, etc(), quiet).await.unwrap();
    assert_eq!((damaged.files_hashed, damaged.files_carried), (7, 0));
}

/// Regression: a scan of a subset of collectors must not make the next full scan compare
/// the others with nothing (and so miss what changed in between).
#[tokio::test]
async fn a_partial_scan_does_not_hide_changes_from_the_next_full_scan() {
    let (_dir, root, engine) = fixture().await;
    let both = vec![
        by_name("check_groups").unwrap(),
        by_name("lsb_version").unwrap(),
    ];
    let quiet: ProgressFn = Arc::new(|_| {});
    engine
        .scan(None, both.clone(), quiet.clone())
        .await
        .unwrap();

    std::fs::write(root.join("etc/group"), "root:x:0:\nvboxusers:x:130:\n").unwrap();
    let partial = engine
        .scan(None, vec![by_name("lsb_version").unwrap()], quiet.clone())
        .await
        .unwrap();
    assert!(partial.report.changes.is_empty());
    assert!(
        partial.report.warnings.is_empty(),
        "{:?}",
        partial.report.warnings
    );

    let full = engine.scan(None, both, quiet).await.unwrap();
    let keys: Vec<_> = full.report.changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["vboxusers"], "{:?}", full.report);
    assert!(
        full.report.warnings.is_empty(),
        "{:?}",
        full.report.warnings
    );
    assert_eq!(full.report.from.unwrap().id, partial.info.id);
}

/// Regression (issue 8, item 1): a change made while a collector was unavailable was never
/// reported (the next scan compared with the failed outcome). Now it is compared with the
/// newest scan in which it worked, however many failed scans and prunes lie between; the
/// outage and the recovery are changes of their own (item 8).
#[tokio::test]
async fn a_change_made_during_an_outage_is_reported_when_the_collector_recovers() {
    let (_dir, root, mut engine) = fixture().await;
    engine.retention = 2;
    let groups = vec![by_name("check_groups").unwrap()];
    let quiet: ProgressFn = Arc::new(|_| {});
    let good = engine
        .scan(None, groups.clone(), quiet.clone())
        .await
        .unwrap();

    // The source breaks: one outage change, high.
    std::fs::remove_file(root.join("etc/group")).unwrap();
    let broke = engine
        .scan(None, groups.clone(), quiet.clone())
        .await
        .unwrap();
    let c = &broke.report.changes;
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(
        (c[0].key.as_str(), c[0].kind),
        (OUTAGE_KEY, ChangeKind::Added)
    );
    assert_eq!(c[0].severity, crate::model::Severity::High);

    // Still broken, for longer than the retention: warnings only, saying since when.
    for _ in 0..4 {
        let still = engine
            .scan(None, groups.clone(), quiet.clone())
            .await
            .unwrap();
        assert!(still.report.changes.is_empty(), "{:?}", still.report);
        assert!(
            still.report.warnings.iter().any(|w| w
                .message
                .contains(&format!("not compared since scan {}", good.info.id))),
            "{:?}",
            still.report.warnings
        );
    }
    assert!(
        engine.store.get(good.info.id).await.is_ok(),
        "the last good scan must survive pruning"
    );

    // Meanwhile a group was added; the source comes back.
    std::fs::write(root.join("etc/group"), "root:x:0:\nsneaky:x:0:\n").unwrap();
    let back = engine.scan(None, groups, quiet).await.unwrap();
    let keys: Vec<(&str, ChangeKind)> = back
        .report
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.kind))
        .collect();
    assert_eq!(
        keys,
        [
            ("sneaky", ChangeKind::Added),
            (OUTAGE_KEY, ChangeKind::Removed)
        ],
        "{:?}",
        back.report
    );
    let msg = &back.report.changes[1].message;
    assert!(
        msg.contains(&format!("compared with scan {}", good.info.id)),
        "{msg}"
    );
}

/// A stored scan's report, computed again later (to mail a scan the daemon did not make),
/// is the one the scan got: changes, outages, recoveries and warnings alike.
#[tokio::test]
async fn a_stored_scan_gets_its_report_again() {
    let (_dir, root, engine) = fixture().await;
    let both = vec![
        by_name("check_groups").unwrap(),
        by_name("lsb_version").unwrap(),
    ];
    let quiet: ProgressFn = Arc::new(|_| {});
    let mut made = vec![
        engine
            .scan(None, both.clone(), quiet.clone())
            .await
            .unwrap(),
    ];
    std::fs::remove_file(root.join("etc/group")).unwrap();
    made.push(
        engine
            .scan(None, both.clone(), quiet.clone())
            .await
            .unwrap(),
    );
    std::fs::write(root.join("etc/group"), "root:x:0:\nsneaky:x:0:\n").unwrap();
    std::fs::write(root.join("etc/os-release"), "ID=ubuntu\n").unwrap();
    made.push(engine.scan(None, both, quiet).await.unwrap());
    assert!(!made[1].report.changes.is_empty() && made[2].report.changes.len() >= 3);

    for m in &made {
        let again = engine.report_stored(&m.info).await.unwrap();
        assert_eq!(again.report, m.report);
        let first = m.report.from.is_none();
        assert_eq!(again.items, first.then_some(m.items));
    }
}

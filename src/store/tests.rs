use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::model::Item;

fn snapshot(n: usize) -> Snapshot {
    let mut s = Snapshot::default();
    s.results.insert(
        "check_groups".into(),
        Outcome::Items(
            (0..n)
                .map(|i| Item::new(format!("g{i:03}")).with("gid", i))
                .collect(),
        ),
    );
    s.results.insert(
        "kernel_modules".into(),
        Outcome::Unavailable("proc/modules is absent".into()),
    );
    s
}

fn meta(label: Option<&str>) -> NewScan {
    NewScan {
        label: label.map(String::from),
        started_at: Utc::now(),
        finished_at: Utc::now(),
        hostname: "test".into(),
        root: "/".into(),
        trigger: None,
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn snapshots_round_trip_and_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dawgmon.db");
    let store = Store::open(&path).await.unwrap();
    let snap = snapshot(3);
    let info = store.save(&meta(Some("pre-install")), &snap).await.unwrap();
    assert_eq!(store.load(info.id).await.unwrap(), snap);
    assert_eq!(store.resolve("pre-install").await.unwrap().id, info.id);
    assert_eq!(
        store.resolve(&info.id.to_string()).await.unwrap().id,
        info.id
    );
    assert!(matches!(
        store.resolve("nope").await,
        Err(StoreError::NotFound(_))
    ));
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o700);
}

#[tokio::test]
async fn unchanged_scans_share_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    for _ in 0..20 {
        store.save(&meta(None), &snapshot(50)).await.unwrap();
    }
    assert_eq!(count(&store, "scans").await, 20);
    assert_eq!(count(&store, "manifests").await, 1);
    assert_eq!(count(&store, "blobs").await, 1);
    store.save(&meta(None), &snapshot(51)).await.unwrap();
    assert_eq!(count(&store, "blobs").await, 2);
}

#[tokio::test]
async fn retention_keeps_newest_and_baselines_and_collects_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let base = store.save(&meta(Some("base")), &snapshot(1)).await.unwrap();
    for i in 2..12 {
        store.save(&meta(None), &snapshot(i)).await.unwrap();
    }
    let removed = store.prune(3).await.unwrap();
    assert_eq!(removed, 7);
    let ids: Vec<i64> = store
        .list(100, 0)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.contains(&base.id), "baseline pruned: {ids:?}");
    // Each output here is a one-item change from the one before: stored as deltas, so the
    // kept scans' blobs hold their chains (down to a whole output) and nothing else.
    assert_eq!(
        count(&store, "blobs").await,
        reachable_blobs(&store).await,
        "unreferenced blobs left behind"
    );
    assert_eq!(store.load(base.id).await.unwrap(), snapshot(1));
    for (id, n) in ids.iter().zip([11, 10, 9]) {
        assert_eq!(store.load(*id).await.unwrap(), snapshot(n));
    }

    // Outputs with nothing in common are stored whole: pruning leaves one blob per kept scan.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let base = store.save(&meta(Some("base")), &unlike(1)).await.unwrap();
    for i in 2..12 {
        store.save(&meta(None), &unlike(i)).await.unwrap();
    }
    assert_eq!(store.prune(3).await.unwrap(), 7);
    assert_eq!(count(&store, "blobs").await, 4);
    assert_eq!(store.load(base.id).await.unwrap(), unlike(1));
}

/// A snapshot whose every item differs from those of `unlike(m)` for any other `m`.
fn unlike(n: usize) -> Snapshot {
    let mut s = Snapshot::default();
    s.results.insert(
        "check_groups".into(),
        Outcome::Items(
            (0..40)
                .map(|i| Item::new(format!("g{i:03}")).with("gid", n * 1000 + i))
                .collect(),
        ),
    );
    s
}

/// Blobs a scan's manifest refers to, and the bases below them.
async fn reachable_blobs(store: &Store) -> i64 {
    sqlx::query_scalar(
        "WITH RECURSIVE r(hash) AS (
             SELECT mb.blob FROM scans s JOIN manifest_blobs mb ON mb.manifest = s.manifest
             UNION SELECT b.base FROM blobs b JOIN r ON b.hash = r.hash WHERE b.base IS NOT NULL)
         SELECT count(*) FROM r",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn labels_move_validate_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let a = store.save(&meta(Some("pre")), &snapshot(1)).await.unwrap();
    let b = store.save(&meta(Some("pre")), &snapshot(2)).await.unwrap();
    assert_eq!(store.resolve("pre").await.unwrap().id, b.id);
    assert_eq!(store.get(a.id).await.unwrap().label, None);
    for bad in ["", "123", "has space", "a/b"] {
        assert!(
            matches!(
                store.save(&meta(Some(bad)), &snapshot(1)).await,
                Err(StoreError::BadLabel(_))
            ),
            "{bad:?} accepted"
        );
    }
    store.delete_label("pre").await.unwrap();
    assert!(store.baselines().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_label("pre").await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn newer_schema_is_refused_and_garbage_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let store = Store::open(&path).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'future', 1, x'00', 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    store.close().await;
    let err = Store::open(&path)
        .await
        .err()
        .expect("newer schema accepted");
    assert!(
        matches!(err, StoreError::TooNew { found: 9999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade dawgmon"), "{err}");

    let junk = dir.path().join("junk.db");
    fs::write(
        &junk,
        b"this is not a database at all, not even close............",
    )
    .unwrap();
    let err = Store::open(&junk).await.err().expect("junk accepted");
    assert!(err.to_string().contains("junk.db"), "{err}");
}

#[tokio::test]
async fn tightens_a_readable_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    fs::write(&path, b"").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    Store::open(&path).await.unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A database from before storage by the change (schema 5, tests/fixtures/schema5.db) opens,
/// migrates in place, reads back as it was written, takes new scans as deltas against its old
/// rows, and prunes without losing its baseline.
#[tokio::test]
async fn a_schema_5_database_migrates_in_place_and_keeps_its_scans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema5.db"),
        &path,
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let store = Store::open(&path).await.unwrap();
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(version >= 7, "not migrated: {version}");
    // Schema 7 rebuilt `blobs` as a rowid table: every reference still resolves.
    let broken: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    let rowid: i64 = sqlx::query_scalar("SELECT count(id) FROM blobs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(rowid > 0);

    let items = |s: &Snapshot, c: &str| match &s.results[c] {
        Outcome::Items(v) => v.clone(),
        other => panic!("{c}: {other:?}"),
    };
    let has = |v: &[Item], k: &str| v.iter().any(|i| i.key == k);
    let pre = store.resolve("pre").await.unwrap();
    let first = store.load(pre.id).await.unwrap();
    let second = store.load(pre.id + 1).await.unwrap();
    let third = store.load(pre.id + 2).await.unwrap();
    assert!(!has(&items(&first, "check_groups"), "dawgmon-fixture"));
    assert!(has(&items(&second, "check_groups"), "dawgmon-fixture"));
    assert_eq!(items(&first, "check_etc").len(), 205);
    assert!(has(&items(&second, "check_etc"), "/etc/f9.conf"));
    assert!(!has(&items(&third, "check_etc"), "/etc/f9.conf"));

    // A new scan with one file changed: stored as a small delta against the old whole row.
    let mut next = third.clone();
    if let Some(Outcome::Items(v)) = next.results.get_mut("check_etc") {
        let f = v.iter_mut().find(|i| i.key == "/etc/f1.conf").unwrap();
        f.fields.insert("sha256", "0".repeat(64));
    }
    let size_before: i64 = sqlx::query_scalar("SELECT sum(length(data)) FROM blobs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    let info = store.save(&meta(None), &next).await.unwrap();
    let size_after: i64 = sqlx::query_scalar("SELECT sum(length(data)) FROM blobs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(
        size_after - size_before < 1000,
        "one changed file cost {} bytes",
        size_after - size_before
    );
    let depth: i64 = sqlx::query_scalar("SELECT max(depth) FROM blobs WHERE base IS NOT NULL")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(depth, 1);
    assert_eq!(store.load(info.id).await.unwrap(), next);

    // Pruning down to one unlabelled scan keeps the baseline and the newest, both whole.
    store.prune(1).await.unwrap();
    assert_eq!(store.load(pre.id).await.unwrap(), first);
    assert_eq!(store.load(info.id).await.unwrap(), next);
    assert_eq!(count(&store, "blobs").await, reachable_blobs(&store).await);
}

/// One changed item in a large output costs bytes, and chains of deltas stay bounded: after
/// [`blobs::MAX_DEPTH`] deltas the output is stored whole again.
#[tokio::test]
async fn changes_cost_what_changed_and_chains_stay_short() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let big = |changed: usize| {
        let mut s = Snapshot::default();
        s.results.insert(
            "check_etc".into(),
            Outcome::Items(
                (0..10_000)
                    .map(|i| {
                        let v = if i < changed { "new" } else { "old" };
                        Item::new(format!("/etc/d{:03}/f{i:06}", i / 100)).with("sha256", v)
                    })
                    .collect(),
            ),
        );
        s
    };
    store.save(&meta(None), &big(0)).await.unwrap();
    let whole: i64 = sqlx::query_scalar("SELECT sum(length(data)) FROM blobs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    for n in 1..=20 {
        let before: i64 = sqlx::query_scalar("SELECT sum(length(data)) FROM blobs")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let info = store.save(&meta(None), &big(n)).await.unwrap();
        let after: i64 = sqlx::query_scalar("SELECT sum(length(data)) FROM blobs")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let depth: i64 = sqlx::query_scalar(
            "SELECT b.depth FROM scans s JOIN manifest_blobs mb ON mb.manifest = s.manifest
             JOIN blobs b ON b.hash = mb.blob WHERE s.id = ?",
        )
        .bind(info.id)
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert!(depth < blobs::MAX_DEPTH, "depth {depth}");
        if depth > 0 {
            assert!(
                after - before < whole / 10,
                "scan {n}: {} bytes",
                after - before
            );
        }
        if n % 8 == 0 {
            assert_eq!(store.load(info.id).await.unwrap(), big(n));
        }
    }
    // 21 scans, chains of at most 15 deltas: the whole output was stored again once.
    let wholes: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs WHERE depth = 0")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(wholes, 2);
    assert!(
        whole < 10_000 * 20,
        "whole output of 10,000 items: {whole} bytes"
    );
}

/// Today's schema to schema 7 (issue 11): a database written by the previous release, with
/// deltas four deep, keeps every scan readable after `blobs` is rebuilt, and takes new scans.
#[tokio::test]
async fn a_schema_6_database_with_deltas_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("six.db");
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema6.db"),
        &path,
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let store = Store::open(&path).await.unwrap();
    let broken: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    let deltas: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs WHERE depth > 0")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(deltas >= 3, "the fixture holds deltas: {deltas}");
    let items = |s: &Snapshot, c: &str| match &s.results[c] {
        Outcome::Items(v) => v.clone(),
        other => panic!("{c}: {other:?}"),
    };
    let get = |v: &[Item], k: &str| v.iter().find(|i| i.key == k).cloned();
    let pre = store.resolve("pre").await.unwrap();
    let first = store.load(pre.id).await.unwrap();
    let last = store.load(pre.id + 4).await.unwrap();
    let (etc0, etc4) = (items(&first, "check_etc"), items(&last, "check_etc"));
    assert!(get(&etc0, "/etc/f300.conf").is_some());
    assert!(get(&etc4, "/etc/f300.conf").is_none());
    let sha = |v: &[Item], k: &str| get(v, k).unwrap().fields.get("sha256").map(str::to_string);
    assert_ne!(sha(&etc0, "/etc/f1.conf"), sha(&etc4, "/etc/f1.conf"));
    assert_eq!(sha(&etc0, "/etc/f9.conf"), sha(&etc4, "/etc/f9.conf"));
    assert!(get(&items(&last, "check_groups"), "grp3").is_some());
    // New scans go on from the migrated rows, and pruning still finds what to keep.
    let mut next = last.clone();
    if let Some(Outcome::Items(v)) = next.results.get_mut("check_etc") {
        v.retain(|i| i.key != "/etc/f299.conf");
    }
    store.save(&meta(None), &next).await.unwrap();
    store.prune(2).await.unwrap();
    let latest = store.latest().await.unwrap().unwrap();
    assert_eq!(store.load(latest.id).await.unwrap(), next);
    assert_eq!(
        store.load(pre.id).await.unwrap(),
        first,
        "a baseline is never pruned"
    );
}

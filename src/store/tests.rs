use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::model::Item;

fn snapshot(n: usize) -> Snapshot {
    let mut s = Snapshot::default();
    s.results.insert(
        "check_groups".into(),
        Outcome::Items(
            (0..n)
                .map(|i| Item::new(format!("g{i}")).with("gid", i))
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
    assert_eq!(
        count(&store, "blobs").await,
        4,
        "unreferenced blobs left behind"
    );
    assert_eq!(store.load(base.id).await.unwrap(), snapshot(1));
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

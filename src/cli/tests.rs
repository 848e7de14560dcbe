use super::*;
use std::sync::Arc;

fn local_args(db: &std::path::Path, root: &std::path::Path, extra: &[&str]) -> Args {
    let mut argv = vec![
        "dawgctl".to_string(),
        "--local".into(),
        "--database".into(),
        db.display().to_string(),
        "--root".into(),
        root.display().to_string(),
        "--daemon-config".into(),
        "/nonexistent/dawgmond.toml".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.push("scan".into());
    Args::try_parse_from(argv).unwrap()
}

/// Issue 8: `dawgctl --local` pruned the daemon's database with its own default (64)
/// instead of the daemon's configured retention.
#[tokio::test]
async fn local_scans_keep_the_daemons_recorded_retention() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    crate::collectors::testing::write(&root, "etc/group", "root:x:0:\n");
    let db = dir.path().join("d.db");
    let daemon_store = Store::open(&db).await.unwrap();
    daemon_store.set_retention(100).await.unwrap();
    daemon_store.close().await;

    let engine = local_engine(&local_args(&db, &root, &[])).await.unwrap();
    assert_eq!(engine.retention, 100);
    let groups = vec![collectors::by_name("check_groups").unwrap()];
    let quiet: crate::engine::ProgressFn = Arc::new(|_| {});
    for _ in 0..80 {
        engine
            .scan(None, groups.clone(), quiet.clone())
            .await
            .unwrap();
    }
    assert_eq!(engine.store.count().await.unwrap(), 80);

    let flag = local_engine(&local_args(&db, &root, &["--retention", "5"]))
        .await
        .unwrap();
    assert_eq!(flag.retention, 5, "an explicit flag wins");
    let fresh = local_engine(&local_args(&dir.path().join("new.db"), &root, &[]))
        .await
        .unwrap();
    assert_eq!(fresh.retention, crate::store::DEFAULT_RETENTION);
}

/// A relative `--root` is made absolute against the working directory: collectors compare
/// walked paths with the root, and a relative one made ssh_access find no keys.
#[tokio::test]
async fn a_relative_root_is_made_absolute() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let relative = std::path::Path::new("some/relative/root");
    let engine = local_engine(&local_args(&db, relative, &[])).await.unwrap();
    assert!(engine.root.is_absolute(), "{}", engine.root.display());
    assert_eq!(engine.root, std::env::current_dir().unwrap().join(relative));
}

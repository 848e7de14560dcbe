use super::*;

#[tokio::test]
async fn settings_persist_and_keys_differ_between_databases() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let a = Store::open(&pa).await.unwrap();
    assert_eq!(a.retention().await.unwrap(), None);
    a.set_retention(100).await.unwrap();
    let key = a.fingerprint_key().await.unwrap();
    assert_eq!(a.fingerprint_key().await.unwrap(), key);
    a.close().await;

    let a = Store::open(&pa).await.unwrap();
    assert_eq!(a.retention().await.unwrap(), Some(100));
    assert_eq!(
        a.fingerprint_key().await.unwrap(),
        key,
        "stable across opens"
    );
    let b = Store::open(&pb).await.unwrap();
    assert_ne!(b.fingerprint_key().await.unwrap(), key);
}

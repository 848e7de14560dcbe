use chrono::Utc;

use super::*;

fn groups(n: usize, changed: Option<usize>) -> Snapshot {
    let items = (0..n)
        .map(|i| {
            let gid = if Some(i) == changed { 9999 } else { i };
            Item::new(format!("g{i:04}")).with("gid", gid)
        })
        .collect();
    let mut s = Snapshot::default();
    s.results
        .insert("check_groups".into(), Outcome::Items(items));
    s.results.insert(
        "kernel_modules".into(),
        Outcome::Unavailable("absent".into()),
    );
    s
}

fn meta() -> NewScan {
    NewScan {
        label: None,
        started_at: Utc::now(),
        finished_at: Utc::now(),
        hostname: "test".into(),
        root: "/".into(),
        trigger: None,
    }
}

/// The base and depth row of blob `hash`.
async fn base_of(store: &Store, hash: &str) -> (Option<String>, i64) {
    sqlx::query_as("SELECT base, depth FROM blobs WHERE hash = ?")
        .bind(hash)
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

fn blob(m: &Manifest, name: &str) -> String {
    match &m[name] {
        ManifestEntry::Blob(h) => h.clone(),
        other => panic!("{other:?}"),
    }
}

/// Blobs keep the address they always had (sha256 of the items' JSON); a changed output is
/// stored as a delta against the previous one, which is read item by item for that, and it
/// loads back whole.
#[tokio::test]
async fn a_changed_output_is_stored_as_a_delta_against_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let old = groups(500, None);
    store.save(&meta(), &old).await.unwrap();
    let second = store.save(&meta(), &old).await.unwrap();
    let Some(Outcome::Items(items)) = old.results.get("check_groups") else {
        unreachable!()
    };
    let address = sha256_bytes(&serde_json::to_vec(items).unwrap());
    let prev = store.manifest(second.id).await.unwrap();
    assert_eq!(prev["check_groups"], ManifestEntry::Blob(address.clone()));

    let new = groups(500, Some(7));
    let changed = store.save(&meta(), &new).await.unwrap();
    let now = blob(&store.manifest(changed.id).await.unwrap(), "check_groups");
    assert_eq!(base_of(&store, &now).await, (Some(address), 1));
    assert_eq!(store.load(changed.id).await.unwrap(), new);
    assert_eq!(store.load(second.id).await.unwrap(), old);
}

/// A previous output that cannot be read costs nothing but the delta: the new output is
/// stored whole, and reads back.
#[tokio::test]
async fn an_unreadable_previous_output_is_not_a_base() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let first = store.save(&meta(), &groups(500, None)).await.unwrap();
    let old = blob(&store.manifest(first.id).await.unwrap(), "check_groups");
    sqlx::query("UPDATE blobs SET data = ? WHERE hash = ?")
        .bind(b"[{\"key\":\"g0000\"},{\"ke".to_vec())
        .bind(&old)
        .execute(&store.pool)
        .await
        .unwrap();
    let new = groups(500, Some(7));
    let changed = store.save(&meta(), &new).await.unwrap();
    let now = blob(&store.manifest(changed.id).await.unwrap(), "check_groups");
    assert_eq!(base_of(&store, &now).await, (None, 0));
    assert_eq!(store.load(changed.id).await.unwrap(), new);
}

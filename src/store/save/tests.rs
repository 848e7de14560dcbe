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

/// Blobs keep the address they always had (sha256 of the items' JSON); a new or unchanged
/// output hands back nothing, a changed one its base: the previous scan's output, which
/// `load_entries` then takes instead of reading it.
#[tokio::test]
async fn a_changed_output_hands_back_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let old = groups(500, None);
    let first = store.save_keeping_bases(&meta(), &old).await.unwrap();
    let second = store.save_keeping_bases(&meta(), &old).await.unwrap();
    assert_eq!(first.bases.0.len() + second.bases.0.len(), 0);
    let Some(Outcome::Items(items)) = old.results.get("check_groups") else {
        unreachable!()
    };
    let address = sha256_bytes(&serde_json::to_vec(items).unwrap());
    let prev = store.manifest(second.info.id).await.unwrap();
    assert_eq!(prev["check_groups"], ManifestEntry::Blob(address.clone()));

    let changed = store
        .save_keeping_bases(&meta(), &groups(500, Some(7)))
        .await
        .unwrap();
    let names: Vec<_> = changed.bases.0.keys().collect();
    assert_eq!(names, ["check_groups"]);
    assert_eq!(
        changed.bases.0["check_groups"],
        (address.clone(), items.clone())
    );
    let loaded = store
        .load_entries(second.info.id, prev.clone(), changed.bases)
        .await
        .unwrap();
    assert_eq!(loaded, old);

    // What is handed over is used as it is (not read again), for its hash only.
    let fake = vec![Item::new("only-in-memory")];
    let held = |hash: &str| {
        Loaded(BTreeMap::from([(
            "check_groups".to_string(),
            (hash.to_string(), fake.clone()),
        )]))
    };
    let taken = store
        .load_entries(second.info.id, prev.clone(), held(&address))
        .await
        .unwrap();
    assert_eq!(taken.results["check_groups"], Outcome::Items(fake.clone()));
    let read = store
        .load_entries(second.info.id, prev, held("another"))
        .await
        .unwrap();
    assert_eq!(read, old);
}

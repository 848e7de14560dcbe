use super::*;
use crate::model::{Outcome, Snapshot};
use crate::store::NewScan;

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

fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    s.results
        .insert("check_groups".into(), Outcome::Items(vec![]));
    s
}

fn report_mail(scan: i64) -> NewMail {
    NewMail {
        scan_id: Some(scan),
        subject: format!("scan {scan}"),
        body_text: "text".into(),
        body_html: None,
        recipients: vec!["a@example.org".into()],
    }
}

async fn outbox_rows(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_scan_is_reported_once_with_its_mail() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let a = store.save(&meta(), &snapshot()).await.unwrap().id;
    let b = store.save(&meta(), &snapshot()).await.unwrap().id;
    let ids = |v: Vec<ScanInfo>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(store.unreported().await.unwrap()), [a, b]);

    let now = Utc::now();
    let Marked::Reported(Some(mail)) = store
        .mark_reported(a, Some(&report_mail(a)), now)
        .await
        .unwrap()
    else {
        panic!("scan {a} was not reported");
    };
    assert_eq!(store.outbox_get(mail).await.unwrap().scan_id, Some(a));
    // A second reporter (a race, a retried sweep) writes nothing.
    assert_eq!(
        store
            .mark_reported(a, Some(&report_mail(a)), now)
            .await
            .unwrap(),
        Marked::Already
    );
    assert_eq!(outbox_rows(&store).await, 1);
    assert_eq!(ids(store.unreported().await.unwrap()), [b]);
    // A scan without mail is reported all the same; an unknown scan is not.
    assert_eq!(
        store.mark_reported(b, None, now).await.unwrap(),
        Marked::Reported(None)
    );
    assert_eq!(
        store
            .mark_reported(999, Some(&report_mail(999)), now)
            .await
            .unwrap(),
        Marked::Already
    );
    assert_eq!(outbox_rows(&store).await, 1);
    assert_eq!(store.unreported_count().await.unwrap(), 0);

    store.save(&meta(), &snapshot()).await.unwrap();
    store.save(&meta(), &snapshot()).await.unwrap();
    assert_eq!(store.mark_all_reported(now).await.unwrap(), 2);
    assert!(store.unreported().await.unwrap().is_empty());
    assert_eq!(outbox_rows(&store).await, 1);
}

/// Scans stored before schema 4 were handled by the old rules: the migration marks them
/// reported, so upgrading mails nothing old.
#[tokio::test]
async fn scans_stored_before_the_migration_count_as_reported() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    for m in MIGRATOR_FILES {
        std::fs::write(old.join(m.0), m.1).unwrap();
    }
    let path = dir.path().join("db.sqlite");
    std::fs::File::create(&path).unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO manifests (hash, data) VALUES ('m', '{}');
         INSERT INTO scans (started_at, finished_at, hostname, root, manifest)
         VALUES (1, 2, 'h', '/', 'm'), (3, 4, 'h', '/', 'm');",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    assert!(store.unreported().await.unwrap().is_empty());
    let new = store.save(&meta(), &snapshot()).await.unwrap().id;
    let ids: Vec<i64> = store
        .unreported()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [new]);
}

/// The schema before `0004_reported.sql`.
const MIGRATOR_FILES: [(&str, &str); 2] = [
    ("0001_init.sql", include_str!("../migrations/0001_init.sql")),
    (
        "0002_outbox.sql",
        include_str!("../migrations/0002_outbox.sql"),
    ),
];

use chrono::TimeDelta;

use super::*;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    (dir, store)
}

fn mail(subject: &str) -> NewMail {
    NewMail {
        scan_id: Some(3),
        subject: subject.into(),
        body_text: "text".into(),
        body_html: Some("<p>html</p>".into()),
        recipients: vec!["a@example.org".into(), "b@example.org".into()],
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

#[test]
fn backoff_doubles_from_a_minute_to_an_hour() {
    let mins: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs() / 60).collect();
    assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(backoff(i64::MAX), MAX_RETRY);
    assert_eq!(backoff(0), FIRST_RETRY);
}

#[tokio::test]
async fn enqueue_due_fail_retry_sent() {
    let (_dir, store) = store().await;
    let id = store.outbox_enqueue(&mail("s1"), t0()).await.unwrap();
    let m = store.outbox_get(id).await.unwrap();
    assert_eq!(m.recipients, ["a@example.org", "b@example.org"]);
    assert_eq!((m.attempts, m.sent_at, m.created_at), (0, None, t0()));
    assert_eq!(m.body_html.as_deref(), Some("<p>html</p>"));
    assert_eq!(store.outbox_due(t0()).await.unwrap().len(), 1);

    // Two failures: 1 min, then 2 min.
    let m = store
        .outbox_mark_failed(id, "refused", false, t0())
        .await
        .unwrap();
    assert_eq!(m.attempts, 1);
    assert_eq!(m.next_attempt_at, t0() + TimeDelta::minutes(1));
    assert!(store.outbox_due(t0()).await.unwrap().is_empty());
    let later = t0() + TimeDelta::minutes(1);
    assert_eq!(store.outbox_due(later).await.unwrap().len(), 1);
    let m = store
        .outbox_mark_failed(id, "refused again", false, later)
        .await
        .unwrap();
    assert_eq!(
        (m.attempts, m.next_attempt_at),
        (2, later + TimeDelta::minutes(2))
    );

    let s = store.outbox_summary().await.unwrap();
    assert_eq!(s.pending, 1);
    assert_eq!(s.oldest, Some(t0()));
    assert_eq!(s.max_attempts, 2);
    assert_eq!(s.last_error.as_deref(), Some("refused again"));
    assert_eq!(s.next_attempt_at, Some(later + TimeDelta::minutes(2)));

    assert_eq!(store.outbox_retry_now(later).await.unwrap(), 1);
    assert_eq!(store.outbox_due(later).await.unwrap().len(), 1);
    store.outbox_mark_sent(id, later).await.unwrap();
    let m = store.outbox_get(id).await.unwrap();
    assert_eq!((m.sent_at, m.last_error), (Some(later), None));
    assert!(
        store
            .outbox_due(later + TimeDelta::days(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.outbox_summary().await.unwrap(),
        OutboxSummary::default()
    );

    // Sent mail is pruned after a while, unsent mail never.
    let unsent = store.outbox_enqueue(&mail("s2"), t0()).await.unwrap();
    assert_eq!(store.outbox_prune(later).await.unwrap(), 0);
    assert_eq!(
        store
            .outbox_prune(later + TimeDelta::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert!(store.outbox_get(id).await.is_err());
    assert!(store.outbox_get(unsent).await.is_ok());
}

#[tokio::test]
async fn claiming_reserves_messages() {
    let (_dir, store) = store().await;
    let a = store.outbox_enqueue(&mail("a"), t0()).await.unwrap();
    let b = store.outbox_enqueue(&mail("b"), t0()).await.unwrap();
    let lease = std::time::Duration::from_secs(600);
    let claimed = store.outbox_claim_due(t0(), lease).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [a, b]);
    // A second deliverer finds nothing until the lease runs out.
    assert!(
        store
            .outbox_claim_due(t0(), lease)
            .await
            .unwrap()
            .is_empty()
    );
    let expired = t0() + TimeDelta::minutes(10);
    assert_eq!(
        store.outbox_claim_due(expired, lease).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn the_outbox_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = Store::open(&path).await.unwrap();
    let id = store.outbox_enqueue(&mail("kept"), t0()).await.unwrap();
    store
        .outbox_mark_failed(id, "down", false, t0())
        .await
        .unwrap();
    store.close().await;
    let store = Store::open(&path).await.unwrap();
    let m = store.outbox_get(id).await.unwrap();
    assert_eq!((m.subject.as_str(), m.attempts), ("kept", 1));
    assert_eq!(m.last_error.as_deref(), Some("down"));
}

#[tokio::test]
async fn a_permanent_refusal_is_given_up_at_the_third_attempt() {
    let (_dir, store) = store().await;
    let id = store.outbox_enqueue(&mail("refused"), t0()).await.unwrap();
    let other = store.outbox_enqueue(&mail("waits"), t0()).await.unwrap();
    store
        .outbox_mark_failed(other, "421 try later", false, t0())
        .await
        .unwrap();
    // A transient failure, then two permanent ones: given up at the third attempt.
    let m = store
        .outbox_mark_failed(id, "451 busy", false, t0())
        .await
        .unwrap();
    assert_eq!((m.attempts, m.failed_at), (1, None));
    let m = store
        .outbox_mark_failed(id, "550 no such user", true, t0())
        .await
        .unwrap();
    assert_eq!((m.attempts, m.failed_at), (2, None));
    let later = t0() + TimeDelta::minutes(5);
    let m = store
        .outbox_mark_failed(id, "550 no such user", true, later)
        .await
        .unwrap();
    assert_eq!((m.attempts, m.failed_at), (3, Some(later)));

    // Never due again, not even when everything is retried at once.
    let far = t0() + TimeDelta::days(1);
    assert_eq!(store.outbox_retry_now(far).await.unwrap(), 1);
    let due: Vec<i64> = store
        .outbox_claim_due(far, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(due, [other]);
    let s = store.outbox_summary().await.unwrap();
    assert_eq!((s.pending, s.failed), (1, 1), "{s:?}");
    assert_eq!(s.last_failure.as_deref(), Some("550 no such user"));
    assert_eq!(s.last_failed_at, Some(later));
    assert_eq!(s.last_error.as_deref(), Some("421 try later"));

    // Failed mail is pruned like sent mail.
    assert_eq!(store.outbox_prune(later).await.unwrap(), 0);
    assert_eq!(
        store
            .outbox_prune(later + TimeDelta::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.outbox_summary().await.unwrap().failed, 0);
}

#[tokio::test]
async fn a_transient_failure_is_given_up_after_a_week() {
    let (_dir, store) = store().await;
    let id = store.outbox_enqueue(&mail("old"), t0()).await.unwrap();
    let day6 = t0() + TimeDelta::days(6);
    let m = store
        .outbox_mark_failed(id, "connection refused", false, day6)
        .await
        .unwrap();
    assert_eq!(m.failed_at, None);
    let day7 = t0() + TimeDelta::days(7);
    let m = store
        .outbox_mark_failed(id, "connection refused", false, day7)
        .await
        .unwrap();
    assert_eq!((m.attempts, m.failed_at), (2, Some(day7)));
    assert_eq!(store.outbox_summary().await.unwrap().pending, 0);
}

//! The one-scan-at-a-time rules, with a collector slow enough to overlap requests.

use std::time::Duration;

use super::*;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;
use crate::store::Store;

struct Slow;

impl Collector for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn description(&self) -> &'static str {
        "sleeps"
    }
    fn noun(&self) -> &'static str {
        "thing"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        std::thread::sleep(Duration::from_millis(400));
        Ok(vec![Item::new("a")])
    }
}

struct Fast;

impl Collector for Fast {
    fn name(&self) -> &'static str {
        "fast"
    }
    fn description(&self) -> &'static str {
        "returns at once"
    }
    fn noun(&self) -> &'static str {
        "thing"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Ok(vec![Item::new("b")])
    }
}

static REGISTRY: &[&dyn Collector] = &[&Slow, &Fast];

async fn scans(dir: &tempfile::TempDir) -> Arc<Scans> {
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let engine = Engine::new(store, dir.path().to_path_buf());
    Arc::new(Scans::new(engine).with_registry(REGISTRY))
}

fn req(label: Option<&str>) -> ScanRequest {
    ScanRequest {
        label: label.map(String::from),
        collectors: vec![],
    }
}

#[tokio::test]
async fn identical_concurrent_requests_share_one_scan() {
    let dir = tempfile::tempdir().unwrap();
    let s = scans(&dir).await;
    let (a, b) = tokio::join!(s.run(req(None), Trigger::Request), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.run(req(None), Trigger::Request).await
    });
    let (a, a_joined) = a.unwrap();
    let (b, b_joined) = b.unwrap();
    assert_eq!(a.info.id, b.info.id);
    assert!(!a_joined && b_joined);
    assert_eq!(s.engine().store.count().await.unwrap(), 1);
    assert!(s.progress().is_none());
}

#[tokio::test]
async fn a_different_request_waits_then_runs_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let s = scans(&dir).await;
    let (a, b) = tokio::join!(s.run(req(None), Trigger::Request), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let p = s.progress().expect("the first scan is running");
        assert_eq!((p.trigger.as_str(), p.total), ("request", 2));
        s.run(req(Some("pre")), Trigger::Request).await
    });
    let (a, _) = a.unwrap();
    let (b, joined) = b.unwrap();
    assert!(!joined);
    assert!(b.info.id > a.info.id);
    assert_eq!(b.info.label.as_deref(), Some("pre"));
    assert!(b.info.started_at >= a.info.finished_at, "scans overlapped");
}

#[tokio::test]
async fn a_scheduled_scan_is_skipped_while_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = scans(&dir).await;
    let (a, b) = tokio::join!(s.run(req(None), Trigger::Request), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.run(req(None), Trigger::Schedule).await
    });
    a.unwrap();
    assert!(matches!(b, Err(ScanError::Busy)));
    assert!(s.last_scheduled.lock().unwrap().is_none());
    s.run(req(None), Trigger::Schedule).await.unwrap();
    assert!(s.last_scheduled.lock().unwrap().is_some());
}

#[tokio::test]
async fn shutdown_abandons_a_scan_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let s = scans(&dir).await;
    s.run(req(None), Trigger::Request).await.unwrap();
    let (a, abandoned) = tokio::join!(s.run(req(None), Trigger::Request), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.shutdown(Duration::from_millis(10)).await
    });
    assert!(abandoned);
    assert!(matches!(a, Err(ScanError::Stopping)), "{a:?}");
    assert!(matches!(
        s.run(req(None), Trigger::Request).await,
        Err(ScanError::Stopping)
    ));
    let store = &s.engine().store;
    assert_eq!(store.count().await.unwrap(), 1);
    store
        .load(store.latest().await.unwrap().unwrap().id)
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_collectors_and_bad_labels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = scans(&dir).await;
    let e = s
        .run(
            ScanRequest {
                label: None,
                collectors: vec!["nope".into()],
            },
            Trigger::Request,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e = s.run(req(Some("a b")), Trigger::Request).await.unwrap_err();
    assert!(e.to_string().contains("invalid label"), "{e}");
}

/// Issue 8: a panic in the scan task left `current` set, so the daemon stayed busy forever
/// (every later request waited on a scan that would never finish).
#[tokio::test]
async fn a_panicking_scan_task_fails_its_waiters_and_frees_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let s = scans(&dir).await;
    s.panic_in_task.store(true, Ordering::SeqCst);
    let first = tokio::time::timeout(Duration::from_secs(10), s.run(req(None), Trigger::Request))
        .await
        .expect("the waiter is told, not left hanging");
    let e = first.unwrap_err();
    assert!(
        matches!(e, ScanError::Failed(_)) && e.to_string().contains("panicked"),
        "{e}"
    );
    assert!(s.progress().is_none(), "no scan is running any more");
    let (next, joined) =
        tokio::time::timeout(Duration::from_secs(10), s.run(req(None), Trigger::Schedule))
            .await
            .expect("the next scan runs")
            .unwrap();
    assert!(!joined);
    assert!(s.last_scheduled.lock().unwrap().is_some());
    assert_eq!(
        next.info.id,
        s.engine().store.latest().await.unwrap().unwrap().id
    );
}

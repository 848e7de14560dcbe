use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A run stuck past the timeout is reported, later runs are skipped (never run at the same
/// time as it: one thread), waiters are not held past the timeout, and the hooks work again
/// once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_run_is_reported_and_later_runs_are_skipped_not_piled_up() {
    let w = Worker::start(Duration::from_millis(300)).unwrap();
    let (release, stuck) = std::sync::mpsc::channel::<()>();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let counted = |job: Box<dyn FnOnce() + Send>| -> Job {
        let (running, most) = (running.clone(), most.clone());
        Box::new(move || {
            let n = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            job();
            running.fetch_sub(1, Ordering::SeqCst);
            Vec::new()
        })
    };
    w.submit(
        "scan 1".into(),
        counted(Box::new(move || {
            let _ = stuck.recv();
        })),
    );
    let t = Instant::now();
    w.settled().await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let h = w.health();
    assert!(h.failing, "{h:?}");
    assert!(
        h.last.as_ref().unwrap().1.contains("has not ended"),
        "{h:?}"
    );

    let ran = Arc::new(AtomicUsize::new(0));
    for i in 2..10 {
        let ran = ran.clone();
        w.submit(
            format!("scan {i}"),
            counted(Box::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })),
        );
    }
    let h = w.health();
    assert_eq!(h.problems, 9, "one stuck and eight skipped: {h:?}");
    assert!(h.last.unwrap().1.contains("skipped after scan 9"));

    release.send(()).unwrap();
    let ran_after = ran.clone();
    w.submit(
        "scan 10".into(),
        counted(Box::new(move || {
            ran_after.fetch_add(1, Ordering::SeqCst);
        })),
    );
    // Submitted while the stuck run may still be ending: queued or skipped, then a last one
    // once it has surely ended.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ran_last = ran.clone();
    w.submit(
        "scan 11".into(),
        counted(Box::new(move || {
            ran_last.fetch_add(1, Ordering::SeqCst);
        })),
    );
    w.settled().await;
    assert!(ran.load(Ordering::SeqCst) >= 1);
    assert!(!w.health().failing, "{:?}", w.health());
    assert_eq!(most.load(Ordering::SeqCst), 1, "two runs at once");
}

/// Problems a run returns are counted and shown until a run ends well.
#[tokio::test]
async fn a_failed_run_is_shown_until_one_succeeds() {
    let w = Worker::start(Duration::from_secs(5)).unwrap();
    w.submit(
        "scan 1".into(),
        Box::new(|| vec!["cannot write X: denied".into()]),
    );
    w.settled().await;
    let h = w.health();
    assert_eq!((h.problems, h.failing), (1, true), "{h:?}");
    assert_eq!(h.last.unwrap().1, "cannot write X: denied");
    w.submit("scan 2".into(), Box::new(Vec::new));
    w.settled().await;
    let h = w.health();
    assert_eq!((h.problems, h.failing), (1, false), "{h:?}");
}

use super::*;
use crate::error::CollectError;
use crate::model::Item;

/// Spins until the scan is cancelled (like a hash of a sparse terabyte), then says so.
struct Stuck(&'static AtomicBool);
static STUCK_STOPPED: AtomicBool = AtomicBool::new(false);
static OTHER_STOPPED: AtomicBool = AtomicBool::new(false);

impl Collector for Stuck {
    fn name(&self) -> &'static str {
        "stuck"
    }
    fn description(&self) -> &'static str {
        "never finishes on its own"
    }
    fn noun(&self) -> &'static str {
        "thing"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        while !host.cancelled() {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.0.store(true, Ordering::SeqCst);
        Err(CollectError::Unavailable("cancelled".into()))
    }
}

struct Quick(&'static str);

impl Collector for Quick {
    fn name(&self) -> &'static str {
        self.0
    }
    fn description(&self) -> &'static str {
        "returns at once"
    }
    fn noun(&self) -> &'static str {
        "thing"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        Ok(vec![Item::new("x")])
    }
}

fn items(out: &ScanOutput, name: &str) -> Option<usize> {
    match out.snapshot.results.get(name) {
        Some(Outcome::Items(v)) => Some(v.len()),
        _ => None,
    }
}

/// Regression (issue 8): with every worker stuck in an abandoned collector, the rest never
/// started and the scan never ended. Now a fresh worker replaces an abandoned one, and the
/// abandoned one is told to stop when the scan ends.
#[test]
fn a_stuck_collector_does_not_hold_the_only_worker() {
    static LIST: [&dyn Collector; 3] = [&Stuck(&STUCK_STOPPED), &Quick("a"), &Quick("b")];
    let options = ScanOptions {
        threads: 1,
        collector_timeout: Duration::from_millis(300),
        scan_timeout: Duration::from_secs(60),
        max_hash: 1 << 20,
        ..ScanOptions::default()
    };
    let t = Instant::now();
    let out = run(
        Arc::new(Host::new("/nonexistent")),
        &LIST,
        &options,
        &|_| {},
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(matches!(
        out.snapshot.results.get("stuck"),
        Some(Outcome::Unavailable(why)) if why.contains("timed out")
    ));
    assert_eq!((items(&out, "a"), items(&out, "b")), (Some(1), Some(1)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !STUCK_STOPPED.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        STUCK_STOPPED.load(Ordering::SeqCst),
        "the abandoned collector was not told to stop"
    );
}

/// Waits (up to 250 ms, less than its timeout) for the stuck collector before it to stop,
/// and says whether it did while the scan still ran.
struct Watcher;
static ALONE_STOPPED: AtomicBool = AtomicBool::new(false);
static SEEN_WHILE_RUNNING: AtomicBool = AtomicBool::new(false);

impl Collector for Watcher {
    fn name(&self) -> &'static str {
        "watcher"
    }
    fn description(&self) -> &'static str {
        "outlives the stuck one"
    }
    fn noun(&self) -> &'static str {
        "thing"
    }
    fn collect(&self, _host: &Host) -> Result<Vec<Item>, CollectError> {
        let deadline = Instant::now() + Duration::from_millis(250);
        while !ALONE_STOPPED.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        SEEN_WHILE_RUNNING.store(ALONE_STOPPED.load(Ordering::SeqCst), Ordering::SeqCst);
        Ok(vec![Item::new("x")])
    }
}

/// Regression (issue 15): a collector abandoned at `collector_timeout` ran on until the
/// whole scan ended (an include walk of 61 s kept its thread busy). Now its own flag stops
/// it at once, while the other collectors still run.
#[test]
fn a_timed_out_collector_stops_while_the_scan_runs_on() {
    static LIST: [&dyn Collector; 2] = [&Stuck(&ALONE_STOPPED), &Watcher];
    // One worker: the watcher starts on the fresh worker once the stuck one is abandoned.
    let options = ScanOptions {
        threads: 1,
        collector_timeout: Duration::from_millis(300),
        scan_timeout: Duration::from_secs(60),
        ..ScanOptions::default()
    };
    let host = Arc::new(Host::new("/nonexistent"));
    let out = run(host.clone(), &LIST, &options, &|_| {});
    assert!(matches!(
        out.snapshot.results.get("stuck"),
        Some(Outcome::Unavailable(why)) if why.contains("timed out")
    ));
    assert_eq!(items(&out, "watcher"), Some(1));
    assert!(
        SEEN_WHILE_RUNNING.load(Ordering::SeqCst),
        "the abandoned collector ran on until the scan ended"
    );
}

/// The whole scan has a deadline that also covers collectors that never started.
#[test]
fn the_scan_deadline_covers_collectors_that_never_started() {
    static LIST: [&dyn Collector; 2] = [&Stuck(&OTHER_STOPPED), &Quick("later")];
    let options = ScanOptions {
        threads: 1,
        collector_timeout: Duration::from_secs(3600),
        scan_timeout: Duration::from_millis(400),
        max_hash: 1 << 20,
        ..ScanOptions::default()
    };
    let t = Instant::now();
    let out = run(
        Arc::new(Host::new("/nonexistent")),
        &LIST,
        &options,
        &|_| {},
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    match out.snapshot.results.get("later") {
        Some(Outcome::Unavailable(why)) => {
            assert!(why.contains("before it could start"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        out.snapshot.results.get("stuck"),
        Some(Outcome::Unavailable(why)) if why.contains("while it ran")
    ));
}

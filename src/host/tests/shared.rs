use super::*;

/// Shared work is stopped by the scan's flag only: a collector abandoned alone does not
/// cancel the walk that other collectors wait for (nor does the scope leak out of it).
#[test]
fn shared_work_ignores_the_callers_own_cancel_flag() {
    let host = Host::new("/");
    let abandoned = Arc::new(AtomicBool::new(true));
    let _scope = collector_scope(Some(abandoned));
    assert!(
        host.cancelled(),
        "the collector's own flag is seen outside shared work"
    );
    struct Seen(bool);
    let seen = host.shared(|| Seen(host.cancelled()));
    assert!(!seen.0, "shared work saw the abandoned collector's flag");
    assert!(
        host.cancelled(),
        "the collector's scope is back after the shared work"
    );
    host.cancel_flag().store(true, Ordering::SeqCst);
    struct SeenScan(bool);
    assert!(
        host.shared(|| SeenScan(host.cancelled())).0,
        "the scan's flag still stops it"
    );
}

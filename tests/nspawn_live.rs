//! The shipped systemd unit under a real systemd, PID 1 of a `systemd-nspawn` container:
//! `tests/nspawn/run.sh` against the binaries of this test run. It needs root, boots a
//! container and, the first time, builds a Debian root file system with debootstrap (~1 min;
//! then ~25 s a run), so it runs only when `DAWGMON_NSPAWN=1` (`.ci/run` sets it); otherwise it
//! passes after saying so. See docs/nspawn.md.

use std::path::Path;
use std::process::Command;

#[test]
fn shipped_unit_under_systemd_in_nspawn() {
    if std::env::var_os("DAWGMON_NSPAWN").is_none_or(|v| v != "1") {
        eprintln!(
            "skipped: set DAWGMON_NSPAWN=1 (as root) to boot a systemd-nspawn container and run \
             tests/nspawn/run.sh (docs/nspawn.md)"
        );
        return;
    }
    // The container's mounts, processes and sockets are visible on the live host.
    let _live = crate::helper::live_lock();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nspawn/run.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    // The binaries cargo built for this test run, unless the caller names others.
    if std::env::var_os("DAWGMON_BIN_DIR").is_none() {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_dawgmond")).parent().unwrap();
        cmd.env("DAWGMON_BIN_DIR", bin_dir);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} failed ({status}); its output above lists the failed checks",
        script.display()
    );
}

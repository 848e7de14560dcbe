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
    // The container's root is a copy on the host's file system, not an overlay: the realtime
    // watch marks the root's file system with fanotify, which overlayfs refuses (EOPNOTSUPP),
    // as a host's ext4 or xfs root does not (docs/realtime.md). The package test keeps the overlay.
    cmd.env("DAWGMON_NSPAWN_COPY", "1");
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

/// The Debian package under a real systemd: `cargo deb --no-build --profile dev --fast` packages
/// this test run's binaries (and the man pages and completions their build script generated)
/// in ~3 s, and `tests/nspawn/run.sh` installs it with apt inside the container, then checks
/// the unit, the man pages, a completion, the apt hook around a test package, remove and purge
/// (docs/nspawn.md, "From the .deb"). Needs cargo-deb (`.ci/run` installs it); `DAWGMON_DEB`
/// names a ready .deb instead (a release one from `cargo deb`, say).
#[test]
fn debian_package_under_systemd_in_nspawn() {
    if std::env::var_os("DAWGMON_NSPAWN").is_none_or(|v| v != "1") {
        eprintln!(
            "skipped: set DAWGMON_NSPAWN=1 (as root, with cargo-deb installed) to build the .deb \
             and install it in a systemd-nspawn container (docs/nspawn.md)"
        );
        return;
    }
    let _live = crate::helper::live_lock();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let deb = match std::env::var_os("DAWGMON_DEB") {
        Some(deb) => std::path::PathBuf::from(deb),
        None => {
            // <target>/debug/dawgmond: package exactly these binaries.
            let bin_dir = Path::new(env!("CARGO_BIN_EXE_dawgmond")).parent().unwrap();
            let target = bin_dir.parent().unwrap();
            let deb = dir.path().join("dawgmon.deb");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args(["deb", "--no-build", "--profile", "dev", "--fast", "-o"])
                .arg(&deb)
                .current_dir(repo)
                .env("CARGO_TARGET_DIR", target)
                .output()
                .expect("run cargo deb");
            assert!(
                out.status.success(),
                "cargo deb failed (install it: cargo install cargo-deb --locked): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            deb
        }
    };
    let script = repo.join("tests/nspawn/run.sh");
    let status = Command::new("bash")
        .arg(&script)
        .env("DAWGMON_DEB", &deb)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} with DAWGMON_DEB={} failed ({status}); its output above lists the failed checks",
        script.display(),
        deb.display()
    );
}

//! Helpers shared by the `cargo bench` targets (harness = false): how the bench was invoked,
//! and the process's memory as the kernel sees it.
//!
//! `cargo bench` passes `--bench`; `cargo test --all-targets` runs the same binaries without
//! it. Without `--bench` the benches run a tiny smoke version, so CI builds and exercises them
//! in well under a second but never runs the heavy part.

#![allow(dead_code)]

/// True when run by `cargo bench` (which passes `--bench`), false under `cargo test`.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A size from the environment (`NAME=500000`), else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// One `kB` field of /proc/self/status (VmRSS, VmHWM...), in bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Resets the peak resident set size (VmHWM) to the current one, so a later VmHWM is the peak
/// of what ran since. Returns false when the kernel does not allow it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes as MB (10^6), one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

//! The process table under the scanned root's `proc`: pids and each process's `status`, read once per
//! scan and shared by `list_processes` and `needs_restart`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::CollectError;
use crate::host::Host;

/// One process's `status` facts.
pub(crate) struct Status {
    pub name: String,
    pub ppid: u32,
    pub ruid: u32,
    pub euid: u32,
    pub cap_eff: Option<u64>,
}

/// One user-space process of the table (kernel threads are left out).
pub(crate) struct Process {
    /// Its `proc/<pid>` directory under the root.
    pub dir: PathBuf,
    pub status: Status,
}

/// The process table: the user-space processes under the root's `proc` with their `status`,
/// sorted by pid, read once per scan and shared by every collector that lists processes
/// (`list_processes`, `needs_restart`). `Unavailable` when there is no `proc` with processes
/// under the root (an image, a fixture without one).
pub(crate) fn table(host: &Host, collector: &str) -> Result<Arc<Vec<Process>>, CollectError> {
    struct Table(Result<Arc<Vec<Process>>, Option<i32>>);
    let shared = host.shared(|| {
        Table(pids(host).map(|pids| {
            Arc::new(
                pids.into_iter()
                    .filter_map(|(pid, dir)| {
                        let status = read_status(host, &dir)?;
                        (!is_kernel_thread(pid, &status)).then_some(Process { dir, status })
                    })
                    .collect(),
            )
        }))
    });
    let proc = host.path("/proc");
    match &shared.0 {
        Ok(table) => Ok(table.clone()),
        Err(None) => Err(CollectError::Unavailable(format!(
            "no processes under {}: proc is not mounted there ({collector} only runs on a live host)",
            proc.display()
        ))),
        Err(Some(errno)) => Err(CollectError::io(
            &proc,
            io::Error::from_raw_os_error(*errno),
        )),
    }
}

/// The numeric entries of the root's `proc` (pid, directory), sorted by pid. `Err(None)` when
/// there is none, else the error number listing it failed with.
fn pids(host: &Host) -> Result<Vec<(u32, PathBuf)>, Option<i32>> {
    let proc = host.path("/proc");
    let entries = host.read_dir_real(&proc).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => None,
        _ => Some(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let mut out: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, e.path()))
        })
        .collect();
    if out.is_empty() {
        return Err(None);
    }
    out.sort();
    Ok(out)
}

/// Parses `proc/<pid>/status`; `None` when it is gone (the process exited) or malformed.
fn read_status(host: &Host, dir: &std::path::Path) -> Option<Status> {
    let text = host.read_real(&dir.join("status")).ok()?;
    let text = String::from_utf8_lossy(&text);
    let (mut name, mut ppid, mut uids, mut cap_eff) = (None, None, None, None);
    for line in text.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match field {
            "Name" => name = Some(value.to_string()),
            "PPid" => ppid = value.parse::<u32>().ok(),
            "Uid" => {
                let ids: Vec<u32> = value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                if ids.len() >= 2 {
                    uids = Some((ids[0], ids[1]));
                }
            }
            "CapEff" => cap_eff = u64::from_str_radix(value, 16).ok(),
            _ => {}
        }
    }
    let (ruid, euid) = uids?;
    Some(Status {
        name: name?,
        ppid: ppid?,
        ruid,
        euid,
        cap_eff,
    })
}

/// A kernel thread: kthreadd itself (pid 2) or one of its children.
fn is_kernel_thread(pid: u32, status: &Status) -> bool {
    pid == 2 || status.ppid == 2
}

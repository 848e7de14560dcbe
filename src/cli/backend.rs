//! Where `dawgctl`'s commands run: in-process on the database (`--local`), or through the
//! daemon. Both answer with the API's wire types, so the commands and their rendering are
//! written once.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{self, CollectorInfo, ScanRequest, ScanResponse};
use crate::client::Client;
use crate::collectors::Registry;
use crate::engine::{Engine, ProgressFn, ScanResult};
use crate::error::{Error, StoreError};
use crate::report::Report;
use crate::store::ScanInfo;

/// What `dawgctl status` shows.
pub enum Status {
    Daemon(Box<api::Status>),
    /// `--local`: the database only.
    Local {
        database: String,
        bytes: u64,
        scans: i64,
        last: Option<ScanInfo>,
    },
}

/// The engine in-process, or the daemon's client.
pub enum Backend {
    Local(Engine),
    Remote(Client),
}

impl Backend {
    /// The root whose package database attributes `--by package` reports: the scanned root of
    /// `--local` (flag or config), `/` for the daemon (dawgctl talks to the daemon of its own
    /// host).
    pub fn package_root(&self) -> std::path::PathBuf {
        match self {
            Backend::Local(engine) => engine.root.clone(),
            Backend::Remote(_) => std::path::PathBuf::from("/"),
        }
    }

    /// The collectors reports are worded by: the engine's registry with `--local`; the
    /// built-in checks for the daemon (dawgctl does not know its watch trees, and a `watch:`
    /// collector is worded alike whether configured or not).
    pub fn registry(&self) -> Registry {
        match self {
            Backend::Local(engine) => engine.registry.clone(),
            Backend::Remote(_) => Registry::default(),
        }
    }

    /// Scans now (storing the scan under `label`, if given).
    pub async fn scan(
        &self,
        label: Option<String>,
        collectors: &[String],
    ) -> Result<ScanResponse, Error> {
        match self {
            Backend::Local(engine) => {
                let selected = engine.select(collectors).map_err(Error::Usage)?;
                let r = engine.scan(label, selected, progress_fn()).await?;
                Ok(response(r))
            }
            Backend::Remote(client) => {
                let req = ScanRequest {
                    label,
                    collectors: collectors.to_vec(),
                };
                let watcher = tokio::spawn(show_remote_progress(client.clone()));
                let r = if req.label.is_some() {
                    client.baseline(&req).await
                } else {
                    client.scan(&req).await
                };
                watcher.abort();
                let _ = watcher.await;
                clear_progress();
                Ok(r?)
            }
        }
    }

    /// A scan by id or label.
    pub async fn resolve(&self, spec: &str) -> Result<ScanInfo, Error> {
        match self {
            Backend::Local(engine) => Ok(engine.store.resolve(spec).await?),
            Backend::Remote(client) => Ok(client.scan_info(spec).await?),
        }
    }

    /// Whether any scan is stored.
    pub async fn has_scans(&self) -> Result<bool, Error> {
        match self {
            Backend::Local(engine) => Ok(engine.store.latest().await?.is_some()),
            Backend::Remote(client) => Ok(client.scans(1, 0).await?.total > 0),
        }
    }

    /// The report from `since` (default: the newest baseline before `to`, else the scan
    /// before it) to `to`, limited to `only` when not empty.
    pub async fn diff(
        &self,
        since: Option<&str>,
        to: &ScanInfo,
        only: &[String],
    ) -> Result<Report, Error> {
        match self {
            Backend::Local(engine) => {
                let only = (!only.is_empty()).then_some(only);
                engine.diff_stored(since, to, only).await
            }
            Backend::Remote(client) => {
                Ok(client.diff(since, Some(&to.id.to_string()), only).await?)
            }
        }
    }

    /// The newest `limit` scans, newest first.
    pub async fn history(&self, limit: i64) -> Result<Vec<ScanInfo>, Error> {
        match self {
            Backend::Local(engine) => Ok(engine.store.list(limit, 0).await?),
            Backend::Remote(client) => {
                let mut scans = Vec::new();
                let mut offset = 0;
                while (scans.len() as i64) < limit {
                    let want = (limit - scans.len() as i64).min(api::PAGE_MAX);
                    let page = client.scans(want, offset).await?;
                    scans.extend(page.scans);
                    match page.next_offset {
                        Some(next) => offset = next,
                        None => break,
                    }
                }
                Ok(scans)
            }
        }
    }

    /// Baselines, newest first.
    pub async fn baselines(&self) -> Result<Vec<ScanInfo>, Error> {
        match self {
            Backend::Local(engine) => Ok(engine.store.baselines().await?),
            Backend::Remote(client) => Ok(client.baselines().await?),
        }
    }

    /// Removes a baseline's label; returns the scan that carried it.
    pub async fn delete_baseline(&self, label: &str) -> Result<ScanInfo, Error> {
        match self {
            Backend::Local(engine) => {
                crate::store::validate_label(label)?;
                Ok(engine.store.delete_label(label).await?)
            }
            Backend::Remote(client) => Ok(client.delete_baseline(label).await?),
        }
    }

    /// The collectors, `default` meaning a scan that names none runs it.
    pub async fn collectors(&self) -> Result<Vec<CollectorInfo>, Error> {
        match self {
            Backend::Local(engine) => {
                let defaults = engine.select(&[]).map_err(Error::Usage)?;
                Ok(api::collector_infos(engine.registry.watches(), |n| {
                    defaults.iter().any(|c| c.name() == n)
                }))
            }
            Backend::Remote(client) => Ok(client.collectors().await?),
        }
    }

    /// The daemon's status, or the database's with `--local`.
    pub async fn status(&self) -> Result<Status, Error> {
        match self {
            Backend::Local(engine) => Ok(Status::Local {
                database: engine.store.path().display().to_string(),
                bytes: engine.store.size_on_disk(),
                scans: engine.store.count().await?,
                last: engine.store.latest().await?,
            }),
            Backend::Remote(client) => Ok(Status::Daemon(Box::new(client.status().await?))),
        }
    }

    /// An error for a diff on an empty database.
    pub fn empty() -> Error {
        Error::Store(StoreError::Empty)
    }
}

/// The wire form of an in-process scan, so both back ends render alike.
fn response(r: ScanResult) -> ScanResponse {
    ScanResponse {
        scan: r.info,
        report: r.report,
        items: r.items,
        denied: r.denied.0,
        denied_examples: r.denied.1,
        scanned_as_root: nix::unistd::geteuid().is_root(),
        elapsed_ms: r.elapsed.as_millis() as u64,
        joined: false,
        files_hashed: r.files_hashed,
        files_carried: r.files_carried,
        timings: crate::api::CollectorTiming::list(&r.timings),
    }
}

/// Writes "scanning 12/31: list_suids" over the previous one.
fn show_progress(done: usize, total: usize, last: Option<&str>) {
    let mut err = std::io::stderr().lock();
    let _ = match last {
        Some(c) => write!(err, "\r\x1b[Kscanning {done}/{total}: {c}"),
        None => write!(err, "\r\x1b[Kscanning {done}/{total}"),
    };
    let _ = err.flush();
}

fn clear_progress() {
    if std::io::stderr().is_terminal() {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}

/// In-process progress on a terminal, once a scan has run for a second.
fn progress_fn() -> ProgressFn {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|_| {});
    }
    let start = Instant::now();
    Arc::new(move |p| {
        if start.elapsed() < Duration::from_secs(1) {
            return;
        }
        if p.done == p.total {
            clear_progress();
        } else {
            show_progress(p.done, p.total, Some(p.collector));
        }
    })
}

/// The daemon's progress on a terminal, polled from its status once a scan has run for a
/// second. Runs until aborted.
async fn show_remote_progress(client: Client) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    loop {
        if let Ok(s) = client.status().await
            && let Some(p) = s.scan_in_progress
        {
            show_progress(p.done, p.total, p.last.as_deref());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

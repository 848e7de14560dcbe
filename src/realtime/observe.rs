//! Observations: what an event showed, recorded at that moment with who did it.
//!
//! A setuid file is recorded by the reader itself (`fstatat` at event time, see
//! [`super::handle`]). For a collector that reads a few small files and declared
//! [`crate::collectors::Collector::observes`] (sudo rules, cron jobs, SSH keys, accounts, PAM,
//! the loader), this thread runs it as soon as its files change and records each item that is
//! new or different from what it saw the time before. A sudoers drop-in that lived for a
//! second is thereby seen as the sudo rule it granted, even if no scan ever reads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Ctx, lock};
use crate::collectors::{self, Collector};
use crate::host::Host;
use crate::model::Fields;
use crate::store::Observation;

/// The process an event named, as far as /proc said while it was alive.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

impl Actor {
    /// Reads process `pid` (0: unknown).
    pub fn read(pid: i32) -> Actor {
        if pid <= 0 {
            return Actor::default();
        }
        let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
        let status = std::fs::read_to_string(proc.join("status")).unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok());
        let comm = std::fs::read_to_string(proc.join("comm"))
            .ok()
            .map(|c| c.trim_end().chars().filter(|c| !c.is_control()).collect());
        let exe = std::fs::read_link(proc.join("exe")).ok().map(|p| {
            p.to_string_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .collect()
        });
        Actor {
            pid: Some(pid),
            uid,
            comm,
            exe,
        }
    }

    /// An observation of `key` by this actor.
    pub fn observation(
        &self,
        at: DateTime<Utc>,
        collector: &str,
        key: String,
        fields: Fields,
    ) -> Observation {
        Observation {
            seen_at: at,
            collector: collector.to_string(),
            key,
            fields,
            pid: self.pid,
            uid: self.uid,
            comm: self.comm.clone(),
            exe: self.exe.clone(),
        }
    }
}

/// What one collector output last, by key.
type View = HashMap<String, Fields>;

fn collect(c: &dyn Collector, root: &std::path::Path) -> Option<View> {
    let host = Host::new(root.to_path_buf());
    let items = c.collect(&host).ok()?;
    Some(items.into_iter().map(|i| (i.key, i.fields)).collect())
}

/// The probe thread: runs the observing collectors when asked, records what is new.
pub(super) fn run(ctx: &Ctx) {
    let root = ctx.map.root().to_path_buf();
    let mut views: BTreeMap<&'static str, View> = BTreeMap::new();
    for name in &ctx.map.observers {
        if let Some(c) = collectors::by_name(name)
            && let Some(v) = collect(c, &root)
        {
            views.insert(name, v);
        }
    }
    let (queue, cv) = &*ctx.probe;
    while !ctx.stop.load(Ordering::SeqCst) {
        let asked = {
            let mut q = lock(queue);
            if q.is_empty() {
                q = cv
                    .wait_timeout(q, Duration::from_millis(250))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            std::mem::take(&mut *q)
        };
        let now = Utc::now();
        let mut seen = Vec::new();
        for (name, actor) in asked {
            let Some(c) = collectors::by_name(name) else {
                continue;
            };
            let Some(view) = collect(c, &root) else {
                continue;
            };
            if let Some(old) = views.get(name) {
                for (key, fields) in &view {
                    if old.get(key) != Some(fields) {
                        seen.push(actor.observation(now, name, key.clone(), fields.clone()));
                    }
                }
            }
            views.insert(name, view);
        }
        super::send(ctx, seen);
    }
}

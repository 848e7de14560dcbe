//! `dawgctl fleet` output: text, JSON and SARIF, written as rows arrive.
//!
//! JSON is one array, streamed; SARIF is one log with one run per host (built from that host's
//! changes by the report's own SARIF renderer, the run's `properties` naming the host).

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::query::{ChangeRow, HostRow, ItemRow};
use crate::model::Severity;
use crate::report::{self, Report, ScanRef, TextOptions};

/// Writes a JSON array one element at a time.
pub struct JsonArray<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonArray<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"[")?;
        Ok(JsonArray { out, first: true })
    }

    pub fn push(&mut self, v: &impl serde::Serialize) -> io::Result<()> {
        self.out
            .write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, v).map_err(io::Error::other)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n]\n")?;
        Ok(self.out)
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "never".into())
}

/// The header of `fleet hosts` as text.
pub const HOSTS_HEADER: &str = "HOST                     LAST SEEN         LAST SCAN             CRIT HIGH  MED  LOW INFO  STATE";

/// One host as a text line.
pub fn host_line(h: &HostRow) -> String {
    let scan = match (h.last_scan_id, h.last_scan_at) {
        (Some(id), Some(at)) => format!("#{id} {}", at.format("%m-%d %H:%M")),
        _ => "-".into(),
    };
    let state = if h.last_seen.is_none() {
        "never reported"
    } else if h.stale {
        "STALE"
    } else {
        "ok"
    };
    let c = &h.changes;
    format!(
        "{:<24} {:<17} {:<20} {:>5}{:>5}{:>5}{:>5}{:>5}  {state}",
        h.name,
        when(h.last_seen),
        scan,
        c[4],
        c[3],
        c[2],
        c[1],
        c[0]
    )
}

/// One change as a text line: the host, then the change as `dawgctl diff` prints it.
pub fn change_line(c: &ChangeRow, opts: TextOptions) -> String {
    format!(
        "{}: {}",
        c.host,
        report::change_line(&c.change, c.time, opts)
    )
}

/// One item as a text line: host, collector, key and its fields.
pub fn item_line(i: &ItemRow) -> String {
    let fields = i
        .fields
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!("{}: {} {} {fields}", i.host, i.collector, i.key)
}

/// Builds a SARIF log with one run per host from changes that arrive host by host.
pub struct SarifRuns<W: Write> {
    out: W,
    first: bool,
    host: Option<(String, Option<String>)>,
    pending: Vec<crate::model::Change>,
    last: Option<(i64, DateTime<Utc>)>,
}

impl<W: Write> SarifRuns<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        write!(
            out,
            "{{\"$schema\":{},\"version\":\"2.1.0\",\"runs\":[",
            Value::from(report::sarif::SCHEMA)
        )?;
        Ok(SarifRuns {
            out,
            first: true,
            host: None,
            pending: Vec::new(),
            last: None,
        })
    }

    pub fn push(&mut self, c: ChangeRow) -> io::Result<()> {
        if self.host.as_ref().map(|(h, _)| h) != Some(&c.host) {
            self.flush_run()?;
            self.host = Some((c.host.clone(), c.machine_id.clone()));
        }
        self.last = Some((c.scan_id, c.time));
        self.pending.push(c.change);
        Ok(())
    }

    fn flush_run(&mut self) -> io::Result<()> {
        let Some((host, machine_id)) = self.host.take() else {
            return Ok(());
        };
        let (id, at) = self.last.take().unwrap_or((0, Utc::now()));
        let report = Report {
            from: None,
            to: ScanRef {
                id,
                label: None,
                started_at: at,
            },
            changes: std::mem::take(&mut self.pending),
            warnings: Vec::new(),
            ignored: 0,
        };
        let log = report::sarif::sarif(&report, Severity::Info);
        let mut run = log["runs"][0].clone();
        if let Some(p) = run.get_mut("properties").and_then(Value::as_object_mut) {
            p.insert("host".into(), host.into());
            p.insert("machineId".into(), machine_id.into());
        } else if let Some(o) = run.as_object_mut() {
            o.insert(
                "properties".into(),
                serde_json::json!({ "host": host, "machineId": machine_id }),
            );
        }
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, &run).map_err(io::Error::other)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.flush_run()?;
        self.out.write_all(b"]}\n")?;
        Ok(self.out)
    }
}

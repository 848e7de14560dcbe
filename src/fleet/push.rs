//! What a host sends for one stored scan, and sending it exactly once.
//!
//! A [`Push`] is built right after the scan is stored (and queued, as JSON, in the local fleet
//! outbox): the scan's summary, its changes, the host's identity (the scanned root's
//! `/etc/machine-id` and host name, or `[fleet] host`), its schedule and, once sealed history
//! exists, its latest checkpoint. [`send`] writes it in one transaction: the scan row first
//! (`ON CONFLICT DO NOTHING` on the host, scan id and start: a scan whose commit succeeded but
//! whose local "sent" mark was lost is not written twice), then, for a baseline, every item of
//! the scan (kept only in `dawgmon.current`), then the changes, in batches.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::FleetError;
use crate::host::Host;
use crate::model::{Change, Fields, Outcome, Snapshot};
use crate::report::Report;
use crate::store::ScanInfo;

/// Rows per INSERT statement.
pub const BATCH: usize = 2000;

/// One scan, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    pub scan_id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub from_scan_id: Option<i64>,
    pub hostname: String,
    pub machine_id: String,
    /// Changes by severity, info first.
    pub counts: [i64; 5],
    pub warnings: i64,
    pub unavailable: Vec<String>,
    pub schedule_secs: Option<i64>,
    /// The latest sealed-history checkpoint (issue 18), when this build has one.
    pub checkpoint: Option<String>,
    pub changes: Vec<Change>,
}

/// Who a host is: what it reports as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub hostname: String,
    pub machine_id: String,
}

/// The identity of the host at `root`: its `/etc/machine-id` (read through [`Host`]: an
/// image's machine-id that is a FIFO or a giant is not read forever) and host name, the name
/// replaced by `host` when set.
pub fn identity(root: &std::path::Path, host: Option<&str>, hostname: String) -> Identity {
    let machine_id = Host::new(root)
        .read_bytes("/etc/machine-id")
        .ok()
        .map(|b| crate::host::escape_bytes(String::from_utf8_lossy(&b).trim().as_bytes()))
        .filter(|m| !m.is_empty() && m.len() <= 128)
        .unwrap_or_else(|| "unknown".to_string());
    Identity {
        hostname: host.map(str::to_string).unwrap_or(hostname),
        machine_id,
    }
}

impl Push {
    /// The push of a stored scan and its report.
    pub fn of(
        info: &ScanInfo,
        report: &Report,
        unavailable: &[String],
        who: &Identity,
        schedule_secs: Option<i64>,
        checkpoint: Option<String>,
    ) -> Push {
        let mut counts = [0i64; 5];
        for c in &report.changes {
            counts[c.severity as usize] += 1;
        }
        Push {
            scan_id: info.id,
            started_at: info.started_at,
            finished_at: info.finished_at,
            from_scan_id: report.from.as_ref().map(|f| f.id),
            hostname: who.hostname.clone(),
            machine_id: who.machine_id.clone(),
            counts,
            warnings: report.warnings.len() as i64,
            unavailable: unavailable.to_vec(),
            schedule_secs,
            checkpoint,
            changes: report.changes.clone(),
        }
    }
}

/// The package a change names (`package` field after, else before), as `--by package` reads
/// it.
pub fn package_of(c: &Change) -> Option<String> {
    let get = |f: &Option<Fields>| f.as_ref()?.get("package").map(str::to_string);
    get(&c.after).or_else(|| get(&c.before))
}

/// PostgreSQL text holds no NUL character; stored text escapes control characters already, so
/// this only guards against a queue stuck on one.
fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\\0")
    } else {
        s.to_string()
    }
}

fn pg_json(v: &serde_json::Value) -> String {
    pg_text(&v.to_string()).replace("\\u0000", "\\\\0")
}

fn fields_json(f: &Option<Fields>) -> serde_json::Value {
    f.as_ref()
        .and_then(|f| serde_json::to_value(f).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Sends `push` (with `state`, the scan's snapshot, for a baseline) in one transaction.
/// Returns `false` when the scan had arrived already (nothing written).
pub async fn send(
    conn: &mut PgConnection,
    url: &str,
    push: &Push,
    state: Option<&Snapshot>,
) -> Result<bool, FleetError> {
    let sql = |doing: &'static str| {
        move |e: sqlx::Error| FleetError::Sql {
            url: url.to_string(),
            doing,
            message: e.to_string(),
        }
    };
    let host_id: Option<i64> = sqlx::query_scalar("SELECT dawgmon.my_host()")
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("finding this host's id"))?;
    let Some(host_id) = host_id else {
        return Err(FleetError::Server {
            url: url.to_string(),
            message: "this role is not a fleet host: make credentials for this host with \
                      `dawgctl fleet add-host NAME --url OWNER-URL` and put them in [fleet]"
                .into(),
        });
    };
    sqlx::query("SELECT dawgmon.ensure_partitions($1)")
        .bind(push.started_at)
        .execute(&mut *conn)
        .await
        .map_err(sql("making the month's partitions"))?;
    let mut tx = conn.begin().await.map_err(sql("starting a transaction"))?;
    let c = &push.counts;
    let new = sqlx::query(
        "INSERT INTO dawgmon.scans (host_id, scan_id, started_at, finished_at, from_scan_id,
             hostname, machine_id, baseline, n_info, n_low, n_medium, n_high, n_critical,
             warnings, unavailable, schedule_secs, checkpoint)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT DO NOTHING",
    )
    .bind(host_id)
    .bind(push.scan_id)
    .bind(push.started_at)
    .bind(push.finished_at)
    .bind(push.from_scan_id)
    .bind(pg_text(&push.hostname))
    .bind(pg_text(&push.machine_id))
    .bind(state.is_some())
    .bind(c[0] as i32)
    .bind(c[1] as i32)
    .bind(c[2] as i32)
    .bind(c[3] as i32)
    .bind(c[4] as i32)
    .bind(push.warnings as i32)
    .bind(
        push.unavailable
            .iter()
            .map(|u| pg_text(u))
            .collect::<Vec<_>>(),
    )
    .bind(push.schedule_secs.map(|s| s.min(i32::MAX as i64) as i32))
    .bind(push.checkpoint.as_deref().map(pg_text))
    .execute(&mut *tx)
    .await
    .map_err(sql("adding the scan"))?
    .rows_affected()
        == 1;
    if !new {
        tx.commit().await.map_err(sql("committing"))?;
        return Ok(false);
    }
    if let Some(snapshot) = state {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for (collector, outcome) in &snapshot.results {
            if let Outcome::Items(items) = outcome {
                for item in items {
                    let fields = serde_json::to_value(&item.fields).unwrap_or_default();
                    rows.push((pg_text(collector), pg_text(&item.key), pg_json(&fields)));
                }
            }
        }
        for chunk in rows.chunks(BATCH) {
            let (cols, keys, fields): (Vec<_>, Vec<_>, Vec<_>) = chunk.iter().cloned().fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |(mut a, mut b, mut c), (x, y, z)| {
                    a.push(x);
                    b.push(y);
                    c.push(z);
                    (a, b, c)
                },
            );
            sqlx::query(
                "INSERT INTO dawgmon.state (host_id, scan_id, at, collector, key, fields)
                 SELECT $1, $2, $3, s.c, s.k, s.f::jsonb
                 FROM UNNEST($4::text[], $5::text[], $6::text[]) AS s(c, k, f)",
            )
            .bind(host_id)
            .bind(push.scan_id)
            .bind(push.started_at)
            .bind(cols)
            .bind(keys)
            .bind(fields)
            .execute(&mut *tx)
            .await
            .map_err(sql("adding the host's state"))?;
        }
    }
    insert_changes(&mut tx, host_id, push)
        .await
        .map_err(sql("adding the changes"))?;
    tx.commit().await.map_err(sql("committing the scan"))?;
    Ok(true)
}

/// The changes of `push`, [`BATCH`] rows a statement.
pub async fn insert_changes(
    conn: &mut PgConnection,
    host_id: i64,
    push: &Push,
) -> Result<(), sqlx::Error> {
    for (n, chunk) in push.changes.chunks(BATCH).enumerate() {
        let mut seq = Vec::with_capacity(chunk.len());
        let mut collector = Vec::with_capacity(chunk.len());
        let mut kind = Vec::with_capacity(chunk.len());
        let mut key = Vec::with_capacity(chunk.len());
        let mut severity = Vec::with_capacity(chunk.len());
        let mut rule = Vec::with_capacity(chunk.len());
        let mut package = Vec::with_capacity(chunk.len());
        let mut message = Vec::with_capacity(chunk.len());
        let mut fields = Vec::with_capacity(chunk.len());
        for (i, c) in chunk.iter().enumerate() {
            seq.push((n * BATCH + i) as i32);
            collector.push(pg_text(&c.collector));
            kind.push(c.kind.as_str().to_string());
            key.push(pg_text(&c.key));
            severity.push(super::severity_code(c.severity));
            rule.push(c.rule.as_deref().map(pg_text));
            package.push(package_of(c).as_deref().map(pg_text));
            message.push(pg_text(&c.message));
            let mut f = serde_json::Map::new();
            if c.before.is_some() {
                f.insert("before".into(), fields_json(&c.before));
            }
            if c.after.is_some() {
                f.insert("after".into(), fields_json(&c.after));
            }
            fields.push(pg_json(&serde_json::Value::Object(f)));
        }
        sqlx::query(
            "INSERT INTO dawgmon.changes (host_id, scan_id, seq, at, collector, kind, key,
                 severity, rule, package, message, fields)
             SELECT $1, $2, s.seq, $3, s.collector, s.kind, s.key, s.severity, s.rule,
                    s.package, s.message, s.fields::jsonb
             FROM UNNEST($4::int4[], $5::text[], $6::text[], $7::text[], $8::int2[], $9::text[],
                         $10::text[], $11::text[], $12::text[])
                  AS s(seq, collector, kind, key, severity, rule, package, message, fields)",
        )
        .bind(host_id)
        .bind(push.scan_id)
        .bind(push.started_at)
        .bind(seq)
        .bind(collector)
        .bind(kind)
        .bind(key)
        .bind(severity)
        .bind(rule)
        .bind(package)
        .bind(message)
        .bind(fields)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether the scan `scan_id` started at `started_at` has arrived (as this host sees it).
pub async fn arrived(
    conn: &mut PgConnection,
    scan_id: i64,
    started_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM dawgmon.scans
         WHERE host_id = dawgmon.my_host() AND scan_id = $1 AND started_at = $2",
    )
    .bind(scan_id)
    .bind(started_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.get::<i32, _>("one")).is_some())
}

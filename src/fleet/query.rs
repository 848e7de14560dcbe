//! The questions `dawgctl fleet` asks, streamed row by row (no caps: a million changes pass
//! through in constant memory).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};

use super::{FleetError, glob_to_like, severity_of};
use crate::model::{Change, ChangeKind, Fields, Severity};

/// How long a host may stay silent before it is stale when it never said its schedule.
pub const DEFAULT_INTERVAL_SECS: i64 = 24 * 3600;

/// One host, for `fleet hosts`.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub name: String,
    pub machine_id: Option<String>,
    pub role: String,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_scan_id: Option<i64>,
    pub last_scan_at: Option<DateTime<Utc>>,
    pub schedule_secs: Option<i32>,
    pub last_checkpoint: Option<String>,
    /// Changes of its last scan by severity: info, low, medium, high, critical.
    pub changes: [i32; 5],
    pub warnings: i32,
    /// Silent for more than twice its schedule (or never reported).
    pub stale: bool,
}

/// What `fleet changes` selects.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub since: DateTime<Utc>,
    pub host: Option<String>,
    /// Only these collectors' (none: all).
    pub collectors: Vec<String>,
    pub kind: Option<ChangeKind>,
    pub min_severity: Severity,
    pub key: Option<String>,
}

/// One change, with its host.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    pub host: String,
    pub machine_id: Option<String>,
    pub scan_id: i64,
    pub time: DateTime<Utc>,
    pub package: Option<String>,
    #[serde(flatten)]
    pub change: Change,
}

/// What `fleet where` selects.
#[derive(Debug, Clone, Default)]
pub struct WhereFilter {
    pub key: String,
    /// Only these collectors' (none: all).
    pub collectors: Vec<String>,
    /// A field and a glob its value must match.
    pub field: Option<(String, String)>,
}

/// One item a host has now.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRow {
    pub host: String,
    pub machine_id: Option<String>,
    pub collector: String,
    pub key: String,
    pub fields: serde_json::Value,
    pub since: DateTime<Utc>,
}

fn sql(doing: &'static str) -> impl Fn(sqlx::Error) -> FleetError {
    move |e| FleetError::Sql {
        url: String::new(),
        doing,
        message: e.to_string(),
    }
}

/// Every host, by name, to `each`.
pub async fn hosts(
    conn: &mut PgConnection,
    mut each: impl FnMut(HostRow) -> Result<(), FleetError>,
) -> Result<(), FleetError> {
    let mut rows = sqlx::query(
        "SELECT h.name, h.machine_id, h.role::text AS role, h.first_seen, h.last_seen,
                h.last_scan_id, h.last_scan_at, h.schedule_secs, h.last_checkpoint,
                s.n_info, s.n_low, s.n_medium, s.n_high, s.n_critical, s.warnings,
                (h.last_seen IS NULL OR h.last_seen < now() - make_interval(
                    secs => 2 * COALESCE(h.schedule_secs, $1))) AS stale
         FROM dawgmon.hosts h
         LEFT JOIN dawgmon.scans s ON s.host_id = h.id AND s.scan_id = h.last_scan_id
                                  AND s.started_at = h.last_scan_at
         ORDER BY h.name, h.id",
    )
    .bind(DEFAULT_INTERVAL_SECS as f64)
    .fetch(conn);
    while let Some(r) = rows.try_next().await.map_err(sql("listing hosts"))? {
        let n = |c: &str| r.get::<Option<i32>, _>(c).unwrap_or(0);
        each(HostRow {
            name: r.get("name"),
            machine_id: r.get("machine_id"),
            role: r.get("role"),
            first_seen: r.get("first_seen"),
            last_seen: r.get("last_seen"),
            last_scan_id: r.get("last_scan_id"),
            last_scan_at: r.get("last_scan_at"),
            schedule_secs: r.get("schedule_secs"),
            last_checkpoint: r.get("last_checkpoint"),
            changes: [
                n("n_info"),
                n("n_low"),
                n("n_medium"),
                n("n_high"),
                n("n_critical"),
            ],
            warnings: n("warnings"),
            stale: r.get("stale"),
        })?;
    }
    Ok(())
}

fn fields_of(v: Option<&serde_json::Value>) -> Option<Fields> {
    v.filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn change_of(r: &PgRow) -> ChangeRow {
    let fields: serde_json::Value = r.get("fields");
    let kind = match r.get::<String, _>("kind").as_str() {
        "added" => ChangeKind::Added,
        "removed" => ChangeKind::Removed,
        _ => ChangeKind::Modified,
    };
    ChangeRow {
        host: r.get("host"),
        machine_id: r.get("machine_id"),
        scan_id: r.get("scan_id"),
        time: r.get("at"),
        package: r.get("package"),
        change: Change {
            collector: r.get("collector"),
            kind,
            key: r.get("key"),
            message: r.get("message"),
            severity: severity_of(r.get("severity")),
            rule: r.get("rule"),
            before: fields_of(fields.get("before")),
            after: fields_of(fields.get("after")),
        },
    }
}

/// The changes `filter` selects, host by host, each host's in time order, to `each`.
pub async fn changes(
    conn: &mut PgConnection,
    filter: &ChangeFilter,
    mut each: impl FnMut(ChangeRow) -> Result<(), FleetError>,
) -> Result<(), FleetError> {
    let mut rows = sqlx::query(
        "SELECT h.name AS host, h.machine_id, c.scan_id, c.at, c.collector, c.kind, c.key,
                c.severity, c.rule, c.package, c.message, c.fields
         FROM dawgmon.changes c JOIN dawgmon.hosts h ON h.id = c.host_id
         WHERE c.at >= $1 AND ($2::text IS NULL OR h.name LIKE $2)
           AND (cardinality($3::text[]) = 0 OR c.collector = ANY($3)) AND c.severity >= $4
           AND ($5::text IS NULL OR c.key LIKE $5) AND ($6::text IS NULL OR c.kind = $6)
         ORDER BY h.name, c.host_id, c.at, c.scan_id, c.seq",
    )
    .bind(filter.since)
    .bind(filter.host.as_deref().map(glob_to_like))
    .bind(&filter.collectors)
    .bind(super::severity_code(filter.min_severity))
    .bind(filter.key.as_deref().map(glob_to_like))
    .bind(filter.kind.map(|k| k.as_str()))
    .fetch(conn);
    while let Some(r) = rows.try_next().await.map_err(sql("listing changes"))? {
        each(change_of(&r))?;
    }
    Ok(())
}

/// The literal start of a glob (up to its first wildcard), at most 200 characters, as a LIKE
/// prefix pattern: what the index on `left(key, 200)` can use.
pub fn index_prefix(glob: &str) -> String {
    let lit: String = glob
        .chars()
        .take_while(|c| *c != '*' && *c != '?')
        .take(200)
        .collect();
    format!("{}%", glob_to_like(&lit))
}

/// The items hosts have now that `filter` selects, host by host, to `each`.
pub async fn where_now(
    conn: &mut PgConnection,
    filter: &WhereFilter,
    mut each: impl FnMut(ItemRow) -> Result<(), FleetError>,
) -> Result<(), FleetError> {
    let (field, value) = filter.field.clone().unzip();
    let mut rows = sqlx::query(
        "SELECT h.name AS host, h.machine_id, cur.collector, cur.key, cur.fields, cur.since
         FROM dawgmon.current cur JOIN dawgmon.hosts h ON h.id = cur.host_id
         WHERE left(cur.key, 200) LIKE $1 AND cur.key LIKE $2
           AND (cardinality($3::text[]) = 0 OR cur.collector = ANY($3))
           AND ($4::text IS NULL OR (cur.fields ->> $4) LIKE $5)
         ORDER BY h.name, cur.host_id, cur.collector, cur.key",
    )
    .bind(index_prefix(&filter.key))
    .bind(glob_to_like(&filter.key))
    .bind(&filter.collectors)
    .bind(field)
    .bind(value.as_deref().map(glob_to_like))
    .fetch(conn);
    while let Some(r) = rows.try_next().await.map_err(sql("finding items"))? {
        each(ItemRow {
            host: r.get("host"),
            machine_id: r.get("machine_id"),
            collector: r.get("collector"),
            key: r.get("key"),
            fields: r.get("fields"),
            since: r.get("since"),
        })?;
    }
    Ok(())
}

//! Talking to the running systemd manager over D-Bus (zbus, blocking API).
//!
//! One scan asks the manager once ([`manager_state`], shared through `Host::shared`): the
//! manager's own properties, `ListUnits`, and for each timer and socket unit the few properties
//! the collectors compare. The whole exchange runs on a helper thread with a deadline, and each
//! call has a method timeout, so a bus that accepts connections but never answers cannot stall
//! the scan.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::host::Host;

/// The environment variable choosing the bus: `system` (default), `session`, or an address.
pub(super) const BUS_ENV: &str = "DAWGMON_SYSTEMD_BUS";

const DEST: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER_IFACE: &str = "org.freedesktop.systemd1.Manager";
const PROPS_IFACE: &str = "org.freedesktop.DBus.Properties";

/// How long one D-Bus call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole exchange with the manager may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// One row of `ListUnits`, reduced to what is compared.
#[derive(Debug, Clone)]
pub(super) struct UnitRow {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
}

/// A timer unit's configuration.
#[derive(Debug, Clone)]
pub(super) struct TimerInfo {
    pub name: String,
    pub active_state: String,
    /// The unit it triggers.
    pub unit: String,
    /// `OnCalendar=...` specs (without their next elapse).
    pub calendar: Vec<String>,
    /// `OnBootUSec=15min`-style specs (without their next elapse).
    pub monotonic: Vec<String>,
}

/// A socket unit's configuration.
#[derive(Debug, Clone)]
pub(super) struct SocketInfo {
    pub name: String,
    pub active_state: String,
    /// `(type, address)` pairs: `("Stream", "0.0.0.0:22")`.
    pub listen: Vec<(String, String)>,
    /// The units it activates.
    pub triggers: Vec<String>,
}

/// Everything the four collectors need, from one conversation with the manager.
#[derive(Debug, Clone, Default)]
pub(super) struct ManagerState {
    /// Manager properties rendered as text, ticking ones already left out.
    pub props: Vec<(String, String)>,
    pub units: Vec<UnitRow>,
    pub timers: Vec<TimerInfo>,
    pub sockets: Vec<SocketInfo>,
}

/// The per-scan result, keyed by its own type in `Host::shared`; `Err` holds the text of an
/// `Unavailable` error.
pub(super) struct Shared(pub Result<ManagerState, String>);

/// The manager's state for this scan, asked once and shared by the collectors.
pub(super) fn manager_state(host: &Host) -> Arc<Shared> {
    let bus = Bus::parse(std::env::var(BUS_ENV).ok());
    host.shared(|| Shared(fetch_with_deadline(bus, DEADLINE)))
}

/// Which bus to use, from [`BUS_ENV`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Bus {
    System,
    Session,
    Address(String),
}

impl Bus {
    /// The bus named by the value of [`BUS_ENV`] (unset or empty: the system bus).
    pub(super) fn parse(value: Option<String>) -> Bus {
        match value {
            None => Bus::System,
            Some(v) if v.is_empty() || v == "system" => Bus::System,
            Some(v) if v == "session" => Bus::Session,
            Some(v) => Bus::Address(v),
        }
    }

    fn describe(&self) -> String {
        match self {
            Bus::System => "the system bus".into(),
            Bus::Session => "the session bus".into(),
            Bus::Address(a) => format!("the bus at {a} (from {BUS_ENV})"),
        }
    }

    fn connect(&self) -> zbus::Result<Connection> {
        let builder = match self {
            Bus::System => zbus::blocking::connection::Builder::system()?,
            Bus::Session => zbus::blocking::connection::Builder::session()?,
            Bus::Address(a) => zbus::blocking::connection::Builder::address(a.as_str())?,
        };
        builder.method_timeout(CALL_TIMEOUT).build()
    }
}

/// Runs [`fetch`] on a helper thread and gives up after `deadline` (the thread is then left
/// to finish or hang on its own; it holds nothing the scan needs).
pub(super) fn fetch_with_deadline(bus: Bus, deadline: Duration) -> Result<ManagerState, String> {
    let (tx, rx) = mpsc::channel();
    let worker_bus = bus.clone();
    let spawned = std::thread::Builder::new()
        .name("dawgmon-systemd-dbus".into())
        .spawn(move || {
            let _ = tx.send(fetch(&worker_bus));
        });
    let why = match spawned {
        Err(e) => format!("cannot start a thread: {e}"),
        Ok(_) => match rx.recv_timeout(deadline) {
            Ok(Ok(state)) => return Ok(state),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", deadline),
        },
    };
    let fix = match bus {
        Bus::System => "systemd is not running on this host".to_string(),
        _ => format!("no systemd manager runs there; unset {BUS_ENV} to use the system bus"),
    };
    Err(format!(
        "no systemd manager answers on {} ({why}): {fix}",
        bus.describe()
    ))
}

/// Calls `method` on `path` and decodes the reply body.
fn call<B, R>(conn: &Connection, path: &str, iface: &str, method: &str, body: &B) -> zbus::Result<R>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = conn.call_method(Some(DEST), path, Some(iface), method, body)?;
    reply.body().deserialize::<R>()
}

fn get_all(
    conn: &Connection,
    path: &str,
    iface: &str,
) -> zbus::Result<HashMap<String, OwnedValue>> {
    call(conn, path, PROPS_IFACE, "GetAll", &(iface,))
}

/// The whole conversation. A unit that vanishes between `ListUnits` and reading its properties
/// (a D-Bus error reply) is skipped; a broken or silent bus fails the whole fetch, so items never
/// disappear merely because one call timed out.
fn fetch(bus: &Bus) -> zbus::Result<ManagerState> {
    let conn = bus.connect()?;
    let mut state = ManagerState::default();

    let props = get_all(&conn, MANAGER_PATH, MANAGER_IFACE)?;
    for (name, value) in props {
        // Durations read as systemd writes them (`1min 30s`), not as microseconds.
        let text = match (name.ends_with("USec"), &*value) {
            (true, Value::U64(usec)) => Some(timespan(*usec)),
            _ => render_value(&value),
        };
        if keep_property(&name)
            && let Some(text) = text
        {
            state.props.push((name, text));
        }
    }
    state.props.sort();

    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        OwnedObjectPath,
        u32,
        String,
        OwnedObjectPath,
    );
    let rows: Vec<Row> = call(&conn, MANAGER_PATH, MANAGER_IFACE, "ListUnits", &())?;
    for (name, _desc, load, active, _sub, _following, path, ..) in rows {
        if load == "not-found" {
            continue;
        }
        if name.ends_with(".timer")
            && let Some(timer) = skip_vanished(read_timer(&conn, &name, &active, path.as_str()))?
        {
            state.timers.push(timer);
        }
        if name.ends_with(".socket")
            && let Some(socket) = skip_vanished(read_socket(&conn, &name, &active, path.as_str()))?
        {
            state.sockets.push(socket);
        }
        state.units.push(UnitRow {
            name,
            load_state: load,
            active_state: active,
        });
    }
    Ok(state)
}

/// `Ok(None)` for a D-Bus error reply (the unit went away), the error itself otherwise.
fn skip_vanished<T>(r: zbus::Result<T>) -> zbus::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(zbus::Error::MethodError(..)) | Err(zbus::Error::FDO(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn take<T>(map: &mut HashMap<String, OwnedValue>, name: &str) -> Option<T>
where
    T: TryFrom<OwnedValue>,
{
    map.remove(name).and_then(|v| T::try_from(v).ok())
}

fn read_timer(conn: &Connection, name: &str, active: &str, path: &str) -> zbus::Result<TimerInfo> {
    let mut p = get_all(conn, path, "org.freedesktop.systemd1.Timer")?;
    let calendar: Vec<(String, String, u64)> = take(&mut p, "TimersCalendar").unwrap_or_default();
    let monotonic: Vec<(String, u64, u64)> = take(&mut p, "TimersMonotonic").unwrap_or_default();
    Ok(TimerInfo {
        name: name.to_string(),
        active_state: active.to_string(),
        unit: take(&mut p, "Unit").unwrap_or_default(),
        calendar: calendar
            .into_iter()
            .map(|(base, spec, _next)| format!("{base}={spec}"))
            .collect(),
        monotonic: monotonic
            .into_iter()
            .map(|(base, usec, _next)| format!("{base}={}", timespan(usec)))
            .collect(),
    })
}

fn read_socket(
    conn: &Connection,
    name: &str,
    active: &str,
    path: &str,
) -> zbus::Result<SocketInfo> {
    let mut p = get_all(conn, path, "org.freedesktop.systemd1.Socket")?;
    let listen: Vec<(String, String)> = take(&mut p, "Listen").unwrap_or_default();
    let triggers: OwnedValue = call(
        conn,
        path,
        PROPS_IFACE,
        "Get",
        &("org.freedesktop.systemd1.Unit", "Triggers"),
    )?;
    let mut triggers: Vec<String> = Vec::try_from(triggers).unwrap_or_default();
    triggers.sort();
    Ok(SocketInfo {
        name: name.to_string(),
        active_state: active.to_string(),
        listen,
        triggers,
    })
}

/// Whether a manager property describes configuration rather than progress: every property
/// except timestamps, counters of names/jobs/failures, progress and the overall state (which
/// `systemd_units` already reports unit by unit).
pub(super) fn keep_property(name: &str) -> bool {
    const TICKING: [&str; 10] = [
        "NNames",
        "NJobs",
        "NInstalledJobs",
        "NFailedJobs",
        "NFailedUnits",
        "Progress",
        "SystemState",
        "ExitCode",
        "ControlGroup",
        "SoftRebootsCount",
    ];
    !(name.contains("Timestamp") || name.ends_with("Count") || TICKING.contains(&name))
}

/// Text for the simple property types the manager uses; `None` for nested ones.
pub(super) fn render_value(v: &Value<'_>) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::U8(n) => n.to_string(),
        Value::I16(n) => n.to_string(),
        Value::U16(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U64(u64::MAX) => "infinity".to_string(),
        Value::U64(n) => n.to_string(),
        Value::F64(n) => n.to_string(),
        Value::Array(a) => {
            let mut parts = Vec::with_capacity(a.len());
            for item in a.iter() {
                parts.push(render_value(item)?);
            }
            parts.join(" ")
        }
        Value::Value(inner) => render_value(inner)?,
        _ => return None,
    })
}

/// A duration in microseconds as systemd writes it: `1d 2h 3min 4s 5ms`.
pub(super) fn timespan(usec: u64) -> String {
    if usec == u64::MAX {
        return "infinity".into();
    }
    if usec == 0 {
        return "0".into();
    }
    const UNITS: [(&str, u64); 7] = [
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("min", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
        ("us", 1),
        ("", 0),
    ];
    let mut rest = usec;
    let mut parts = Vec::new();
    for (unit, size) in UNITS {
        if size == 0 || rest == 0 {
            break;
        }
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests;

//! One connection to the fleet store, and the errors of connecting, said with their fix.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use super::{FleetError, known_schema};

/// How long connecting may take (TCP, TLS and authentication together).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Who connects: the fix for a refused login differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// A host (dawgmond), with the credentials `fleet add-host` printed.
    Host,
    /// `dawgctl fleet` reading, with a reader's credentials.
    Reader,
    /// `dawgctl fleet init` / `add-host`, as the database owner.
    Owner,
}

/// A description of where `opts` point, for messages: `ROLE@HOST:PORT/DB` or the socket.
pub fn describe(opts: &PgConnectOptions) -> String {
    let db = opts.get_database().unwrap_or("");
    match opts.get_socket() {
        Some(s) => format!("{}@{}/{db}", opts.get_username(), s.display()),
        None if opts.get_host().starts_with('/') => {
            format!("{}@{}/{db}", opts.get_username(), opts.get_host())
        }
        None => format!(
            "{}@{}:{}/{db}",
            opts.get_username(),
            opts.get_host(),
            opts.get_port()
        ),
    }
}

/// Connects (within [`CONNECT_TIMEOUT`]) and, unless `who` is the owner about to migrate,
/// checks that the schema exists and is not newer than this build.
pub async fn connect(opts: &PgConnectOptions, who: Who) -> Result<PgConnection, FleetError> {
    let url = describe(opts);
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, opts.connect())
        .await
        .map_err(|_| FleetError::Server {
            url: url.clone(),
            message: format!(
                "no answer within {} s: is PostgreSQL running and reachable from here \
                 (firewall, listen_addresses)?",
                CONNECT_TIMEOUT.as_secs()
            ),
        })?
        .map_err(|e| FleetError::Server {
            url: url.clone(),
            message: explain(&e, who),
        })?;
    let mut conn = conn;
    if who != Who::Owner {
        check_schema(&mut conn, &url).await?;
    }
    Ok(conn)
}

/// Refuses a missing schema or one newer than this build.
pub async fn check_schema(conn: &mut PgConnection, url: &str) -> Result<i64, FleetError> {
    let found: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT dawgmon.schema_version()")
            .fetch_one(&mut *conn)
            .await;
    let found = match found {
        Ok(v) => v.unwrap_or(0),
        Err(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("3F000" | "42883" | "42P01")) =>
        {
            return Err(FleetError::Server {
                url: url.to_string(),
                message: "no dawgmon schema in this database: create it with \
                          `dawgctl fleet init --url OWNER-URL` (as the database owner)"
                    .into(),
            });
        }
        Err(e) => {
            return Err(FleetError::Server {
                url: url.to_string(),
                message: format!("cannot read the schema version: {e}"),
            });
        }
    };
    let known = known_schema();
    if found > known {
        return Err(FleetError::Server {
            url: url.to_string(),
            message: format!(
                "the fleet schema is version {found}, newer than this dawgmon knows ({known}): \
                 upgrade dawgmon here; nothing was sent and the outbox keeps every scan"
            ),
        });
    }
    if found < known {
        return Err(FleetError::Server {
            url: url.to_string(),
            message: format!(
                "the fleet schema is version {found}, older than this dawgmon's ({known}): \
                 upgrade it with `dawgctl fleet init --url OWNER-URL` (as the database owner)"
            ),
        });
    }
    Ok(found)
}

/// Closes a connection, ignoring errors (the server may be gone).
pub async fn close(conn: PgConnection) {
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.close()).await;
}

fn is_tls(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("certificate") || m.contains("tls") || m.contains("handshake")
}

fn tls(message: &str) -> String {
    format!(
        "TLS failed ({message}): the server's certificate is not trusted for this host name; \
         add its CA to the system store (update-ca-certificates) or name it in the URL with \
         sslrootcert=/path/ca.pem"
    )
}

/// A connection error in words, with the fix.
pub fn explain(e: &sqlx::Error, who: Who) -> String {
    let cred = match who {
        Who::Host => {
            "check [fleet] password_file / password: they hold what `dawgctl fleet add-host` \
             printed for this host"
        }
        Who::Reader => "check --password-file (a reader made by `dawgctl fleet add-reader`)",
        Who::Owner => "check --password-file (the database owner's password)",
    };
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") => format!("password authentication failed: {cred}"),
            Some("28000") => format!(
                "{}: allow this client in the server's pg_hba.conf, or {cred}",
                db.message()
            ),
            Some("3D000") => format!(
                "{}: create the database first (createdb), then `dawgctl fleet init`",
                db.message()
            ),
            _ => db.message().to_string(),
        },
        sqlx::Error::Tls(inner) => tls(&inner.to_string()),
        // rustls' refusals reach sqlx as I/O errors.
        sqlx::Error::Io(io) if is_tls(&io.to_string()) => tls(&io.to_string()),
        sqlx::Error::Io(io) => format!(
            "{io}: is PostgreSQL running and listening there (pg_lsclusters, listen_addresses)?"
        ),
        other => other.to_string(),
    }
}

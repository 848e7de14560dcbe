//! `dawgctl fleet init`, `add-host` and `add-reader`, run as the database owner.
//!
//! `init` applies the schema's migrations (creating the group roles `dawgmon_host` and
//! `dawgmon_reader` if the cluster has none); it is safe to run again, and upgrades an older
//! schema. `add-host NAME` makes a login role in `dawgmon_host` with a random password and the
//! host's row, and returns the `[fleet]` table the host's `dawgmond.toml` needs; `add-reader`
//! makes a login role in `dawgmon_reader` for `dawgctl fleet` queries. The password is shown
//! once: PostgreSQL keeps only its SCRAM verifier.

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::connect::{self, Who};
use super::{FleetError, MIGRATOR, known_schema};

/// Applies the migrations on `conn` (the owner's). Refuses a schema newer than this build.
/// Returns the schema version now in place.
pub async fn init(conn: &mut PgConnection, url: &str) -> Result<i64, FleetError> {
    let sql = |doing: &'static str| {
        move |e: sqlx::Error| FleetError::Sql {
            url: url.to_string(),
            doing,
            message: e.to_string(),
        }
    };
    let has: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
            .fetch_one(&mut *conn)
            .await
            .map_err(sql("looking for the schema"))?;
    if has.is_some() {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM public._sqlx_migrations")
                .fetch_one(&mut *conn)
                .await
                .map_err(sql("reading the schema version"))?;
        let known = known_schema();
        if let Some(found) = found.filter(|f| *f > known) {
            return Err(FleetError::Server {
                url: url.into(),
                message: format!(
                    "the fleet schema is version {found}, newer than this dawgmon knows \
                     ({known}): run `fleet init` with the newer dawgmon"
                ),
            });
        }
    }
    MIGRATOR
        .run(&mut *conn)
        .await
        .map_err(|e| FleetError::Server {
            url: url.into(),
            message: format!(
                "creating the schema failed: {e} (run it as the database's owner, who may create \
             roles: CREATEROLE)"
            ),
        })?;
    connect::check_schema(conn, url).await
}

/// Credentials as printed once: a `[fleet]` table.
#[derive(Debug, Clone, Serialize)]
pub struct Credentials {
    pub url: String,
    pub password: String,
}

impl Credentials {
    /// The `[fleet]` table, ready to append to `dawgmond.toml`.
    pub fn toml(&self, comment: &str) -> String {
        format!(
            "# {comment}\n# Shown once. Keep the file it goes in readable by root only \
             (chmod 600), or move the password to password_file.\n[fleet]\nurl = {}\npassword = {}\n",
            toml_str(&self.url),
            toml_str(&self.password)
        )
    }

    /// The same as JSON: `{"fleet": {"url": ..., "password": ...}}`.
    pub fn json(&self) -> String {
        serde_json::json!({ "fleet": self }).to_string()
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A name for `add-host` / `add-reader`: 1-48 characters of letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), FleetError> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FleetError::Config(format!(
            "{name:?} is not a usable name: use 1-48 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// The login role of a host or reader named `name`: `dawgmon_h_web1_example_org`.
pub fn role_name(prefix: &str, name: &str) -> String {
    let tail: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{tail}")
}

/// 256 random bits, hex.
fn random_password() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `url` with its user replaced by `role` (and no password).
pub fn url_for(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    let host = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
    // An empty host (a socket URL) would not parse once a user is named.
    let host = if host.is_empty() { "localhost" } else { host };
    format!("{scheme}://{role}@{host}{tail}")
}

/// Makes a login role in `group` with a fresh password; the role must not exist.
async fn make_role(
    conn: &mut PgConnection,
    url: &str,
    role: &str,
    group: &str,
) -> Result<String, FleetError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| FleetError::Sql {
                url: url.into(),
                doing: "looking up the role",
                message: e.to_string(),
            })?;
    if exists {
        return Err(FleetError::Config(format!(
            "role {role} exists already: pick another name, or drop it first \
             (DROP ROLE {role}; its rows stay)"
        )));
    }
    let password = random_password();
    // The role name is letters, digits and '_' only, the password hex: safe to splice.
    let ddl = format!(
        "CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}' IN ROLE {group}; \
         ALTER ROLE \"{role}\" SET search_path = pg_catalog"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *conn)
        .await
        .map_err(|e| FleetError::Sql {
            url: url.into(),
            doing: "creating the role",
            message: format!("{e} (run as the database owner with CREATEROLE)"),
        })?;
    Ok(password)
}

/// `fleet add-host NAME`: the host's role and row, and its credentials.
pub async fn add_host(
    conn: &mut PgConnection,
    url: &str,
    name: &str,
) -> Result<Credentials, FleetError> {
    check_name(name)?;
    connect::check_schema(conn, url).await?;
    let role = role_name("dawgmon_h_", name);
    let password = make_role(conn, url, &role, "dawgmon_host").await?;
    sqlx::query("INSERT INTO dawgmon.hosts (role, name) VALUES ($1, $2)")
        .bind(&role)
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(|e| FleetError::Sql {
            url: url.into(),
            doing: "adding the host",
            message: e.to_string(),
        })?;
    Ok(Credentials {
        url: url_for(url, &role),
        password,
    })
}

/// `fleet add-reader NAME`: a login role that may read everything and write nothing.
pub async fn add_reader(
    conn: &mut PgConnection,
    url: &str,
    name: &str,
) -> Result<Credentials, FleetError> {
    check_name(name)?;
    connect::check_schema(conn, url).await?;
    let role = role_name("dawgmon_r_", name);
    let password = make_role(conn, url, &role, "dawgmon_reader").await?;
    Ok(Credentials {
        url: url_for(url, &role),
        password,
    })
}

/// Connects as `who` with `url` and the password in `password_file`, if any.
pub async fn connect_url(
    url: &str,
    password_file: Option<&std::path::Path>,
    who: Who,
) -> Result<(PgConnection, String), FleetError> {
    let password = password_file
        .map(crate::config::fleet::read_password)
        .transpose()?;
    let opts = crate::config::fleet::options(url, password.as_deref())?;
    let desc = connect::describe(&opts);
    Ok((connect::connect(&opts, who).await?, desc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_urls_keep_the_server_and_swap_the_user() {
        assert_eq!(
            url_for(
                "postgres://owner@db:5433/fleet?sslmode=verify-full",
                "dawgmon_h_a"
            ),
            "postgres://dawgmon_h_a@db:5433/fleet?sslmode=verify-full"
        );
        assert_eq!(
            url_for("postgres:///fleet?host=/run/postgresql", "r"),
            "postgres://r@localhost/fleet?host=/run/postgresql"
        );
        assert_eq!(
            role_name("dawgmon_h_", "Web-1.example"),
            "dawgmon_h_web_1_example"
        );
        assert!(check_name("a b").is_err() && check_name("web1.example.org").is_ok());
        let c = Credentials {
            url: "postgres://r@/d?host=/tmp".into(),
            password: "p\"w".into(),
        };
        let t: toml::Value = toml::from_str(&c.toml("x")).unwrap();
        assert_eq!(t["fleet"]["password"].as_str(), Some("p\"w"));
    }
}

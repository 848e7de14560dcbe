//! The `[fleet]` table of `dawgmond.toml`:
//!
//! ```toml
//! [fleet]
//! url = "postgres://dawgmon_h_web1@db.example.org/dawgmon"   # no password in the URL
//! password_file = "/etc/dawgmon/fleet-password"              # or password = "..." (see below)
//! # host = "web1"                                             # overrides the reported name
//! ```
//!
//! TCP connections use TLS and verify the server (rustls; the system's CA store, or the CA in
//! `sslrootcert=/path/ca.pem` in the URL): `sslmode` may be `verify-full` (the default here) or
//! `verify-ca`, nothing weaker. A UNIX-socket URL (`postgres://ROLE@localhost/dawgmon?host=/run/postgresql`)
//! needs no TLS. The password comes from `password_file` (its first line), or from `password`
//! as `dawgctl fleet add-host` prints it: that credential can only add rows about its own host,
//! and the daemon warns when the config file holding it is readable by others.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// A password that never shows in `Debug` output and is never serialised back.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The `[fleet]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// `postgres://ROLE@HOST[:PORT]/DATABASE[?sslmode=verify-full&sslrootcert=...]`, or a
    /// UNIX socket: `postgres://ROLE@localhost/DATABASE?host=/run/postgresql`.
    pub url: String,
    /// A file whose first line is the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The password itself (as `dawgctl fleet add-host` prints it).
    #[serde(default, skip_serializing)]
    pub password: Option<Password>,
    /// The host name reported; default: the scanned root's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl FleetConfig {
    /// Checks what can be checked without the server: the URL parses, carries no password,
    /// and TCP connections verify the server.
    pub fn validate(&self) -> Result<(), String> {
        if self.password.is_some() && self.password_file.is_some() {
            return Err("fleet: set password_file or password, not both".into());
        }
        if let Some(h) = &self.host
            && (h.is_empty() || h.len() > 253 || h.chars().any(|c| c.is_control()))
        {
            return Err(format!("fleet.host {h:?} is not a host name"));
        }
        options(&self.url, None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The connection options, with the password read from `password_file` when set.
    pub fn connect_options(&self) -> Result<PgConnectOptions, FleetError> {
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.0.clone()),
            (None, Some(path)) => Some(read_password(path)?),
            (None, None) => None,
        };
        options(&self.url, password.as_deref())
    }
}

/// Warns (in the log) when `config` holds a fleet password and its file `path` is readable by
/// others than its owner and group root.
pub fn warn_if_exposed(path: &Path, config: &super::Config) {
    use std::os::unix::fs::MetadataExt;
    if config.fleet.as_ref().is_some_and(|f| f.password.is_some())
        && let Ok(meta) = std::fs::metadata(path)
        && (meta.mode() & 0o004 != 0 || (meta.mode() & 0o040 != 0 && meta.gid() != 0))
    {
        tracing::warn!(
            "{} holds the [fleet] password and others may read it: chmod 600 {0}, or move the \
             password to a file named by password_file",
            path.display()
        );
    }
}

/// Reads the first line of a password file; the error names the file and the fix.
pub fn read_password(path: &Path) -> Result<String, FleetError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        FleetError::Config(format!(
            "cannot read the fleet password file {}: {e} (make it readable by the user \
             dawgmond runs as, or fix password_file in [fleet])",
            path.display()
        ))
    })?;
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        return Err(FleetError::Config(format!(
            "the fleet password file {} is empty: write the password on its first line",
            path.display()
        )));
    }
    Ok(pw)
}

/// Parses `url` into connection options. A password in the URL is refused (URLs end up in
/// logs and `ps`); a TCP host must verify the server.
pub fn options(url: &str, password: Option<&str>) -> Result<PgConnectOptions, FleetError> {
    let bad = |m: String| FleetError::Config(format!("fleet url {}: {m}", redact(url)));
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad(
            "not a PostgreSQL URL: write postgres://ROLE@HOST/DATABASE".into(),
        ));
    }
    let mut opts = PgConnectOptions::from_str(url).map_err(|e| bad(e.to_string()))?;
    if url_has_password(url) {
        return Err(bad(
            "a password in the URL is refused (it shows in logs and process lists): put it in \
             password_file (or pass --password-file)"
                .into(),
        ));
    }
    let socket = opts.get_socket().is_some() || opts.get_host().starts_with('/');
    if !socket {
        let has_mode = url.contains("sslmode=");
        if !has_mode {
            opts = opts.ssl_mode(PgSslMode::VerifyFull);
        } else if !matches!(
            opts.get_ssl_mode(),
            PgSslMode::VerifyFull | PgSslMode::VerifyCa
        ) {
            return Err(bad(
                "over TCP the server must be verified: use sslmode=verify-full (the default) or \
                 verify-ca, with the server's CA in the system store or sslrootcert=/path/ca.pem; \
                 or connect over the UNIX socket (?host=/run/postgresql)"
                    .into(),
            ));
        }
    }
    if let Some(pw) = password {
        opts = opts.password(pw);
    }
    Ok(opts.application_name("dawgmon"))
}

fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The URL with any password blanked, for messages.
pub fn redact(url: &str) -> String {
    if !url_has_password(url) {
        return url.to_string();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (auth, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host) = auth.rsplit_once('@').unwrap_or(("", auth));
    let user = userinfo.split(':').next().unwrap_or("");
    format!("{scheme}://{user}:***@{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> FleetConfig {
        FleetConfig {
            url: url.into(),
            password_file: None,
            password: None,
            host: None,
        }
    }

    #[test]
    fn tcp_urls_verify_the_server_and_carry_no_password() {
        let o = options("postgres://h@db.example.org/dawgmon", None).unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::VerifyFull));
        let e = cfg("postgres://h@db.example.org/d?sslmode=require")
            .validate()
            .unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
        let e = cfg("postgres://h:secret@db/d").validate().unwrap_err();
        assert!(e.contains("password_file") && !e.contains("secret"), "{e}");
        assert!(
            cfg("postgres://h@localhost/d?host=/run/postgresql")
                .validate()
                .is_ok()
        );
        assert!(cfg("mysql://h@db/d").validate().is_err());
        assert_eq!(redact("postgres://u:pw@h/d"), "postgres://u:***@h/d");
    }

    #[test]
    fn the_password_never_shows_in_debug_or_serialised_config() {
        let mut c = cfg("postgres://h@localhost/d?host=/tmp");
        c.password = Some(Password("hunter2".into()));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!toml::to_string(&c).unwrap().contains("hunter2"));
    }
}

/// Why talking to the fleet store failed. Each message names the thing and the fix.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A `[fleet]` table or a command-line value that cannot work.
    #[error("{0}")]
    Config(String),
    /// The server could not be reached, refused us, or its schema does not fit.
    #[error("fleet store {url}: {message}")]
    Server { url: String, message: String },
    /// A statement failed.
    #[error("fleet store {url}: {doing}: {message}")]
    Sql {
        url: String,
        doing: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

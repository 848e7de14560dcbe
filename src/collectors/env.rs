//! `env`: the environment of the scanning process, as dawgmon 1.1 recorded it.
//!
//! Keyed by variable name. A variable that changes how programs load code (`LD_PRELOAD`,
//! `LD_LIBRARY_PATH`, `PYTHONPATH`...) or that is plainly not secret (`PATH`, `HOME`, `LANG`)
//! is stored in clear; any other value may be a token or password, so only a fingerprint of it
//! is kept (a change still shows). Option lists (`*_OPTIONS`, `*_OPTS`: `JAVA_TOOL_OPTIONS=
//! -Dpassword=...`) may carry secrets too and are fingerprinted even when they load code (their
//! changes are still flagged by name). Variables that differ from one login, shell or service
//! start to the next (`PWD`, `SHLVL`, `SSH_CONNECTION`, `INVOCATION_ID`...) are skipped.
//!
//! A fingerprint is the start of an HMAC-SHA256 under the database's own random key
//! ([`crate::secret`]), which the engine passes in through [`Host::secret`]: a plain hash of a
//! short password could be reversed by guessing, by anyone who reads the database. Without a
//! key (a `Host` not built by the engine) the collector is unavailable rather than falling back
//! to a guessable hash or to a per-process key (whose fingerprints would change every run).
//!
//! Off by default: the result describes the process that scans, not the host. The daemon's
//! environment is fixed by its unit, but every interactive `dawgctl scan` inherits its shell's
//! environment, which differs between terminals, su/sudo and cron, so comparing a daemon scan
//! with a `dawgctl` scan would report dozens of meaningless changes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_os};
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::secret::FingerprintKey;
use crate::sources::common::render_fields;

pub struct Env;

/// Stored in clear: not secret, and worth reading in a report.
const CLEAR: &[&str] = &[
    "PATH", "SHELL", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "UMASK", "MAIL",
    "TMPDIR", "EDITOR", "VISUAL", "PAGER",
];

/// Change what code programs load: stored in clear, and flagged.
const LOADERS: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "GCONV_PATH",
    "CLASSPATH",
    "JAVA_TOOL_OPTIONS",
    "GIO_EXTRA_MODULES",
    "GTK_PATH",
];

/// Differ between logins, shells and service starts for no reason a reviewer cares about.
const VOLATILE: &[&str] = &[
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "TERM",
    "COLORTERM",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "GPG_TTY",
    "XDG_SESSION_ID",
    "XDG_SESSION_TYPE",
    "XDG_SESSION_CLASS",
    "XDG_VTNR",
    "XDG_SEAT",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "NOTIFY_SOCKET",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
    "MAINPID",
    "COLUMNS",
    "LINES",
    "DISPLAY",
    "WINDOWID",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "WINDOW",
    "TERM_SESSION_ID",
    "DBUS_SESSION_BUS_ADDRESS",
    "SUDO_COMMAND",
    "SUDO_UID",
    "SUDO_GID",
    "SUDO_USER",
];

const VOLATILE_PREFIXES: &[&str] = &["WATCHDOG_", "LISTEN_", "TERM_PROGRAM", "VTE_", "KONSOLE_"];

impl Collector for Env {
    fn name(&self) -> &'static str {
        "env"
    }
    fn description(&self) -> &'static str {
        "environment of the scanning process (LD_PRELOAD, PATH...; other values as fingerprints)"
    }
    fn noun(&self) -> &'static str {
        "environment variable"
    }
    fn default_enabled(&self) -> bool {
        false
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        if !host.is_live() {
            return Err(CollectError::Unavailable(format!(
                "env describes the scanning process, not the tree under {}: it only runs on the live host (root /)",
                host.root().display()
            )));
        }
        let Some(key) = host.secret() else {
            return Err(CollectError::Unavailable(
                "env needs the database's fingerprint key to store secret values safely; \
                 scans through the engine (dawgctl, dawgmond) provide it"
                    .into(),
            ));
        };
        Ok(std::env::vars_os()
            .filter_map(|(name, value)| item(&name, &value, key))
            .collect())
    }

    fn message(&self, change: &Change) -> String {
        let key = &change.key;
        let empty = Fields::new();
        let (before, after) = (
            change.before.as_ref().unwrap_or(&empty),
            change.after.as_ref().unwrap_or(&empty),
        );
        match change.kind {
            ChangeKind::Added => format!(
                "environment variable {key} added ({})",
                render_fields(after)
            ),
            ChangeKind::Removed => format!("environment variable {key} removed"),
            ChangeKind::Modified => match (before.get("value"), after.get("value")) {
                (Some(a), Some(b)) => {
                    format!("environment variable {key} changed from '{a}' to '{b}'")
                }
                _ => format!("environment variable {key} changed"),
            },
        }
    }
}

/// The item of one variable, or `None` for a volatile one. Secret-looking values are stored as
/// a fingerprint under `secret`.
fn item(name: &OsStr, value: &OsStr, secret: &FingerprintKey) -> Option<Item> {
    let key = escape_os(name);
    if VOLATILE.contains(&key.as_str()) || VOLATILE_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return None;
    }
    let options = key.ends_with("_OPTIONS") || key.ends_with("_OPTS");
    let clear = !options
        && (CLEAR.contains(&key.as_str())
            || LOADERS.contains(&key.as_str())
            || key.starts_with("LD_")
            || key.starts_with("LC_"));
    let item = Item::new(key);
    Some(if clear {
        item.with("value", escape_os(value))
    } else {
        item.with("value_fingerprint", secret.fingerprint(value.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::sources::common::sha256_bytes;

    fn key() -> FingerprintKey {
        FingerprintKey::from_bytes([7; 32])
    }

    #[test]
    fn values_in_clear_only_for_the_allow_list() {
        let it = |n: &str, v: &str| item(OsStr::new(n), OsStr::new(v), &key());
        assert_eq!(
            &it("LD_PRELOAD", "/tmp/evil.so").unwrap().fields["value"],
            "/tmp/evil.so"
        );
        assert_eq!(&it("LC_ALL", "C.UTF-8").unwrap().fields["value"], "C.UTF-8");
        assert_eq!(
            &it("PATH", "/usr/bin:/bin").unwrap().fields["value"],
            "/usr/bin:/bin"
        );
        let secret = it("AWS_SECRET_ACCESS_KEY", "hunter2-very-secret").unwrap();
        assert!(!secret.fields.contains_key("value"));
        assert_eq!(
            secret.fields["value_fingerprint"],
            key().fingerprint(b"hunter2-very-secret")
        );
        assert!(it("PWD", "/root").is_none());
        assert!(it("WATCHDOG_USEC", "1").is_none());
        let odd = item(
            OsStr::from_bytes(b"ODD\xff"),
            OsStr::from_bytes(b"a\nb"),
            &key(),
        )
        .unwrap();
        assert_eq!(odd.key, "ODD\\xff");
    }

    /// Issue 8: a plain truncated SHA-256 of a short secret can be guessed offline.
    #[test]
    fn secret_values_are_keyed_fingerprints() {
        let value = b"hunter2";
        let it = |k: &FingerprintKey| {
            item(OsStr::new("DB_PASSWORD"), OsStr::from_bytes(value), k).unwrap()
        };
        let stored = &it(&key()).fields["value_fingerprint"];
        assert_ne!(stored, &sha256_bytes(value)[..16]);
        assert!(!sha256_bytes(value).starts_with(stored));
        assert_eq!(stored, &it(&key()).fields["value_fingerprint"], "stable");
        let other = FingerprintKey::from_bytes([8; 32]);
        assert_ne!(stored, &it(&other).fields["value_fingerprint"]);
    }

    /// Issue 8: option lists were stored in clear because they were on the loader list.
    #[test]
    fn option_lists_are_not_stored_in_clear() {
        for name in [
            "JAVA_TOOL_OPTIONS",
            "NODE_OPTIONS",
            "JAVA_OPTS",
            "_JAVA_OPTIONS",
        ] {
            let i = item(OsStr::new(name), OsStr::new("-Dpassword=x"), &key()).unwrap();
            assert!(!i.fields.contains_key("value"), "{name}: {i:?}");
            let shown = serde_json::to_string(&i).unwrap();
            assert!(!shown.contains("password"), "{shown}");
        }
        let change = crate::collectors::testing::change(
            "env",
            ChangeKind::Added,
            "JAVA_TOOL_OPTIONS",
            &[],
            &[("value_fingerprint", "0123456789abcdef")],
        );
        assert_eq!(
            crate::rules::testing::severity(&change),
            Severity::Medium,
            "still flagged"
        );
    }

    #[test]
    fn live_environment_of_this_process() {
        let host = Host::new("/").with_secret(key());
        let items = Env.collect(&host).unwrap();
        if let Some(path) = std::env::var_os("PATH") {
            let p = items.iter().find(|i| i.key == "PATH").expect("PATH");
            assert_eq!(p.fields["value"], escape_os(&path));
        }
        // Cargo sets this for test binaries; its value is not on the allow-list.
        if let Some(v) = std::env::var_os("CARGO_PKG_NAME") {
            let i = items.iter().find(|i| i.key == "CARGO_PKG_NAME").unwrap();
            assert_eq!(
                i.fields["value_fingerprint"],
                key().fingerprint(v.as_bytes())
            );
        }
        assert!(items.iter().all(|i| i.key != "PWD" && i.key != "SHLVL"));
        assert!(!Env.default_enabled());
        let fake = tempfile::tempdir().unwrap();
        assert!(matches!(
            Env.collect(&Host::new(fake.path()).with_secret(key())),
            Err(CollectError::Unavailable(_))
        ));
        let keyless = Env.collect(&Host::new("/")).unwrap_err().to_string();
        assert!(keyless.contains("fingerprint key"), "{keyless}");
    }

    /// The engine fingerprints with its database's key: stable within one database, different
    /// in another.
    #[tokio::test]
    async fn fingerprints_follow_the_database() {
        use crate::engine::{Engine, ProgressFn};
        let dir = tempfile::tempdir().unwrap();
        let quiet: ProgressFn = std::sync::Arc::new(|_| {});
        let mut seen = Vec::new();
        for db in ["a.db", "a.db", "b.db"] {
            let store = crate::store::Store::open(&dir.path().join(db))
                .await
                .unwrap();
            let engine = Engine::new(store.clone(), "/".into());
            let scan = engine.scan(None, vec![&Env], quiet.clone()).await.unwrap();
            let snapshot = store.load(scan.info.id).await.unwrap();
            let crate::model::Outcome::Items(items) = &snapshot.results["env"] else {
                panic!("env did not run: {snapshot:?}");
            };
            let prints: std::collections::BTreeMap<String, String> = items
                .iter()
                .filter_map(|i| {
                    Some((
                        i.key.clone(),
                        i.fields.get("value_fingerprint")?.to_string(),
                    ))
                })
                .collect();
            assert!(!prints.is_empty(), "cargo sets CARGO_PKG_NAME and others");
            seen.push(prints);
            store.close().await;
        }
        assert_eq!(seen[0], seen[1], "same database, same fingerprints");
        let same_key = seen[0].keys().find(|k| seen[2].contains_key(*k)).unwrap();
        assert_ne!(
            seen[0][same_key], seen[2][same_key],
            "another database differs"
        );
    }

    #[test]
    fn messages_and_severities() {
        let mk =
            |kind, key: &str, before: Option<(&str, &str)>, after: Option<(&str, &str)>| Change {
                collector: "env".into(),
                kind,
                key: key.into(),
                message: String::new(),
                severity: Severity::Info,
                rule: None,
                before: before.map(|(k, v)| [(k.to_string(), v.to_string())].into()),
                after: after.map(|(k, v)| [(k.to_string(), v.to_string())].into()),
            };
        let pre = mk(
            ChangeKind::Added,
            "LD_PRELOAD",
            None,
            Some(("value", "/x.so")),
        );
        assert_eq!(
            Env.message(&pre),
            "environment variable LD_PRELOAD added (value=/x.so)"
        );
        assert_eq!(crate::rules::testing::severity(&pre), Severity::High);
        let tok = mk(
            ChangeKind::Modified,
            "TOKEN",
            Some(("value_fingerprint", "0123456789abcdef")),
            Some(("value_fingerprint", "fedcba9876543210")),
        );
        assert_eq!(Env.message(&tok), "environment variable TOKEN changed");
        assert_eq!(crate::rules::testing::severity(&tok), Severity::Info);
        let path = mk(
            ChangeKind::Modified,
            "PATH",
            Some(("value", "/a")),
            Some(("value", "/b")),
        );
        assert_eq!(
            Env.message(&path),
            "environment variable PATH changed from '/a' to '/b'"
        );
    }
}

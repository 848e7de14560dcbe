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
    let it =
        |k: &FingerprintKey| item(OsStr::new("DB_PASSWORD"), OsStr::from_bytes(value), k).unwrap();
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
    let mk = |kind, key: &str, before: Option<(&str, &str)>, after: Option<(&str, &str)>| Change {
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

use super::*;
use crate::model::Severity;
use std::os::unix::fs::{PermissionsExt, symlink};

fn script(root: &Path, rel: &str, text: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    script(r, "etc/init.d/apache2", "#!/bin/sh\necho apache\n", 0o755);
    script(r, "etc/init.d/quiet", "#!/bin/sh\n", 0o755);
    script(r, "etc/init.d/README", "docs", 0o644);
    script(r, "etc/init.d/skeleton", "#!/bin/sh\n", 0o644);
    script(r, "etc/init.d/.depend.start", "x", 0o644);
    script(r, "etc/init.d/odd\nname", "#!/bin/sh\n", 0o755);
    std::fs::create_dir_all(r.join("etc/init.d/subdir")).unwrap();
    for level in ["2", "3", "4", "5"] {
        link(
            r,
            &format!("etc/rc{level}.d/S01apache2"),
            "../init.d/apache2",
        );
    }
    for level in ["0", "1", "6"] {
        link(
            r,
            &format!("etc/rc{level}.d/K01apache2"),
            "../init.d/apache2",
        );
    }
    link(r, "etc/rcS.d/S02quiet", "../init.d/quiet");
    link(r, "etc/rc2.d/Sbroken", "../init.d/quiet");
    script(r, "etc/rc2.d/README", "x", 0o644);
    dir
}

fn by_key(items: &[Item]) -> BTreeMap<&str, &crate::model::Fields> {
    items.iter().map(|i| (i.key.as_str(), &i.fields)).collect()
}

#[test]
fn scripts_with_runlevels_and_hashes() {
    let dir = fixture();
    let items = ListSysvinitJobs.collect(&Host::new(dir.path())).unwrap();
    let m = by_key(&items);
    let keys: Vec<&str> = m.keys().copied().collect();
    assert_eq!(keys, ["apache2", "odd\\x0aname", "quiet"]);
    let a = m["apache2"];
    assert_eq!(&a["runlevels"], "2,3,4,5");
    assert_eq!(&a["stop_runlevels"], "0,1,6");
    assert_eq!(&a["perm"], "-rwxr-xr-x");
    assert_eq!(
        a["sha256"],
        crate::sources::common::sha256_bytes(b"#!/bin/sh\necho apache\n")
    );
    assert_eq!(
        &m["quiet"]["runlevels"], "S",
        "Sbroken has no priority digits"
    );
    assert!(!m["odd\\x0aname"].contains_key("runlevels"));
}

#[test]
fn rc_local_only_when_executable() {
    let dir = fixture();
    let host = || Host::new(dir.path());
    script(dir.path(), "etc/rc.local", "#!/bin/sh\nexit 0\n", 0o644);
    let items = ListSysvinitJobs.collect(&host()).unwrap();
    assert!(items.iter().all(|i| i.key != RC_LOCAL));
    std::fs::set_permissions(
        dir.path().join("etc/rc.local"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let items = ListSysvinitJobs.collect(&host()).unwrap();
    let m = by_key(&items);
    assert_eq!(&m[RC_LOCAL]["perm"], "-rwxr-xr-x");
    assert!(m[RC_LOCAL].contains_key("sha256"));
}

#[test]
fn missing_init_d_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    match ListSysvinitJobs.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(why)) => assert!(why.contains("etc/init.d"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // RHEL keeps the scripts under etc/rc.d.
    script(dir.path(), "etc/rc.d/init.d/network", "#!/bin/sh\n", 0o755);
    link(dir.path(), "etc/rc.d/rc3.d/S10network", "../init.d/network");
    let items = ListSysvinitJobs.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(&items[0].fields["runlevels"], "3");
}

#[test]
fn messages_and_severities() {
    let dir = fixture();
    let items = ListSysvinitJobs.collect(&Host::new(dir.path())).unwrap();
    let apache = items.iter().find(|i| i.key == "apache2").unwrap();
    let added = Change {
        collector: "list_sysvinit_jobs".into(),
        kind: ChangeKind::Added,
        key: "apache2".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some(apache.fields.clone()),
    };
    let msg = ListSysvinitJobs.message(&added);
    assert!(
        msg.starts_with("SysV init job apache2 added (runlevels=2,3,4,5, owner="),
        "{msg}"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::High);
    let mut no_start = apache.fields.clone();
    no_start.remove("runlevels");
    let quiet = Change {
        after: Some(no_start),
        ..added.clone()
    };
    assert_eq!(crate::rules::testing::severity(&quiet), Severity::Medium);
    let content = Change {
        kind: ChangeKind::Modified,
        before: Some([("sha256".to_string(), "a".to_string())].into()),
        after: Some([("sha256".to_string(), "b".to_string())].into()),
        ..added.clone()
    };
    assert_eq!(
        ListSysvinitJobs.message(&content),
        "SysV init job apache2 changed: content changed"
    );
    let removed = Change {
        kind: ChangeKind::Removed,
        ..added
    };
    assert_eq!(crate::rules::testing::severity(&removed), Severity::Low);
}

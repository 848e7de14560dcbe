use super::*;
use crate::model::Severity;

use crate::collectors::testing::write;

#[test]
fn kernel_version_from_proc() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
    write(
        dir.path(),
        "proc/version",
        "Linux version 6.1.0-18-amd64 #1 SMP\n",
    );
    write(dir.path(), "proc/sys/kernel/tainted", "12288\n");
    let items = KernelVersion.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(items.len(), 1);
    let f = &items[0].fields;
    assert_eq!(&f["release"], "6.1.0-18-amd64");
    assert_eq!(
        &f["version"], "Linux version 6.1.0-18-amd64 #1 SMP",
        "proc/version fallback"
    );
    assert_eq!(&f["taint"], "OE");
    assert!(!f.contains_key("hostname"));
    write(
        dir.path(),
        "proc/sys/kernel/version",
        "#1 SMP PREEMPT_DYNAMIC\n",
    );
    let items = KernelVersion.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(&items[0].fields["version"], "#1 SMP PREEMPT_DYNAMIC");
}

#[test]
fn kernel_version_missing_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        KernelVersion.collect(&Host::new(dir.path())),
        Err(CollectError::Unavailable(m)) if m.contains("osrelease")
    ));
}

#[test]
fn live_kernel_version() {
    let items = KernelVersion.collect(&Host::new("/")).unwrap();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(&items[0].fields["release"], release.trim());
    assert!(items[0].fields.contains_key("taint"));
}

#[test]
fn taint_bits_become_letters() {
    assert_eq!(taint_letters(0), "none");
    assert_eq!(taint_letters(1), "P");
    assert_eq!(taint_letters(1 << 9 | 1 << 12), "WO");
    assert_eq!(taint_letters(1 << 40), "[40]");
}

#[test]
fn modules_are_parsed_without_counters() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "proc/modules",
        "vboxdrv 479232 2 vboxnetadp,vboxnetflt, Live 0xffffffffc0a3b000 (OE)\n\
         ext4 737280 1 - Live 0x0000000000000000\n\
         garbage\n\
         nfs abc 0 - Live 0x0\n\
         loop 32768 0 - Unloading 0xffffffffc0001000\n\
         five 4096 0 - Live\n",
    );
    let items = KernelModules.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["vboxdrv", "ext4", "loop", "five"]);
    assert_eq!(&items[0].fields["taint"], "OE");
    assert_eq!(&items[0].fields["size"], "479232");
    assert_eq!(&items[0].fields["state"], "Live");
    assert_eq!(items[1].fields.len(), 2, "{:?}", items[1]);
    assert_eq!(&items[2].fields["state"], "Unloading");
}

#[test]
fn absent_proc_modules_is_unavailable_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "proc/self/status", "Name: x\n");
    match KernelModules.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert_eq!(
            m,
            "proc/modules is absent: kernel built without loadable module support"
        ),
        other => panic!("{other:?}"),
    }
    // The live host: this kernel has no module support, others list modules.
    let live = KernelModules.collect(&Host::new("/"));
    if std::path::Path::new("/proc/modules").exists() {
        assert!(live.is_ok());
    } else {
        assert!(matches!(live, Err(CollectError::Unavailable(_))));
    }
}

#[test]
fn module_messages_and_severities() {
    let mk = |kind, after: Option<&[(&str, &str)]>| Change {
        collector: "kernel_modules".into(),
        kind,
        key: "vboxdrv".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: after.map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
    };
    let plain = mk(ChangeKind::Added, Some(&[("state", "Live")]));
    assert_eq!(
        KernelModules.message(&plain),
        "kernel module vboxdrv loaded"
    );
    assert_eq!(crate::rules::testing::severity(&plain), Severity::Medium);
    let oot = mk(
        ChangeKind::Added,
        Some(&[("state", "Live"), ("taint", "OE")]),
    );
    assert_eq!(crate::rules::testing::severity(&oot), Severity::High);
    let gone = mk(ChangeKind::Removed, None);
    assert_eq!(
        KernelModules.message(&gone),
        "kernel module vboxdrv unloaded"
    );
    assert_eq!(crate::rules::testing::severity(&gone), Severity::Low);
}

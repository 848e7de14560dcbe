use super::*;
use crate::model::Severity;

use crate::collectors::testing::write;

const MAPS: &[u8] = b"55d0c0a00000-55d0c0a20000 r--p 00000000 fd:01 1234   /usr/sbin/nginx\n\
7f0000000000-7f0000100000 r-xp 00002000 fd:01 5678                       /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n\
7f0000100000-7f0000200000 r--p 00100000 fd:01 5678                       /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n\
7f0000200000-7f0000300000 r--p 00000000 fd:01 9999                       /usr/share/locale/data (deleted)\n\
7f0000300000-7f0000400000 r-xp 00000000 00:01 1024                       /memfd:sealed-91 (deleted)\n\
7f0000400000-7f0000500000 r-xp 00000000 00:05 77                         /dev/shm/jit (deleted)\n\
7f0000500000-7f0000600000 r-xp 00000000 00:05 77                         /tmp/ffiXXXX (deleted)\n\
7f0000600000-7f0000700000 rw-s 00000000 00:05 88                         /SYSV00000000 (deleted)\n\
7f0000700000-7f0000800000 r-xp 00000000 fd:01 4321                       /usr/lib/libwith space.so (deleted)\n\
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n\
garbage (deleted)\n";

#[test]
fn fixture_proc_maps_and_reboot_required() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let st = |name: &str, ppid: u32| format!("Name:\t{name}\nPPid:\t{ppid}\nUid:\t0\t0\t0\t0\n");
    write(r, "proc/100/status", st("nginx", 1).as_bytes());
    write(r, "proc/100/maps", MAPS);
    write(r, "proc/101/status", st("nginx", 100).as_bytes());
    write(
        r,
        "proc/101/maps",
        b"7f0-7f1 r-xp 0 fd:01 1 /usr/sbin/nginx (deleted)\n",
    );
    write(r, "proc/200/status", st("bash", 1).as_bytes());
    write(
        r,
        "proc/200/maps",
        b"7f0-7f1 r-xp 0 fd:01 1 /usr/bin/bash\n",
    );
    write(r, "proc/300/status", st("kworker/0:1", 2).as_bytes());
    write(
        r,
        "proc/300/maps",
        b"7f0-7f1 r-xp 0 fd:01 1 /usr/lib/x.so (deleted)\n",
    );
    let host = Host::new(r);
    let items = NeedsRestart.collect(&host).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].key, "process nginx");
    assert_eq!(
        &items[0].fields["files"],
        "/usr/lib/libwith space.so, /usr/lib/x86_64-linux-gnu/libssl.so.3, /usr/sbin/nginx"
    );

    write(
        r,
        "run/reboot-required",
        b"*** System restart required ***\n",
    );
    write(
        r,
        "run/reboot-required.pkgs",
        b"linux-image-6.1.0-18-amd64\nlibc6\nlibc6\n",
    );
    let items = NeedsRestart.collect(&host).unwrap();
    let reboot = items.iter().find(|i| i.key == "reboot").unwrap();
    assert_eq!(
        &reboot.fields["packages"],
        "libc6, linux-image-6.1.0-18-amd64"
    );
}

#[test]
fn many_deleted_files_are_capped() {
    let mut maps = Vec::new();
    for i in 0..25 {
        maps.extend_from_slice(
            format!("7f0-7f1 r-xp 0 fd:01 {i} /usr/lib/lib{i:02}.so (deleted)\n").as_bytes(),
        );
    }
    let files = deleted_code(&maps);
    assert_eq!(files.len(), 25);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "proc/7/status",
        b"Name:\tbig\nPPid:\t1\nUid:\t0\t0\t0\t0\n",
    );
    write(dir.path(), "proc/7/maps", &maps);
    let items = NeedsRestart.collect(&Host::new(dir.path())).unwrap();
    let list = &items[0].fields["files"];
    assert!(list.ends_with("and 15 more"), "{list}");
    assert_eq!(list.matches(".so").count(), MAX_FILES);
}

#[test]
fn without_proc_it_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run/reboot-required", b"x\n");
    assert!(matches!(
        NeedsRestart.collect(&Host::new(dir.path())),
        Err(CollectError::Unavailable(_))
    ));
}

#[test]
fn live_host_runs_and_skips_memfd() {
    let items = NeedsRestart.collect(&Host::new("/")).unwrap();
    for i in &items {
        if let Some(f) = i.fields.get("files") {
            assert!(!f.contains("/memfd:"), "{i:?}");
        }
    }
}

/// Kills and reaps the child on every exit path.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn live_process_running_a_deleted_binary() {
    let Ok(sleep) = std::fs::canonicalize("/bin/sleep") else {
        return;
    };
    // Not under /tmp or /var/tmp (nor the checkout, which may be there): temporary
    // directories are deliberately ignored by the collector.
    let dir = tempfile::Builder::new()
        .prefix("dawgmon-test-")
        .tempdir_in("/var/lib")
        .expect("a temporary directory under /var/lib (run the tests as root)");
    let name = format!("dmnrs{}", std::process::id() % 100_000);
    let exe = dir.path().join(&name);
    std::fs::copy(&sleep, &exe).unwrap();
    let child = Child(std::process::Command::new(&exe).arg("60").spawn().unwrap());
    let maps = format!("/proc/{}/maps", child.0.id());
    let exe_text = exe.to_str().unwrap().to_string();
    for _ in 0..100 {
        if std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&exe_text)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::remove_file(&exe).unwrap();
    let items = NeedsRestart.collect(&Host::new("/")).unwrap();
    let item = items
        .iter()
        .find(|i| i.key == format!("process {name}"))
        .unwrap_or_else(|| panic!("process {name} missing from {items:?}"));
    assert!(item.fields["files"].contains(&exe_text), "{item:?}");
    drop(child);
}

#[test]
fn messages() {
    let mk = |key: &str, kind, field: (&str, &str)| Change {
        collector: "needs_restart".into(),
        kind,
        key: key.into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some([(field.0.to_string(), field.1.to_string())].into()),
    };
    let p = mk(
        "process nginx",
        ChangeKind::Added,
        ("files", "/usr/lib/x/libssl.so.3"),
    );
    assert_eq!(
        NeedsRestart.message(&p),
        "process nginx needs a restart (deleted: /usr/lib/x/libssl.so.3)"
    );
    assert_eq!(crate::rules::testing::severity(&p), Severity::Low);
    let r = mk("reboot", ChangeKind::Added, ("packages", "linux-image-6.1"));
    assert_eq!(
        NeedsRestart.message(&r),
        "reboot required (packages: linux-image-6.1)"
    );
    assert_eq!(crate::rules::testing::severity(&r), Severity::Medium);
}

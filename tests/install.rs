//! The around-an-install workflow on the live host: baseline, install a real Debian package
//! built at test time with `dpkg-deb`, diff, and check that everything it brought is reported
//! with the package that owns it. The package is purged afterwards, even when the test fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helper::live_lock;

/// Purges the test package (and the group its postinst made) when dropped.
struct Purge(String);

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", &self.0]).output();
        let _ = Command::new("groupdel").arg(&self.0).output();
    }
}

fn write(root: &Path, rel: &str, content: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dawgctl(db: &Path, args: &[&str]) -> Value {
    let out = Command::new(crate::helper::dawgctl_bin())
        .args(["--local", "--format", "json", "--database"])
        .arg(db)
        .args([
            "-c",
            "list_suids",
            "-c",
            "check_etc",
            "-c",
            "systemd_unitfiles",
            "-c",
            "check_groups",
            "-c",
            "list_packages",
        ])
        .args(args)
        .env_remove("DAWGMON_SYSTEMD_BUS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn change<'a>(report: &'a Value, collector: &str, key: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collector"] == collector && c["key"] == key)
        .unwrap_or_else(|| panic!("no {collector} change for {key} in {report:#}"))
}

#[test]
fn install_of_a_package_is_reported_with_its_owner() {
    let _live = live_lock();
    let name = format!("dawgmon-it-{}", std::process::id());
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    write(
        &pkg,
        "DEBIAN/control",
        &format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: dawgmon tests <root@localhost>\nDescription: dawgmon integration test package\n"
        ),
        0o644,
    );
    write(
        &pkg,
        "DEBIAN/postinst",
        &format!("#!/bin/sh\nset -e\ngetent group {name} >/dev/null || groupadd --system {name}\n"),
        0o755,
    );
    write(
        &pkg,
        &format!("usr/lib/{name}/helper"),
        "#!/bin/sh\n",
        0o4755,
    );
    write(
        &pkg,
        &format!("usr/lib/systemd/system/{name}.service"),
        &format!(
            "[Service]\nExecStart=/usr/lib/{name}/helper\n[Install]\nWantedBy=multi-user.target\n"
        ),
        0o644,
    );
    write(
        &pkg,
        &format!("etc/{name}.conf"),
        "listen = 0.0.0.0\n",
        0o644,
    );
    let deb = tmp.path().join("test.deb");
    let built = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&pkg)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let db = tmp.path().join("d.db");
    dawgctl(&db, &["baseline", "pre-install"]);
    let _purge = Purge(name.clone());
    let installed = Command::new("dpkg").arg("-i").arg(&deb).output().unwrap();
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );

    let report = dawgctl(&db, &["diff", "--since", "pre-install"]);
    let suid = change(&report, "list_suids", &format!("/usr/lib/{name}/helper"));
    assert_eq!(suid["kind"], "added");
    assert_eq!(suid["severity"], "high");
    assert_eq!(suid["after"]["package"], name.as_str());
    assert_eq!(suid["after"]["owner"], "root");
    let conf = change(&report, "check_etc", &format!("/etc/{name}.conf"));
    assert_eq!(conf["after"]["package"], name.as_str());
    let unit = change(&report, "systemd_unitfiles", &format!("{name}.service"));
    assert_eq!(unit["kind"], "added");
    // Issue 16: the unit file names its package too, recorded by the collector at scan time.
    assert_eq!(unit["after"]["package"], name.as_str(), "{unit:#}");
    let group = change(&report, "check_groups", &name);
    assert_eq!(group["kind"], "added");
    let package = change(&report, "list_packages", &name);
    assert!(
        package["message"].as_str().unwrap().contains("1.0"),
        "{package:#}"
    );

    // `--by package` groups the package's setuid helper, conffile and unit file under it,
    // from the stored items alone: the root dawgctl would look files up in is empty.
    let empty = tempfile::tempdir().unwrap();
    let to = report["to"]["id"].to_string();
    let grouped = dawgctl(
        &db,
        &[
            "--by",
            "package",
            "--root",
            empty.path().to_str().unwrap(),
            "diff",
            "--since",
            "pre-install",
            "--to",
            &to,
        ],
    );
    let group = grouped["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["package"] == name.as_str())
        .unwrap_or_else(|| panic!("no group for {name} in {grouped:#}"));
    assert_eq!(group["operation"]["verb"], "installed", "{group:#}");
    let members: Vec<&str> = group["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["collector"].as_str().unwrap())
        .collect();
    for collector in ["list_suids", "check_etc", "systemd_unitfiles"] {
        assert!(
            members.contains(&collector),
            "{collector} not under {name}: {group:#}"
        );
    }
}

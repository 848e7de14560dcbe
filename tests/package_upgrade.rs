//! Issue 16: items that come from a file carry their `package`. A database written before
//! that (tests/fixtures/schema7-packages.db, made by dawgctl at 87cc3d9 from the root
//! tests/fixtures/package-root.sh writes) is compared with a scan by this dawgctl: the field
//! appearing is no change, and the next real change names the package.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The collectors whose items gained `package` (those the fixture root feeds).
const COLLECTORS: &[&str] = &[
    "systemd_unitfiles",
    "cron_jobs",
    "sudo_rules",
    "udev_rules",
    "polkit_rules",
    "dbus_services",
    "pam_stacks",
    "dynamic_loader",
    "sysctl_hardening",
    "ssh_access",
    "apparmor_profiles",
    "list_sysvinit_jobs",
    "list_tcpudp_ports",
    "list_unix_ports",
    "list_processes",
];

fn dawgctl(db: &Path, root: &Path, args: &[&str]) -> Value {
    let mut cmd = crate::helper::local(db, Some(root));
    cmd.args([
        "--daemon-config",
        "/nonexistent/dawgmond.toml",
        "--format",
        "json",
    ]);
    for c in COLLECTORS {
        cmd.args(["-c", c]);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fixture_root(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/package-root.sh");
    let out = Command::new("sh").arg(script).arg(&root).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

#[test]
fn upgrade_from_a_database_without_packages_reports_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture_root(tmp.path());
    let db = tmp.path().join("d.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/schema7-packages.db"
        ),
        &db,
    )
    .unwrap();

    let first = dawgctl(&db, &root, &["diff", "--since", "pre"]);
    assert_eq!(first["changes"], serde_json::json!([]), "{first:#}");
    assert_eq!(first["warnings"], serde_json::json!([]), "{first:#}");

    // The new scan did record the packages: the next change of a packaged file names it.
    std::fs::write(
        root.join("etc/cron.d/pkgjob"),
        "19 * * * * root /bin/true\n",
    )
    .unwrap();
    let since = first["to"]["id"].to_string();
    let next = dawgctl(&db, &root, &["diff", "--since", &since]);
    let changes = next["changes"].as_array().unwrap();
    let job = |kind: &str, side: &str| {
        changes
            .iter()
            .find(|c| c["collector"] == "cron_jobs" && c["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} cron job in {next:#}"))[side]["package"]
            .clone()
    };
    assert_eq!(job("added", "after"), "testpkg", "{next:#}");
    assert_eq!(job("removed", "before"), "testpkg", "{next:#}");
}

//! Issue 10's write-access and integrity checks through the real `dawgctl`: a fake root scanned,
//! then holes made in it (a unit's ExecStart group-writable, a directory on a cron command's way
//! world-writable, a packaged binary replaced, a conffile edited), and the report's lines read.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Output;

use crate::helper::{TreeBuilder, ok};

fn dawgctl(db: &Path, args: &[&str]) -> Output {
    crate::helper::local(db, None)
        .args(args)
        .output()
        .expect("run dawgctl")
}

fn md5(b: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(b))
}

#[test]
fn holes_and_replaced_files_are_reported_one_line_each() {
    let t = TreeBuilder::with_etc();
    t.append("etc/group", "staff:x:50:\n")
        .file(
            "usr/lib/systemd/system/web.service",
            "[Service]\nExecStart=/opt/web/bin/web --port 80\n",
        )
        .file_mode("opt/web/bin/web", "#!/bin/sh\n", 0o755)
        .file("etc/cron.d/backup", "15 3 * * * root /srv/backup/run.sh\n")
        .file_mode("srv/backup/run.sh", "#!/bin/sh\n", 0o755)
        .file_mode("usr/bin/tool", "vendor build", 0o755)
        .file("etc/tool.conf", "a=1\n");
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.file(
        "var/lib/dpkg/info/tool.md5sums",
        &format!("{}  usr/bin/tool\n", md5(b"vendor build")),
    )
    .file("var/lib/dpkg/info/tool.list", "/usr/bin/tool\n")
    .file(
        "var/lib/dpkg/status",
        &format!(
            "Package: tool\nStatus: install ok installed\nVersion: 1\nConffiles:\n /etc/tool.conf {}\n",
            md5(b"a=1\n")
        ),
    );
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("d.db");
    let r = t.path().to_str().unwrap();
    let base = [
        "--root",
        r,
        "-c",
        "root_run_writable",
        "-c",
        "world_writable",
        "-c",
        "package_integrity",
        "--no-timestamps",
        "--color",
        "never",
    ];
    ok(&dawgctl(&db, &[&base[..], &["scan"]].concat()));
    let idle = ok(&dawgctl(&db, &[&base[..], &["scan"]].concat()));
    assert!(
        !idle.lines().any(|l| l.starts_with(['+', '-', '~'])),
        "two idle scans: nothing to report\n{idle}"
    );

    // The holes.
    chown(t.join("opt/web/bin/web"), None, Some(50)).unwrap();
    std::fs::set_permissions(t.join("opt/web/bin/web"), PermissionsExt::from_mode(0o775)).unwrap();
    std::fs::set_permissions(t.join("srv/backup"), PermissionsExt::from_mode(0o777)).unwrap();
    t.file_mode("usr/bin/tool", "patched", 0o755)
        .file("etc/tool.conf", "a=2\n");
    let out = ok(&dawgctl(&db, &[&base[..], &["scan"]].concat()));
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("+ ")).collect();
    let has = |needle: &str| {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "no line with {needle:?} in:\n{out}"
        )
    };
    has(
        "root-run file /opt/web/bin/web is writable by group:staff (owner=root, group=staff, perm=-rwxrwxr-x, used_by=systemd:web.service)",
    );
    has("root-run dir /srv/backup is writable by other");
    has("used_by=cron:/etc/cron.d/backup");
    has("world-writable dir /srv/backup without sticky bit");
    has("package file /usr/bin/tool modified (package=tool)");
    has("conffile /etc/tool.conf modified (package=tool)");
    assert_eq!(lines.len(), 5, "one line per finding:\n{out}");
}

use super::*;
use std::os::unix::fs::PermissionsExt;

const MOUNTINFO: &str = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
    30 27 0:27 / /tmp rw,nosuid,nodev,relatime - tmpfs tmpfs rw\n\
    31 27 0:28 / /dev/shm rw,relatime - tmpfs tmpfs rw\n\
    32 27 0:29 / /srv/drop rw,relatime - tmpfs tmpfs rw\n\
    33 27 0:30 / /srv/private rw,relatime - tmpfs tmpfs rw\n\
    34 27 0:31 / /srv/sticky rw,nosuid - tmpfs tmpfs rw\n\
    35 27 0:32 / /boot ro - ext4 /dev/vda1 rw\n\
    garbage\n";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    crate::collectors::testing::write(r, "proc/self/mountinfo", MOUNTINFO);
    for (d, mode) in [
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("dev/shm", 0o1777),
        ("srv/drop", 0o777),
        ("srv/private", 0o755),
        ("srv/sticky", 0o1777),
        ("boot", 0o755),
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
        std::fs::set_permissions(r.join(d), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    dir
}

#[test]
fn watched_paths_and_writable_setuid_mounts() {
    let dir = root();
    let items = MountOptions.collect(&Host::new(dir.path())).unwrap();
    let got: Vec<String> = items
        .iter()
        .map(|i| {
            let f = &i.fields;
            format!(
                "{} mount={} nosuid={} noexec={} nodev={} ro={} perm={} writable_by={}",
                i.key,
                &f["mount"],
                &f["nosuid"],
                &f["noexec"],
                &f["nodev"],
                &f["ro"],
                &f["perm"],
                f.get("writable_by").unwrap_or("-")
            )
        })
        .collect();
    // Run as root (as the test suite is), the fixture's directories are root's.
    assert_eq!(
        got,
        [
            "/boot mount=/boot nosuid=no noexec=no nodev=no ro=yes perm=drwxr-xr-x writable_by=-",
            "/dev/shm mount=/dev/shm nosuid=no noexec=no nodev=no ro=no perm=drwxrwxrwt writable_by=others",
            "/srv/drop mount=/srv/drop nosuid=no noexec=no nodev=no ro=no perm=drwxrwxrwx writable_by=others",
            "/tmp mount=/tmp nosuid=yes noexec=no nodev=yes ro=no perm=drwxrwxrwt writable_by=others",
            "/var/tmp mount=/ nosuid=no noexec=no nodev=no ro=no perm=drwxrwxrwt writable_by=others",
        ]
    );
    let host = Host::new(dir.path());
    assert_eq!(
        MountOptions.collect(&host).unwrap(),
        MountOptions.collect(&host).unwrap()
    );
}

#[test]
fn missing_mount_table_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        MountOptions.collect(&Host::new(dir.path())),
        Err(CollectError::Unavailable(m)) if m.contains("mountinfo")
    ));
}

#[test]
fn live_host_reports_dev_shm() {
    let items = MountOptions.collect(&Host::new("/")).unwrap();
    let shm = items
        .iter()
        .find(|i| i.key == "/dev/shm")
        .expect("/dev/shm");
    assert!(["yes", "no"].contains(&&shm.fields["nosuid"]));
}

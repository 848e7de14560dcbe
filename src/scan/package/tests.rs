//! Per collector family, on one fixture root with a dpkg database: an item from a file a
//! package lists names that package, an item from a file none lists names `none`.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::collectors::testing::write;
use crate::host::Host;
use crate::model::{Item, Outcome};

/// Every file of the test package, as dpkg lists it (pre-merge paths included: dpkg records
/// `/lib/systemd/system/...` for what is found under `usr/lib`).
const PKG_FILES: &[&str] = &[
    "/lib/systemd/system/pkgd.service",
    "/etc/cron.d/pkgjob",
    "/etc/sudoers.d/pkg",
    "/lib/udev/rules.d/60-pkg.rules",
    "/usr/share/polkit-1/rules.d/50-pkg.rules",
    "/usr/share/dbus-1/system.d/org.pkg.conf",
    "/etc/pam.d/pkgsvc",
    "/etc/ld.so.conf.d/pkg.conf",
    "/etc/sysctl.d/60-pkg.conf",
    "/etc/ssh/sshd_config",
    "/etc/apparmor.d/usr.sbin.pkgd",
    "/etc/init.d/pkgd",
    "/usr/sbin/pkgd",
];

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let mut list = "/.\n/etc\n/usr\n".to_string();
    for f in PKG_FILES {
        list.push_str(f);
        list.push('\n');
    }
    write(r, "var/lib/dpkg/info/testpkg.list", &list);
    write(r, "var/lib/dpkg/info/sudo.list", "/.\n/etc\n/etc/sudoers\n");
    write(
        r,
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
    );
    write(r, "etc/group", "root:x:0:\nnogroup:x:65534:\n");

    let unit = "[Service]\nExecStart=/usr/sbin/pkgd\n[Install]\nWantedBy=multi-user.target\n";
    write(r, "usr/lib/systemd/system/pkgd.service", unit);
    write(r, "etc/systemd/system/local.service", unit);

    write(r, "etc/cron.d/pkgjob", "17 * * * * root /bin/true\n");
    write(r, "etc/cron.d/localjob", "18 * * * * root /bin/false\n");

    write(
        r,
        "etc/sudoers",
        "root ALL=(ALL) ALL\n@includedir /etc/sudoers.d\n",
    );
    write(
        r,
        "etc/sudoers.d/pkg",
        "nobody ALL=(root) NOPASSWD: /bin/true\n",
    );
    write(
        r,
        "etc/sudoers.d/local",
        "nobody ALL=(root) NOPASSWD: /bin/false\n",
    );

    write(
        r,
        "usr/lib/udev/rules.d/60-pkg.rules",
        "RUN+=\"/usr/sbin/pkgd\"\n",
    );
    write(
        r,
        "etc/udev/rules.d/99-local.rules",
        "RUN+=\"/usr/local/bin/x\"\n",
    );

    let js = "polkit.addRule(function(action, subject) { return polkit.Result.YES; });\n";
    write(r, "usr/share/polkit-1/rules.d/50-pkg.rules", js);
    write(r, "etc/polkit-1/rules.d/90-local.rules", js);

    let policy = |name: &str| {
        format!(
            "<busconfig><policy context=\"default\"><allow send_destination=\"{name}\"/></policy></busconfig>\n"
        )
    };
    write(
        r,
        "usr/share/dbus-1/system.d/org.pkg.conf",
        policy("org.pkg"),
    );
    write(r, "etc/dbus-1/system.d/org.local.conf", policy("org.local"));

    write(r, "etc/pam.d/pkgsvc", "auth required pam_unix.so\n");
    write(r, "etc/pam.d/local", "auth sufficient pam_permit.so\n");

    write(r, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n");
    write(r, "etc/ld.so.conf.d/pkg.conf", "/usr/lib/pkg\n");
    write(r, "etc/ld.so.conf.d/local.conf", "/opt/local/lib\n");

    write(r, "etc/sysctl.d/60-pkg.conf", "kernel.kptr_restrict = 1\n");
    write(
        r,
        "etc/sysctl.d/99-local.conf",
        "kernel.dmesg_restrict = 1\n",
    );

    write(
        r,
        "etc/ssh/sshd_config",
        "PermitRootLogin no\nInclude /etc/ssh/sshd_config.d/*.conf\n",
    );
    write(
        r,
        "etc/ssh/sshd_config.d/local.conf",
        "PasswordAuthentication no\n",
    );

    let profile = |exe: &str| format!("{exe} {{\n}}\n");
    write(r, "etc/apparmor.d/usr.sbin.pkgd", profile("/usr/sbin/pkgd"));
    write(
        r,
        "etc/apparmor.d/usr.local.bin.x",
        profile("/usr/local/bin/x"),
    );

    for script in ["pkgd", "localscript"] {
        write(r, &format!("etc/init.d/{script}"), "#!/bin/sh\n");
        let p = r.join("etc/init.d").join(script);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // Two listeners (TCP and UNIX each), one by a packaged program, one by a program no
    // package installed; the processes that hold them.
    write(
        r,
        "proc/net/tcp",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
         0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3001 1 0000000000000000 100 0 0 10 0\n   \
         1: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3002 1 0000000000000000 100 0 0 10 0\n",
    );
    write(
        r,
        "proc/net/unix",
        "Num       RefCount Protocol Flags    Type St Inode Path\n\
         0000000000000000: 00000002 00000000 00010000 0001 01  5001 /run/pkgd.sock\n\
         0000000000000000: 00000002 00000000 00010000 0001 01  5002 /run/evil.sock\n",
    );
    for (pid, name, exe, sockets) in [
        ("77", "pkgd", "/usr/sbin/pkgd", ["3001", "5001"]),
        (
            "78",
            "evil",
            "/usr/local/bin/evil (deleted)",
            ["3002", "5002"],
        ),
    ] {
        let p = r.join("proc").join(pid);
        std::fs::create_dir_all(p.join("fd")).unwrap();
        write(&p, "comm", format!("{name}\n"));
        write(
            &p,
            "status",
            format!(
                "Name:\t{name}\nUmask:\t0022\nPPid:\t1\nUid:\t0\t0\t0\t0\nCapEff:\t0000000000000000\n"
            ),
        );
        symlink(exe, p.join("exe")).unwrap();
        for (fd, inode) in sockets.iter().enumerate() {
            symlink(
                format!("socket:[{inode}]"),
                p.join("fd").join(fd.to_string()),
            )
            .unwrap();
        }
    }
    dir
}

/// The items of `collector` as a scan stores them (the package attribution included).
fn scanned(root: &Path, collector: &str) -> Vec<Item> {
    let c = crate::collectors::by_name(collector).unwrap();
    match super::super::run_one(c, &Host::new(root)) {
        Outcome::Items(items) => items,
        Outcome::Unavailable(why) => panic!("{collector} unavailable: {why}"),
    }
}

/// The `package` of the first item of `collector` whose key holds `needle`.
fn package_of(items: &[Item], collector: &str, needle: &str) -> Option<String> {
    let item = items
        .iter()
        .find(|i| i.key.contains(needle))
        .unwrap_or_else(|| panic!("{collector}: no item with {needle:?} in {items:#?}"));
    item.fields.get("package").map(str::to_string)
}

#[test]
fn items_from_files_name_their_package_or_none() {
    let dir = root();
    // Collector, an item from the package's file, an item from a file no package lists.
    let cases = [
        ("systemd_unitfiles", "pkgd.service", "local.service"),
        ("cron_jobs", "/etc/cron.d/pkgjob", "/etc/cron.d/localjob"),
        ("sudo_rules", "/bin/true", "/bin/false"),
        ("udev_rules", "/usr/sbin/pkgd", "/usr/local/bin/x"),
        ("polkit_rules", "rules /usr/share", "rules /etc"),
        ("dbus_services", "org.pkg", "org.local"),
        ("pam_stacks", "pkgsvc", "local"),
        ("dynamic_loader", "/usr/lib/pkg", "/opt/local/lib"),
        (
            "sysctl_hardening",
            "kernel.kptr_restrict",
            "kernel.dmesg_restrict",
        ),
        ("ssh_access", "PermitRootLogin", "PasswordAuthentication"),
        ("apparmor_profiles", "usr.sbin.pkgd", "usr.local.bin.x"),
        ("list_sysvinit_jobs", "pkgd", "localscript"),
        ("list_tcpudp_ports", ":22", ":4444"),
        ("list_unix_ports", "/run/pkgd.sock", "/run/evil.sock"),
        ("list_processes", "pkgd", "evil"),
    ];
    let mut wrong = Vec::new();
    for (collector, packaged, unpackaged) in cases {
        let items = scanned(dir.path(), collector);
        let (p, u) = (
            package_of(&items, collector, packaged),
            package_of(&items, collector, unpackaged),
        );
        if p.as_deref() != Some("testpkg") || u.as_deref() != Some("none") {
            wrong.push(format!(
                "{collector}: {packaged} → {p:?}, {unpackaged} → {u:?} in {items:#?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_package_database_adds_no_field() {
    let dir = root();
    std::fs::remove_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
    for collector in ["systemd_unitfiles", "cron_jobs", "list_tcpudp_ports"] {
        for item in scanned(dir.path(), collector) {
            assert!(
                !item.fields.contains_key("package"),
                "{collector}: {item:?} names a package without a package database"
            );
        }
    }
}

#[test]
fn a_package_set_by_the_collector_is_kept() {
    let dir = root();
    let bin = dir.path().join("usr/sbin/pkgd");
    write(dir.path(), "usr/sbin/pkgd", "x");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let items = scanned(dir.path(), "list_suids");
    assert_eq!(
        package_of(&items, "list_suids", "/usr/sbin/pkgd").as_deref(),
        Some("testpkg")
    );
}

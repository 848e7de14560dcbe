//! The severity rules of `dist/config/rules.toml` for the parsed configuration collectors
//! (pam_stacks, dynamic_loader, polkit_rules, dbus_services, udev_rules, sysctl_hardening,
//! apparmor_profiles, mount_options) against what those collectors really emit: each scenario
//! changes a fixture root the way an install would, diffs the two collections with the real
//! diff and built-in rules, and checks which rule judged each change. It proves the rules name
//! fields and values the collectors produce; the rules engine's own tests prove the engine.

use crate::collectors::by_name;
use crate::collectors::testing::write;
use crate::host::Host;
use crate::model::{Outcome, Snapshot};

const MINE: [&str; 8] = [
    "pam_stacks",
    "dynamic_loader",
    "polkit_rules",
    "dbus_services",
    "udev_rules",
    "sysctl_hardening",
    "apparmor_profiles",
    "mount_options",
];

fn rules() -> Vec<toml::Value> {
    let text = include_str!("../../../dist/config/rules.toml");
    let doc: toml::Table = text.parse().expect("rules.toml parses");
    doc["rule"].as_array().unwrap().clone()
}

/// The id of the rule the real diff and the built-in rules give the change of `key` between
/// two collections.
fn rule_for(collector: &str, before: &Host, after: &Host, key: &str) -> String {
    let c = by_name(collector).unwrap();
    let snap = |host: &Host| Snapshot {
        results: [(
            collector.to_string(),
            Outcome::Items(c.collect(host).unwrap()).normalized(),
        )]
        .into(),
    };
    let d = crate::diff::diff(&snap(before), &snap(after));
    let change = d
        .changes
        .iter()
        .find(|ch| ch.key == key)
        .unwrap_or_else(|| {
            panic!(
                "no change of {key}: {:?}",
                d.changes.iter().map(|c| &c.key).collect::<Vec<_>>()
            )
        });
    change.rule.clone().unwrap_or_else(|| "(none: info)".into())
}

/// Two fake roots: `before` as given, `after` the same plus `extra` written over it.
fn roots(base: &[(&str, &str)], extra: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (p, t) in base {
        write(a.path(), p, t);
        write(b.path(), p, t);
    }
    for (p, t) in extra {
        write(b.path(), p, t);
    }
    (a, b)
}

#[test]
fn my_rules_are_well_formed() {
    let all = rules();
    let mut ids = std::collections::HashSet::new();
    let mine: Vec<&toml::Value> = all
        .iter()
        .filter(|r| MINE.contains(&r["collector"].as_str().unwrap_or("")))
        .collect();
    assert!(mine.len() >= 30, "{}", mine.len());
    for r in mine {
        let id = r["id"].as_str().unwrap();
        assert!(ids.insert(id), "{id} twice");
        assert!(
            ["info", "low", "medium", "high", "critical"]
                .contains(&r["severity"].as_str().unwrap()),
            "{id}"
        );
        assert!(
            !r["why"].as_str().unwrap_or("").is_empty(),
            "{id} has no why"
        );
        assert!(by_name(r["collector"].as_str().unwrap()).is_some(), "{id}");
    }
}

#[test]
fn loader_and_pam_changes_get_their_rules() {
    let conf = ("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n");
    let (a, b) = roots(
        &[conf],
        &[
            ("etc/ld.so.preload", "/usr/lib/libhook.so\n"),
            ("etc/ld.so.conf.d/x.conf", "/usr/local/lib2\n/srv/lib\n"),
            ("srv/lib/.keep", ""),
        ],
    );
    std::fs::create_dir_all(b.path().join("usr/local/lib2")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        b.path().join("srv/lib"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let (ha, hb) = (Host::new(a.path()), Host::new(b.path()));
    assert_eq!(
        rule_for("dynamic_loader", &ha, &hb, "preload /usr/lib/libhook.so"),
        "loader.preload"
    );
    assert_eq!(
        rule_for("dynamic_loader", &ha, &hb, "path /srv/lib"),
        "loader.path_writable"
    );
    assert_eq!(
        rule_for("dynamic_loader", &ha, &hb, "path /usr/local/lib2"),
        "loader.path_added"
    );

    let sshd = (
        "etc/pam.d/sshd",
        "auth required pam_unix.so\nauth required pam_faillock.so\n",
    );
    let (a, b) = roots(
        &[sshd],
        &[(
            "etc/pam.d/sshd",
            "auth sufficient pam_permit.so\nauth sufficient pam_unix.so\nsession optional /tmp/x/pam_x.so\nsession optional pam_env.so\n",
        )],
    );
    let (ha, hb) = (Host::new(a.path()), Host::new(b.path()));
    let pam = |k| rule_for("pam_stacks", &ha, &hb, k);
    assert_eq!(pam("sshd:auth:pam_permit.so"), "pam.permit_in_auth");
    assert_eq!(pam("sshd:session:/tmp/x/pam_x.so"), "pam.module_outside");
    assert_eq!(pam("sshd:session:pam_env.so"), "pam.line_added");
    assert_eq!(pam("sshd:auth:pam_unix.so"), "pam.line_changed");
    assert_eq!(pam("sshd:auth:pam_faillock.so"), "pam.line_removed");
}

#[test]
fn polkit_dbus_and_udev_changes_get_their_rules() {
    let policy = |any: &str, active: &str| {
        format!(
            "<policyconfig><action id=\"org.x.a\"><defaults><allow_any>{any}</allow_any><allow_active>{active}</allow_active></defaults></action></policyconfig>"
        )
    };
    let p1 = policy("no", "auth_admin");
    let p2 = policy("yes", "yes");
    let p3 = policy("no", "yes");
    let (a, b) = roots(
        &[("usr/share/polkit-1/actions/x.policy", &p1)],
        &[("usr/share/polkit-1/actions/x.policy", &p2)],
    );
    assert_eq!(
        rule_for(
            "polkit_rules",
            &Host::new(a.path()),
            &Host::new(b.path()),
            "action org.x.a"
        ),
        "polkit.action_allow_any"
    );
    let (a, b) = roots(
        &[("usr/share/polkit-1/actions/x.policy", &p1)],
        &[("usr/share/polkit-1/actions/x.policy", &p3)],
    );
    assert_eq!(
        rule_for(
            "polkit_rules",
            &Host::new(a.path()),
            &Host::new(b.path()),
            "action org.x.a"
        ),
        "polkit.action_allow_session"
    );

    let (a, b) = roots(
        &[],
        &[
            (
                "usr/share/dbus-1/system.d/x.conf",
                "<busconfig><policy context=\"default\"><allow own=\"org.x\"/><allow send_destination=\"org.y\"/></policy></busconfig>",
            ),
            (
                "usr/share/dbus-1/system-services/x.service",
                "[D-BUS Service]\nName=org.x\nExec=/usr/bin/x\nUser=root\n",
            ),
            (
                "etc/udev/rules.d/99-x.rules",
                "ACTION==\"add\", RUN+=\"/usr/bin/x\"\n",
            ),
        ],
    );
    let (ha, hb) = (Host::new(a.path()), Host::new(b.path()));
    assert_eq!(
        rule_for("dbus_services", &ha, &hb, "default allow own=org.x"),
        "dbus.default_own"
    );
    assert_eq!(
        rule_for(
            "dbus_services",
            &ha,
            &hb,
            "default allow send_destination=org.y"
        ),
        "dbus.default_send"
    );
    assert_eq!(
        rule_for("dbus_services", &ha, &hb, "service org.x"),
        "dbus.root_service"
    );
    assert_eq!(
        rule_for("udev_rules", &ha, &hb, "99-x.rules RUN+= /usr/bin/x"),
        "udev.program_added"
    );
    assert_eq!(
        rule_for("udev_rules", &ha, &hb, "file 99-x.rules"),
        "udev.changed"
    );
}

#[test]
fn sysctl_apparmor_and_mount_changes_get_their_rules() {
    let (a, b) = roots(
        &[
            ("proc/sys/kernel/kptr_restrict", "1\n"),
            ("proc/sys/kernel/randomize_va_space", "2\n"),
            ("proc/sys/fs/protected_regular", "2\n"),
            ("proc/sys/kernel/sysrq", "0\n"),
        ],
        &[
            ("proc/sys/kernel/kptr_restrict", "0\n"),
            ("proc/sys/kernel/randomize_va_space", "1\n"),
            ("etc/sysctl.d/99-weak.conf", "fs.protected_regular = 0\n"),
            ("proc/sys/kernel/sysrq", "1\n"),
        ],
    );
    let (ha, hb) = (Host::new(a.path()), Host::new(b.path()));
    let s = |k| rule_for("sysctl_hardening", &ha, &hb, k);
    assert_eq!(s("kernel.kptr_restrict"), "sysctl.weakened_live");
    assert_eq!(s("kernel.randomize_va_space"), "sysctl.aslr_weakened_live");
    assert_eq!(s("fs.protected_regular"), "sysctl.weakened_configured");
    assert_eq!(s("kernel.sysrq"), "sysctl.changed");

    let k = "sys/kernel/security/apparmor/profiles";
    let (a, b) = roots(
        &[(k, "/usr/bin/a (enforce)\n/usr/bin/b (enforce)\n")],
        &[(k, "/usr/bin/a (complain)\n")],
    );
    let (ha, hb) = (Host::new(a.path()), Host::new(b.path()));
    assert_eq!(
        rule_for("apparmor_profiles", &ha, &hb, "profile /usr/bin/a"),
        "apparmor.complain"
    );
    assert_eq!(
        rule_for("apparmor_profiles", &ha, &hb, "profile /usr/bin/b"),
        "apparmor.removed"
    );

    let mi = "proc/self/mountinfo";
    let (a, b) = roots(
        &[
            (
                mi,
                "1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 0:2 / /tmp rw,nosuid - tmpfs tmpfs rw\n3 1 8:2 / /boot ro - ext4 /dev/sdb rw\n",
            ),
            ("tmp/.k", ""),
            ("boot/.k", ""),
        ],
        &[
            (
                mi,
                "1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 0:2 / /tmp rw - tmpfs tmpfs rw\n3 1 8:2 / /boot rw - ext4 /dev/sdb rw\n4 1 0:3 / /srv/drop rw - tmpfs tmpfs rw\n",
            ),
            ("srv/drop/.k", ""),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    for d in [
        a.path().join("tmp"),
        b.path().join("tmp"),
        b.path().join("srv/drop"),
    ] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let (ha, hb) = (Host::new(a.path()), Host::new(b.path()));
    assert_eq!(
        rule_for("mount_options", &ha, &hb, "/tmp"),
        "mount.tmp_lost_nosuid"
    );
    assert_eq!(
        rule_for("mount_options", &ha, &hb, "/boot"),
        "mount.lost_ro"
    );
    assert_eq!(
        rule_for("mount_options", &ha, &hb, "/srv/drop"),
        "mount.writable_allows_setuid"
    );
}

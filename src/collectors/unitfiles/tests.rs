use super::*;
use crate::model::Severity;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use crate::collectors::testing::write;

fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

const SSH: &str = "[Unit]\nDescription=ssh\n[Service]\nExecStart=/usr/sbin/sshd -D\n\
                   [Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n";

/// A merged-/usr tree with enabled, aliased, masked, static, disabled, dangling and
/// malformed units, a drop-in, a template instance and a user unit.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let sys = "usr/lib/systemd/system";
    write(r, &format!("{sys}/ssh.service"), SSH);
    write(
        r,
        &format!("{sys}/getty@.service"),
        "[Service]\nExecStart=-/sbin/agetty %I\n[Install]\nWantedBy=getty.target\n",
    );
    write(
        r,
        &format!("{sys}/static.service"),
        "[Service]\nExecStart=/bin/true\n",
    );
    write(
        r,
        &format!("{sys}/disabled.service"),
        "[Service]\nExecStart=/opt/x \\\n  --flag\n[Install]\nWantedBy=multi-user.target\n",
    );
    write(
        r,
        &format!("{sys}/masked.service"),
        "[Service]\nExecStart=/bin/x\n",
    );
    write(
        r,
        &format!("{sys}/broken.service"),
        "garbage without equals\n[Service\n\u{1}\u{2}=\n[Service]\nExecStart=/bin/ok\n",
    );
    write(
        r,
        &format!("{sys}/multi-user.target"),
        "[Unit]\nDescription=x\n",
    );
    write(r, &format!("{sys}/README"), "not a unit");
    link(r, "lib", "usr/lib");
    link(
        r,
        &format!("{sys}/sysinit.target.wants/static.service"),
        "../static.service",
    );
    let etc = "etc/systemd/system";
    link(
        r,
        &format!("{etc}/multi-user.target.wants/ssh.service"),
        "/usr/lib/systemd/system/ssh.service",
    );
    link(
        r,
        &format!("{etc}/getty.target.wants/getty@tty1.service"),
        "/lib/systemd/system/getty@.service",
    );
    link(
        r,
        &format!("{etc}/sshd.service"),
        "/lib/systemd/system/ssh.service",
    );
    link(r, &format!("{etc}/masked.service"), "/dev/null");
    link(
        r,
        &format!("{etc}/dangling.service"),
        "/nowhere/dangling.service",
    );
    write(
        r,
        &format!("{etc}/ssh.service.d/override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -p 2222\n",
    );
    write(r, &format!("{etc}/ssh.service.d/ignored.txt"), "x");
    write(
        r,
        "usr/lib/systemd/user/dbus.service",
        "[Service]\nExecStart=/usr/bin/dbus-daemon\n[Install]\nAlso=dbus.socket\n",
    );
    dir
}

fn by_key(items: &[Item]) -> BTreeMap<&str, &Fields> {
    items.iter().map(|i| (i.key.as_str(), &i.fields)).collect()
}

#[test]
fn states_come_from_links_and_install_sections() {
    let dir = fixture();
    let items = SystemdUnitfiles.collect(&Host::new(dir.path())).unwrap();
    let m = by_key(&items);
    let ssh = m["ssh.service"];
    assert_eq!(&ssh["state"], "enabled");
    assert_eq!(&ssh["wanted_by"], "multi-user.target");
    assert_eq!(&ssh["path"], "/usr/lib/systemd/system/ssh.service");
    assert_eq!(ssh["sha256"], sha256_bytes(SSH.as_bytes()));
    assert_eq!(
        &ssh["exec"], "/usr/sbin/sshd -D -p 2222",
        "drop-in resets ExecStart"
    );
    let (conf, hash) = ssh["dropins"].split_once(':').unwrap();
    assert_eq!(conf, "override.conf");
    assert_eq!(hash.len(), 12);
    assert_eq!(&m["getty@.service"]["state"], "enabled");
    assert_eq!(&m["getty@.service"]["wanted_by"], "getty.target");
    assert_eq!(&m["sshd.service"]["state"], "alias");
    assert_eq!(&m["sshd.service"]["alias_of"], "ssh.service");
    assert_eq!(&m["masked.service"]["state"], "masked");
    assert_eq!(
        &m["masked.service"]["path"],
        "/etc/systemd/system/masked.service"
    );
    assert!(!m["masked.service"].contains_key("sha256"));
    assert_eq!(&m["dangling.service"]["state"], "bad");
    assert_eq!(
        &m["static.service"]["state"], "static",
        "vendor links do not enable"
    );
    assert_eq!(&m["static.service"]["wanted_by"], "sysinit.target");
    assert!(!m["disabled.service"].contains_key("wanted_by"));
    assert_eq!(&m["disabled.service"]["state"], "disabled");
    assert_eq!(&m["disabled.service"]["exec"], "/opt/x    --flag");
    assert_eq!(
        &m["broken.service"]["exec"], "/bin/ok",
        "malformed lines skipped"
    );
    assert_eq!(&m["multi-user.target"]["state"], "static");
    assert_eq!(&m["user/dbus.service"]["state"], "disabled");
    assert!(!m.contains_key("README"));
    assert!(
        items.iter().all(|i| !i.fields["path"].starts_with("/lib/")),
        "lib -> usr/lib read twice"
    );
}

#[test]
fn merged_usr_is_read_once_but_a_real_lib_is_read() {
    let dir = fixture();
    let mut seen = std::collections::HashSet::new();
    let host = Host::new(dir.path());
    assert_eq!(Scope::read(&host, &SYSTEM_DIRS, &mut seen).dirs, 2);

    let split = tempfile::tempdir().unwrap();
    write(
        split.path(),
        "lib/systemd/system/old.service",
        "[Service]\nExecStart=/x\n",
    );
    write(split.path(), "usr/lib/systemd/system/new.service", "");
    let items = SystemdUnitfiles.collect(&Host::new(split.path())).unwrap();
    let m = by_key(&items);
    assert_eq!(&m["old.service"]["path"], "/lib/systemd/system/old.service");
    assert!(m.contains_key("new.service"));
}

#[test]
fn both_unit_checks_of_one_scan_see_one_reading_of_the_unit_files() {
    let dir = tempfile::tempdir().unwrap();
    let unit = "etc/systemd/system/x.service";
    write(dir.path(), unit, "[Service]\nExecStart=/usr/bin/a\n");
    let host = Host::new(dir.path());
    let items = SystemdUnitfiles.collect(&host).unwrap();
    assert_eq!(&by_key(&items)["x.service"]["exec"], "/usr/bin/a");
    // Between the two checks of one scan the files change: the second check still sees
    // what the first read (no second listing, no second read), so they cannot disagree.
    write(dir.path(), unit, "[Service]\nExecStart=/usr/bin/b\n");
    write(
        dir.path(),
        "etc/systemd/system/y.service",
        "[Service]\nExecStart=/usr/bin/y\n",
    );
    let units = crate::sources::unitfiles::root_units(&host).unwrap();
    let runs: Vec<(&str, &[String])> = units
        .iter()
        .map(|u| (u.name.as_str(), u.commands.as_slice()))
        .collect();
    assert_eq!(runs, [("x.service", &["/usr/bin/a".to_string()][..])]);
    // The next scan reads them again.
    let units = crate::sources::unitfiles::root_units(&Host::new(dir.path())).unwrap();
    assert_eq!(units.len(), 2);
    assert_eq!(units[0].commands, ["/usr/bin/b"]);
}

#[test]
fn enabling_and_editing_show_as_changes() {
    let dir = fixture();
    let host = || Host::new(dir.path());
    let before = SystemdUnitfiles.collect(&host()).unwrap();
    assert_eq!(before, SystemdUnitfiles.collect(&host()).unwrap(), "quiet");
    link(
        dir.path(),
        "etc/systemd/system/multi-user.target.wants/disabled.service",
        "/usr/lib/systemd/system/disabled.service",
    );
    write(
        dir.path(),
        "usr/lib/systemd/system/static.service",
        "[Service]\nExecStart=/bin/false\n",
    );
    let after = SystemdUnitfiles.collect(&host()).unwrap();
    let (b, a) = (by_key(&before), by_key(&after));
    assert_eq!(&a["disabled.service"]["state"], "enabled");
    assert_eq!(&a["disabled.service"]["wanted_by"], "multi-user.target");
    assert_ne!(b["static.service"]["sha256"], a["static.service"]["sha256"]);
    assert_eq!(&a["static.service"]["exec"], "/bin/false");
}

#[test]
fn odd_names_are_escaped_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("etc/systemd/system");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::write(sys.join("new\nline.service"), "").unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"bad\xffname.service");
    std::fs::write(sys.join(raw), "").unwrap();
    let items = SystemdUnitfiles.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["bad\\xffname.service", "new\\x0aline.service"]);
}

#[test]
fn no_unit_directories_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    match SystemdUnitfiles.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(why)) => {
            assert!(why.contains("no systemd unit"), "{why}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn change(kind: ChangeKind, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
    crate::collectors::testing::change("systemd_unitfiles", kind, "vboxdrv.service", before, after)
}

#[test]
fn messages_and_severities() {
    let added = change(
        ChangeKind::Added,
        &[],
        &[
            ("state", "enabled"),
            ("wanted_by", "multi-user.target"),
            ("path", "/x"),
            ("exec", "/opt/vbox start"),
        ],
    );
    assert_eq!(
        SystemdUnitfiles.message(&added),
        "systemd unit file vboxdrv.service added (state=enabled, wanted_by=multi-user.target, exec=/opt/vbox start)"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::High);
    let plain = change(ChangeKind::Added, &[], &[("state", "static")]);
    assert_eq!(crate::rules::testing::severity(&plain), Severity::Medium);
    let enabled = change(
        ChangeKind::Modified,
        &[("state", "disabled"), ("sha256", "a")],
        &[
            ("state", "enabled"),
            ("sha256", "b"),
            ("wanted_by", "multi-user.target"),
        ],
    );
    assert_eq!(
        SystemdUnitfiles.message(&enabled),
        "systemd unit file vboxdrv.service changed: state from disabled to enabled, \
         wanted_by from (none) to multi-user.target, content changed"
    );
    assert_eq!(crate::rules::testing::severity(&enabled), Severity::High);
    let content = change(ChangeKind::Modified, &[("sha256", "a")], &[("sha256", "b")]);
    assert_eq!(
        SystemdUnitfiles.message(&content),
        "systemd unit file vboxdrv.service changed: content changed"
    );
    assert_eq!(crate::rules::testing::severity(&content), Severity::Medium);
    let removed = change(ChangeKind::Removed, &[("state", "enabled")], &[]);
    assert_eq!(crate::rules::testing::severity(&removed), Severity::Low);
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated unit files and drop-ins never panic the parser or
    /// the collector.
    #[test]
    fn fuzz_unit_files(
        unit in crate::collectors::fuzz::bytes(SSH),
        dropin in crate::collectors::fuzz::bytes("[Service]\nExecStart=\nExecStart=/bin/x \\\n  -y\n[Install]\nAlias=z.service\n"),
    ) {
        let mut parsed = Parsed::default();
        parsed.apply(&String::from_utf8_lossy(&unit));
        parsed.apply(&String::from_utf8_lossy(&dropin));
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, b: &[u8]| crate::collectors::testing::write(dir.path(), rel, b);
        w("etc/systemd/system/fuzz.service", &unit);
        w("etc/systemd/system/fuzz.service.d/override.conf", &dropin);
        w("usr/lib/systemd/system/other.socket", &dropin);
        let items = SystemdUnitfiles.collect(&Host::new(dir.path())).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
    }
}

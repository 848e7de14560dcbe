use super::*;
use crate::collectors::testing::write;

const SERVICE: &str = "[D-BUS Service]\nName=org.example.Thing\nExec=/usr/libexec/thing --system\nUser=root\nSystemdService=thing.service\nnonsense\n[Other]\nName=ignored\n";
const POLICY: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
<allow own="org.example.Thing"/>
  </policy>
  <policy context="default">
<allow send_destination="org.example.Thing"
       send_interface="org.example.Thing.Manager"/>
<allow send_destination="org.example.Thing"/>
<allow send_destination="org.example.Thing"/>
<deny own="org.example.Thing"/>
<allow receive_sender="org.example.Thing"/>
  </policy>
</busconfig>
"#;

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "usr/share/dbus-1/system-services/org.example.Thing.service",
        SERVICE,
    );
    write(
        r,
        "usr/share/dbus-1/system-services/noname.service",
        "[D-BUS Service]\nExec=/bin/x\n",
    );
    write(
        r,
        "usr/share/dbus-1/system.d/org.example.Thing.conf",
        POLICY,
    );
    write(r, "etc/dbus-1/system.d/broken.conf", "<busconfig><policy");
    write(r, "usr/share/dbus-1/system.conf", "<busconfig/>");
    dir
}

#[test]
fn services_policies_and_default_allows() {
    let dir = root();
    let items = DbusServices.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "malformed /usr/share/dbus-1/system-services/noname.service",
            "service org.example.Thing",
            "policy /usr/share/dbus-1/system.conf",
            "policy /etc/dbus-1/system.d/broken.conf",
            "malformed /etc/dbus-1/system.d/broken.conf",
            "policy /usr/share/dbus-1/system.d/org.example.Thing.conf",
            "default allow send_destination=org.example.Thing send_interface=org.example.Thing.Manager",
            "default allow send_destination=org.example.Thing",
            "default allow send_destination=org.example.Thing#2",
        ]
    );
    let s = &items[1].fields;
    assert_eq!(&s["exec"], "/usr/libexec/thing --system");
    assert_eq!(&s["user"], "root");
    assert_eq!(&s["systemd_service"], "thing.service");
    assert_eq!(&s["malformed_lines"], "6");
    assert_eq!(
        &s["file"],
        "/usr/share/dbus-1/system-services/org.example.Thing.service"
    );
    assert_eq!(&items[0].fields["error"], "no Name=");
    assert_eq!(items[2].fields["sha256"].len(), 64);
}

#[test]
fn idle_rescan_is_identical_and_no_dbus_is_no_items() {
    crate::collectors::testing::idle_and_absent(&DbusServices, root().path());
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    #[test]
    fn fuzz_service_and_policy(s in crate::collectors::fuzz::text(SERVICE), p in crate::collectors::fuzz::text(POLICY)) {
        let mut keys = Keys::default();
        let mut out = vec![service(&s, "/s", &mut keys)];
        default_allows(&p, "/p", &mut keys, &mut out);
        crate::collectors::fuzz::assert_printable(&out);
    }
}

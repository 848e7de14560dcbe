use super::*;
use crate::collectors::testing::write;

const KERNEL: &str =
    "/usr/bin/man (enforce)\nsnap.x y (complain)\nunconfined_thing (unconfined)\ngarbage\n";

#[test]
fn loaded_profiles_from_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sys/kernel/security/apparmor/profiles", KERNEL);
    write(
        dir.path(),
        "etc/apparmor.d/usr.bin.man",
        "/usr/bin/man {}\n",
    );
    let items = ApparmorProfiles.collect(&Host::new(dir.path())).unwrap();
    let got: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            let v = i.fields.get("mode").or(i.fields.get("error")).unwrap();
            (i.key.as_str(), v)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("profile /usr/bin/man", "enforce"),
            ("profile snap.x y", "complain"),
            ("profile unconfined_thing", "unconfined"),
            ("malformed garbage", "not NAME (MODE)"),
        ]
    );
}

#[test]
fn profile_files_when_the_kernel_list_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/apparmor.d/usr.bin.man",
        "# flags=(kill) in a comment\nprofile man /usr/bin/man flags=(attach_disconnected, complain) {\n}\n",
    );
    write(r, "etc/apparmor.d/usr.sbin.cupsd", "/usr/sbin/cupsd {\n}\n");
    write(r, "etc/apparmor.d/usr.sbin.cupsd.dpkg-old", "x");
    write(r, "etc/apparmor.d/tunables/global", "x");
    write(
        r,
        "etc/apparmor.d/usr.bin.forced",
        "/usr/bin/forced flags=(kill) {}\n",
    );
    write(r, "etc/apparmor.d/force-complain/usr.bin.forced", "");
    write(r, "etc/apparmor.d/disable/usr.sbin.cupsd", "");
    let items = ApparmorProfiles.collect(&Host::new(r)).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "file usr.bin.forced",
            "file usr.bin.man",
            "file usr.sbin.cupsd"
        ]
    );
    assert_eq!(&items[0].fields["mode"], "complain", "force-complain wins");
    assert_eq!(&items[1].fields["flags"], "attach_disconnected,complain");
    assert_eq!(&items[1].fields["mode"], "complain");
    assert_eq!(&items[2].fields["mode"], "enforce");
    assert_eq!(&items[2].fields["disabled"], "yes");
    assert_eq!(items[2].fields["sha256"].len(), 64);
    let host = Host::new(r);
    assert_eq!(
        ApparmorProfiles.collect(&host).unwrap(),
        ApparmorProfiles.collect(&host).unwrap()
    );
}

#[test]
fn no_apparmor_is_no_items() {
    let empty = tempfile::tempdir().unwrap();
    assert!(
        ApparmorProfiles
            .collect(&Host::new(empty.path()))
            .unwrap()
            .is_empty()
    );
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    #[test]
    fn fuzz_profiles(text in crate::collectors::fuzz::text(KERNEL), file in crate::collectors::fuzz::text("/x flags=(complain) {\n")) {
        crate::collectors::fuzz::assert_printable(&loaded(&text, &mut Keys::default()));
        if let Some(f) = flags(&file) {
            proptest::prop_assert!(!f.chars().any(char::is_control));
        }
    }
}

use super::*;
use crate::collectors::testing::write;

const RULES: &str = "# comment\n\
    ACTION==\"add\", SUBSYSTEM==\"usb\",  RUN+=\"/usr/bin/x --arg \\\"q\\\"\"\n\
    SUBSYSTEM==\"net\", \\\n  RUN{program}+=\"/etc/hook.sh\", PROGRAM=\"/bin/id %k\"\n\
    KERNEL==\"sd*\", IMPORT{program}=\"/lib/udev/ata_id\", IMPORT{builtin}=\"path_id\"\n\
    ENV{X}==\"1\", RUN{builtin}+=\"kmod load $env{MODALIAS}\"\n\
    KERNEL==\"tty*\", MODE=\"0666\"\n\
    KERNEL==\"bad\", RUN+=\"/unclosed\n\
    KERNEL==\"bad\" RUN+= oops\n\
    ACTION==\"add\", RUN+=\"/usr/bin/x --arg \\\"q\\\"\"\n";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "usr/lib/udev/rules.d/60-test.rules", RULES);
    write(
        r,
        "usr/lib/udev/rules.d/70-vendor.rules",
        "RUN+=\"/vendor\"\n",
    );
    write(r, "etc/udev/rules.d/70-vendor.rules", "RUN+=\"/admin\"\n");
    write(
        r,
        "usr/lib/udev/rules.d/80-masked.rules",
        "RUN+=\"/never\"\n",
    );
    std::os::unix::fs::symlink("/dev/null", r.join("etc/udev/rules.d/80-masked.rules")).unwrap();
    dir
}

use crate::collectors::testing::fields as by;

#[test]
fn programs_matches_precedence_and_malformed_lines() {
    let dir = root();
    let items = UdevRules.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "file 60-test.rules",
            "60-test.rules RUN+= /usr/bin/x --arg \"q\"",
            "60-test.rules RUN{program}+= /etc/hook.sh",
            "60-test.rules PROGRAM= /bin/id %k",
            "60-test.rules IMPORT{program}= /lib/udev/ata_id",
            "60-test.rules RUN{builtin}+= kmod load $env{MODALIAS}",
            "malformed /usr/lib/udev/rules.d/60-test.rules: KERNEL==\"bad\", RUN+=\"/unclosed",
            "malformed /usr/lib/udev/rules.d/60-test.rules: KERNEL==\"bad\" RUN+= oops",
            "60-test.rules RUN+= /usr/bin/x --arg \"q\"#2",
            "file 70-vendor.rules",
            "70-vendor.rules RUN+= /admin",
            "file 80-masked.rules",
        ]
    );
    let run = by(&items, "60-test.rules RUN+= /usr/bin/x --arg \"q\"");
    assert_eq!(&run["match"], "ACTION==\"add\", SUBSYSTEM==\"usb\"");
    assert_eq!(&run["file"], "/usr/lib/udev/rules.d/60-test.rules");
    assert_eq!(
        &by(&items, "60-test.rules RUN{program}+= /etc/hook.sh")["match"],
        "SUBSYSTEM==\"net\""
    );
    assert_eq!(
        &by(
            &items,
            "60-test.rules RUN{builtin}+= kmod load $env{MODALIAS}"
        )["builtin"],
        "yes"
    );
    assert_eq!(&by(&items, "file 60-test.rules")["rules"], "8");
    assert_eq!(
        &by(&items, "file 70-vendor.rules")["file"],
        "/etc/udev/rules.d/70-vendor.rules"
    );
    let bad = by(
        &items,
        "malformed /usr/lib/udev/rules.d/60-test.rules: KERNEL==\"bad\" RUN+= oops",
    );
    assert_eq!(
        (&bad["line"], &bad["error"]),
        ("9", "expected a double-quoted value")
    );
}

#[test]
fn a_mask_hides_the_vendor_file() {
    let dir = root();
    let items = UdevRules.collect(&Host::new(dir.path())).unwrap();
    let masked = by(&items, "file 80-masked.rules");
    assert_eq!(&masked["masked"], "yes");
    assert_eq!(&masked["file"], "/etc/udev/rules.d/80-masked.rules");
    assert!(!items.iter().any(|i| i.key.contains("/never")));
}

#[test]
fn idle_rescan_is_identical_and_no_udev_is_no_items() {
    crate::collectors::testing::idle_and_absent(&UdevRules, root().path());
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    #[test]
    fn fuzz_rules(text in crate::collectors::fuzz::text(RULES)) {
        let mut out = Vec::new();
        parse(&text, "x.rules", "/x.rules", &mut Keys::default(), &mut out);
        crate::collectors::fuzz::assert_printable(&out);
    }
}

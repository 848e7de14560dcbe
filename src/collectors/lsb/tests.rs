use super::*;
use crate::model::Severity;

use crate::collectors::testing::write;

#[test]
fn os_release_values_are_unquoted() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/os-release",
        "# comment\n\
         PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
         VERSION_ID=\"12\"\n\
         ID=debian\n\
         QUOTED='single $quoted'\n\
         ESCAPED=\"say \\\"hi\\\" \\\\ \\$HOME\"\n\
         not a line\n\
         1BAD=x\n\
         UNCLOSED=\"oops\n\
         \n",
    );
    write(
        dir.path(),
        "etc/lsb-release",
        "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nID=ignored-dup\n",
    );
    let items = LsbVersion.collect(&Host::new(dir.path())).unwrap();
    let get = |k: &str| {
        items
            .iter()
            .find(|i| i.key == k)
            .map(|i| &i.fields["value"])
    };
    assert_eq!(get("PRETTY_NAME"), Some("Debian GNU/Linux 12 (bookworm)"));
    assert_eq!(get("VERSION_ID"), Some("12"));
    assert_eq!(get("ID"), Some("debian"), "os-release wins");
    assert_eq!(get("QUOTED"), Some("single $quoted"));
    assert_eq!(get("ESCAPED"), Some("say \"hi\" \\\\ $HOME"));
    assert_eq!(get("DISTRIB_RELEASE"), Some("22.04"));
    assert_eq!(get("UNCLOSED"), None);
    assert_eq!(get("1BAD"), None);
    assert_eq!(items.len(), 7);
}

#[test]
fn usr_lib_fallback_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        LsbVersion.collect(&Host::new(dir.path())),
        Err(CollectError::Unavailable(m)) if m.contains("os-release")
    ));
    write(dir.path(), "usr/lib/os-release", "VERSION_ID=11\n");
    let items = LsbVersion.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(items[0].key, "VERSION_ID");
    assert_eq!(&items[0].fields["value"], "11");
}

#[test]
fn messages() {
    let change = Change {
        collector: "lsb_version".into(),
        kind: ChangeKind::Modified,
        key: "VERSION_ID".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: Some([("value".to_string(), "11".to_string())].into()),
        after: Some([("value".to_string(), "12".to_string())].into()),
    };
    assert_eq!(
        LsbVersion.message(&change),
        "OS release field VERSION_ID changed from 11 to 12"
    );
    assert_eq!(crate::rules::testing::severity(&change), Severity::Low);
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated os-release and lsb-release never panic the
    /// parser or the collector.
    #[test]
    fn fuzz_os_release(text in crate::collectors::fuzz::text(
        "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID='12'\nPRETTY_NAME=\"a \\\"b\\\" $c\"\n# x\nBAD NAME=1\nX=\"open\n"
    )) {
        let _ = parse(&text);
        let dir = tempfile::tempdir().unwrap();
        crate::collectors::testing::write(dir.path(), "etc/os-release", &text);
        crate::collectors::testing::write(dir.path(), "etc/lsb-release", &text);
        let items = LsbVersion.collect(&Host::new(dir.path())).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
    }
}

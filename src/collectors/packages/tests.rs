use super::*;
use crate::model::Severity;

const STATUS: &str = "Package: dpkg\n\
Status: install ok installed\n\
Priority: required\n\
Architecture: amd64\n\
Version: 1.21.22\n\
Description: Debian package management system\n \
This package provides the low-level infrastructure.\n \
.\n \
Package: not-a-real-field-just-continuation\n\
\n\
Package: libc6\n\
Status: install ok installed\n\
Architecture: amd64\n\
Multi-Arch: same\n\
Version: 2.36-9+deb12u4\n\
Conffiles:\n \
/etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab\n\
\n\
Package: oldtool\n\
Status: deinstall ok config-files\n\
Architecture: all\n\
Version: 0.9-1\n\
\n\
Package: purged\n\
Status: purge ok not-installed\n\
Architecture: amd64\n\
\n\
Package: broken\n\
Status: install reinstreq half-installed\n\
Architecture: amd64\n\
Version: 3.0\n\
\n\
this stanza has no package field\n\
Version: 1\n\
\n\
Package: virtualbox-5.1\n\
Status: install ok installed\n\
Architecture: amd64\n\
Version: 5.1.26\n";

fn root_with_status(status: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
    if let Some(s) = status {
        std::fs::write(dir.path().join("var/lib/dpkg/status"), s).unwrap();
    }
    dir
}

#[test]
fn dpkg_status_stanzas() {
    let dir = root_with_status(Some(STATUS));
    let items = ListPackages.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["dpkg", "libc6:amd64", "oldtool", "broken", "virtualbox-5.1"]
    );
    assert_eq!(&items[0].fields["version"], "1.21.22");
    assert_eq!(&items[0].fields["arch"], "amd64");
    assert_eq!(&items[0].fields["status"], "install ok installed");
    assert_eq!(&items[1].fields["version"], "2.36-9+deb12u4");
    assert_eq!(&items[2].fields["status"], "deinstall ok config-files");
    assert_eq!(
        &items[3].fields["status"],
        "install reinstreq half-installed"
    );
    assert!(items.iter().all(|i| i.fields.len() == 3), "{items:?}");
}

#[test]
fn no_package_database_is_unavailable() {
    let dir = root_with_status(None);
    match ListPackages.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => {
            assert!(m.contains("no package database"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rpm_output_merges_versions_of_one_name() {
    let out = b"bash\t5.1.8-6.el9\tx86_64\n\
kernel\t5.14.0-1.el9\tx86_64\n\
kernel\t5.14.0-2.el9\tx86_64\n\
glibc\t2.34-60\ti686\n\
glibc\t2.34-60\tx86_64\n\
gpg-pubkey\t1:fd431d51-4ae0493b\t(none)\n\
malformed line\n";
    let items = parse_rpm(out);
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["bash", "glibc", "gpg-pubkey", "kernel"]);
    assert_eq!(&items[1].fields["arch"], "i686, x86_64");
    assert_eq!(&items[1].fields["version"], "2.34-60");
    assert!(!items[2].fields.contains_key("arch"));
    assert_eq!(&items[3].fields["version"], "5.14.0-1.el9, 5.14.0-2.el9");
}

#[test]
fn live_host_lists_dpkg() {
    let host = Host::new("/");
    if !host.path("/var/lib/dpkg/status").exists() {
        return;
    }
    let items = ListPackages.collect(&host).unwrap();
    let dpkg = items
        .iter()
        .find(|i| i.key == "dpkg")
        .expect("dpkg is installed");
    assert!(dpkg.fields["status"].ends_with("installed"));
    assert!(items.len() > 50, "{} packages", items.len());
}

fn change(kind: ChangeKind, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
    crate::collectors::testing::change("list_packages", kind, "virtualbox-5.1", before, after)
}

#[test]
fn messages_and_severities() {
    let added = change(
        ChangeKind::Added,
        &[],
        &[
            ("version", "5.1.26"),
            ("status", "install ok installed"),
            ("arch", "amd64"),
        ],
    );
    assert_eq!(
        ListPackages.message(&added),
        "package virtualbox-5.1 version 5.1.26 installed"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::Low);
    let up = change(
        ChangeKind::Modified,
        &[("version", "1.0")],
        &[("version", "1.1")],
    );
    assert_eq!(
        ListPackages.message(&up),
        "package virtualbox-5.1 version changed from 1.0 to 1.1"
    );
    assert_eq!(crate::rules::testing::severity(&up), Severity::Info);
    let st = change(
        ChangeKind::Modified,
        &[("status", "install ok installed")],
        &[("status", "deinstall ok config-files")],
    );
    assert_eq!(
        ListPackages.message(&st),
        "package virtualbox-5.1 status changed from install ok installed to deinstall ok config-files"
    );
    assert_eq!(crate::rules::testing::severity(&st), Severity::Low);
    let gone = change(ChangeKind::Removed, &[("version", "1.0")], &[]);
    assert_eq!(
        ListPackages.message(&gone),
        "package virtualbox-5.1 removed"
    );
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated dpkg status files never panic the parser.
    #[test]
    fn fuzz_dpkg_status(status in crate::collectors::fuzz::text(STATUS)) {
        crate::collectors::fuzz::assert_printable(&parse_dpkg_status(&status));
    }

    /// The same for `rpm -qa` output.
    #[test]
    fn fuzz_rpm_output(out in crate::collectors::fuzz::bytes(
        "bash\t5.1.8-6.el9\tx86_64\nkernel\t1:5.14.0-1\tx86_64\n(none)\t\t\n"
    )) {
        crate::collectors::fuzz::assert_printable(&parse_rpm(&out));
    }
}

use super::*;

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("var/lib/dpkg/info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("iproute2.list"),
        "/.\n/bin\n/bin/ip\n/sbin/tc\n/usr/share/doc/iproute2/README\n",
    )
    .unwrap();
    std::fs::write(
        info.join("libc6:amd64.list"),
        "/.\n/lib/x86_64-linux-gnu/libc.so.6\n/usr/bin/ldd\n",
    )
    .unwrap();
    std::fs::write(info.join("coreutils.list"), "/.\n/usr/bin/ls\n/bin\n").unwrap();
    let mut odd = b"/.\n/usr/bin/odd\xff\n".to_vec();
    odd.extend_from_slice(b"relative/ignored\n");
    std::fs::write(info.join("odd.list"), odd).unwrap();
    // Not a file list: ignored.
    std::fs::write(info.join("iproute2.md5sums"), "abc  usr/bin/md5only\n").unwrap();
    dir
}

#[test]
fn setuid_files_name_their_package_or_none() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fixture();
    let bin = dir.path().join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["ip", "dropped-by-hand"] {
        std::fs::write(bin.join(name), b"x").unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o4755)).unwrap();
    }
    let items = crate::collectors::by_name("list_suids")
        .unwrap()
        .collect(&Host::new(dir.path()))
        .unwrap();
    let package = |key: &str| {
        items
            .iter()
            .find(|i| i.key == key)
            .and_then(|i| i.fields.get("package"))
    };
    assert_eq!(package("/usr/bin/ip"), Some("iproute2"));
    assert_eq!(package("/usr/bin/dropped-by-hand"), Some("none"));

    let bare = tempfile::tempdir().unwrap();
    let mut fields = crate::model::Fields::new();
    attribute(&Host::new(bare.path()), "/usr/bin/ip", &mut fields);
    assert!(fields.is_empty(), "no package database: no package field");
}

#[test]
fn owners_with_merged_usr_aliases() {
    let dir = fixture();
    let host = Host::new(dir.path());
    assert!(has_database(&host));
    assert_eq!(owner(&host, "/bin/ip").as_deref(), Some("iproute2"));
    assert_eq!(owner(&host, "/usr/bin/ip").as_deref(), Some("iproute2"));
    assert_eq!(owner(&host, "/usr/sbin/tc").as_deref(), Some("iproute2"));
    assert_eq!(
        owner(&host, "/usr/lib/x86_64-linux-gnu/libc.so.6").as_deref(),
        Some("libc6:amd64")
    );
    assert_eq!(owner(&host, "/bin/ldd").as_deref(), Some("libc6:amd64"));
    assert_eq!(owner(&host, "/usr/bin/ls").as_deref(), Some("coreutils"));
    assert_eq!(owner(&host, "/bin").as_deref(), Some("coreutils,iproute2"));
    assert_eq!(owner(&host, "/usr/bin/md5only"), None);
    assert_eq!(owner(&host, "/usr/local/bin/ip"), None);
    assert_eq!(
        owner(&host, "/usr/share/doc/iproute2/README").as_deref(),
        Some("iproute2")
    );
    // No alias outside the merged directories.
    assert_eq!(owner(&host, "/share/doc/iproute2/README"), None);
    // Non-UTF-8 names are looked up by their escaped display text.
    let odd = host.display(
        &dir.path()
            .join(std::ffi::OsStr::from_bytes(b"usr/bin/odd\xff")),
    );
    assert_eq!(owner(&host, &odd).as_deref(), Some("odd"));
    assert!(owner(&host, "/").unwrap().contains("odd"));
}

#[test]
fn no_database_owns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(dir.path());
    assert!(!has_database(&host));
    assert_eq!(owner(&host, "/bin/ip"), None);
}

#[test]
fn aliases() {
    assert_eq!(alias("/usr/bin/x").as_deref(), Some("/bin/x"));
    assert_eq!(alias("/sbin/x").as_deref(), Some("/usr/sbin/x"));
    assert_eq!(alias("/lib64/ld.so").as_deref(), Some("/usr/lib64/ld.so"));
    assert_eq!(alias("/usr/libexec/x"), None);
    assert_eq!(alias("/etc/passwd"), None);
    assert_eq!(alias("/usr/share/x"), None);
}

#[test]
fn live_dpkg_database_load_time() {
    let host = Host::new("/");
    if !has_database(&host) {
        return;
    }
    let fresh = Host::new("/");
    let start = std::time::Instant::now();
    assert_eq!(owner(&fresh, "/usr/bin/dpkg").as_deref(), Some("dpkg"));
    eprintln!("dpkg file lists loaded in {:?}", start.elapsed());
    // Merged /usr: dpkg records /bin/ls, the file is found at /usr/bin/ls.
    assert_eq!(owner(&fresh, "/usr/bin/ls").as_deref(), Some("coreutils"));
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated dpkg `.list` files never panic the loader, and
    /// whatever it records is looked up without panicking.
    #[test]
    fn fuzz_dpkg_file_lists(
        list in crate::collectors::fuzz::bytes("/.\n/bin\n/bin/ip\n/usr/sbin/tc\n/usr/lib/x\n"),
        stem in "[a-z0-9.+:-]{0,12}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rel = format!("var/lib/dpkg/info/{stem}.list");
        crate::collectors::testing::write(dir.path(), &rel, &list);
        let host = Host::new(dir.path());
        proptest::prop_assert!(has_database(&host));
        for line in String::from_utf8_lossy(&list).lines() {
            let _ = owner(&host, line);
        }
        let _ = owner(&host, "/usr/bin/ip");
    }
}

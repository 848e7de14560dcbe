use super::*;
use crate::model::Fields;
use crate::model::{ChangeKind, Severity};

#[test]
fn boot_tree_is_listed_with_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let boot = dir.path().join("boot");
    std::fs::create_dir_all(boot.join("efi/EFI/debian")).unwrap();
    std::fs::write(boot.join("vmlinuz-6.1.0"), b"kernel image").unwrap();
    std::fs::write(boot.join("efi/EFI/debian/grubx64.efi"), b"loader").unwrap();
    std::os::unix::fs::symlink("vmlinuz-6.1.0", boot.join("vmlinuz")).unwrap();
    let items = CheckBoot.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/boot",
            "/boot/efi",
            "/boot/efi/EFI",
            "/boot/efi/EFI/debian",
            "/boot/efi/EFI/debian/grubx64.efi",
            "/boot/vmlinuz",
            "/boot/vmlinuz-6.1.0"
        ]
    );
    let loader = &items[4];
    assert_eq!(
        loader.fields["sha256"],
        crate::sources::common::sha256_bytes(b"loader")
    );
    assert_eq!(&loader.fields["type"], "file");
    assert_eq!(&items[5].fields["target"], "vmlinuz-6.1.0");
}

#[test]
fn missing_boot_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = CheckBoot.collect(&Host::new(dir.path())).unwrap_err();
    assert!(
        matches!(err, CollectError::Unavailable(ref m) if m.contains("/boot")),
        "{err}"
    );
}

#[test]
fn severities() {
    let mk = |kind, perm: &str| Change {
        collector: "check_boot".into(),
        kind,
        key: "/boot/vmlinuz".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: Some(Fields::from([("perm", "-rw-r--r--")])),
        after: Some(Fields::from([("perm", perm)])),
    };
    assert_eq!(
        crate::rules::testing::severity(&mk(ChangeKind::Modified, "-rw-rw-rw-")),
        Severity::High
    );
    assert_eq!(
        crate::rules::testing::severity(&mk(ChangeKind::Added, "-rw-r--r--")),
        Severity::Medium
    );
    assert_eq!(
        crate::rules::testing::severity(&mk(ChangeKind::Removed, "-rw-rw-rw-")),
        Severity::Low
    );
}

use super::*;
use crate::model::Severity;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A hand-built vfs_cap_data: revision magic (| effective), then (permitted, inheritable)
/// pairs, then the v3 root id.
fn caps_bytes(magic: u32, pairs: &[(u32, u32)], rootid: Option<u32>) -> Vec<u8> {
    let mut v = magic.to_le_bytes().to_vec();
    for (p, i) in pairs {
        v.extend_from_slice(&p.to_le_bytes());
        v.extend_from_slice(&i.to_le_bytes());
    }
    if let Some(r) = rootid {
        v.extend_from_slice(&r.to_le_bytes());
    }
    v
}

#[test]
fn decodes_revisions_flags_and_high_words() {
    let ping = caps_bytes(0x0200_0001, &[(1 << 13, 0), (0, 0)], None);
    assert_eq!(decode_caps(&ping).unwrap(), "cap_net_raw=ep");
    let two = caps_bytes(0x0200_0001, &[((1 << 12) | (1 << 13), 0), (0, 0)], None);
    assert_eq!(decode_caps(&two).unwrap(), "cap_net_admin,cap_net_raw=ep");
    let mixed = caps_bytes(
        0x0200_0000,
        &[(1 << 10, 1 << 10 | 1), ((1 << 7) | (1 << 14), 0)],
        None,
    );
    assert_eq!(
        decode_caps(&mixed).unwrap(),
        "cap_chown=i cap_net_bind_service=ip cap_bpf,cap_46=p"
    );
    let v3 = caps_bytes(0x0300_0001, &[(1 << 21, 0), (0, 0)], Some(100000));
    assert_eq!(
        decode_caps(&v3).unwrap(),
        "cap_sys_admin=ep [rootid=100000]"
    );
    let v1 = caps_bytes(0x0100_0000, &[(1, 0)], None);
    assert_eq!(decode_caps(&v1).unwrap(), "cap_chown=p");
    assert_eq!(decode_caps(&[1, 2, 3]), None);
    assert_eq!(
        decode_caps(&caps_bytes(0x0500_0000, &[(1, 0), (0, 0)], None)),
        None
    );
    assert_eq!(decode_caps(&v3[..20]), None, "v3 without rootid");
    assert_eq!(cap_name(40), "cap_checkpoint_restore");
}

fn set_caps(path: &Path, value: &[u8]) {
    let mut c = path.as_os_str().as_bytes().to_vec();
    c.push(0);
    // SAFETY: NUL-terminated path and name; value is a valid buffer of its length.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr().cast(),
            c"security.capability".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "lsetxattr: {}", std::io::Error::last_os_error());
}

#[test]
fn walk_finds_capabilities_on_executables_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    let ping = root.join("usr/bin/ping");
    let data = root.join("usr/bin/data");
    for p in [&ping, &data] {
        std::fs::write(p, b"x").unwrap();
    }
    std::fs::set_permissions(&ping, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o644)).unwrap();
    let v2 = caps_bytes(0x0200_0001, &[((1 << 12) | (1 << 13), 0), (0, 0)], None);
    set_caps(&ping, &v2);
    set_caps(&data, &v2); // not executable: never looked at
    let host = Host::new(root);
    let items = ListFileCaps.collect(&host).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].key, "/usr/bin/ping");
    assert_eq!(&items[0].fields["caps"], "cap_net_admin,cap_net_raw=ep");
    assert_eq!(&items[0].fields["perm"], "-rwxr-xr-x");

    let change = Change {
        collector: "list_file_caps".into(),
        kind: ChangeKind::Added,
        key: items[0].key.clone(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some(items[0].fields.clone()),
    };
    assert_eq!(
        ListFileCaps.message(&change),
        "file with capabilities /usr/bin/ping got created (caps=cap_net_admin,cap_net_raw=ep, owner=0, group=0, perm=-rwxr-xr-x)"
    );
    assert_eq!(crate::rules::testing::severity(&change), Severity::High);
}

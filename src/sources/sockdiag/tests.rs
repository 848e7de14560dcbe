use super::*;
use std::os::unix::ffi::OsStrExt;

/// A real listener whose path holds a newline and a forged /proc/net/unix line comes back
/// as one socket with its exact name.
#[test]
fn live_listener_names_are_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let forged = b"a\n0000000000000009: 00000002 00000000 00010000 0001 01  99 @forged";
    let path = dir.path().join(std::ffi::OsStr::from_bytes(forged));
    let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let all = match unix_listeners() {
        Ok(all) => all,
        Err(e) => {
            eprintln!("sock_diag not available here ({e}): nothing to check");
            return;
        }
    };
    let want = path.as_os_str().as_bytes();
    let mine: Vec<&Listener> = all
        .iter()
        .filter(|l| l.name.as_deref() == Some(want))
        .collect();
    assert_eq!(mine.len(), 1, "{all:?}");
    assert_eq!(mine[0].kind, 1);
    assert!(
        !all.iter()
            .any(|l| l.name.as_deref() == Some(b"@forged".as_slice())),
        "a forged entry appeared"
    );
    // Through the collector on the live host: the exact name, escaped, and no forgery.
    let items = crate::collectors::by_name("list_unix_ports")
        .unwrap()
        .collect(&crate::host::Host::new("/"))
        .unwrap();
    let key = crate::host::escape_bytes(want);
    assert!(items.iter().any(|i| i.key == key), "{key} missing");
    assert!(
        !items.iter().any(|i| i.key == "@forged"),
        "forged listener reported"
    );
}

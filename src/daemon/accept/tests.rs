use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_write_that_makes_no_progress_times_out() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut w = WriteStall::new(a, Duration::from_millis(200));
    let chunk = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let err = loop {
        if let Err(e) = w.write(&chunk).await {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never timed out");
    };
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("read nothing"), "{err}");
    // A reader that keeps up never sees the timeout.
    let mut buf = vec![0u8; 1024 * 1024];
    let _ = b.read(&mut buf).await.unwrap();
    assert!(w.write(&chunk[..10]).await.is_ok());
}

#[test]
fn peers_are_classed_by_uid_and_admin_group() {
    let adm = AdminGroup {
        name: "adm".into(),
        gid: 4,
    };
    let peer = |uid, groups: &[u32]| Peer {
        uid,
        gid: 100,
        pid: None,
        groups: Some(groups.to_vec()),
    };
    assert_eq!(class_of(&peer(0, &[]), Some(&adm)), Class::Root);
    assert_eq!(class_of(&peer(1000, &[4]), Some(&adm)), Class::Admin);
    assert_eq!(class_of(&peer(1000, &[27]), Some(&adm)), Class::User);
    assert_eq!(class_of(&peer(1000, &[4]), None), Class::User);
}

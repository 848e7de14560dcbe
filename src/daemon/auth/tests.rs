use super::*;

fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
    Peer {
        uid,
        gid,
        pid: None,
        groups: Some(groups.to_vec()),
    }
}

#[test]
fn root_and_admin_group_members_may_scan() {
    let adm = AdminGroup {
        name: "adm".into(),
        gid: 4,
    };
    assert!(check_admin(&peer(0, 0, &[]), None).is_ok());
    assert!(check_admin(&peer(1000, 1000, &[4]), Some(&adm)).is_ok());
    assert!(check_admin(&peer(1000, 4, &[]), Some(&adm)).is_ok());
    let e = check_admin(&peer(1000, 1000, &[27]), Some(&adm)).unwrap_err();
    assert!(e.contains("group adm") && e.contains("uid 1000"), "{e}");
    let e = check_admin(&peer(1000, 1000, &[4]), None).unwrap_err();
    assert!(e.contains("root"), "{e}");
    assert!(check_admin(&Peer::unknown(), Some(&adm)).is_err());
}

#[test]
fn peer_groups_of_a_socket_pair_are_ours() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let groups = peer_groups(a.as_raw_fd()).expect("SO_PEERGROUPS works");
    let mut ours: Vec<u32> = nix::unistd::getgroups()
        .unwrap()
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    let mut got = groups.clone();
    ours.sort();
    got.sort();
    assert_eq!(got, ours);
}

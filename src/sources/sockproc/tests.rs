use super::*;
use std::os::unix::fs::symlink;

#[test]
fn socket_links_parse() {
    assert_eq!(socket_inode(b"socket:[1161]"), Some(1161));
    assert_eq!(socket_inode(b"pipe:[1161]"), None);
    assert_eq!(socket_inode(b"socket:[x]"), None);
    assert_eq!(socket_inode(b"/dev/null"), None);
}

#[test]
fn fake_proc_maps_inodes_to_sorted_names() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |pid: &str, comm: &str, links: &[(&str, &str)]| {
        let fd = dir.path().join("proc").join(pid).join("fd");
        std::fs::create_dir_all(&fd).unwrap();
        std::fs::write(dir.path().join("proc").join(pid).join("comm"), comm).unwrap();
        for (n, t) in links {
            symlink(t, fd.join(n)).unwrap();
        }
    };
    mk("10", "sshd\n", &[("3", "socket:[500]"), ("4", "/dev/null")]);
    mk(
        "11",
        "nginx\n",
        &[("3", "socket:[500]"), ("5", "socket:[501]")],
    );
    mk("12", "bash\n", &[("0", "pipe:[9]")]);
    std::fs::create_dir_all(dir.path().join("proc/sys")).unwrap();
    let host = Host::new(dir.path());
    let owners = socket_owners(&host);
    assert_eq!(owners.names(500).as_deref(), Some("nginx,sshd"));
    assert_eq!(owners.names(501).as_deref(), Some("nginx"));
    assert_eq!(owners.names(9), None);
    // Computed once per scan.
    assert!(Arc::ptr_eq(&owners, &socket_owners(&host)));
}

#[test]
fn live_walk_finds_our_own_socket_and_survives_refusals() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let link = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&listener)
    ))
    .unwrap();
    let inode = socket_inode(link.as_os_str().as_encoded_bytes()).unwrap();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let owners = scan(&Host::new("/"));
    assert_eq!(owners.names(inode).as_deref(), Some(comm.trim_end()));
}

use super::*;
use crate::model::Severity;

use crate::collectors::testing::write;

fn status(name: &str, ppid: u32, uid: &str, cap: &str) -> String {
    format!("Name:\t{name}\nUmask:\t0022\nPPid:\t{ppid}\nUid:\t{uid}\nCapEff:\t{cap}\n")
}

#[test]
fn fixture_proc_tree() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n",
    );
    write(r, "proc/sys/kernel/cap_last_cap", "40\n");
    write(
        r,
        "proc/2/status",
        status("kthreadd", 0, "0\t0\t0\t0", "000001ffffffffff"),
    );
    write(
        r,
        "proc/15/status",
        status("kworker/0:1", 2, "0\t0\t0\t0", "000001ffffffffff"),
    );
    write(
        r,
        "proc/100/status",
        status("nginx", 1, "0\t0\t0\t0", "000001ffffffffff"),
    );
    write(
        r,
        "proc/101/status",
        status("nginx", 100, "33\t33\t33\t33", "0000000000000000"),
    );
    write(
        r,
        "proc/102/status",
        status("nginx", 100, "33\t33\t33\t33", "0000000000000000"),
    );
    write(
        r,
        "proc/200/status",
        status("passwd", 1, "33\t0\t0\t0", "0000000000003000"),
    );
    write(r, "proc/300/status", "Name:\tbroken\n");
    write(r, "proc/self/status", "not a pid dir\n");
    std::os::unix::fs::symlink("/usr/sbin/nginx (deleted)", r.join("proc/100/exe")).unwrap();
    std::os::unix::fs::symlink("/usr/sbin/nginx", r.join("proc/101/exe")).unwrap();
    let items = ListProcesses.collect(&Host::new(r)).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["root:nginx", "www-data:nginx", "www-data:passwd"]);
    assert_eq!(&items[0].fields["exe"], "/usr/sbin/nginx");
    assert_eq!(&items[0].fields["capabilities"], "full");
    assert_eq!(&items[1].fields["capabilities"], "none");
    assert!(!items[1].fields.contains_key("effective_user"));
    assert_eq!(&items[2].fields["effective_user"], "root");
    assert_eq!(&items[2].fields["capabilities"], "0000000000003000");
    assert!(!items[2].fields.contains_key("exe"));
}

#[test]
fn no_proc_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        ListProcesses.collect(&Host::new(dir.path())),
        Err(CollectError::Unavailable(m)) if m.contains("proc")
    ));
}

#[test]
fn live_finds_this_test_process() {
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let name = me
        .lines()
        .find_map(|l| l.strip_prefix("Name:"))
        .unwrap()
        .trim()
        .to_string();
    let host = Host::new("/");
    let user = host.user_name(nix::unistd::getuid().as_raw());
    let items = ListProcesses.collect(&host).unwrap();
    let key = format!("{user}:{}", escape_bytes(name.as_bytes()));
    let item = items
        .iter()
        .find(|i| i.key == key)
        .unwrap_or_else(|| panic!("{key} missing"));
    let exe = std::env::current_exe().unwrap();
    assert!(
        item.fields["exe"].contains(&escape_os(exe.as_os_str())),
        "{item:?}"
    );
    if nix::unistd::geteuid().is_root() {
        assert_eq!(user, "root");
        assert_ne!(&item.fields["capabilities"], "none");
    }
    assert!(
        items
            .iter()
            .all(|i| !i.key.contains("kthreadd") && !i.key.contains("kworker"))
    );
}

#[test]
fn messages() {
    let c = Change {
        collector: "list_processes".into(),
        kind: ChangeKind::Added,
        key: "root:sshd".into(),
        message: String::new(),
        severity: Severity::Info,
        rule: None,
        before: None,
        after: Some([("exe".to_string(), "/usr/sbin/sshd".to_string())].into()),
    };
    assert_eq!(ListProcesses.message(&c), "process sshd (root) started");
    assert_eq!(crate::rules::testing::severity(&c), Severity::Low);
    let stopped = Change {
        kind: ChangeKind::Removed,
        ..c
    };
    assert_eq!(
        ListProcesses.message(&stopped),
        "process sshd (root) stopped"
    );
}

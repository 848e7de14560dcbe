use super::*;
use crate::collectors::by_name;

fn map() -> PathMap {
    let list: Vec<&'static dyn Collector> = [
        "check_etc",
        "sudo_rules",
        "ssh_access",
        "list_suids",
        "cron_jobs",
    ]
    .iter()
    .map(|n| by_name(n).unwrap())
    .collect();
    PathMap::new(
        Path::new("/"),
        &list,
        vec![PathBuf::from("/var/lib/dawgmon")],
    )
}

#[test]
fn paths_map_to_the_collectors_that_declared_them() {
    let m = map();
    let c = |p: &str| {
        m.collectors_for(Path::new(p))
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(c("/etc/sudoers.d/x"), ["check_etc", "sudo_rules"]);
    assert_eq!(c("/home/bob/.ssh/authorized_keys"), ["ssh_access"]);
    assert_eq!(c("/home/bob/notes"), Vec::<&str>::new());
    assert_eq!(c("/etc/cron.d/job"), ["check_etc", "cron_jobs"]);
    assert_eq!(c("/var/tmp/x"), Vec::<&str>::new());
    assert_eq!(m.setid, ["list_suids"]);
    assert!(m.observers.contains(&"sudo_rules") && !m.observers.contains(&"check_etc"));
    assert!(
        m.inside(Path::new("/var/lib/dawgmon/dawgmon.db-wal"))
            .is_none()
    );
}

#[test]
fn glob_matches_within_one_name() {
    assert!(glob("rc*.d", "rc2.d"));
    assert!(glob("*", "bob"));
    assert!(!glob("rc*.d", "rc2.dx"));
}

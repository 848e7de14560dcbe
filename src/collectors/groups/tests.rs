use super::*;
use crate::model::Severity;

const GROUP: &str = "root:x:0:\n\
    sudo:x:27:bob,alice\n\
    not a group line\n\
    badgid:x:zz:\n\
    docker:x:999:\n\
    legacy::1500:\n\
    withpw:x:1600:\n\
    sudo:x:28:mallory\n";

const GSHADOW: &str = "root:*::\n\
    sudo:*:carol:bob,alice\n\
    junk\n\
    withpw:$6$salt$GroupHashSecretValue::\n";

fn root_with(group: Option<&str>, gshadow: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    if let Some(g) = group {
        std::fs::write(dir.path().join("etc/group"), g).unwrap();
    }
    if let Some(g) = gshadow {
        std::fs::write(dir.path().join("etc/gshadow"), g).unwrap();
    }
    dir
}

#[test]
fn groups_with_gshadow_and_malformed_lines() {
    let dir = root_with(Some(GROUP), Some(GSHADOW));
    let items = CheckGroups.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["root", "sudo", "docker", "legacy", "withpw"]);
    let sudo = &items[1].fields;
    assert_eq!(&sudo["gid"], "27", "the first sudo entry wins");
    assert_eq!(&sudo["members"], "alice,bob", "members are sorted");
    assert_eq!(&sudo["admins"], "carol");
    assert_eq!(&sudo["password"], "locked");
    assert!(!items[2].fields.contains_key("members"));
    assert!(
        !items[2].fields.contains_key("password"),
        "no gshadow entry"
    );
    assert_eq!(&items[3].fields["password"], "none");
    let withpw = &items[4].fields;
    assert_eq!(&withpw["password"], "set");
    assert_eq!(withpw["password_fingerprint"].len(), 16);
    let all = serde_json::to_string(&items).unwrap();
    assert!(!all.contains("GroupHashSecretValue"), "{all}");
}

#[test]
fn missing_group_file_is_unavailable() {
    let dir = root_with(None, Some(GSHADOW));
    assert!(matches!(
        CheckGroups.collect(&Host::new(dir.path())),
        Err(CollectError::Unavailable(m)) if m.contains("etc/group")
    ));
    // gshadow is optional.
    let dir = root_with(Some(GROUP), None);
    assert_eq!(
        CheckGroups.collect(&Host::new(dir.path())).unwrap().len(),
        5
    );
}

fn change(key: &str, kind: ChangeKind, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
    crate::collectors::testing::change("check_groups", kind, key, before, after)
}

#[test]
fn messages_and_severities() {
    let added = change(
        "vboxusers",
        ChangeKind::Added,
        &[],
        &[("gid", "998"), ("password", "locked")],
    );
    assert_eq!(
        CheckGroups.message(&added),
        "group vboxusers added (gid=998)"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::Low);
    let sudo = change(
        "sudo",
        ChangeKind::Modified,
        &[("members", "a")],
        &[("members", "a,bob")],
    );
    assert_eq!(
        CheckGroups.message(&sudo),
        "group sudo changed: members from a to a,bob"
    );
    assert_eq!(crate::rules::testing::severity(&sudo), Severity::High);
    let first = change("docker", ChangeKind::Modified, &[], &[("members", "eve")]);
    assert_eq!(crate::rules::testing::severity(&first), Severity::High);
    let left = change(
        "sudo",
        ChangeKind::Modified,
        &[("members", "a,bob")],
        &[("members", "a")],
    );
    assert_eq!(crate::rules::testing::severity(&left), Severity::Info);
    // The last member leaving is not growth (before the rules engine it counted as such).
    let emptied = change(
        "sudo",
        ChangeKind::Modified,
        &[("members", "a")],
        &[("members", "")],
    );
    assert_eq!(crate::rules::testing::severity(&emptied), Severity::Info);
    let new_docker = crate::rules::testing::change(
        "check_groups",
        None,
        Some(Item::new("docker").with("gid", 999).with("members", "")),
    );
    assert_eq!(
        (new_docker.severity, new_docker.rule.as_deref()),
        (Severity::High, Some("group.privileged-new"))
    );
    let plain = change(
        "audio",
        ChangeKind::Modified,
        &[("members", "a")],
        &[("members", "a,bob")],
    );
    assert_eq!(crate::rules::testing::severity(&plain), Severity::Low);
    let removed = change("vboxusers", ChangeKind::Removed, &[("gid", "998")], &[]);
    assert_eq!(CheckGroups.message(&removed), "group vboxusers removed");
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated group and gshadow files never panic the
    /// collector, and what it keeps is printable.
    #[test]
    fn fuzz_group_and_gshadow(
        group in crate::collectors::fuzz::bytes(GROUP),
        gshadow in crate::collectors::fuzz::bytes(GSHADOW),
    ) {
        let dir = tempfile::tempdir().unwrap();
        crate::collectors::testing::write(dir.path(), "etc/group", &group);
        crate::collectors::testing::write(dir.path(), "etc/gshadow", &gshadow);
        let host = Host::new(dir.path());
        let items = CheckGroups.collect(&host).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
        proptest::prop_assert!(!host.group_name(0).chars().any(char::is_control));
    }
}

use super::*;
use crate::model::Severity;

const HASH: &str = "$6$saltsalt$Zk3sCr3tHa5hV4lu3ForT3st1ng0nly";

fn root_with(passwd: Option<&str>, shadow: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    if let Some(p) = passwd {
        std::fs::write(dir.path().join("etc/passwd"), p).unwrap();
    }
    if let Some(s) = shadow {
        std::fs::write(dir.path().join("etc/shadow"), s).unwrap();
    }
    dir
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
    garbage line without colons\n\
    short:x:1:1\n\
    baduid:x:abc:1::/:/bin/sh\n\
    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
    alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash\n\
    legacy::1002:1002::/home/legacy:/bin/sh\n\
    root:x:5:5:dup:/nowhere:/bin/sh\n";

fn shadow() -> String {
    format!(
        "root:{HASH}:19000:0:99999:7:::\n\
         daemon:*:19000:0:99999:7:::\n\
         broken-shadow-line\n\
         alice:!{HASH}:19001:0:90:7:30:20000:\n"
    )
}

fn collect(dir: &tempfile::TempDir) -> Vec<Item> {
    CheckUsers.collect(&Host::new(dir.path())).unwrap()
}

fn find<'a>(items: &'a [Item], key: &str) -> &'a Fields {
    &items.iter().find(|i| i.key == key).expect(key).fields
}

#[test]
fn users_join_passwd_and_shadow_and_skip_malformed_lines() {
    let dir = root_with(Some(PASSWD), Some(&shadow()));
    let items = collect(&dir);
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["root", "daemon", "alice", "legacy"]);
    let root = find(&items, "root");
    assert_eq!(&root["uid"], "0");
    assert_eq!(&root["home"], "/root", "the first root entry wins");
    assert_eq!(&root["password"], "set");
    assert_eq!(&root["password_in"], "shadow");
    assert_eq!(root["password_fingerprint"], fingerprint(HASH));
    assert_eq!(root["password_fingerprint"].len(), 16);
    assert_eq!(&root["max"], "99999");
    assert!(
        !root.contains_key("inactive"),
        "empty shadow columns are omitted"
    );
    assert_eq!(&find(&items, "daemon")["password"], "locked");
    let alice = find(&items, "alice");
    assert_eq!(&alice["password"], "locked");
    assert_eq!(&alice["gecos"], "Alice,,,");
    assert_eq!(&alice["expire"], "20000");
    let legacy = find(&items, "legacy");
    assert_eq!(&legacy["password"], "none");
    assert_eq!(&legacy["password_in"], "passwd");
}

#[test]
fn the_shadow_hash_is_never_stored() {
    let dir = root_with(Some(PASSWD), Some(&shadow()));
    let items = collect(&dir);
    let all = serde_json::to_string(&items).unwrap();
    assert!(!all.contains(HASH), "hash leaked: {all}");
    assert!(!all.contains("Zk3sCr3t"), "part of the hash leaked: {all}");
    assert!(all.contains(&fingerprint(HASH)));
}

#[test]
fn without_shadow_the_password_fields_are_omitted() {
    let dir = root_with(Some(PASSWD), None);
    let items = collect(&dir);
    assert!(!find(&items, "root").contains_key("password"));
    assert_eq!(&find(&items, "legacy")["password"], "none");
    // A shadow that cannot be read (a directory here) is not fatal either.
    std::fs::create_dir(dir.path().join("etc/shadow")).unwrap();
    assert_eq!(collect(&dir).len(), 4);
}

#[test]
fn missing_passwd_is_unavailable() {
    let dir = root_with(None, Some(&shadow()));
    match CheckUsers.collect(&Host::new(dir.path())) {
        Err(CollectError::Unavailable(m)) => assert!(m.contains("etc/passwd"), "{m}"),
        other => panic!("{other:?}"),
    }
}

fn change(kind: ChangeKind, before: &[(&str, &str)], after: &[(&str, &str)]) -> Change {
    crate::collectors::testing::change("check_users", kind, "alice", before, after)
}

#[test]
fn messages_and_severities() {
    let added = change(
        ChangeKind::Added,
        &[],
        &[
            ("uid", "1001"),
            ("gid", "1001"),
            ("home", "/home/alice"),
            ("shell", "/bin/bash"),
            ("gecos", ""),
        ],
    );
    assert_eq!(
        CheckUsers.message(&added),
        "user alice added (uid=1001, gid=1001, home=/home/alice, shell=/bin/bash)"
    );
    assert_eq!(crate::rules::testing::severity(&added), Severity::Medium);
    let system = change(
        ChangeKind::Added,
        &[],
        &[("uid", "998"), ("shell", "/usr/sbin/nologin")],
    );
    assert_eq!(crate::rules::testing::severity(&system), Severity::Low);
    let uid0 = change(
        ChangeKind::Added,
        &[],
        &[("uid", "0"), ("shell", "/usr/sbin/nologin")],
    );
    // Issue 10: a new uid-0 account is critical (it was high), and so is an account
    // turned into uid 0; leaving uid 0 stays high.
    assert_eq!(crate::rules::testing::severity(&uid0), Severity::Critical);
    let to_root = change(ChangeKind::Modified, &[("uid", "1001")], &[("uid", "0")]);
    assert_eq!(
        crate::rules::testing::severity(&to_root),
        Severity::Critical
    );
    let from_root = change(ChangeKind::Modified, &[("uid", "0")], &[("uid", "1001")]);
    assert_eq!(crate::rules::testing::severity(&from_root), Severity::High);

    let shell = change(
        ChangeKind::Modified,
        &[("shell", "/usr/sbin/nologin")],
        &[("shell", "/bin/bash")],
    );
    assert_eq!(
        CheckUsers.message(&shell),
        "user alice changed: shell from /usr/sbin/nologin to /bin/bash"
    );
    assert_eq!(crate::rules::testing::severity(&shell), Severity::Medium);
    let home = change(ChangeKind::Modified, &[("home", "/a")], &[("home", "/b")]);
    assert_eq!(crate::rules::testing::severity(&home), Severity::Low);

    let pw = change(
        ChangeKind::Modified,
        &[
            ("password_fingerprint", "0123456789abcdef"),
            ("lastchg", "19000"),
        ],
        &[
            ("password_fingerprint", "fedcba9876543210"),
            ("lastchg", "19500"),
        ],
    );
    assert_eq!(CheckUsers.message(&pw), "password of user alice changed");
    // The rule (user.password) looks at the whole items: the password readable on both
    // sides, so not a shadow that merely became (un)readable.
    let with_pw = |fp: &str| {
        Item::new("alice")
            .with("password", "set")
            .with("password_fingerprint", fp)
    };
    let judged = crate::rules::testing::change(
        "check_users",
        Some(with_pw("0123456789abcdef")),
        Some(with_pw("fedcba9876543210")),
    );
    assert_eq!(
        (judged.severity, judged.rule.as_deref()),
        (Severity::Medium, Some("user.password"))
    );
    let hidden = crate::rules::testing::change(
        "check_users",
        Some(with_pw("0123456789abcdef")),
        Some(Item::new("alice")),
    );
    assert_eq!(hidden.severity, Severity::Low, "shadow became unreadable");
    let locked = change(
        ChangeKind::Modified,
        &[
            ("password", "set"),
            ("password_fingerprint", "0123456789abcdef"),
        ],
        &[
            ("password", "locked"),
            ("password_fingerprint", "fedcba9876543210"),
        ],
    );
    assert_eq!(
        CheckUsers.message(&locked),
        "password of user alice changed from set to locked"
    );
    let emptied = change(
        ChangeKind::Modified,
        &[("password", "set")],
        &[("password", "none")],
    );
    assert_eq!(crate::rules::testing::severity(&emptied), Severity::High);
    let both = change(
        ChangeKind::Modified,
        &[
            ("shell", "/bin/sh"),
            ("password_fingerprint", "0123456789abcdef"),
        ],
        &[
            ("shell", "/bin/bash"),
            ("password_fingerprint", "fedcba9876543210"),
        ],
    );
    let msg = CheckUsers.message(&both);
    assert_eq!(
        msg,
        "user alice changed: shell from /bin/sh to /bin/bash, password changed"
    );
    assert!(
        !msg.contains("0123456789"),
        "fingerprints stay out of messages"
    );
    let unreadable = change(
        ChangeKind::Modified,
        &[
            ("password", "set"),
            ("password_fingerprint", "0123456789abcdef"),
            ("max", "9"),
        ],
        &[],
    );
    assert_eq!(
        CheckUsers.message(&unreadable),
        "password of user alice no longer readable (etc/shadow cannot be read)"
    );
    assert_eq!(crate::rules::testing::severity(&unreadable), Severity::Low);
    let aging = change(ChangeKind::Modified, &[("max", "99999")], &[("max", "90")]);
    assert_eq!(
        CheckUsers.message(&aging),
        "user alice changed: max from 99999 to 90"
    );
    let removed = change(ChangeKind::Removed, &[("uid", "1001")], &[]);
    assert_eq!(CheckUsers.message(&removed), "user alice removed");
}

const SHADOW_SAMPLE: &str = "root:$6$salt$hash:19000:0:99999:7:::\n\
    daemon:*:19000:0:99999:7:::\n\
    alice:!$6$s$h:19001:0:90:7:30:20000:\n";

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Fault matrix: random and truncated passwd and shadow files never panic the
    /// collector, and what it keeps is printable.
    #[test]
    fn fuzz_passwd_and_shadow(
        passwd in crate::collectors::fuzz::bytes(PASSWD),
        shadow in crate::collectors::fuzz::bytes(SHADOW_SAMPLE),
    ) {
        let dir = tempfile::tempdir().unwrap();
        crate::collectors::testing::write(dir.path(), "etc/passwd", &passwd);
        crate::collectors::testing::write(dir.path(), "etc/shadow", &shadow);
        let host = Host::new(dir.path());
        let items = CheckUsers.collect(&host).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
        for uid in 0..3 {
            proptest::prop_assert!(!host.user_name(uid).chars().any(char::is_control));
        }
    }
}

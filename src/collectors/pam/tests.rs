use super::*;
use crate::collectors::testing::{change, write};

const SSHD: &str = "# PAM for sshd\n\
    @include common-auth\n\
    account    required     pam_nologin.so\n\
    auth  \t [success=1 default=ignore]\tpam_unix.so nullok   try_first_pass # trailing\n\
    auth requisite pam_deny.so\n\
    auth required pam_permit.so\n\
    session optional /usr/lib/x86_64-linux-gnu/security/pam_motd.so \\\n  motd=/run/motd\n\
    -session optional pam_systemd.so\n\
    session optional /tmp/evil/pam_x.so\n\
    session optional pam_motd.so noupdate\n\
    auth sometimes pam_x.so\n\
    bogus required pam_x.so\n\
    auth [unclosed pam_x.so\n\
    auth required\n\
    @include\n\
    session optional pam_mysql.so user=pam passwd=hunter2\n";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "etc/pam.d/sshd", SSHD);
    write(
        r,
        "etc/pam.d/common-auth",
        "auth required pam_unix.so\n@include loop-a\n",
    );
    write(r, "etc/pam.d/loop-a", "@include loop-b\n");
    write(
        r,
        "etc/pam.d/loop-b",
        "@include loop-a\nauth include ghost\n",
    );
    write(
        r,
        "usr/lib/pam.d/common-auth",
        "auth required pam_vendor.so\n",
    );
    write(r, "usr/lib/pam.d/polkit-1", "auth include common-auth\n");
    write(r, "etc/pam.conf", "ftp auth required pam_unix.so\nbroken\n");
    dir
}

use crate::collectors::testing::fields as by;

#[test]
fn stacks_are_parsed_per_line() {
    let dir = root();
    let items = PamStacks.collect(&Host::new(dir.path())).unwrap();
    let unix = by(&items, "sshd:auth:pam_unix.so");
    assert_eq!(&unix["control"], "[success=1 default=ignore]");
    assert_eq!(
        &unix["arguments"], "nullok try_first_pass",
        "comment and spacing gone"
    );
    assert_eq!(&unix["position"], "1");
    assert_eq!(&unix["file"], "/etc/pam.d/sshd");
    let permit = by(&items, "sshd:auth:pam_permit.so");
    assert_eq!((&permit["type"], &permit["position"]), ("auth", "3"));
    assert_eq!(&permit["module"], "pam_permit.so");
    // A continued line, a module path in a system directory and one outside.
    let motd = by(
        &items,
        "sshd:session:/usr/lib/x86_64-linux-gnu/security/pam_motd.so",
    );
    assert_eq!(&motd["arguments"], "motd=/run/motd");
    assert!(!motd.contains_key("module_path"));
    assert_eq!(
        &by(&items, "sshd:session:/tmp/evil/pam_x.so")["module_path"],
        "outside"
    );
    assert_eq!(
        &by(&items, "sshd:session:pam_systemd.so")["if_missing"],
        "ignore"
    );
    // A repeated module gets a disambiguator.
    assert_eq!(
        &by(&items, "sshd:session:pam_motd.so")["arguments"],
        "noupdate"
    );
    // The credential is never stored.
    let mysql = by(&items, "sshd:session:pam_mysql.so");
    assert_eq!(&mysql["arguments"], "user=pam passwd=(hidden)");
    assert!(!serde_json::to_string(&items).unwrap().contains("hunter2"));
    // /etc hides the vendor file of the same name; other vendor files are read.
    assert!(
        items
            .iter()
            .any(|i| i.key == "common-auth:auth:pam_unix.so")
    );
    assert!(!items.iter().any(|i| i.key.contains("pam_vendor")));
    assert_eq!(&by(&items, "polkit-1:auth:common-auth")["found"], "yes");
    assert_eq!(&by(&items, "loop-b:auth:ghost")["found"], "no");
}

#[test]
fn malformed_lines_are_items_not_dropped() {
    let dir = root();
    let items = PamStacks.collect(&Host::new(dir.path())).unwrap();
    let bad: Vec<(&str, &str)> = items
        .iter()
        .filter(|i| i.key.contains(":malformed:"))
        .map(|i| (i.key.as_str(), &i.fields["error"]))
        .collect();
    assert_eq!(
        bad,
        [
            (
                "sshd:malformed:auth sometimes pam_x.so",
                "unknown control flag"
            ),
            (
                "sshd:malformed:bogus required pam_x.so",
                "unknown module type (auth, account, password, session)"
            ),
            (
                "sshd:malformed:auth [unclosed pam_x.so",
                "unclosed [ in the control flag"
            ),
            ("sshd:malformed:auth required", "no module"),
            ("sshd:malformed:@include", "@include takes one service name"),
            ("pam.conf/broken:malformed:broken", "no module type"),
        ]
    );
    assert_eq!(&by(&items, "sshd:malformed:auth required")["line"], "15");
}

#[test]
fn includes_are_followed_and_loops_noted() {
    let dir = root();
    let items = PamStacks.collect(&Host::new(dir.path())).unwrap();
    let inc = by(&items, "sshd:@include:common-auth");
    assert_eq!(&inc["found"], "yes");
    assert_eq!(&inc["reaches"], "common-auth,ghost,loop-a,loop-b");
    assert!(!inc.contains_key("loop"));
    assert_eq!(&by(&items, "loop-a:@include:loop-b")["loop"], "yes");
    // pam.conf is ignored by PAM when pam.d exists, and said so.
    assert_eq!(
        &by(&items, "pam.conf/ftp:auth:pam_unix.so")["ignored"],
        "etc/pam.d exists"
    );
}

/// libpam reads its control flags without regard to case: `Include` and `SUBSTACK` pull in a
/// stack as `include` does, so the walk follows them too.
#[test]
fn include_flags_in_any_case_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/pam.d/login",
        "auth Include common-evil
account SUBSTACK acct
",
    );
    write(
        r,
        "etc/pam.d/common-evil",
        "auth sufficient pam_permit.so
",
    );
    write(
        r,
        "etc/pam.d/acct",
        "account required pam_unix.so
",
    );
    let items = PamStacks.collect(&Host::new(r)).unwrap();
    for key in ["login:auth:common-evil", "login:account:acct"] {
        let item = by(&items, key);
        assert_eq!(&item["found"], "yes", "{key}: {item:?}");
        assert!(!item.contains_key("module_path"), "{key}: {item:?}");
    }
}

#[test]
fn idle_rescan_is_identical_and_missing_pam_is_no_items() {
    crate::collectors::testing::idle_and_absent(&PamStacks, root().path());
}

#[test]
fn a_moved_line_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/pam.d/su",
        "auth sufficient pam_rootok.so\nauth required pam_unix.so\n",
    );
    let before = PamStacks.collect(&Host::new(dir.path())).unwrap();
    write(
        dir.path(),
        "etc/pam.d/su",
        "session required pam_env.so\nauth sufficient pam_rootok.so\nauth required pam_unix.so\n",
    );
    let after = PamStacks.collect(&Host::new(dir.path())).unwrap();
    let changed: Vec<&Item> = after.iter().filter(|i| !before.contains(i)).collect();
    assert_eq!(changed.len(), 1, "only the new line differs: {changed:?}");
    assert_eq!(changed[0].key, "su:session:pam_env.so");
}

#[test]
fn messages() {
    let c = change(
        "pam_stacks",
        ChangeKind::Added,
        "sshd:auth:pam_permit.so",
        &[],
        &[
            ("control", "sufficient"),
            ("position", "1"),
            ("file", "/etc/pam.d/sshd"),
            ("type", "auth"),
        ],
    );
    assert_eq!(
        PamStacks.message(&c),
        "PAM line sshd:auth:pam_permit.so added (control=sufficient, position=1, file=/etc/pam.d/sshd)"
    );
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Random and damaged stacks never panic the parser and stay printable.
    #[test]
    fn fuzz_pam(text in crate::collectors::fuzz::text(SSHD)) {
        let mut parsed = Vec::new();
        parse_file(&text, Some("svc"), "/etc/pam.d/svc", &mut parsed);
        let n = parsed.len();
        let items = items(&Host::new("/nonexistent"), parsed, n, true);
        crate::collectors::fuzz::assert_printable(&items);
    }
}

#[test]
fn hostile_files_are_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "etc/pam.d/su\n\x1b[2Jx", "auth required pam_unix.so\n");
    nix::unistd::mkfifo(&r.join("etc/pam.d/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let items = PamStacks.collect(&Host::new(r)).unwrap();
    let fifo = by(&items, "fifo:unreadable");
    assert_eq!(
        &fifo["error"], "not a regular file",
        "a FIFO never blocks the scan"
    );
    assert!(
        items
            .iter()
            .any(|i| i.key == "su\\x0a\\x1b[2Jx:auth:pam_unix.so")
    );
    crate::collectors::fuzz::assert_printable(&items);
}

/// Regression (issue 15): 150 services that each include all the others made one
/// `reaches` walk per include line (quadratic); past `max_items` lines the collector is an
/// outage naming the key, never a partial list.
#[test]
fn many_services_that_include_each_other_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let n = 150;
    for i in 0..n {
        let text: String = (0..n).map(|j| format!("@include s{j}\n")).collect();
        write(dir.path(), &format!("etc/pam.d/s{i}"), &text);
    }
    let t = std::time::Instant::now();
    let host = Host::new(dir.path()).with_max_items(n * n + 2 * n);
    let items = PamStacks.collect(&host).unwrap();
    assert_eq!(items.len(), n * n);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t.elapsed()
    );
    let e = PamStacks
        .collect(&Host::new(dir.path()).with_max_items(1000))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("PAM files") && e.contains("more than 1000") && e.contains("max_items"),
        "{e}"
    );
}

use super::*;
use crate::collectors::testing::write;

const SUDOERS: &str = "# comment line\n\
Defaults\tenv_reset\n\
Defaults   mail_badpass # trailing comment\n\
Defaults secure_path=\"/usr/sbin:/usr/bin\"\n\
Defaults:alice !authenticate\n\
Defaults:bob !env_reset\n\
Defaults env_keep += \"LD_PRELOAD HOME\"\n\
User_Alias ADMINS = alice, bob : OPS = carol\n\
Cmnd_Alias SHUTDOWN = /sbin/shutdown, /sbin/reboot\n\
Host_Alias WEB = web1, web2\n\
root\tALL=(ALL:ALL) ALL\n\
%sudo   ALL=(ALL : ALL)   ALL\n\
ADMINS ALL = (root) NOPASSWD: SHUTDOWN, PASSWD: /usr/bin/apt\n\
OPS WEB = (www-data) /usr/bin/systemctl restart nginx \\\n    , /usr/bin/journalctl\n\
#1000 ALL = /bin/true\n\
alice ALL = (root) NOEXEC: /usr/bin/vi : WEB = SETENV: /bin/env\n\
this is not a rule\n\
bob ALL = (root /bin/ls\n\
Defaults bad-name\n\
@includedir /etc/sudoers.d\n\
#include extra\n";

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "etc/sudoers", SUDOERS);
    write(r, "etc/sudoers.d/dropin", "dave ALL=(ALL) NOPASSWD: ALL\n");
    write(
        r,
        "etc/sudoers.d/README.txt",
        "skipped ALL=(ALL) NOPASSWD: ALL\n",
    );
    write(r, "etc/sudoers.d/old~", "skipped ALL=(ALL) NOPASSWD: ALL\n");
    write(r, "etc/sudoers.d/loop", "@include /etc/sudoers\n");
    std::fs::create_dir_all(r.join("etc/sudoers.d/subdir")).unwrap();
    write(r, "etc/extra", "eve ALL = /usr/bin/id\n");
    write(
        r,
        "etc/doas.conf",
        "permit persist :wheel\n\
         permit nopass alice as root cmd /usr/bin/pkill args -HUP nginx\n\
         deny bob\n\
         permit setenv { PATH } carol   # comment\n\
         \n\
         bogus line here\n",
    );
    dir
}

use crate::collectors::testing::item as by_key;

fn keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.as_str()).collect()
}

#[test]
fn rules_aliases_and_tags() {
    let dir = fixture();
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    let root = by_key(&items, "root -> ALL:ALL: ALL");
    assert_eq!(&root.fields["runas"], "ALL:ALL");
    assert_eq!(&root.fields["all_commands"], "yes");
    assert_eq!(&root.fields["nopasswd"], "no");
    assert_eq!(&root.fields["setenv"], "yes", "implied by ALL");
    assert_eq!(&root.fields["file"], "/etc/sudoers");
    // Odd spacing gives the same normalised key shape.
    by_key(&items, "%sudo -> ALL:ALL: ALL");

    let nopw = by_key(&items, "ADMINS -> root: SHUTDOWN");
    assert_eq!(&nopw.fields["who"], "alice,bob", "User_Alias resolved");
    assert_eq!(&nopw.fields["commands"], "/sbin/shutdown,/sbin/reboot");
    assert_eq!(&nopw.fields["nopasswd"], "yes");
    assert!(!nopw.fields.contains_key("all_commands"));
    let pw = by_key(&items, "ADMINS -> root: /usr/bin/apt");
    assert_eq!(
        &pw.fields["nopasswd"], "no",
        "PASSWD overrides the earlier tag"
    );

    let ops = by_key(
        &items,
        "OPS on WEB -> www-data: /usr/bin/systemctl restart nginx, /usr/bin/journalctl",
    );
    assert_eq!(&ops.fields["hosts"], "web1,web2");
    assert_eq!(&ops.fields["who"], "carol");
    by_key(&items, "#1000 -> root: /bin/true");

    let vi = by_key(&items, "alice -> root: /usr/bin/vi");
    assert_eq!(&vi.fields["noexec"], "yes");
    let env = by_key(&items, "alice on WEB -> root: /bin/env");
    assert_eq!(&env.fields["setenv"], "yes");
    assert_eq!(
        &env.fields["noexec"], "no",
        "a new host group starts afresh"
    );

    let alias = by_key(&items, "alias Cmnd_Alias SHUTDOWN");
    assert_eq!(&alias.fields["members"], "/sbin/shutdown,/sbin/reboot");
    by_key(&items, "alias User_Alias OPS");
}

#[test]
fn defaults_includes_and_malformed_lines() {
    let dir = fixture();
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(&by_key(&items, "Defaults env_reset").fields["value"], "on");
    assert_eq!(
        &by_key(&items, "Defaults mail_badpass").fields["value"],
        "on"
    );
    assert_eq!(
        &by_key(&items, "Defaults secure_path").fields["value"],
        "/usr/sbin:/usr/bin"
    );
    let auth = by_key(&items, "Defaults:alice authenticate");
    assert_eq!(&auth.fields["value"], "off");
    let keep = by_key(&items, "Defaults env_keep+=LD_PRELOAD HOME");
    assert_eq!(&keep.fields["op"], "+=");
    assert_eq!(&keep.fields["setting"], "env_keep");

    // includedir: the drop-in, not README.txt nor old~ nor the subdirectory.
    let dave = by_key(&items, "dave -> ALL: ALL");
    assert_eq!(&dave.fields["file"], "/etc/sudoers.d/dropin");
    assert_eq!(&dave.fields["nopasswd"], "yes");
    assert!(!items.iter().any(|i| i.key.starts_with("skipped")));
    // A relative #include is relative to the including file's directory.
    assert_eq!(
        &by_key(&items, "eve -> root: /usr/bin/id").fields["file"],
        "/etc/extra"
    );
    // The loop back to /etc/sudoers is reported, not followed.
    let lp = by_key(&items, "unread /etc/sudoers");
    assert!(lp.fields["not_read"].contains("loop"), "{lp:?}");

    for (line, why) in [
        ("this is not a rule", "not a rule"),
        ("bob ALL = (root /bin/ls", "unclosed"),
        ("Defaults bad-name", "bad Defaults setting"),
    ] {
        let m = by_key(&items, &format!("malformed /etc/sudoers: {line}"));
        assert!(m.fields["malformed"].contains(why), "{m:?}");
        assert_eq!(&m.fields["line"], line);
    }
}

#[test]
fn doas_rules() {
    let dir = fixture();
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    let wheel = by_key(&items, "doas permit :wheel -> ALL: ALL");
    assert_eq!(&wheel.fields["persist"], "yes");
    assert_eq!(&wheel.fields["nopasswd"], "no");
    assert_eq!(&wheel.fields["all_commands"], "yes");
    assert_eq!(&wheel.fields["source"], "doas");
    let pkill = by_key(
        &items,
        "doas permit alice -> root: /usr/bin/pkill -HUP nginx",
    );
    assert_eq!(&pkill.fields["nopasswd"], "yes");
    assert!(!pkill.fields.contains_key("all_commands"));
    assert_eq!(
        &by_key(&items, "doas deny bob -> ALL: ALL").fields["action"],
        "deny"
    );
    let carol = by_key(&items, "doas permit carol -> ALL: ALL");
    assert_eq!(&carol.fields["setenv_vars"], "PATH");
    let bad = by_key(&items, "malformed /etc/doas.conf: bogus line here");
    assert!(bad.fields["malformed"].contains("permit or deny"));
}

#[test]
fn unchanged_files_give_the_same_items_and_no_sudo_is_no_items() {
    let dir = fixture();
    let host = Host::new(dir.path());
    let a = SudoRules.collect(&host).unwrap();
    let b = SudoRules.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(a, b);
    let mut seen = std::collections::HashSet::new();
    assert!(a.iter().all(|i| seen.insert(&i.key)), "keys are unique");
    let empty = tempfile::tempdir().unwrap();
    assert!(
        SudoRules
            .collect(&Host::new(empty.path()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn duplicate_rules_and_deep_includes() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/sudoers",
        "a ALL=/bin/x\na ALL=/bin/x\n@include d1\n",
    );
    for n in 1..=10 {
        write(
            r,
            &format!("etc/d{n}"),
            format!("@include d{}\nu{n} ALL=/bin/x\n", n + 1),
        );
    }
    let items = SudoRules.collect(&Host::new(r)).unwrap();
    by_key(&items, "a -> root: /bin/x");
    by_key(&items, "a -> root: /bin/x #2");
    by_key(&items, "u8 -> root: /bin/x");
    assert!(
        !items.iter().any(|i| i.key.starts_with("u9 ")),
        "{:?}",
        keys(&items)
    );
    assert!(by_key(&items, "unread /etc/d9").fields["not_read"].contains("deep"));
}

/// Regression (issue 15): aliases of aliases multiply (eight levels of ten members: 10^7
/// copies of one command built for one rule). Past `max_items` members the collector is
/// unavailable and says why, quickly, instead of building them all.
#[test]
fn aliases_that_multiply_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut sudoers = String::from("Cmnd_Alias C8 = /bin/a\n");
    for n in (1..8).rev() {
        let members = vec![format!("C{}", n + 1); 10].join(", ");
        sudoers.push_str(&format!("Cmnd_Alias C{n} = {members}\n"));
    }
    sudoers.push_str("root ALL = C1\n");
    write(dir.path(), "etc/sudoers", &sudoers);
    let t = std::time::Instant::now();
    let e = SudoRules
        .collect(&Host::new(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert!(
        e.contains("sudoers and its includes: more than 100000 members in one alias")
            && e.contains("max_items"),
        "{e}"
    );
}

/// Finding on issue 15: one counter was spent on every re-expansion, so a legitimate 200-command
/// alias named by 500 rules (100,000 resolved members) was over `max_items` and sudo_rules was
/// unavailable on every scan. Each alias is now expanded once; the 500 rules are listed whole.
#[test]
fn a_big_alias_named_by_many_rules_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let cmds: Vec<String> = (0..200)
        .map(|i| format!("/usr/local/bin/tool{i}"))
        .collect();
    let mut sudoers = format!("Cmnd_Alias TOOLS = {}\n", cmds.join(", "));
    sudoers.push_str("User_Alias OPS = alice, bob\n");
    for i in 0..500 {
        sudoers.push_str(&format!(
            "u{i},OPS ALL = (root) NOPASSWD: TOOLS, !/bin/sh\n"
        ));
    }
    write(dir.path(), "etc/sudoers", &sudoers);
    let t = std::time::Instant::now();
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    let want = format!("{},!/bin/sh", cmds.join(","));
    for i in [0, 250, 499] {
        let r = by_key(&items, &format!("u{i},OPS -> root: TOOLS, !/bin/sh"));
        assert_eq!(r.fields["commands"], want);
        assert_eq!(&r.fields["who"], &format!("u{i},alice,bob"));
    }
    let rules = items
        .iter()
        .filter(|i| i.fields.contains_key("runas"))
        .count();
    assert_eq!(rules, 500);
}

/// The resolved lists together hold at most `RESOLVED_PER_ITEM` × `max_items` members: an
/// alias named by more rules than that allows is an outage, not a partial list.
#[test]
fn resolved_members_in_all_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let cmds: Vec<String> = (0..50).map(|i| format!("/bin/c{i}")).collect();
    let alias = format!("Cmnd_Alias BIG = {}\n", cmds.join(", "));
    let rules = |n: usize| -> String { (0..n).map(|i| format!("u{i} ALL = BIG\n")).collect() };
    // max_items 100: 1,000 members may be built. 15 rules of 50 are 750 (and the alias 50).
    write(dir.path(), "etc/sudoers", format!("{alias}{}", rules(15)));
    let host = Host::new(dir.path()).with_max_items(100);
    assert_eq!(SudoRules.collect(&host).unwrap().len(), 16);
    write(dir.path(), "etc/sudoers", format!("{alias}{}", rules(30)));
    let e = SudoRules.collect(&host).unwrap_err().to_string();
    assert!(
        e.contains("more than 1000 in all the resolved lists") && e.contains("max_items"),
        "{e}"
    );
}

/// A file reached by two paths (a symlink in sudoers.d to a file included by name) is one
/// file: read once, its rules once.
#[test]
fn a_file_reached_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/sudoers",
        "@include /etc/extra\n@includedir /etc/sudoers.d\n",
    );
    write(r, "etc/extra", "alice ALL=/bin/x\n");
    std::fs::create_dir_all(r.join("etc/sudoers.d")).unwrap();
    std::os::unix::fs::symlink("../extra", r.join("etc/sudoers.d/again")).unwrap();
    let items = SudoRules.collect(&Host::new(r)).unwrap();
    by_key(&items, "alice -> root: /bin/x");
    assert!(
        !items
            .iter()
            .any(|i| i.key.starts_with("alice -> root: /bin/x #")),
        "{:?}",
        keys(&items)
    );
    assert!(by_key(&items, "unread /etc/sudoers.d/again").fields["not_read"].contains("again"));
}

#[test]
fn hostile_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/sudoers",
        b"ev\x1b[31mil ALL=/bin/\xff\n" as &[u8],
    );
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    crate::collectors::fuzz::assert_printable(&items);
    assert_eq!(items.len(), 1, "{items:?}");
}

#[test]
fn shipped_rules_fit_the_items() {
    let dir = fixture();
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(
        &by_key(&items, "Defaults:bob env_reset").fields["value"],
        "off"
    );
    crate::sources::common::rules_check::assert_rules_fit("sudo_rules", &items);
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Random and damaged sudoers and doas.conf never panic the collector, and what it keeps
    /// is printable.
    #[test]
    fn fuzz_sudoers(sudoers in crate::collectors::fuzz::bytes(SUDOERS)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "etc/sudoers", &sudoers);
        write(dir.path(), "etc/doas.conf", &sudoers);
        let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
    }
}

#[test]
fn messages_say_what_a_rule_grants() {
    let dir = fixture();
    let items = SudoRules.collect(&Host::new(dir.path())).unwrap();
    let msg = |key: &str, kind: ChangeKind| {
        let item = by_key(&items, key);
        let f: Vec<(&str, &str)> = item.fields.iter().collect();
        let (before, after) = if kind == ChangeKind::Added {
            (&[][..], &f[..])
        } else {
            (&f[..], &[][..])
        };
        SudoRules.message(&crate::collectors::testing::change(
            "sudo_rules",
            kind,
            key,
            before,
            after,
        ))
    };
    assert_eq!(
        msg("dave -> ALL: ALL", ChangeKind::Added),
        "sudo rule dave -> ALL: ALL added (who=dave, runas=ALL, hosts=ALL, commands=ALL, nopasswd, setenv, file=/etc/sudoers.d/dropin)"
    );
    assert_eq!(
        msg("dave -> ALL: ALL", ChangeKind::Removed),
        "sudo rule dave -> ALL: ALL removed"
    );
    assert!(
        msg("Defaults:alice authenticate", ChangeKind::Added)
            .starts_with("sudo default Defaults:alice authenticate added (")
    );
}

/// The live host: the collector runs, and two runs on an idle host agree.
#[test]
fn live_host_is_read_and_stable() {
    let _live = crate::collectors::testing::live_etc();
    let a = SudoRules.collect(&Host::new("/")).unwrap();
    let b = SudoRules.collect(&Host::new("/")).unwrap();
    assert_eq!(a, b);
    crate::collectors::fuzz::assert_printable(&a);
}

/// Without /etc/sudoers (sudo not installed) a drop-in is dormant, not absent: it becomes a
/// rule the moment sudo is installed, so it is reported, marked dormant, and judged as a rule.
#[test]
fn drop_ins_without_sudoers_are_reported_dormant() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/sudoers.d/pkg",
        "nobody ALL=(root) NOPASSWD: /bin/true\n",
    );
    let items = SudoRules.collect(&Host::new(r)).unwrap();
    let rule = by_key(&items, "nobody -> root: /bin/true");
    assert_eq!(&rule.fields["nopasswd"], "yes");
    assert!(rule.fields["dormant"].contains("no /etc/sudoers"));
    assert_eq!(&rule.fields["file"], "/etc/sudoers.d/pkg");
    let c = crate::rules::testing::change("sudo_rules", None, Some(rule.clone()));
    assert_eq!(c.severity, crate::model::Severity::High, "{c:?}");
    assert!(
        SudoRules
            .message(&c)
            .contains("dormant until sudo is installed"),
        "{}",
        SudoRules.message(&c)
    );
    // With a sudoers that does not include the directory, the drop-in is not read at all.
    write(r, "etc/sudoers", "root ALL=(ALL:ALL) ALL\n");
    let items = SudoRules.collect(&Host::new(r)).unwrap();
    assert!(items.iter().all(|i| !i.fields.contains_key("dormant")));
    assert!(
        !keys(&items).contains(&"nobody -> root: /bin/true"),
        "{:?}",
        keys(&items)
    );
}

use super::*;
use crate::collectors::testing::write;
use std::os::unix::fs::PermissionsExt;

const CRONTAB: &str = "SHELL=/bin/sh\n\
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin\n\
MAILTO = \"ops@example.org\"\n\
API_TOKEN=hunter2-very-secret\n\
# m h dom mon dow user\tcommand\n\
17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n\
  25  6  * * 1-5   root\ttest -x /usr/sbin/anacron ||   echo  'spaces kept'\n\
@reboot root /usr/local/bin/at-boot\n\
@daily\tbackup /usr/bin/backup --all\n\
61x * * * * root /bin/bad-minute\n\
* * * root\n\
@sometimes root /bin/true\n\
0 0 * * * root\n";

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    );
    write(r, "etc/crontab", CRONTAB);
    write(
        r,
        "etc/cron.d/e2scrub_all",
        "30 3 * * 0 root test -e /run/systemd/system || /sbin/e2scrub_all\n",
    );
    write(
        r,
        "etc/cron.d/php.dpkg-old",
        "* * * * * root /bin/skipped\n",
    );
    write(
        r,
        "etc/cron.d/.placeholder",
        "* * * * * root /bin/skipped\n",
    );
    write(
        r,
        "var/spool/cron/crontabs/alice",
        "# DO NOT EDIT\nMAILTO=alice\n*/5 * * * * /home/alice/bin/poll\n",
    );
    write(r, "var/spool/cron/bob", "0 1 * * * /usr/bin/rhel-style\n");
    std::fs::create_dir_all(r.join("var/spool/cron/atspool")).unwrap();
    write(
        r,
        "var/spool/cron/atjobs/a0000301c3e5a0",
        "#!/bin/sh\n# atrun uid=1000 gid=1000\n# mail alice 0\numask 22\ncd /home/alice || {\n\
         \t echo 'Execution directory inaccessible' >&2\n\t exit 1\n}\n\
         ${SHELL:-/bin/sh} << 'marcinDELIMITER3c1d0b2e'\n/usr/bin/make-report --now\nsecond line\n\
         marcinDELIMITER3c1d0b2e\n",
    );
    write(r, "var/spool/cron/atjobs/.SEQ", "3\n");
    write(
        r,
        "var/spool/cron/atjobs/b0000401c3e5a0",
        "#!/bin/sh\n# atrun uid=0 gid=0\n/sbin/reboot\n",
    );
    write(
        r,
        "etc/anacrontab",
        "SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n@monthly 15 cron.monthly run-parts /etc/cron.monthly\nnonsense\n",
    );
    write(
        r,
        "etc/cron.daily/logrotate",
        "#!/bin/sh\nlogrotate /etc/logrotate.conf\n",
    );
    std::fs::set_permissions(
        r.join("etc/cron.daily/logrotate"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(r, "etc/cron.daily/notes.txt", "skipped\n");
    write(r, "etc/cron.weekly/plain", "#!/bin/sh\n");
    std::fs::set_permissions(
        r.join("etc/cron.weekly/plain"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    dir
}

use crate::collectors::testing::item as by_key;

#[test]
fn system_crontab_entries_env_and_malformed_lines() {
    let dir = fixture();
    let items = CronJobs.collect(&Host::new(dir.path())).unwrap();
    let hourly = by_key(
        &items,
        "/etc/crontab: root 17 * * * * cd / && run-parts --report /etc/cron.hourly",
    );
    assert_eq!(&hourly.fields["schedule"], "17 * * * *");
    assert_eq!(&hourly.fields["user"], "root");
    assert_eq!(&hourly.fields["kind"], "entry");
    // Odd spacing and tabs: the schedule is normalised, the command kept as written.
    let odd = by_key(
        &items,
        "/etc/crontab: root 25 6 * * 1-5 test -x /usr/sbin/anacron ||   echo  'spaces kept'",
    );
    assert_eq!(
        &odd.fields["command"],
        "test -x /usr/sbin/anacron ||   echo  'spaces kept'"
    );
    assert_eq!(
        &by_key(&items, "/etc/crontab: root @reboot /usr/local/bin/at-boot").fields["schedule"],
        "@reboot"
    );
    assert_eq!(
        &by_key(&items, "/etc/crontab: backup @daily /usr/bin/backup --all").fields["user"],
        "backup"
    );

    assert_eq!(
        &by_key(&items, "/etc/crontab: env PATH").fields["value"],
        "/usr/local/sbin:/usr/local/bin:/sbin:/bin"
    );
    assert_eq!(
        &by_key(&items, "/etc/crontab: env SHELL").fields["value"],
        "/bin/sh"
    );
    assert_eq!(
        &by_key(&items, "/etc/crontab: env MAILTO").fields["value"],
        "ops@example.org"
    );
    let token = by_key(&items, "/etc/crontab: env API_TOKEN");
    assert!(
        !token.fields.values().any(|v| v.contains("hunter2")),
        "{token:?}"
    );

    for (line, why) in [
        ("61x * * * * root /bin/bad-minute", "bad time field"),
        ("* * * root", "fewer than five"),
        ("@sometimes root /bin/true", "unknown @"),
        ("0 0 * * * root", "no command"),
    ] {
        let m = by_key(&items, &format!("/etc/crontab: malformed: {line}"));
        assert!(m.fields["malformed"].contains(why), "{m:?}");
        assert_eq!(&m.fields["kind"], "malformed");
    }
    let all = serde_json::to_string(&items).unwrap();
    assert!(
        !all.contains("hunter2"),
        "a secret-looking variable was stored"
    );
}

#[test]
fn cron_d_spools_anacron_at_and_scripts() {
    let dir = fixture();
    let items = CronJobs.collect(&Host::new(dir.path())).unwrap();
    by_key(
        &items,
        "/etc/cron.d/e2scrub_all: root 30 3 * * 0 test -e /run/systemd/system || /sbin/e2scrub_all",
    );
    assert!(
        !items.iter().any(|i| i.key.contains("skipped")),
        "run-parts naming rules"
    );

    let tab = by_key(&items, "crontab /var/spool/cron/crontabs/alice");
    assert_eq!(&tab.fields["user"], "alice");
    let poll = by_key(
        &items,
        "/var/spool/cron/crontabs/alice: alice */5 * * * * /home/alice/bin/poll",
    );
    assert_eq!(&poll.fields["user"], "alice");
    assert_eq!(
        &by_key(&items, "/var/spool/cron/crontabs/alice: env MAILTO").fields["user"],
        "alice"
    );
    by_key(&items, "crontab /var/spool/cron/bob");
    by_key(
        &items,
        "/var/spool/cron/bob: bob 0 1 * * * /usr/bin/rhel-style",
    );
    assert!(
        !items
            .iter()
            .any(|i| i.key.contains("atspool")
                || i.key.contains("crontab /var/spool/cron/crontabs\0"))
    );

    let daily = by_key(
        &items,
        "/etc/anacrontab: root 1 5 run-parts --report /etc/cron.daily",
    );
    assert_eq!(&daily.fields["job"], "cron.daily");
    assert_eq!(&daily.fields["kind"], "anacron");
    by_key(
        &items,
        "/etc/anacrontab: root @monthly 15 run-parts /etc/cron.monthly",
    );
    by_key(&items, "/etc/anacrontab: malformed: nonsense");

    let at = by_key(&items, "at a0000301c3e5a0");
    assert_eq!(&at.fields["user"], "alice");
    assert_eq!(&at.fields["command"], "/usr/bin/make-report --now");
    assert_eq!(&at.fields["queue"], "a");
    assert_eq!(
        &at.fields["run_at"], "2026-04-23 08:00 UTC",
        "0x01c3e5a0 minutes (python datetime)"
    );
    assert!(!items.iter().any(|i| i.key.contains("SEQ")));

    let lr = by_key(&items, "script /etc/cron.daily/logrotate");
    assert_eq!(&lr.fields["period"], "daily");
    assert_eq!(&lr.fields["executable"], "yes");
    assert_eq!(
        lr.fields["sha256"],
        crate::sources::common::sha256_bytes(b"#!/bin/sh\nlogrotate /etc/logrotate.conf\n")
    );
    assert_eq!(
        &by_key(&items, "script /etc/cron.weekly/plain").fields["executable"],
        "no"
    );
    assert!(!items.iter().any(|i| i.key.contains("notes.txt")));
}

#[test]
fn hostile_spool_files_are_reported_not_followed() {
    let dir = fixture();
    let r = dir.path();
    write(r, "etc/shadow-like", "* * * * * SECRET-CONTENT\n");
    std::os::unix::fs::symlink(
        r.join("etc/shadow-like"),
        r.join("var/spool/cron/crontabs/mallory"),
    )
    .unwrap();
    nix::unistd::mkfifo(
        &r.join("var/spool/cron/crontabs/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let items = CronJobs.collect(&Host::new(r)).unwrap();
    let link = by_key(&items, "unread /var/spool/cron/crontabs/mallory");
    assert!(link.fields["not_read"].contains("symlink"), "{link:?}");
    let fifo = by_key(&items, "unread /var/spool/cron/crontabs/fifo");
    assert_eq!(&fifo.fields["not_read"], "not a regular file");
    assert!(
        !serde_json::to_string(&items)
            .unwrap()
            .contains("SECRET-CONTENT")
    );
}

#[test]
fn unchanged_tree_gives_the_same_items_and_messages_read_well() {
    let dir = fixture();
    let a = CronJobs.collect(&Host::new(dir.path())).unwrap();
    let b = CronJobs.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(a, b);
    let mut seen = std::collections::HashSet::new();
    assert!(a.iter().all(|i| seen.insert(&i.key)));
    crate::collectors::fuzz::assert_printable(&a);

    let at = by_key(&a, "at a0000301c3e5a0");
    let fields: Vec<(&str, &str)> = at.fields.iter().collect();
    let c =
        crate::collectors::testing::change("cron_jobs", ChangeKind::Added, &at.key, &[], &fields);
    assert_eq!(
        CronJobs.message(&c),
        "at job a0000301c3e5a0 added (user=alice)"
    );
    let c = crate::collectors::testing::change(
        "cron_jobs",
        ChangeKind::Removed,
        "crontab /var/spool/cron/bob",
        &[("kind", "crontab")],
        &[],
    );
    assert_eq!(
        CronJobs.message(&c),
        "user crontab /var/spool/cron/bob removed"
    );
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Random and damaged crontabs never panic the collector, and what it keeps is printable.
    #[test]
    fn fuzz_crontab(tab in crate::collectors::fuzz::bytes(CRONTAB)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "etc/crontab", &tab);
        write(dir.path(), "var/spool/cron/crontabs/u", &tab);
        let items = CronJobs.collect(&Host::new(dir.path())).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
    }
}

#[test]
fn time_fields() {
    for (i, f) in [
        (0, "*/15"),
        (0, "0,30"),
        (1, "9-17"),
        (3, "jan-mar"),
        (4, "Mon-Fri"),
        (4, "7"),
        (2, "1-31/2"),
    ] {
        assert!(time_field(i, f), "{f} at {i}");
    }
    for (i, f) in [
        (0, "60"),
        (1, "24"),
        (0, "61x"),
        (1, "mon"),
        (0, ""),
        (0, "*/"),
        (0, "1,,2"),
    ] {
        assert!(!time_field(i, f), "{f} at {i}");
    }
}

#[test]
fn shipped_rules_fit_the_items() {
    let dir = fixture();
    let items = CronJobs.collect(&Host::new(dir.path())).unwrap();
    let root_at = by_key(&items, "at b0000401c3e5a0");
    assert_eq!(
        (&root_at.fields["user"], &root_at.fields["command"]),
        ("root", "/sbin/reboot")
    );
    crate::sources::common::rules_check::assert_rules_fit("cron_jobs", &items);
}

/// The live host: the collector runs, and two runs on an idle host agree.
#[test]
fn live_host_is_read_and_stable() {
    let _live = crate::collectors::testing::live_etc();
    let a = CronJobs.collect(&Host::new("/")).unwrap();
    let b = CronJobs.collect(&Host::new("/")).unwrap();
    assert_eq!(a, b);
    crate::collectors::fuzz::assert_printable(&a);
}

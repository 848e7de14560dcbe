use super::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::path::Path;

use crate::collectors::testing::write;
use crate::model::Fields;

const ALICE: u32 = 4101;
const STAFF: u32 = 4150;

fn mode(root: &Path, rel: &str, m: u32) {
    std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(m)).unwrap();
}

fn own(root: &Path, rel: &str, uid: u32, gid: u32) {
    chown(root.join(rel), Some(uid), Some(gid)).unwrap();
}

fn unit(root: &Path, name: &str, body: &str) {
    write(root, &format!("usr/lib/systemd/system/{name}"), body);
}

/// A fake root with one hole of each kind, safe look-alikes next to them, and things run by
/// other users than root (which are not holes).
/// root, alice (ALICE) and the group staff (STAFF) with alice in it.
fn accounts(r: &Path) {
    write(
        r,
        "etc/passwd",
        format!("root:x:0:0::/root:/bin/sh\nalice:x:{ALICE}:{ALICE}::/home/alice:/bin/sh\n"),
    );
    write(
        r,
        "etc/group",
        format!("root:x:0:\nstaff:x:{STAFF}:alice\n"),
    );
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    accounts(r);
    // ExecStart group-writable.
    unit(
        r,
        "grp.service",
        "[Service]\nExecStart=/opt/grp/run --now\n",
    );
    write(r, "opt/grp/run", "#!/bin/sh\n");
    own(r, "opt/grp/run", 0, STAFF);
    mode(r, "opt/grp/run", 0o775);
    // A directory on the way writable by others.
    unit(
        r,
        "dirw.service",
        "[Service]\nExecStartPre=-/srv/dirw/bin/prepare\nExecStart=/usr/bin/safe\n",
    );
    write(r, "srv/dirw/bin/prepare", "x");
    mode(r, "srv/dirw/bin", 0o777);
    // A symlinked ExecStart leading into a directory a user owns.
    unit(r, "link.service", "[Service]\nExecStart=/usr/bin/linked\n");
    write(r, "var/lib/drop/tool", "x");
    own(r, "var/lib/drop", ALICE, ALICE);
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    symlink("/var/lib/drop/tool", r.join("usr/bin/linked")).unwrap();
    // Safe: root's file in root's directories, by absolute path and by systemd's search path.
    write(r, "usr/bin/safe", "x");
    unit(
        r,
        "safe.service",
        "[Service]\nExecStart=/usr/bin/safe\nExecReload=safe -HUP\n",
    );
    // By name through systemd's search path: /usr/local/bin comes before /usr/bin.
    unit(r, "rel.service", "[Service]\nExecStart=-tool2 --x\n");
    write(r, "usr/local/bin/tool2", "x");
    write(r, "usr/bin/tool2", "x");
    own(r, "usr/local/bin/tool2", ALICE, 0);
    // A unit run by alice: her writable files are not a way to root, but `+` commands are.
    unit(
        r,
        "user.service",
        "[Service]\nUser=alice\nExecStart=/opt/grp/userrun\nExecStartPre=+/opt/grp/plus\n",
    );
    write(r, "opt/grp/userrun", "x");
    mode(r, "opt/grp/userrun", 0o777);
    write(r, "opt/grp/plus", "x");
    mode(r, "opt/grp/plus", 0o666); // other (and group root: other says it all)
    // A unit file alice can edit (she would drop its User=).
    write(
        r,
        "etc/systemd/system/edit.service",
        "[Service]\nUser=alice\nExecStart=/usr/bin/safe\n",
    );
    own(r, "etc/systemd/system/edit.service", ALICE, ALICE);
    // A sticky /tmp: root's own file there is safe, a missing one anyone could create.
    unit(
        r,
        "sticky.service",
        "[Service]\nExecStart=/tmp/rootfile\nExecStopPost=/tmp/nothere\n",
    );
    write(r, "tmp/rootfile", "x");
    mode(r, "tmp", 0o1777);
    // Cron: root's lines (odd spacing, @reboot, PATH=), alice's line is hers.
    write(
        r,
        "etc/crontab",
        "SHELL=/bin/sh\nPATH=/usr/local/bin:/usr/bin\n\
         17 *\t* * *  root   cronjob --flag\n\
         * * * * * alice /opt/alice/job\n",
    );
    write(r, "usr/local/bin/cronjob", "x");
    own(r, "usr/local/bin/cronjob", ALICE, ALICE);
    write(r, "opt/alice/job", "x");
    own(r, "opt/alice/job", ALICE, ALICE);
    write(r, "etc/cron.d/odd", "  @reboot\troot   /opt/boot/job  \n");
    write(r, "opt/boot/job", "x");
    mode(r, "opt/boot/job", 0o757);
    write(
        r,
        "etc/cron.d/ignored.dpkg-old",
        "* * * * * root /opt/boot/ignored\n",
    );
    write(r, "opt/boot/ignored", "x");
    mode(r, "opt/boot/ignored", 0o777);
    // Init script and udev program.
    write(r, "etc/init.d/legacy", "#!/bin/sh\n");
    mode(r, "etc/init.d/legacy", 0o757);
    write(
        r,
        "etc/udev/rules.d/99-x.rules",
        "# RUN+=\"/opt/commented\"\nACTION==\"add\", RUN+=\"helper %k\", RUN{builtin}+=\"kmod load\"\n",
    );
    write(r, "usr/lib/udev/helper", "x");
    own(r, "usr/lib/udev/helper", 0, STAFF);
    mode(r, "usr/lib/udev/helper", 0o770);
    dir
}

fn by_key(items: &[Item]) -> BTreeMap<&str, &Fields> {
    items.iter().map(|i| (i.key.as_str(), &i.fields)).collect()
}

#[test]
fn holes_are_found_and_safe_paths_are_not() {
    let dir = fixture();
    let items = RootRunWritable.collect(&Host::new(dir.path())).unwrap();
    let m = by_key(&items);
    let got: Vec<(&str, &str, &str, &str)> = m
        .iter()
        .map(|(k, f)| (*k, &f["writable_by"], &f["what"], &f["used_by"]))
        .collect();
    assert_eq!(
        got,
        [
            ("/etc/init.d/legacy", "other", "file", "init.d:legacy"),
            (
                "/etc/systemd/system/edit.service",
                "user:alice",
                "file",
                "systemd:edit.service"
            ),
            ("/opt/boot/job", "other", "file", "cron:/etc/cron.d/odd"),
            ("/opt/grp/plus", "other", "file", "systemd:user.service"),
            ("/opt/grp/run", "group:staff", "file", "systemd:grp.service"),
            ("/srv/dirw/bin", "other", "dir", "systemd:dirw.service"),
            ("/tmp", "other", "dir", "systemd:sticky.service"),
            (
                "/usr/lib/udev/helper",
                "group:staff",
                "file",
                "udev:/etc/udev/rules.d/99-x.rules"
            ),
            (
                "/usr/local/bin/cronjob",
                "user:alice",
                "file",
                "cron:/etc/crontab"
            ),
            (
                "/usr/local/bin/tool2",
                "user:alice",
                "file",
                "systemd:rel.service"
            ),
            ("/var/lib/drop", "user:alice", "dir", "systemd:link.service"),
        ]
    );
    assert_eq!(&m["/opt/grp/run"]["perm"], "-rwxrwxr-x");
    assert_eq!(&m["/opt/grp/run"]["owner"], "root");
    assert_eq!(&m["/var/lib/drop"]["owner"], "alice");
    // Idle: the same items again.
    assert_eq!(
        items,
        RootRunWritable.collect(&Host::new(dir.path())).unwrap()
    );
}

#[test]
fn fixing_the_hole_removes_the_item() {
    let dir = fixture();
    let r = dir.path();
    for rel in [
        "etc/init.d/legacy",
        "opt/boot/job",
        "opt/grp/plus",
        "opt/grp/run",
        "srv/dirw/bin",
        "usr/lib/udev/helper",
    ] {
        mode(r, rel, 0o755);
        own(r, rel, 0, 0);
    }
    for rel in [
        "etc/systemd/system/edit.service",
        "usr/local/bin/cronjob",
        "usr/local/bin/tool2",
        "var/lib/drop",
    ] {
        own(r, rel, 0, 0);
    }
    mode(r, "tmp", 0o755);
    let items = RootRunWritable.collect(&Host::new(r)).unwrap();
    assert_eq!(items, [], "a sane setup has no items");
}

#[test]
fn acl_entries_name_their_user_and_group_within_the_mask() {
    // version 2; user_obj rwx; user alice rwx; group_obj r-x; group staff rw-; mask r-x; other r--
    let entry = |tag: u16, perm: u16, id: u32| {
        let mut v = tag.to_le_bytes().to_vec();
        v.extend(perm.to_le_bytes());
        v.extend(id.to_le_bytes());
        v
    };
    let build = |mask: u16| {
        let mut raw = 2u32.to_le_bytes().to_vec();
        for e in [
            entry(0x01, 7, u32::MAX),
            entry(0x02, 7, ALICE),
            entry(0x04, 5, u32::MAX),
            entry(0x08, 6, STAFF),
            entry(0x10, mask, u32::MAX),
            entry(0x20, 4, u32::MAX),
        ] {
            raw.extend(e);
        }
        raw
    };
    let w = parse_acl(&build(5)).unwrap().writers();
    assert!(
        w.is_empty(),
        "the mask r-x takes write from every entry: {w:?}"
    );
    let w = parse_acl(&build(7)).unwrap().writers();
    assert_eq!(w, [(AclTag::User, ALICE), (AclTag::Group, STAFF)]);
    assert!(parse_acl(b"\x01\x00\x00\x00").is_none(), "unknown version");
    assert!(parse_acl(&build(7)[..9]).is_none(), "truncated");

    // On a real file system (when it takes ACLs), through the collector.
    let dir = fixture();
    let r = dir.path();
    let raw = build(7);
    let path =
        std::ffi::CString::new(r.join("usr/bin/safe").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: C strings and a buffer of the given length.
    let rc = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            raw.as_ptr().cast(),
            raw.len(),
            0,
        )
    };
    if rc != 0 {
        eprintln!(
            "no ACLs here ({}): checked on bytes only",
            io::Error::last_os_error()
        );
        return;
    }
    let items = RootRunWritable.collect(&Host::new(r)).unwrap();
    let safe = items.iter().find(|i| i.key == "/usr/bin/safe").unwrap();
    assert_eq!(&safe.fields["writable_by"], "user:alice,group:staff");
    assert!(
        safe.fields["used_by"].contains("systemd:safe.service"),
        "{:?}",
        safe.fields
    );
}

#[test]
fn cron_lines_and_udev_programs_and_first_words() {
    let text = "PATH=/sbin:/bin\n# comment\nMAILTO=\"\"\n\
                0 5 * * 1\troot\t/usr/sbin/weekly -q\n\
                @daily   root  \"/opt/quoted dir/x\" arg\n\
                * * * * * nobody /bin/theirs\n\
                broken line\n";
    let cmds = sources::root_cron_commands(text, true);
    assert_eq!(
        cmds,
        [
            ("/usr/sbin/weekly -q".to_string(), "/sbin:/bin".to_string()),
            (
                "\"/opt/quoted dir/x\" arg".to_string(),
                "/sbin:/bin".to_string()
            ),
        ]
    );
    let spool = sources::root_cron_commands("*/5 * * * * backup --all\n", false);
    assert_eq!(spool[0].0, "backup --all");
    let w = |c: &str| commands::words(c);
    assert_eq!(
        w("\"/opt/quoted dir/x\" arg 'a b'\\ c"),
        [
            Some("/opt/quoted dir/x".to_string()),
            Some("arg".into()),
            Some("a b c".into())
        ]
    );
    assert_eq!(w("/usr/lib/x/%i start")[0], None);
    assert_eq!(w("$CMD"), [None]);
    assert_eq!(w("'$literal'"), [Some("$literal".to_string())]);
    assert_eq!(
        sources::udev_programs(
            "KERNEL==\"sd*\", PROGRAM=\"/bin/id %k\", IMPORT{program}=\"probe\", RUN{program}+=\"/x y\",RUN+=\"z\"\n\
             ENV{RUNNER}=\"not a program\"\n"
        ),
        ["/bin/id %k", "probe", "/x y", "z"]
    );
}

#[test]
fn messages_say_who_can_write_and_who_runs_it() {
    let added = crate::collectors::testing::change(
        "root_run_writable",
        ChangeKind::Added,
        "/opt/grp/run",
        &[],
        &[
            ("writable_by", "group:staff"),
            ("what", "file"),
            ("owner", "root"),
            ("group", "staff"),
            ("perm", "-rwxrwxr-x"),
            ("used_by", "systemd:grp.service"),
        ],
    );
    assert_eq!(
        RootRunWritable.message(&added),
        "root-run file /opt/grp/run is writable by group:staff (owner=root, group=staff, \
         perm=-rwxrwxr-x, used_by=systemd:grp.service)"
    );
    let many: BTreeSet<String> = (0..20)
        .map(|i| format!("systemd:u{i:02}.service"))
        .collect();
    let shown = used_by(&many);
    assert!(shown.ends_with(",and 8 more"), "{shown}");
    assert_eq!(shown.matches("systemd:").count(), MAX_USERS);
}

/// The real host: a cron.d entry of root (a schedule that never fires: 31 February) whose
/// command sits in a world-writable directory under /var/lib is found; removed afterwards.
#[test]
fn live_host_cron_entry_in_a_writable_dir() {
    let _live = crate::collectors::testing::live_etc();
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/etc/cron.d").is_dir() {
        eprintln!("needs root and /etc/cron.d");
        return;
    }
    let hole = tempfile::Builder::new()
        .prefix("dawgmon-rr-")
        .tempdir_in("/var/lib")
        .unwrap();
    std::fs::set_permissions(hole.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(hole.path().join("job"), "#!/bin/sh\n").unwrap();
    let name = hole
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let tab = Remove(Path::new("/etc/cron.d").join(&name));
    std::fs::write(
        &tab.0,
        format!("0 0 31 2 * root {}/job\n", hole.path().display()),
    )
    .unwrap();
    let items = RootRunWritable.collect(&Host::new("/")).unwrap();
    let key = hole.path().display().to_string();
    let item = items
        .iter()
        .find(|i| i.key == key)
        .expect("the hole is found");
    assert_eq!(&item.fields["writable_by"], "other");
    assert_eq!(&item.fields["what"], "dir");
    assert_eq!(item.fields["used_by"], format!("cron:/etc/cron.d/{name}"));
    drop(tab);
    let items = RootRunWritable.collect(&Host::new("/")).unwrap();
    assert!(items.iter().all(|i| i.key != key), "gone with the entry");
}

/// Issue 15 item 7: only the first word of a command was traced. A root unit running
/// `python3 -u /srv/app/main.py` with /srv/app a user's, a root cron line `/bin/sh
/// /opt/cronsh/job.sh`, `sh -c '...'`, `env`, and `#!` interpreters (directly, through
/// `/usr/bin/env NAME`, and as a chain) now lead to what they run. Code on the command line
/// (`python3 -c`, `perl -e`) is not a file; a FIFO or a loop of `#!` lines stalls nothing.
#[test]
fn interpreter_scripts_and_shebang_interpreters_are_traced() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    accounts(r);
    for bin in [
        "usr/bin/python3.11",
        "usr/bin/perl",
        "bin/sh",
        "usr/bin/env",
    ] {
        write(r, bin, "\x7fELF");
    }
    unit(
        r,
        "py.service",
        "[Service]\nExecStart=/usr/bin/python3.11 -u -W ignore /srv/app/main.py --port 8\n",
    );
    write(r, "srv/app/main.py", "print()\n");
    own(r, "srv/app", ALICE, ALICE);
    // Code on the command line: `-c`, `-e`, `-m` name no file (/srv/code is a user's).
    unit(
        r,
        "code.service",
        "[Service]\nExecStart=/usr/bin/python3.11 -c /srv/code/x.py\nExecStartPre=/usr/bin/perl -e /srv/code/y.pl\n",
    );
    write(r, "srv/code/x.py", "");
    own(r, "srv/code", ALICE, ALICE);
    // `env NAME script` and a `sh -c` command line.
    unit(
        r,
        "env.service",
        "[Service]\nExecStart=/usr/bin/env -u HOME LANG=C python3.11 /opt/envpy/run.py\nExecStop=/bin/sh -ec '/opt/shc/stop --now'\n",
    );
    write(r, "opt/envpy/run.py", "");
    mode(r, "opt/envpy/run.py", 0o666);
    write(r, "opt/shc/stop", "");
    own(r, "opt/shc/stop", ALICE, 0);
    write(
        r,
        "etc/cron.d/jobs",
        "* * * * * root /bin/sh /opt/cronsh/job.sh >/dev/null 2>&1\n",
    );
    write(r, "opt/cronsh/job.sh", "");
    mode(r, "opt/cronsh/job.sh", 0o646);
    // `#!` lines: a safe root script whose interpreter is group-writable; one through
    // `/usr/bin/env NAME` (found on the search path); a chain of two interpreters.
    unit(
        r,
        "bang.service",
        "[Service]\nExecStart=/usr/local/sbin/tool\n",
    );
    write(r, "usr/local/sbin/tool", "#!/opt/interp/runner -x\nbody\n");
    write(r, "opt/interp/runner", "#!/opt/interp2/inner\n");
    own(r, "opt/interp/runner", 0, STAFF);
    mode(r, "opt/interp/runner", 0o775);
    write(r, "opt/interp2/inner", "\x7fELF");
    own(r, "opt/interp2", ALICE, 0);
    write(r, "etc/cron.daily/backup", "#!/usr/bin/env  mytool\n");
    write(r, "usr/local/bin/mytool", "\x7fELF");
    own(r, "usr/local/bin/mytool", ALICE, 0);
    // Hostile: a FIFO in run-parts, a #! loop, an enormous first line.
    nix::unistd::mkfifo(
        &r.join("etc/cron.daily/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o755),
    )
    .unwrap();
    write(r, "etc/init.d/loop-a", "#!/etc/init.d/loop-b\n");
    write(r, "etc/init.d/loop-b", "#!/etc/init.d/loop-a\n");
    write(r, "etc/rc.local", format!("#!/{}\n", "x".repeat(100_000)));

    let items = RootRunWritable.collect(&Host::new(r)).unwrap();
    let m = by_key(&items);
    let got: Vec<(&str, &str, &str)> = m
        .iter()
        .map(|(k, f)| (*k, &f["writable_by"][..], &f["used_by"][..]))
        .collect();
    assert_eq!(
        got,
        [
            ("/opt/cronsh/job.sh", "other", "cron:/etc/cron.d/jobs"),
            ("/opt/envpy/run.py", "other", "systemd:env.service"),
            ("/opt/interp/runner", "group:staff", "systemd:bang.service"),
            ("/opt/interp2", "user:alice", "systemd:bang.service"),
            ("/opt/shc/stop", "user:alice", "systemd:env.service"),
            ("/srv/app", "user:alice", "systemd:py.service"),
            (
                "/usr/local/bin/mytool",
                "user:alice",
                "run-parts:/etc/cron.daily"
            ),
        ]
    );
    assert_eq!(
        items,
        RootRunWritable.collect(&Host::new(r)).unwrap(),
        "idle rescan"
    );
}

#[test]
fn interpreter_operands() {
    use commands::words;
    let h = tempfile::tempdir().unwrap();
    let host = Host::new(h.path());
    let run = |c: &str| {
        commands::Tracer::default()
            .command(&host, c, "/usr/bin", false)
            .unwrap()
    };
    let p = |s: &str| std::path::PathBuf::from(s);
    assert_eq!(
        run("/bin/bash -x -o pipefail /a/s.sh"),
        [p("/bin/bash"), p("/a/s.sh")]
    );
    assert_eq!(
        run("/bin/dash -- -weird"),
        [p("/bin/dash")],
        "relative: skipped"
    );
    assert_eq!(run("/bin/sh /a/$X.sh"), [p("/bin/sh")]);
    assert_eq!(
        run("/usr/bin/ruby -I lib /a/r.rb"),
        [p("/usr/bin/ruby"), p("/a/r.rb")]
    );
    assert_eq!(
        run("/usr/bin/node -r dotenv /a/n.js"),
        [p("/usr/bin/node"), p("/a/n.js")]
    );
    assert_eq!(
        run("/usr/bin/php8.2 -d x=1 -f /a/p.php"),
        [p("/usr/bin/php8.2"), p("/a/p.php")]
    );
    assert_eq!(
        run("/usr/bin/python3 -m http.server"),
        [p("/usr/bin/python3")]
    );
    assert_eq!(run("/usr/bin/shred /a/not-a-script"), [p("/usr/bin/shred")]);
    assert_eq!(words("").len(), 0);
}

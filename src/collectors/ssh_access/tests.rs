use super::*;
use crate::collectors::testing::write;
use std::os::unix::fs::PermissionsExt;

/// Public keys made with `ssh-keygen -t ed25519` and `-t ecdsa`; their fingerprints as
/// `ssh-keygen -lf` printed them when the keys were made (checked again below against the
/// `ssh-keygen` of the machine when there is one).
const ED25519: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBrK96mgGvblVOIPUjcbKTWVrrGzpiNjoIst/s3kyfVl";
const ED25519_FP: &str = "SHA256:Gz9rgivYSLGhqufLRHasL5t5iOWDu+esbeiRWACXfyQ";
const ECDSA: &str = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG4LdHvRMQmuXl9e39LUplFWR6N0Q6iEsxgfmQVgzBJZ4NV/YmJzg/J2mXfn0iPHKfyoCiKvrpzvovXtlX5jN0A=";
const ECDSA_FP: &str = "SHA256:TezgaS04opUYNiyt3bWiGlC/XWQPNTOxEYsfDUYFc3M";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
alice:x:1000:1000::/home/alice:/bin/bash\n\
bob:x:1001:1001::/home/bob:/bin/bash\n\
mallory:x:1002:1002::/home/mallory:/bin/bash\n\
carol:x:1003:1003::/home/carol:/bin/bash\n\
nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n\
broken line\n";

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "etc/passwd", PASSWD);
    write(r, "etc/shadow", "root:SHADOW-SECRET:19000::::::\n");
    write(
        r,
        "root/.ssh/authorized_keys",
        format!(
            "# backups\ncommand=\"/usr/local/bin/backup --from \\\"x\\\"\",from=\"10.0.0.0/8\",no-pty ecdsa-sha2-nistp256 {ECDSA} root@backup\n\
             restrict,environment=\"TOKEN=s3cret\" ssh-ed25519 {ED25519} alice@laptop\n"
        ),
    );
    write(
        r,
        "home/alice/.ssh/authorized_keys2",
        format!(
            "\n   ssh-ed25519\t{ED25519}   alice  at  laptop  \nssh-ed25519 notbase64!!\nssh-rsa {ED25519} wrong-type\n"
        ),
    );
    write(
        r,
        "home/bob/.ssh/authorized_keys",
        format!("ssh-ed25519 {ED25519}\n"),
    );
    std::fs::set_permissions(
        r.join("home/bob/.ssh/authorized_keys"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::fs::create_dir_all(r.join("home/mallory/.ssh")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", r.join("home/mallory/.ssh/authorized_keys")).unwrap();
    std::fs::create_dir_all(r.join("home/carol/.ssh")).unwrap();
    nix::unistd::mkfifo(
        &r.join("home/carol/.ssh/authorized_keys"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    dir
}

use crate::collectors::testing::item as by_key;

#[test]
fn keys_of_every_account_with_options_and_no_key_material() {
    let dir = fixture();
    let items = SshAccess.collect(&Host::new(dir.path())).unwrap();
    let backup = by_key(&items, &format!("root:{ECDSA_FP}"));
    assert_eq!(&backup.fields["type"], "ecdsa-sha2-nistp256");
    assert_eq!(&backup.fields["comment"], "root@backup");
    assert_eq!(
        &backup.fields["forced_command"],
        "/usr/local/bin/backup --from \"x\""
    );
    assert_eq!(&backup.fields["from"], "10.0.0.0/8");
    assert!(backup.fields["options"].contains("no-pty"));
    assert_eq!(&backup.fields["file"], "/root/.ssh/authorized_keys");
    assert_eq!(&backup.fields["uid"], "0");
    let laptop = by_key(&items, &format!("root:{ED25519_FP}"));
    assert_eq!(&laptop.fields["options"], "restrict,environment=TOKEN");
    assert!(!laptop.fields.contains_key("forced_command"));

    // authorized_keys2 is read by default; odd spacing; malformed lines reported.
    let alice = by_key(&items, &format!("alice:{ED25519_FP}"));
    assert_eq!(&alice.fields["comment"], "alice  at  laptop");
    assert_eq!(&alice.fields["file"], "/home/alice/.ssh/authorized_keys2");
    let bad: Vec<&Item> = items
        .iter()
        .filter(|i| i.key.starts_with("alice:malformed:"))
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad.iter()
            .any(|i| &i.fields["malformed"] == "key data is not base64")
    );
    assert!(
        bad.iter()
            .any(|i| &i.fields["malformed"] == "key data does not match its type")
    );

    // A group/world-writable file: sshd's StrictModes refuses it; said so, not hidden.
    let bob = by_key(&items, &format!("bob:{ED25519_FP}"));
    assert!(
        bob.fields["strict_modes"].contains("writable by group or others"),
        "{bob:?}"
    );
    assert!(!alice.fields.contains_key("strict_modes"), "{alice:?}");

    // A symlink and a FIFO in hostile homes: not followed, not opened, reported.
    let link = by_key(
        &items,
        "mallory:not read:/home/mallory/.ssh/authorized_keys",
    );
    assert!(link.fields["not_read"].contains("symlink"), "{link:?}");
    let fifo = by_key(&items, "carol:not read:/home/carol/.ssh/authorized_keys");
    assert_eq!(&fifo.fields["not_read"], "not a regular file");

    let all = serde_json::to_string(&items).unwrap();
    for secret in [
        ED25519,
        ECDSA.trim_end_matches('='),
        &ECDSA[..40],
        "s3cret",
        "SHADOW-SECRET",
    ] {
        assert!(!all.contains(secret), "{secret} stored: {all}");
    }
    assert!(
        !items.iter().any(|i| i.key.starts_with("sshd ")),
        "no sshd_config: no settings"
    );
}

#[test]
fn fingerprints_match_ssh_keygen() {
    let dir = fixture();
    let items = SshAccess.collect(&Host::new(dir.path())).unwrap();
    let fps: Vec<&str> = items
        .iter()
        .filter(|i| i.key.starts_with("root:"))
        .map(|i| &i.fields["fingerprint"])
        .collect();
    assert_eq!(fps, [ECDSA_FP, ED25519_FP]);
    // Where ssh-keygen exists, it must agree on the very file read.
    let Ok(out) = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(dir.path().join("root/.ssh/authorized_keys"))
        .output()
    else {
        eprintln!("no ssh-keygen: checked against the recorded fingerprints only");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(theirs, fps, "{text}");
}

const SSHD: &str = "Include /etc/ssh/sshd_config.d/*.conf\n\
# comment\n\
PermitRootLogin yes\n\
Port 22\n\
Port\t2222\n\
ChallengeResponseAuthentication no\n\
PermitEmptyPasswords=yes\n\
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u\n\
UsePAM\n\
Match User bob\n\
    PasswordAuthentication yes\n\
    X11Forwarding yes\n";

#[test]
fn sshd_settings_first_value_wins_with_includes_matches_and_defaults() {
    let dir = fixture();
    let r = dir.path();
    write(r, "etc/ssh/sshd_config", SSHD);
    write(
        r,
        "etc/ssh/sshd_config.d/10-local.conf",
        "PermitRootLogin no\nPasswordAuthentication no\n",
    );
    write(
        r,
        "etc/ssh/sshd_config.d/README",
        "PubkeyAuthentication no\n",
    );
    write(
        r,
        "etc/ssh/keys/alice",
        format!("ssh-ed25519 {ED25519} central\n"),
    );
    let items = SshAccess.collect(&Host::new(r)).unwrap();
    let get = |k: &str| {
        let f = &by_key(&items, k).fields;
        (f["value"].to_string(), f["source"].to_string())
    };
    let dropin = "/etc/ssh/sshd_config.d/10-local.conf".to_string();
    let main = "/etc/ssh/sshd_config".to_string();
    assert_eq!(get("sshd PermitRootLogin"), ("no".into(), dropin.clone()));
    assert_eq!(get("sshd PasswordAuthentication"), ("no".into(), dropin));
    assert_eq!(get("sshd Port"), ("22 2222".into(), main.clone()));
    assert_eq!(
        get("sshd KbdInteractiveAuthentication"),
        ("no".into(), main.clone())
    );
    assert_eq!(
        get("sshd PermitEmptyPasswords"),
        ("yes".into(), main.clone())
    );
    assert_eq!(
        get("sshd PubkeyAuthentication"),
        ("yes".into(), "default".into()),
        "README is not *.conf"
    );
    assert_eq!(get("sshd UsePAM"), ("no".into(), "default".into()));
    assert_eq!(get("sshd Match User bob: PasswordAuthentication").0, "yes");
    assert_eq!(get("sshd Match User bob: X11Forwarding").0, "yes");
    assert_eq!(get("sshd X11Forwarding"), ("no".into(), "default".into()));
    by_key(&items, "sshd malformed /etc/ssh/sshd_config: UsePAM");
    // AuthorizedKeysFile is honoured: the central file is read, authorized_keys2 no longer.
    assert_eq!(
        &by_key(&items, &format!("alice:{ED25519_FP}")).fields["file"],
        "/etc/ssh/keys/alice"
    );
    assert!(!items.iter().any(|i| i.key.starts_with("alice:malformed")));
}

/// Regression (issue 15): six sshd_config.d files that each `Include` all of them were
/// followed eight deep on every path (28 s, 670 MB). Each file is now read once per Match
/// block: its settings count once, and the repeats are one `unread` item per file.
#[test]
fn six_files_that_include_each_other_are_read_once_each() {
    let dir = fixture();
    let r = dir.path();
    write(
        r,
        "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nMatch User bob\nInclude sshd_config.d/0.conf\n",
    );
    for i in 0..6 {
        write(
            r,
            &format!("etc/ssh/sshd_config.d/{i}.conf"),
            format!("Include sshd_config.d/*.conf\nPort 220{i}\n"),
        );
    }
    let t = std::time::Instant::now();
    let items = SshAccess.collect(&Host::new(r)).unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    let ports = &by_key(&items, "sshd Port").fields["value"];
    let mut ports: Vec<&str> = ports.split(' ').collect();
    ports.sort();
    assert_eq!(ports, ["2200", "2201", "2202", "2203", "2204", "2205"]);
    // Under Match, the same files are read again, once each.
    let m = &by_key(&items, "sshd Match User bob: Port").fields["value"];
    assert!(m.starts_with("220"), "{m}");
    let unread: Vec<&str> = items
        .iter()
        .filter(|i| i.key.starts_with("sshd unread "))
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(unread.len(), 6, "{unread:?}");
    assert!(
        by_key(&items, "sshd unread /etc/ssh/sshd_config.d/0.conf").fields["not_read"]
            .contains("included again")
    );
}

/// Past `max_items` files and lines, ssh_access is unavailable and says why.
#[test]
fn sshd_config_past_max_items_is_an_outage() {
    let dir = fixture();
    let lines: String = (0..200).map(|i| format!("AllowUsers u{i}\n")).collect();
    write(dir.path(), "etc/ssh/sshd_config", &lines);
    let e = SshAccess
        .collect(&Host::new(dir.path()).with_max_items(100))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sshd_config and its includes: more than 100") && e.contains("max_items"),
        "{e}"
    );
}

#[test]
fn unchanged_tree_gives_the_same_items_limits_and_errors() {
    let dir = fixture();
    let a = SshAccess.collect(&Host::new(dir.path())).unwrap();
    let b = SshAccess.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(a, b);
    let mut seen = std::collections::HashSet::new();
    assert!(a.iter().all(|i| seen.insert(&i.key)));
    crate::collectors::fuzz::assert_printable(&a);

    let many = format!("ssh-ed25519 {ED25519}\n").repeat(MAX_KEYS + 5);
    write(dir.path(), "home/alice/.ssh/authorized_keys", many);
    let items = SshAccess.collect(&Host::new(dir.path())).unwrap();
    let over = by_key(
        &items,
        "alice:too many keys:/home/alice/.ssh/authorized_keys",
    );
    assert_eq!(
        over.fields["not_read"],
        format!("5 lines after the first {MAX_KEYS} keys")
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        SshAccess.collect(&Host::new(empty.path())),
        Err(CollectError::Unavailable(m)) if m.contains("etc/passwd")
    ));
}

#[test]
fn messages() {
    let dir = fixture();
    let items = SshAccess.collect(&Host::new(dir.path())).unwrap();
    let k = by_key(&items, &format!("root:{ECDSA_FP}"));
    let fields: Vec<(&str, &str)> = k.fields.iter().collect();
    let c =
        crate::collectors::testing::change("ssh_access", ChangeKind::Added, &k.key, &[], &fields);
    let m = SshAccess.message(&c);
    let c = crate::collectors::testing::change(
        "ssh_access",
        ChangeKind::Modified,
        "sshd PermitRootLogin",
        &[("value", "prohibit-password"), ("source", "default")],
        &[("value", "yes"), ("source", "/etc/ssh/sshd_config")],
    );
    assert_eq!(
        SshAccess.message(&c),
        "sshd PermitRootLogin changed: source from default to /etc/ssh/sshd_config, value from prohibit-password to yes"
    );
    assert!(m.starts_with(&format!("authorized key {ECDSA_FP} for root added (type=ecdsa-sha2-nistp256, comment=root@backup, forced_command=")), "{m}");
}

#[test]
fn expansion_and_base64() {
    assert_eq!(expand("%h/.ssh/k", "a", 5, "/home/a"), "/home/a/.ssh/k");
    assert_eq!(
        expand(".ssh/authorized_keys", "a", 5, "/home/a/"),
        "/home/a/.ssh/authorized_keys"
    );
    assert_eq!(
        expand("/etc/keys/%u.%U.%%", "a", 5, "/h"),
        "/etc/keys/a.5.%"
    );
    for s in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
        let e = keys::base64_encode(s);
        assert_eq!(keys::base64_decode(&e).unwrap_or_default(), s, "{e}");
    }
    assert_eq!(keys::base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(keys::base64_encode(b"fo"), "Zm8=");
    assert_eq!(keys::base64_decode("Zm9v!"), None);
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Random and damaged key files and sshd configs never panic the collector, and what it
    /// keeps is printable.
    #[test]
    fn fuzz_keys_and_config(keys in crate::collectors::fuzz::bytes("restrict,command=\"x y\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrK96mgGvblVOIPUjcbKTWVrrGzpiNjoIst/s3kyfVl c\n"),
                            conf in crate::collectors::fuzz::bytes(SSHD)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        write(dir.path(), "root/.ssh/authorized_keys", &keys);
        write(dir.path(), "etc/ssh/sshd_config", &conf);
        let items = SshAccess.collect(&Host::new(dir.path())).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
    }
}

/// The diff of ssh_access between two item lists, judged by the built-in rules.
fn changes(old: Vec<Item>, new: Vec<Item>) -> Vec<Change> {
    let snap = |items| crate::model::Snapshot {
        results: [(
            "ssh_access".to_string(),
            crate::model::Outcome::Items(items),
        )]
        .into(),
    };
    crate::diff::diff(&snap(old), &snap(new)).changes
}

/// Issue 15 item 7: the same key appended without `from=`/`command=` (sshd tries the next
/// matching line when `from=` refuses) was folded into the first line: "0 changes detected".
/// Now every line is an item; the copy is `KEY#2`, judged high as a duplicate of a restricted
/// line, with a message that says so.
#[test]
fn a_duplicate_key_is_an_item_of_its_own_and_reported() {
    let dir = fixture();
    let r = dir.path();
    let host = Host::new(r);
    let before = SshAccess.collect(&host).unwrap();
    // Appended to the same file and to authorized_keys2 (read after it), without restrictions.
    let keys = r.join("root/.ssh/authorized_keys");
    let mut text = std::fs::read_to_string(&keys).unwrap();
    text.push_str(&format!("ecdsa-sha2-nistp256 {ECDSA} root@backup\n"));
    std::fs::write(&keys, &text).unwrap();
    write(
        r,
        "root/.ssh/authorized_keys2",
        format!("no-pty ecdsa-sha2-nistp256 {ECDSA} again\n"),
    );
    let after = SshAccess.collect(&host).unwrap();
    // The first line keeps its key and fields: no churn.
    let first = format!("root:{ECDSA_FP}");
    assert_eq!(by_key(&before, &first), by_key(&after, &first));
    let copy = by_key(&after, &format!("{first}#2"));
    assert_eq!(&copy.fields["duplicate"], "yes");
    assert_eq!(&copy.fields["file"], "/root/.ssh/authorized_keys");
    assert_eq!(&copy.fields["first_file"], "/root/.ssh/authorized_keys");
    assert_eq!(&copy.fields["lifts"], "from,command,no-pty", "{copy:?}");
    assert!(!copy.fields.contains_key("from") && !copy.fields.contains_key("forced_command"));
    let third = by_key(&after, &format!("{first}#3"));
    assert_eq!(&third.fields["file"], "/root/.ssh/authorized_keys2");
    assert_eq!(&third.fields["options"], "no-pty");
    assert_eq!(&third.fields["lifts"], "from,command");

    let c = changes(before.clone(), after.clone());
    assert_eq!(c.len(), 2, "{c:#?}");
    let added = c.iter().find(|c| c.key == format!("{first}#2")).unwrap();
    assert_eq!(added.kind, ChangeKind::Added);
    assert_eq!(added.severity, crate::model::Severity::High);
    assert_eq!(added.rule.as_deref(), Some("ssh.duplicate_key"));
    assert!(
        added.message.starts_with(&format!(
            "authorized key {ECDSA_FP} for root added again (also in /root/.ssh/authorized_keys) (type=ecdsa-sha2-nistp256, comment=root@backup, file=/root/.ssh/authorized_keys)"
        )) && added.message.ends_with(", without the from, command, no-pty that another line of this key has: sshd tries each matching line"),
        "{}",
        added.message
    );

    // Another key inserted above renames nothing; idle rescans agree.
    let other = fake_ed25519(7);
    std::fs::write(&keys, format!("ssh-ed25519 {other} new\n{text}")).unwrap();
    let again = SshAccess.collect(&host).unwrap();
    assert_eq!(again, SshAccess.collect(&host).unwrap());
    let c = changes(after, again.clone());
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].kind, ChangeKind::Added);
    assert!(!c[0].key.contains('#'), "{c:#?}");

    // The same key inserted above the restricted line: the first line is now unrestricted
    // (it lifts the restrictions, judged high) and the restricted one is the copy.
    std::fs::write(&keys, format!("ecdsa-sha2-nistp256 {ECDSA} top\n{text}")).unwrap();
    let c = changes(again, SshAccess.collect(&host).unwrap());
    let lost = c.iter().find(|c| c.key == first).unwrap();
    assert_eq!(lost.kind, ChangeKind::Modified);
    assert_eq!(
        lost.rule.as_deref(),
        Some("ssh.duplicate_key_lifts"),
        "{c:#?}"
    );
    assert_eq!(lost.severity, crate::model::Severity::High);

    // A copy of an unrestricted line lifts nothing: judged as any new key.
    let alice = r.join("home/alice/.ssh/authorized_keys2");
    let before = SshAccess.collect(&host).unwrap();
    let mut text = std::fs::read_to_string(&alice).unwrap();
    text.push_str(&format!("ssh-ed25519 {ED25519} twice\n"));
    std::fs::write(&alice, text).unwrap();
    let c = changes(before, SshAccess.collect(&host).unwrap());
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].key, format!("alice:{ED25519_FP}#2"));
    assert_eq!(c[0].rule.as_deref(), Some("ssh.key"));
}

/// The changes, judged, when alice's two key files go from `before` to `after`
/// (`(authorized_keys, authorized_keys2)`), and the items after.
fn alice_changes(before: (&str, &str), after: (&str, &str)) -> (Vec<Change>, Vec<Item>) {
    let dir = fixture();
    let r = dir.path();
    let host = Host::new(r);
    let put = |(k1, k2): (&str, &str)| {
        write(r, "home/alice/.ssh/authorized_keys", k1);
        write(r, "home/alice/.ssh/authorized_keys2", k2);
        let items = SshAccess.collect(&host).unwrap();
        assert_eq!(items, SshAccess.collect(&host).unwrap(), "idle rescan");
        items
    };
    let old = put(before);
    let new = put(after);
    (changes(old, new.clone()), new)
}

fn rule_of<'a>(c: &'a [Change], key: &str) -> &'a Change {
    c.iter()
        .find(|c| c.key == key)
        .unwrap_or_else(|| panic!("no change of {key}: {c:#?}"))
}

/// Review of issue 15 item 7: only a later copy of a key was judged against the first line.
/// An unrestricted copy put ABOVE the restricted line lifts its restrictions just the same
/// (sshd tries each matching line in order), yet it read as `ssh.key_options` on the first
/// line and `ssh.key` on `#2`, both medium. Now the line that lacks the restrictions is high,
/// whatever the order, and the change line says what it lifts.
#[test]
fn an_unrestricted_copy_above_the_restricted_line_is_high() {
    let restricted = format!(
        "from=\"10.0.0.0/8\",command=\"/usr/bin/backup\",no-pty ssh-ed25519 {ED25519} backup\n"
    );
    let plain = format!("ssh-ed25519 {ED25519} backup\n");
    let fp = format!("alice:{ED25519_FP}");
    let (c, items) = alice_changes((&restricted, ""), (&format!("{plain}{restricted}"), ""));
    assert_eq!(c.len(), 2, "{c:#?}");
    let top = rule_of(&c, &fp);
    assert_eq!(top.kind, ChangeKind::Modified);
    assert_eq!(top.rule.as_deref(), Some("ssh.duplicate_key_lifts"));
    assert_eq!(top.severity, crate::model::Severity::High);
    assert_eq!(
        top.message,
        format!(
            "authorized key {ED25519_FP} for alice changed: now without the from, command, no-pty \
             that another line of this key has (sshd tries each matching line); \
             forced_command from /usr/bin/backup to (none), from from 10.0.0.0/8 to (none), \
             options from from=\"10.0.0.0/8\",command=\"/usr/bin/backup\",no-pty to (none)"
        )
    );
    assert!(!top.message.contains('\n'));
    // The restricted line, now second, is a copy that lifts nothing: judged as a new key.
    let copy = rule_of(&c, &format!("{fp}#2"));
    assert_eq!(copy.kind, ChangeKind::Added);
    assert_eq!(copy.rule.as_deref(), Some("ssh.key"));
    assert!(
        !by_key(&items, &format!("{fp}#2"))
            .fields
            .contains_key("lifts")
    );

    // Appended below instead: the copy is high.
    let (c, _) = alice_changes((&restricted, ""), (&format!("{restricted}{plain}"), ""));
    assert_eq!(c.len(), 1, "{c:#?}");
    let copy = rule_of(&c, &format!("{fp}#2"));
    assert_eq!(copy.rule.as_deref(), Some("ssh.duplicate_key"));
    assert_eq!(copy.severity, crate::model::Severity::High);

    // The restricted line in authorized_keys2 and the copy in authorized_keys (read first):
    // the copy takes the plain key, judged high as above.
    let (c, _) = alice_changes(("", &restricted), (&plain, &restricted));
    let top = rule_of(&c, &fp);
    assert_eq!(
        top.rule.as_deref(),
        Some("ssh.duplicate_key_lifts"),
        "{c:#?}"
    );
    assert!(
        top.message.contains(
            "file from /home/alice/.ssh/authorized_keys2 to /home/alice/.ssh/authorized_keys"
        ),
        "{}",
        top.message
    );
    // And the other way round: restricted in authorized_keys, the copy in authorized_keys2.
    let (c, _) = alice_changes((&restricted, ""), (&restricted, &plain));
    let copy = rule_of(&c, &format!("{fp}#2"));
    assert_eq!(copy.rule.as_deref(), Some("ssh.duplicate_key"), "{c:#?}");

    // The copy removed again: the first line gets its restrictions back, said so, not high.
    let (c, _) = alice_changes((&format!("{plain}{restricted}"), ""), (&restricted, ""));
    let top = rule_of(&c, &fp);
    assert!(top.severity < crate::model::Severity::High, "{c:#?}");
    assert!(
        top.message.starts_with(&format!(
            "authorized key {ED25519_FP} for alice changed: no longer lifts another line's restrictions; "
        )),
        "{}",
        top.message
    );
}

/// Two lines of one key, each restricted to its own network (`from=A`, `from=B`), are a
/// legitimate setup: not high. A copy whose `from=` admits everyone (`*`, `/0`) is no
/// restriction and is high.
#[test]
fn two_restricted_copies_are_not_high() {
    let a = format!("from=\"10.0.0.0/8\",restrict ssh-ed25519 {ED25519} office\n");
    let b = format!("from=\"192.168.0.0/16\",restrict ssh-ed25519 {ED25519} home\n");
    let fp = format!("alice:{ED25519_FP}");
    let (c, items) = alice_changes((&a, ""), (&a, &b));
    assert_eq!(c.len(), 1, "{c:#?}");
    let copy = rule_of(&c, &format!("{fp}#2"));
    assert_eq!(copy.rule.as_deref(), Some("ssh.key"));
    assert_eq!(copy.severity, crate::model::Severity::Medium);
    assert!(
        !items.iter().any(|i| i.fields.contains_key("lifts")),
        "{items:#?}"
    );
    assert!(
        copy.message.starts_with(&format!(
            "authorized key {ED25519_FP} for alice added again (also in /home/alice/.ssh/authorized_keys) (type=ssh-ed25519, comment=home, options="
        )),
        "{}",
        copy.message
    );

    for anyone in ["*", "*.*.*.*,!10.0.0.1", "0.0.0.0/0"] {
        let b = format!("from=\"{anyone}\",restrict ssh-ed25519 {ED25519} any\n");
        let (c, _) = alice_changes((&a, ""), (&b, &a));
        let top = rule_of(&c, &fp);
        assert_eq!(
            top.rule.as_deref(),
            Some("ssh.duplicate_key_lifts"),
            "{anyone}: {c:#?}"
        );
        assert!(
            top.message.contains("now without the from that"),
            "{}",
            top.message
        );
    }
}

/// What counts as a restriction, as sshd applies the options.
#[test]
fn restrictions_as_sshd_applies_them() {
    let r = |opts: &str| {
        let line = format!("{opts} ssh-ed25519 {ED25519}");
        let k = keys::parse(line.trim()).unwrap();
        let (ca, names) = k.restrictions();
        (ca, names.join(","))
    };
    assert_eq!(r(""), (false, String::new()));
    assert_eq!(
        r("restrict"),
        (false, "no-pty,no-port-forwarding,permitopen,permitlisten,no-agent-forwarding,no-X11-forwarding,no-user-rc".into())
    );
    // Later options override earlier ones; names regardless of case.
    assert_eq!(
        r("RESTRICT,Pty,port-forwarding,permitopen=\"h:1\",no-user-rc=x").1,
        "permitopen,no-agent-forwarding,no-X11-forwarding,no-user-rc"
    );
    assert_eq!(r("pty,restrict").1.split(',').next(), Some("no-pty"));
    assert_eq!(r("from=\"*\",command=\"x\"").1, "command");
    assert_eq!(r("from=\"::/0\"").1, "");
    assert_eq!(
        r("from=\"1.2.3.*\",expiry-time=\"20300101\"").1,
        "from,expiry-time"
    );
    assert!(r("cert-authority,principals=\"a\"").0);
    assert_eq!(r("cert-authority,principals=\"a\"").1, "principals");
    assert_eq!(r("environment=\"A=b\",no-touch-required").1, "");
}

/// A plain line and a `cert-authority` line of the same key are different things (sshd
/// matches a key against one and certificates against the other): neither lifts the other.
#[test]
fn a_cert_authority_line_is_judged_apart() {
    let ca = format!("cert-authority,principals=\"ops\" ssh-ed25519 {ED25519} ca\n");
    let plain = format!("restrict ssh-ed25519 {ED25519} ci\n");
    let (_, items) = alice_changes(("", ""), (&format!("{ca}{plain}"), ""));
    assert!(
        !items.iter().any(|i| i.fields.contains_key("lifts")),
        "{items:#?}"
    );
}

/// A well-formed ed25519 public key blob (base64) that no one holds the private half of.
fn fake_ed25519(seed: u8) -> String {
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &[seed; 32][..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    keys::base64_encode(&blob)
}

#[test]
fn shipped_rules_fit_the_items() {
    let dir = fixture();
    let r = dir.path();
    let keys = r.join("root/.ssh/authorized_keys");
    let text = std::fs::read_to_string(&keys).unwrap();
    std::fs::write(&keys, format!("{text}ecdsa-sha2-nistp256 {ECDSA} copy\n")).unwrap();
    write(
        r,
        "etc/ssh/sshd_config",
        format!(
            "StrictModes no\n{SSHD}Match Address 10.0.0.0/8\n  PermitRootLogin yes\n  PermitUserEnvironment yes\n"
        ),
    );
    let items = SshAccess.collect(&Host::new(r)).unwrap();
    assert_eq!(&by_key(&items, "sshd StrictModes").fields["value"], "no");
    crate::sources::common::rules_check::assert_rules_fit("ssh_access", &items);
}

#[test]
fn symlinks_root_controls_are_followed_those_in_homes_are_not() {
    let dir = fixture();
    let r = dir.path();
    write(
        r,
        "etc/passwd",
        format!(
            "{PASSWD}sam:x:1010:1010::/homes/sam:/bin/sh\neve:x:1011:1011::/home/eve:/bin/sh\nbin:x:2:2::/bin:/usr/sbin/nologin\n"
        ),
    );
    // /homes -> var/homes (as on image-based systems); /bin -> usr/bin with no .ssh.
    write(
        r,
        "var/homes/sam/.ssh/authorized_keys",
        format!("ssh-ed25519 {ED25519} sam\n"),
    );
    std::os::unix::fs::symlink("var/homes", r.join("homes")).unwrap();
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
    // eve's .ssh is a symlink to root's.
    std::fs::create_dir_all(r.join("home/eve")).unwrap();
    std::os::unix::fs::symlink(r.join("root/.ssh"), r.join("home/eve/.ssh")).unwrap();
    let items = SshAccess.collect(&Host::new(r)).unwrap();
    let sam = by_key(&items, &format!("sam:{ED25519_FP}"));
    assert_eq!(&sam.fields["file"], "/homes/sam/.ssh/authorized_keys");
    assert!(
        !items.iter().any(|i| i.key.starts_with("bin:")),
        "a home without keys is quiet"
    );
    assert!(!items.iter().any(|i| i.key.starts_with("eve:SHA256")));
    let eve = by_key(&items, "eve:not read:/home/eve/.ssh/authorized_keys");
    assert!(eve.fields["not_read"].contains("symlink"), "{eve:?}");
}

/// The live host: the collector runs, and two runs on an idle host agree.
#[test]
fn live_host_is_read_and_stable() {
    let _live = crate::collectors::testing::live_etc();
    let a = SshAccess.collect(&Host::new("/")).unwrap();
    let b = SshAccess.collect(&Host::new("/")).unwrap();
    assert_eq!(a, b);
    crate::collectors::fuzz::assert_printable(&a);
}

use proptest::prelude::*;

use super::*;
use crate::model::{ChangeKind, Item, Severity};
use crate::rules::testing::change;

#[test]
fn kernel_integers_as_proc_dointvec_reads_them() {
    for (text, want) in [
        ("0", Some(0)),
        ("00", Some(0)),
        ("-0", Some(0)),
        ("0x0", Some(0)),
        ("0X0", Some(0)),
        ("  \t1", Some(1)),
        ("010", Some(8)),
        ("0x10", Some(16)),
        ("-0x10", Some(-16)),
        ("2 3", Some(2)),
        ("1\n", Some(1)),
        ("2147483647", Some(i32::MAX)),
        ("-2147483648", Some(i32::MIN)),
        ("00000000000000000001", Some(1)),
        // Refused by the kernel: the write fails and the setting stays as it was.
        ("000000000000000000001", None),
        ("2147483648", None),
        ("-2147483649", None),
        ("+1", None),
        ("-", None),
        ("", None),
        ("09", None),
        ("0x", None),
        ("0xg", None),
        ("1a", None),
        ("1,2", None),
        ("1\r", None),
        ("one", None),
        ("99999999999999999999", None),
    ] {
        assert_eq!(kernel_int(text), want, "{text:?}");
    }
}

#[test]
fn systemd_booleans_and_the_text_left_alone() {
    for t in ["1", "yes", "Y", "TRUE", "t", "On"] {
        assert_eq!(systemd_bool(t), Some(true), "{t}");
        assert_eq!(Parse::Bool.read(t), "yes");
    }
    for t in ["0", "NO", "n", "False", "F", "off"] {
        assert_eq!(systemd_bool(t), Some(false), "{t}");
        assert_eq!(Parse::Bool.read(t), "no");
    }
    for t in ["2", "yess", " yes", "", "enable"] {
        assert_eq!(systemd_bool(t), None, "{t:?}");
        assert_eq!(Parse::Bool.read(t), t);
    }
    assert_eq!(Parse::Int.read("junk"), "junk");
    assert_eq!(Parse::Int.read("0x1f"), "31");
    assert_eq!(Parse::Nocase.read("Prohibit-Password"), "prohibit-password");
    assert!(matches!(Parse::Nocase.read("no"), Cow::Borrowed(_)));
}

/// The severity the built-in rules give a setting of `collector` first seen with `fields`,
/// and changed to them from `was` (`None`: no earlier item).
fn judged(
    collector: &str,
    key: &str,
    was: Option<&[(&str, &str)]>,
    now: &[(&str, &str)],
) -> Severity {
    let item = |fields: &[(&str, &str)]| {
        let mut i = Item::new(key);
        for (k, v) in fields {
            i = i.with(k, v);
        }
        i
    };
    let c = change(collector, was.map(item), Some(item(now)));
    assert_eq!(
        c.kind,
        if was.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        }
    );
    c.severity
}

/// `word` with the letters whose `upper` flag is set in upper case.
fn respell(word: &str, upper: &[bool]) -> String {
    word.chars()
        .zip(upper.iter().chain(std::iter::repeat(&false)))
        .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// A spelling of `n` the kernel's `proc_dointvec` reads as `n`: leading white space, decimal,
/// octal or hexadecimal digits (either case of `x` and of the hex digits), leading zeros, a
/// trailing space or newline, and `-` for zero.
fn kernel_spelling(n: i32) -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", " ", "\t", "  \t"]),
        0..3usize,
        0..4usize,
        any::<bool>(),
        prop::sample::select(vec!["", " ", "\n", " 7"]),
    )
        .prop_map(move |(lead, radix, zeros, upper, tail)| {
            let sign = if n < 0 { "-" } else { "" };
            let m = n.unsigned_abs();
            let pad = "0".repeat(zeros);
            let body = match radix {
                0 if m == 0 => pad + "0",
                0 => format!("{m}"),
                1 => format!("0{pad}{m:o}"),
                _ if upper => format!("0X{pad}{m:X}"),
                _ => format!("0x{pad}{m:x}"),
            };
            format!("{lead}{sign}{body}{tail}")
        })
}

// Cases per property: `DAWGMON_PROPTEST_CASES` (default 64), as for the collectors' parsers.
use crate::collectors::fuzz::config;

proptest! {
    #![proptest_config(config())]

    /// sshd reads its yes/no settings without regard to case: every spelling of a value is
    /// judged as the lower-case one, first seen and when it changes from the default.
    #[test]
    fn sshd_settings_judged_in_any_case(
        (name, word) in prop::sample::select(vec![
            ("PermitRootLogin", "yes"),
            ("PermitRootLogin", "prohibit-password"),
            ("PermitEmptyPasswords", "yes"),
            ("PasswordAuthentication", "yes"),
            ("KbdInteractiveAuthentication", "yes"),
            ("PermitUserEnvironment", "no"),
            ("PermitUserEnvironment", "yes"),
            ("StrictModes", "no"),
            ("StrictModes", "yes"),
        ]),
        upper in proptest::collection::vec(any::<bool>(), 20),
        matched in any::<bool>(),
    ) {
        let spelt = respell(word, &upper);
        let (key, kind) = if matched {
            (format!("sshd Match User x: {name}"), "match")
        } else {
            (format!("sshd {name}"), "setting")
        };
        for was in [None, Some(&[("kind", kind), ("value", "default-ish"), ("source", "default")][..])] {
            let as_written = judged(
                "ssh_access",
                &key,
                was,
                &[("kind", kind), ("value", &spelt), ("source", "/etc/ssh/sshd_config")],
            );
            let canonical = judged(
                "ssh_access",
                &key,
                was,
                &[("kind", kind), ("value", word), ("source", "/etc/ssh/sshd_config")],
            );
            prop_assert_eq!(as_written, canonical, "{} {} vs {}", key, spelt, word);
        }
    }

    /// Every spelling the kernel reads as N gets the severity of N, configured or live, for
    /// each hardening switch and value the rules tell apart.
    #[test]
    fn sysctl_values_judged_as_the_kernel_reads_them(
        (key, n, spelt) in prop::sample::select(vec![
            "kernel.kptr_restrict",
            "kernel.yama.ptrace_scope",
            "kernel.unprivileged_bpf_disabled",
            "fs.protected_symlinks",
            "kernel.randomize_va_space",
        ])
        .prop_flat_map(|key| (Just(key), prop::sample::select(vec![0, 1, 2, 3, -1])))
        .prop_flat_map(|(key, n)| (Just(key), Just(n), kernel_spelling(n))),
        live in any::<bool>(),
    ) {
        prop_assert_eq!(kernel_int(&spelt), Some(n), "{:?}", spelt);
        let field = if live { "live" } else { "configured" };
        let canonical = n.to_string();
        for was in [None, Some(&[("live", "2"), ("configured", "2")][..])] {
            if live && was.is_none() {
                continue; // a new live value alone is judged low whatever it is
            }
            let as_written = judged("sysctl_hardening", key, was, &[(field, &spelt), ("file", "/etc/sysctl.conf")]);
            let plain = judged("sysctl_hardening", key, was, &[(field, &canonical), ("file", "/etc/sysctl.conf")]);
            prop_assert_eq!(as_written, plain, "{} = {:?} vs {}", key, spelt, canonical);
        }
    }

    /// Whatever the text, reading it twice gives what reading it once gave, and an integer
    /// read back is in the kernel's own decimal.
    #[test]
    fn readings_are_stable(text in "[ \t0-9xXa-fA-F+-]{0,24}") {
        for p in [Parse::Nocase, Parse::Int, Parse::Bool] {
            let once = p.read(&text).into_owned();
            prop_assert_eq!(p.read(&once).into_owned(), once.clone());
        }
        if let Some(n) = kernel_int(&text) {
            prop_assert_eq!(Parse::Int.read(&text), n.to_string());
        }
    }
}

#[test]
fn spelling_dodges_of_the_issue_are_judged_as_the_canonical_value() {
    let sshd = |key: &str, value: &str| {
        judged(
            "ssh_access",
            &format!("sshd {key}"),
            None,
            &[
                ("kind", "setting"),
                ("value", value),
                ("source", "/etc/ssh/sshd_config"),
            ],
        )
    };
    assert_eq!(sshd("PermitRootLogin", "YES"), Severity::High);
    assert_eq!(sshd("PermitEmptyPasswords", "Yes"), Severity::High);
    assert_eq!(sshd("StrictModes", "No"), Severity::Medium);
    assert_eq!(sshd("PermitUserEnvironment", "NO"), Severity::Info);
    let sysctl = |v: &str| {
        judged(
            "sysctl_hardening",
            "kernel.yama.ptrace_scope",
            None,
            &[("configured", v), ("file", "/etc/sysctl.d/99-x.conf")],
        )
    };
    assert_eq!(sysctl("0"), Severity::Medium);
    assert_eq!(sysctl("00"), Severity::Medium);
    assert_eq!(sysctl("0x0"), Severity::Medium);
    // The kernel refuses these: nothing is turned off.
    assert_eq!(sysctl("0zero"), Severity::Low);
    assert_eq!(sysctl("+0"), Severity::Low);
}

#[test]
fn real_collectors_on_a_fake_root_are_judged_as_sshd_and_the_kernel_read_their_files() {
    use crate::collectors::Collector;
    use crate::collectors::testing::{item, write};
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    write(
        r,
        "etc/ssh/sshd_config",
        "PermitRootLogin YES\nPermitEmptyPasswords=Yes\nStrictModes No\n",
    );
    write(
        r,
        "etc/sysctl.d/99-x.conf",
        "kernel.yama.ptrace_scope = 00\n",
    );
    let host = crate::host::Host::new(r);
    let judge = |c: &dyn Collector, key: &str| {
        let items = c.collect(&host).unwrap();
        let found = item(&items, key).clone();
        change(c.name(), None, Some(found)).severity
    };
    let ssh = crate::collectors::by_name("ssh_access").unwrap();
    assert_eq!(judge(ssh, "sshd PermitRootLogin"), Severity::High);
    assert_eq!(judge(ssh, "sshd PermitEmptyPasswords"), Severity::High);
    assert_eq!(judge(ssh, "sshd StrictModes"), Severity::Medium);
    let sysctl = crate::collectors::by_name("sysctl_hardening").unwrap();
    assert_eq!(judge(sysctl, "kernel.yama.ptrace_scope"), Severity::Medium);
    // The stored value keeps its spelling: the reader sees what the file says.
    let items = sysctl.collect(&host).unwrap();
    assert_eq!(
        &item(&items, "kernel.yama.ptrace_scope").fields["configured"],
        "00"
    );
}

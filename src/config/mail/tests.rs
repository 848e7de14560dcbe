use super::*;

/// Parses a whole file the way the daemon's config does: `mail` is an optional table.
fn parse(text: &str) -> Result<MailConfig, String> {
    #[derive(Deserialize)]
    struct File {
        mail: Option<MailConfig>,
    }
    toml::from_str::<File>(text)
        .map(|f| f.mail.expect("a [mail] table"))
        .map_err(|e| e.to_string())
}

const ISSUE_EXAMPLE: &str = r#"
[mail]
from = "dawgmon@host.example"
to = ["root@host.example"]
transport = "smtp"            # or "sendmail"
[mail.smtp]
host = "127.0.0.1"
port = 25
tls = "none"                  # "starttls" | "tls" | "none"
# username = "..."; password_file = "/etc/dawgmon/smtp-password"
[mail.sendmail]
command = "/usr/sbin/sendmail"
"#;

#[test]
fn the_documented_shape_parses_with_defaults() {
    let c = parse(ISSUE_EXAMPLE).unwrap();
    assert_eq!(c.from, "dawgmon@host.example");
    assert_eq!(c.to, ["root@host.example"]);
    assert_eq!(c.transport, TransportKind::Smtp);
    assert_eq!(
        (c.smtp.host.as_str(), c.smtp.port(), c.smtp.tls),
        ("127.0.0.1", 25, TlsMode::None)
    );
    assert_eq!(c.sendmail.command, PathBuf::from("/usr/sbin/sendmail"));
    assert_eq!(c.send, SendPolicy::Changes);
    assert_eq!(c.min_severity, Severity::Info);
    assert_eq!(c.subject, DEFAULT_SUBJECT);
    assert_eq!(c.max_lines, DEFAULT_MAX_LINES);

    let c = parse(
        r#"
[mail]
from = "dawgmon <dawgmon@host.example>"
to = ["a@x.example", "Admin <b@x.example>"]
send = "changes"
min_severity = "high"
subject = "{host}: {severity}"
max_lines = 20
[mail.smtp]
host = "smtp.example.org"
tls = "starttls"
username = "dawgmon"
password_credential = "smtp-password"
"#,
    )
    .unwrap();
    assert_eq!(c.smtp.port(), 587);
    assert_eq!(c.min_severity, Severity::High);
    assert_eq!(c.to.len(), 2);

    // A sendmail section alone implies the sendmail transport.
    let c =
        parse("[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n[mail.sendmail]\n").unwrap();
    assert_eq!(c.transport, TransportKind::Sendmail);
    assert_eq!(c.sendmail.timeout(), Duration::from_secs(60));
    assert_eq!(c.smtp.timeout(), Duration::from_secs(30));
}

#[test]
fn send_timeouts_are_configurable_and_never_zero() {
    let base = "[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n";
    let c = parse(&format!(
        "{base}[mail.sendmail]\ntimeout_secs = 2\n[mail.smtp]\ntimeout_secs = 3\n"
    ))
    .unwrap();
    assert_eq!(c.sendmail.timeout(), Duration::from_secs(2));
    assert_eq!(c.smtp.timeout(), Duration::from_secs(3));
    let e = parse(&format!("{base}[mail.sendmail]\ntimeout_secs = 0\n")).unwrap_err();
    assert!(
        e.contains("mail.sendmail.timeout_secs must be at least 1"),
        "{e}"
    );
    let e = parse(&format!("{base}[mail.smtp]\ntimeout_secs = 0\n")).unwrap_err();
    assert!(
        e.contains("mail.smtp.timeout_secs must be at least 1"),
        "{e}"
    );
}

#[test]
fn mistakes_are_refused_naming_the_key_and_the_fix() {
    let base = "[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n";
    let err = |extra: &str| parse(&format!("{base}{extra}")).unwrap_err();

    let e = err("[mail.smtp]\nusername = \"u\"\npassword = \"hunter2\"\n");
    assert!(e.contains("never read from the configuration file"), "{e}");
    assert!(e.contains("password_file"), "{e}");
    assert!(
        !e.contains("hunter2"),
        "the password leaks into the message: {e}"
    );

    let e = err("colour = \"red\"\n");
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = err("[mail.smtp]\nhots = \"x\"\n");
    assert!(e.contains("unknown field `hots`"), "{e}");
    let e = err("transport = \"carrier-pigeon\"\n");
    assert!(e.contains("unknown variant `carrier-pigeon`"), "{e}");
    let e = err("min_severity = \"urgent\"\n");
    assert!(e.contains("unknown variant `urgent`"), "{e}");
    let e = err("[mail.smtp]\ntls = \"ssl\"\n");
    assert!(e.contains("unknown variant `ssl`"), "{e}");
    let e = err("subject = \"{hostname}\"\n");
    assert!(e.contains("unknown placeholder {hostname}"), "{e}");
    let e = err("[mail.smtp]\nusername = \"u\"\n");
    assert!(e.contains("no password: add password_file"), "{e}");
    let e =
        err("[mail.smtp]\nhost = \"mx.example.org\"\nusername = \"u\"\npassword_file = \"/p\"\n");
    assert!(e.contains("unencrypted: set tls"), "{e}");
    let e =
        err("[mail.smtp]\nusername = \"u\"\npassword_file = \"/p\"\npassword_credential = \"c\"\n");
    assert!(e.contains("not both"), "{e}");
    let e = err("max_lines = 0\n");
    assert!(e.contains("max_lines"), "{e}");

    let e = parse("[mail]\nfrom = \"not an address\"\nto = [\"c@d.example\"]\n").unwrap_err();
    assert!(
        e.contains("mail.from: \"not an address\" is not an e-mail address"),
        "{e}"
    );
    let e = parse("[mail]\nfrom = \"a@b.example\"\nto = []\n").unwrap_err();
    assert!(e.contains("mail.to is empty"), "{e}");
    let e = parse("[mail]\nto = [\"c@d.example\"]\n").unwrap_err();
    assert!(e.contains("missing field `from`"), "{e}");
}

#[test]
fn loopback_relays_may_take_a_password_without_tls() {
    let c = parse(
        "[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n[mail.smtp]\nhost = \"::1\"\nusername = \"u\"\npassword_file = \"/p\"\n",
    );
    assert!(c.is_ok(), "{c:?}");
}

/// `min_severity = "critical"` mails only when a change reaches critical.
#[test]
fn min_severity_knows_critical() {
    use crate::model::{Change, ChangeKind};
    use crate::report::{Report, ScanRef};
    let c = parse(
        "[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\nmin_severity = \"critical\"\n",
    )
    .unwrap();
    assert_eq!(c.min_severity, Severity::Critical);
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let scan = |id| ScanRef {
        id,
        label: None,
        started_at: at,
    };
    let change = |severity| Change {
        collector: "list_suids".into(),
        kind: ChangeKind::Added,
        key: "/usr/bin/x".into(),
        message: "suid binary /usr/bin/x got created".into(),
        severity,
        rule: None,
        before: None,
        after: None,
    };
    let mut report = Report {
        from: Some(scan(1)),
        to: scan(2),
        changes: vec![change(Severity::High)],
        warnings: vec![],
        ignored: 0,
    };
    assert_eq!(
        crate::mail::decide(&c, &report),
        crate::mail::Decision::Skip
    );
    report.changes.push(change(Severity::Critical));
    assert_eq!(
        crate::mail::decide(&c, &report),
        crate::mail::Decision::Report
    );
}

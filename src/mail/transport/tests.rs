use super::*;

fn cfg() -> MailConfig {
    let mut c = MailConfig::new("a@b.example", &["c@d.example"], TransportKind::Smtp);
    c.smtp.username = Some("u".into());
    c
}

#[test]
fn password_from_a_file_or_a_systemd_credential() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp"), "s3cret word\nignored\n").unwrap();
    let mut c = cfg();
    c.smtp.password_file = Some(dir.path().join("smtp"));
    assert_eq!(password(&c, None).unwrap(), "s3cret word");

    let mut c = cfg();
    c.smtp.password_credential = Some("smtp".into());
    assert_eq!(password(&c, Some(dir.path())).unwrap(), "s3cret word");
    let e = password(&c, None).unwrap_err().to_string();
    assert!(
        e.contains("CREDENTIALS_DIRECTORY") && e.contains("LoadCredential=smtp:"),
        "{e}"
    );
    c.smtp.password_credential = Some("absent".into());
    let e = password(&c, Some(dir.path())).unwrap_err().to_string();
    assert!(e.contains("absent") && e.contains("LoadCredential="), "{e}");

    let mut c = cfg();
    std::fs::write(dir.path().join("empty"), "").unwrap();
    c.smtp.password_file = Some(dir.path().join("empty"));
    let e = password(&c, None).unwrap_err().to_string();
    assert!(e.contains("is empty"), "{e}");
}

#[tokio::test]
async fn failures_name_the_server() {
    let mut c = cfg();
    c.smtp.username = None;
    c.smtp.host = "mx.example.org".into();
    c.smtp.tls = TlsMode::Starttls;
    let m = Mailer::new(&c).unwrap();
    assert_eq!(m.via(), "SMTP server mx.example.org:587 (STARTTLS)");
    c.transport = TransportKind::Sendmail;
    assert_eq!(
        Mailer::new(&c).unwrap().via(),
        "sendmail command /usr/sbin/sendmail"
    );
}

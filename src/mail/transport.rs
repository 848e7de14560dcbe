//! Sending: a [`Mailer`] built from the configuration, over SMTP (plain for a local relay,
//! STARTTLS or implicit TLS with rustls, optional login) or through the local MTA's sendmail
//! binary. Every failure names the server or command it concerns.

use std::error::Error as StdError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSendmailTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{MailConfig, TlsMode, TransportKind, parse_mailbox};
use crate::error::MailError;
use crate::store::OutboxMail;

/// Sends mail through the configured transport. Cheap to clone; build it once at start-up (the
/// SMTP password is read then) and again when the configuration is reloaded.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    to: Vec<Mailbox>,
    via: String,
    inner: Arc<Inner>,
}

enum Inner {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Sendmail(AsyncSendmailTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("via", &self.via).finish()
    }
}

impl Mailer {
    /// Builds the transport `cfg` describes, reading the SMTP password if one is configured.
    /// Call it (and drop the mailer) inside the Tokio runtime: the SMTP connection pool runs
    /// a task there.
    pub fn new(cfg: &MailConfig) -> Result<Mailer, MailError> {
        cfg.validate().map_err(MailError::Config)?;
        let from = parse_mailbox("from", &cfg.from).map_err(MailError::Config)?;
        let to = cfg
            .to
            .iter()
            .map(|t| parse_mailbox("to", t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(MailError::Config)?;
        let (via, inner) = match cfg.transport {
            TransportKind::Sendmail => {
                let cmd = &cfg.sendmail.command;
                (
                    format!("sendmail command {}", cmd.display()),
                    Inner::Sendmail(AsyncSendmailTransport::new_with_command(cmd.as_os_str())),
                )
            }
            TransportKind::Smtp => {
                let s = &cfg.smtp;
                let tls_params = || {
                    TlsParameters::builder(s.host.clone())
                        .build_rustls()
                        .map_err(|e| {
                            MailError::Config(format!(
                                "mail.smtp: TLS for {}: {}",
                                s.host,
                                chain(&e)
                            ))
                        })
                };
                let tls = match s.tls {
                    TlsMode::None => Tls::None,
                    TlsMode::Starttls => Tls::Required(tls_params()?),
                    TlsMode::Tls => Tls::Wrapper(tls_params()?),
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
                    .port(s.port())
                    .tls(tls)
                    .timeout(Some(s.timeout()));
                if let Some(user) = &s.username {
                    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
                    let pw = password(cfg, creds.as_deref())?;
                    builder = builder.credentials(Credentials::new(user.clone(), pw));
                }
                let tls = match s.tls {
                    TlsMode::None => "no TLS",
                    TlsMode::Starttls => "STARTTLS",
                    TlsMode::Tls => "TLS",
                };
                (
                    format!("SMTP server {}:{} ({tls})", s.host, s.port()),
                    Inner::Smtp(builder.build()),
                )
            }
        };
        Ok(Mailer {
            from,
            to,
            via,
            inner: Arc::new(inner),
        })
    }

    /// What the mail goes through: `SMTP server 127.0.0.1:25 (no TLS)`, `sendmail command ...`.
    pub fn via(&self) -> &str {
        &self.via
    }

    /// The configured recipients.
    pub fn recipients(&self) -> &[Mailbox] {
        &self.to
    }

    /// The configured sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Sends one outbox message. Returns the server's answer.
    pub async fn send_outbox(&self, mail: &OutboxMail) -> Result<String, MailError> {
        let message = self.build(mail)?;
        self.send(message).await
    }

    /// Sends a built message. Returns the server's answer (for sendmail, that the command
    /// exited successfully).
    pub async fn send(&self, message: Message) -> Result<String, MailError> {
        let failed = |message: String| MailError::Send {
            via: self.via.clone(),
            message,
        };
        match &*self.inner {
            Inner::Smtp(t) => {
                let r = t.send(message).await.map_err(|e| failed(chain(&e)))?;
                let text: Vec<&str> = r.message().collect();
                Ok(format!("{} {}", r.code(), text.join(" "))
                    .trim_end()
                    .to_string())
            }
            Inner::Sendmail(t) => {
                t.send(message).await.map_err(|e| failed(chain(&e)))?;
                Ok(format!("accepted by the {}", self.via))
            }
        }
    }

    /// The RFC 5322 message of an outbox row. Its Date is when the report was written and its
    /// Message-ID is derived from the row, so a retry after an unacknowledged success carries
    /// the same identity (and can be recognised as a duplicate).
    pub fn build(&self, mail: &OutboxMail) -> Result<Message, MailError> {
        let bad = |message: String| MailError::Build {
            id: mail.id,
            message,
        };
        let domain = self.from.email.domain().to_string();
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .date(SystemTime::from(mail.created_at))
            .message_id(Some(format!(
                "<dawgmon.{}.{}@{domain}>",
                mail.id,
                mail.created_at.timestamp_millis()
            )))
            .user_agent(format!("dawgmon {}", env!("CARGO_PKG_VERSION")))
            .header(AutoSubmitted);
        if mail.recipients.is_empty() {
            return Err(bad("it has no recipients".into()));
        }
        for r in &mail.recipients {
            b = b.to(r
                .parse::<Mailbox>()
                .map_err(|e| bad(format!("recipient {r:?}: {e}")))?);
        }
        let built = match &mail.body_html {
            Some(html) => b.multipart(MultiPart::alternative_plain_html(
                mail.body_text.clone(),
                html.clone(),
            )),
            None => b
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body_text.clone()),
        };
        built.map_err(|e| bad(e.to_string()))
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834), so vacation responders stay quiet.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn StdError + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// The SMTP password, from `password_file` or the systemd credential in `credentials_dir`
/// (`$CREDENTIALS_DIRECTORY`).
fn password(cfg: &MailConfig, credentials_dir: Option<&Path>) -> Result<String, MailError> {
    let s = &cfg.smtp;
    let (path, fix): (PathBuf, &'static str) = match (&s.password_file, &s.password_credential) {
        (Some(p), _) => (
            p.clone(),
            "make it readable by the user dawgmond runs as, or fix password_file in [mail.smtp]",
        ),
        (None, Some(name)) => (
            credentials_dir.map(|d| d.join(name)).ok_or_else(|| {
                MailError::Config(format!(
                    "mail.smtp.password_credential = {name:?} needs $CREDENTIALS_DIRECTORY, which systemd sets for a unit with LoadCredential={name}:/path/to/secret; outside systemd use password_file"
                ))
            })?,
            "check LoadCredential= in the dawgmond unit and the credential's source file",
        ),
        (None, None) => {
            return Err(MailError::Config(
                "mail.smtp.username is set but no password_file or password_credential".into(),
            ));
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| MailError::Password {
        path: path.clone(),
        source,
        fix,
    })?;
    warn_if_readable(&path);
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        return Err(MailError::Config(format!(
            "the SMTP password file {} is empty: write the password on its first line",
            path.display()
        )));
    }
    Ok(pw)
}

fn warn_if_readable(path: &Path) {
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o004 != 0
    {
        tracing::warn!(
            "the SMTP password file {} is readable by every user: chmod 600 it",
            path.display()
        );
    }
}

/// An error and its sources on one line, without repeating a source already in the text.
pub(crate) fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
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
}

//! Sending: a [`Mailer`] built from the configuration, over SMTP (plain for a local relay,
//! STARTTLS or implicit TLS with rustls, optional login) or through the local MTA's sendmail
//! binary. Every failure names the server or command it concerns and says whether it is
//! permanent ([`MailError::is_permanent`]).
//!
//! Every send has a deadline, so a dead server or a hung MTA never holds up the mail behind it:
//! the whole SMTP exchange (connection, greeting, TLS, login, transaction) gets
//! `smtp.timeout_secs`; the sendmail command gets `sendmail.timeout_secs`, runs in its own
//! process group, and that whole group is killed (SIGKILL) when time is up, so nothing it
//! started lingers.

use std::error::Error as StdError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::mail::{MailConfig, TlsMode, TransportKind, parse_mailbox};
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
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The whole exchange's deadline.
        timeout: Duration,
    },
    Sendmail {
        command: PathBuf,
        timeout: Duration,
    },
}

/// sendmail's exit statuses (sysexits.h) that refuse the message itself: EX_DATAERR,
/// EX_NOUSER, EX_NOHOST. Any other failure may pass on a retry.
const SENDMAIL_PERMANENT: [i32; 3] = [65, 67, 68];

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
                    Inner::Sendmail {
                        command: cmd.clone(),
                        timeout: cfg.sendmail.timeout(),
                    },
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
                // No connection is kept for reuse (max_size 0): a delivery cut off by the
                // deadline leaves its connection mid-transaction, and lettre's pool would hand it
                // to the next message. Reports are few; a connection each costs nothing.
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
                    .port(s.port())
                    .tls(tls)
                    .timeout(Some(s.timeout()))
                    .pool_config(PoolConfig::new().max_size(0));
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
                    Inner::Smtp {
                        transport: builder.build(),
                        timeout: s.timeout(),
                    },
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
        let failed = |message: String, permanent: bool| MailError::Send {
            via: self.via.clone(),
            message,
            permanent,
        };
        match &*self.inner {
            Inner::Smtp { transport, timeout } => {
                let r = match tokio::time::timeout(*timeout, transport.send(message)).await {
                    Err(_) => {
                        return Err(failed(
                            format!(
                                "no complete answer within {} s (mail.smtp.timeout_secs)",
                                timeout.as_secs()
                            ),
                            false,
                        ));
                    }
                    Ok(r) => r.map_err(|e| failed(chain(&e), e.is_permanent()))?,
                };
                let text: Vec<&str> = r.message().collect();
                Ok(format!("{} {}", r.code(), text.join(" "))
                    .trim_end()
                    .to_string())
            }
            Inner::Sendmail { command, timeout } => {
                sendmail(command, *timeout, &message)
                    .await
                    .map_err(|(m, permanent)| failed(m, permanent))?;
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
        // The sealed checkpoint the body carries leaves in a header too (docs/trust.md).
        if let Some(cp) = crate::mail::checkpoint_in(&mail.body_text) {
            b = b.header(CheckpointHeader(cp));
        }
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

/// `X-Dawgmon-Checkpoint: dawgmon-checkpoint v1 …`: the latest sealed checkpoint.
#[derive(Clone)]
struct CheckpointHeader(String);

impl Header for CheckpointHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Dawgmon-Checkpoint")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn StdError + Send + Sync>> {
        Ok(CheckpointHeader(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Runs `COMMAND -i -f FROM -- RCPT...` with the message on its standard input, in a process
/// group of its own that is killed when `timeout` runs out. Returns the failure and whether it
/// is permanent.
async fn sendmail(
    command: &Path,
    timeout: Duration,
    message: &Message,
) -> Result<(), (String, bool)> {
    let envelope = message.envelope();
    let mut cmd = tokio::process::Command::new(command);
    cmd.arg("-i");
    if let Some(from) = envelope.from() {
        cmd.arg("-f").arg(from.as_ref() as &str);
    }
    cmd.arg("--")
        .args(envelope.to().iter().map(|a| a.as_ref() as &str))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| (format!("cannot run it: {e}"), false))?;
    let group = child.id().map(|pid| nix::unistd::Pid::from_raw(pid as i32));
    let mut stdin = child.stdin.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // Read stderr all along, so a chatty MTA cannot block on a full pipe.
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let body = message.formatted();
    let run = tokio::time::timeout(timeout, async {
        // An MTA that exits without reading everything closes the pipe: its exit status tells.
        let written = stdin.write_all(&body).await;
        drop(stdin);
        let status = child.wait().await;
        (written, status)
    })
    .await;
    let (written, status) = match run {
        Ok(done) => done,
        Err(_) => {
            if let Some(g) = group {
                let _ = nix::sys::signal::killpg(g, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.kill().await;
            reader.abort();
            return Err((
                format!(
                    "no exit within {} s (mail.sendmail.timeout_secs): killed it",
                    timeout.as_secs()
                ),
                false,
            ));
        }
    };
    let status = status.map_err(|e| (format!("waiting for it: {e}"), false))?;
    // Whatever it left running may hold stderr open: take what came within a second.
    let abort = reader.abort_handle();
    let err = match tokio::time::timeout(Duration::from_secs(1), reader).await {
        Ok(Ok(buf)) => String::from_utf8_lossy(&buf).trim().to_string(),
        _ => {
            abort.abort();
            String::new()
        }
    };
    let said = |what: String| {
        if err.is_empty() {
            what
        } else {
            format!(
                "{what}: {}",
                err.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        }
    };
    if !status.success() {
        let permanent = status
            .code()
            .is_some_and(|c| SENDMAIL_PERMANENT.contains(&c));
        return Err((said(format!("it {status}")), permanent));
    }
    if let Err(e) = written {
        return Err((said(format!("writing the message to it: {e}")), false));
    }
    Ok(())
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
mod tests;

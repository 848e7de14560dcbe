//! The `[mail]` table of `dawgmond.toml`: who gets change reports, through which transport, and
//! when. Parsing validates everything that can be checked without touching the host (addresses,
//! the subject template, credential settings), so a mistake stops the daemon at start-up with a
//! message naming the key; the password itself is read when the mailer is built.
//!
//! Deserialisation goes through a private mirror (`MailToml`) so that cross-field rules and the
//! refusal of an inline `password` happen inside serde: the daemon's `Config` only has to embed
//! `mail: Option<MailConfig>`.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use crate::model::Severity;

/// The subject used when the configuration does not set one.
pub const DEFAULT_SUBJECT: &str =
    "[dawgmon] {host}: {changes} changes, {warnings} warnings (highest: {severity})";
/// How many change and warning lines a message shows before it is cut.
pub const DEFAULT_MAX_LINES: usize = 500;
/// The local MTA's binary when `[mail.sendmail]` does not name one.
pub const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail";
/// Seconds the sendmail command may run before it (and what it started) is killed.
pub const DEFAULT_SENDMAIL_TIMEOUT: u64 = 60;
/// The placeholders a subject template may use.
pub const PLACEHOLDERS: [&str; 5] = ["host", "changes", "warnings", "severity", "scan"];

/// The whole `[mail]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MailToml")]
pub struct MailConfig {
    /// The sender, `dawgmon@host.example` or `dawgmon <dawgmon@host.example>`.
    pub from: String,
    /// The recipients (at least one).
    pub to: Vec<String>,
    pub transport: TransportKind,
    /// When a scan produces a message.
    pub send: SendPolicy,
    /// With `send = "changes"`: mail only when some change is at least this severe.
    pub min_severity: Severity,
    /// Subject template; see [`PLACEHOLDERS`]. `{{` and `}}` are literal braces.
    pub subject: String,
    /// Change and warning lines shown before the message is cut.
    pub max_lines: usize,
    pub smtp: SmtpConfig,
    pub sendmail: SendmailConfig,
}

/// `transport = "smtp" | "sendmail"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    Smtp,
    Sendmail,
}

/// `send = "changes" | "always" | "never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendPolicy {
    /// After a scan with at least one change at or above `min_severity` (the default).
    #[default]
    Changes,
    /// After every scan, even an unchanged one (a heartbeat).
    Always,
    /// Never (mail configured but paused).
    Never,
}

/// `tls = "none" | "starttls" | "tls"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP, for a relay on this host.
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl TlsMode {
    /// The usual port of each mode: 25, 587, 465.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        }
    }
}

/// `[mail.smtp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    /// Defaults to the usual port of `tls`.
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub username: Option<String>,
    /// A file holding the password (first line; keep it 0600 root).
    pub password_file: Option<PathBuf>,
    /// A systemd credential (`LoadCredential=NAME:...`), read from `$CREDENTIALS_DIRECTORY/NAME`.
    pub password_credential: Option<String>,
    /// Seconds one whole delivery (connection, TLS, login, transaction) may take.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: None,
            tls: TlsMode::None,
            username: None,
            password_file: None,
            password_credential: None,
            timeout_secs: 30,
        }
    }
}

impl SmtpConfig {
    /// The port actually used.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.tls.default_port())
    }

    /// The deadline of one whole delivery.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// `[mail.sendmail]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendmailConfig {
    /// The MTA's sendmail-compatible binary; called as `COMMAND -i -f FROM -- RCPT...`.
    pub command: PathBuf,
    /// Seconds one call may run before its process group is killed.
    pub timeout_secs: u64,
}

impl Default for SendmailConfig {
    fn default() -> Self {
        SendmailConfig {
            command: PathBuf::from(DEFAULT_SENDMAIL),
            timeout_secs: DEFAULT_SENDMAIL_TIMEOUT,
        }
    }
}

impl SendmailConfig {
    /// The deadline of one call.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

impl MailConfig {
    /// A configuration with defaults for everything but the addresses (for tests and examples).
    pub fn new(from: &str, to: &[&str], transport: TransportKind) -> MailConfig {
        MailConfig {
            from: from.into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            transport,
            send: SendPolicy::default(),
            min_severity: Severity::Info,
            subject: DEFAULT_SUBJECT.into(),
            max_lines: DEFAULT_MAX_LINES,
            smtp: SmtpConfig::default(),
            sendmail: SendmailConfig::default(),
        }
    }

    /// Re-checks a configuration built in code (parsing already did this).
    pub fn validate(&self) -> Result<(), String> {
        parse_mailbox("from", &self.from)?;
        if self.to.is_empty() {
            return Err(
                "mail.to is empty: list at least one recipient, e.g. to = [\"root@localhost\"]"
                    .into(),
            );
        }
        for t in &self.to {
            parse_mailbox("to", t)?;
        }
        check_template(&self.subject)?;
        if self.max_lines == 0 {
            return Err("mail.max_lines must be at least 1".into());
        }
        let s = &self.smtp;
        if s.host.trim().is_empty() {
            return Err(
                "mail.smtp.host is empty: name the SMTP server, e.g. host = \"127.0.0.1\"".into(),
            );
        }
        if s.password_file.is_some() && s.password_credential.is_some() {
            return Err("mail.smtp: set password_file or password_credential, not both".into());
        }
        let has_password = s.password_file.is_some() || s.password_credential.is_some();
        match (&s.username, has_password) {
            (Some(_), false) => {
                return Err("mail.smtp.username is set but no password: add password_file = \"/etc/dawgmon/smtp-password\" (or password_credential = \"NAME\" with systemd's LoadCredential=)".into());
            }
            (None, true) => {
                return Err(
                    "mail.smtp has a password but no username: add username = \"...\"".into(),
                );
            }
            _ => {}
        }
        if s.username.is_some() && s.tls == TlsMode::None && !is_loopback(&s.host) {
            return Err(format!(
                "mail.smtp: the password would cross the network to {} unencrypted: set tls = \"starttls\" or \"tls\"",
                s.host
            ));
        }
        if let Some(name) = &s.password_credential
            && (name.is_empty() || name.contains('/') || name == "." || name == "..")
        {
            return Err(format!(
                "mail.smtp.password_credential {name:?} is not a credential name: use the NAME of LoadCredential=NAME:PATH"
            ));
        }
        if s.timeout_secs == 0 {
            return Err("mail.smtp.timeout_secs must be at least 1 (seconds one delivery may take, default 30)".into());
        }
        if self.sendmail.timeout_secs == 0 {
            return Err("mail.sendmail.timeout_secs must be at least 1 (seconds the command may run, default 60)".into());
        }
        if self.sendmail.command.as_os_str().is_empty() {
            return Err("mail.sendmail.command is empty: name the MTA's binary, e.g. \"/usr/sbin/sendmail\"".into());
        }
        Ok(())
    }
}

/// Parses an address, naming the key on failure.
pub(crate) fn parse_mailbox(key: &str, value: &str) -> Result<Mailbox, String> {
    value.parse::<Mailbox>().map_err(|e| {
        format!("mail.{key}: {value:?} is not an e-mail address ({e}): write user@host.example or \"Name <user@host.example>\"")
    })
}

/// Checks that a subject template uses only known placeholders and balanced braces.
pub(crate) fn check_template(template: &str) -> Result<(), String> {
    fill_subject(template, |name| {
        PLACEHOLDERS.contains(&name).then(String::new)
    })
    .map(|_| ())
    .map_err(|e| format!("mail.subject: {e}"))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// The shape as written in the file: every key optional but the addresses, unknown keys refused.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MailToml {
    from: String,
    to: Vec<String>,
    transport: Option<TransportKind>,
    #[serde(default)]
    send: SendPolicy,
    #[serde(default)]
    min_severity: Severity,
    subject: Option<String>,
    max_lines: Option<usize>,
    smtp: Option<SmtpToml>,
    sendmail: Option<SendmailToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpToml {
    host: Option<String>,
    port: Option<u16>,
    #[serde(default)]
    tls: TlsMode,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_credential: Option<String>,
    timeout_secs: Option<u64>,
    /// Only so that it can be refused with a useful message.
    password: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendmailToml {
    command: Option<PathBuf>,
    timeout_secs: Option<u64>,
}

impl TryFrom<MailToml> for MailConfig {
    type Error = String;

    fn try_from(t: MailToml) -> Result<Self, String> {
        let transport = match t.transport {
            Some(k) => k,
            None if t.sendmail.is_some() && t.smtp.is_none() => TransportKind::Sendmail,
            None => TransportKind::Smtp,
        };
        let smtp = match t.smtp {
            None => SmtpConfig::default(),
            Some(s) => {
                if s.password.is_some() {
                    return Err("mail.smtp.password: a password is never read from the configuration file (it is often world-readable): put it in a file only root can read and set password_file = \"/etc/dawgmon/smtp-password\", or use a systemd credential with password_credential = \"NAME\"".into());
                }
                let d = SmtpConfig::default();
                SmtpConfig {
                    host: s.host.unwrap_or(d.host),
                    port: s.port,
                    tls: s.tls,
                    username: s.username,
                    password_file: s.password_file,
                    password_credential: s.password_credential,
                    timeout_secs: s.timeout_secs.unwrap_or(d.timeout_secs),
                }
            }
        };
        let cfg = MailConfig {
            from: t.from,
            to: t.to,
            transport,
            send: t.send,
            min_severity: t.min_severity,
            subject: t.subject.unwrap_or_else(|| DEFAULT_SUBJECT.into()),
            max_lines: t.max_lines.unwrap_or(DEFAULT_MAX_LINES),
            smtp,
            sendmail: match t.sendmail {
                None => SendmailConfig::default(),
                Some(s) => SendmailConfig {
                    command: s.command.unwrap_or_else(|| PathBuf::from(DEFAULT_SENDMAIL)),
                    timeout_secs: s.timeout_secs.unwrap_or(DEFAULT_SENDMAIL_TIMEOUT),
                },
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests;

/// Fills `{name}` placeholders through `lookup`; `{{` and `}}` are literal braces. An unknown
/// name or an unbalanced brace is an error naming it.
pub fn fill_subject(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err(format!(
                "unmatched '}}' in {template:?} (write '}}}}' for a literal brace)"
            ));
        } else {
            let end = tail.find('}').ok_or_else(|| {
                format!("unclosed '{{' in {template:?} (write '{{{{' for a literal brace)")
            })?;
            let name = &tail[1..end];
            let value = lookup(name).ok_or_else(|| {
                format!(
                    "unknown placeholder {{{name}}} in {template:?}: use {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                )
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

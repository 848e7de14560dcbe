//! Mail end to end: change reports go through the outbox to a real SMTP server (Python's
//! aiosmtpd, storing each message in a Maildir) or to a stand-in for the sendmail binary, and are
//! read back. The reports come from real scans of a fake root with the `check_groups` collector.
//! Each test holds the live-host lock: the SMTP server's listening port and the MTA stand-in's
//! process would otherwise show up in another test's scan of the live host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::helper::smtp::{SmtpSink, decode_qp, free_port, header};
use chrono::Utc;
use dawgmon::collectors::by_name;
use dawgmon::engine::{Engine, ScanResult};
use dawgmon::mail::{
    DeliveryStats, MailConfig, Mailer, SendPolicy, TransportKind, deliver_due, queue_report,
    send_test,
};
use dawgmon::store::Store;

const PLANTED: &str = "group dawgmon-planted added (gid=4242, members=alice)";

/// A fake root with a host name and an etc/group, and an engine scanning it into `dir/db.sqlite`.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hostname"), "planted-host\n").unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nusers:x:100:\n").unwrap();
        let db = dir.path().join("db.sqlite");
        Host {
            root,
            db,
            _dir: dir,
        }
    }

    async fn scan(&self, store: &Store) -> ScanResult {
        let engine = Engine::new(store.clone(), self.root.clone());
        let collectors = vec![by_name("check_groups").unwrap()];
        engine
            .scan(None, collectors, Arc::new(|_| {}))
            .await
            .unwrap()
    }

    fn plant_group(&self) {
        let path = self.root.join("etc/group");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("dawgmon-planted:x:4242:alice\n");
        std::fs::write(path, text).unwrap();
    }

    /// The baseline scan, then one with a planted group: returns both results.
    async fn baseline_then_change(&self, store: &Store) -> (ScanResult, ScanResult) {
        let first = self.scan(store).await;
        self.plant_group();
        let second = self.scan(store).await;
        assert_eq!(second.report.changes.len(), 1, "{:?}", second.report);
        assert_eq!(second.report.changes[0].message, PLANTED);
        (first, second)
    }
}

/// Runs a test body on its own runtime, so the live-host lock is held outside any `await`.
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn smtp_config(port: u16) -> MailConfig {
    let mut cfg = MailConfig::new(
        "dawgmon@planted-host.example",
        &["root@planted-host.example", "Admin <admin@example.org>"],
        TransportKind::Smtp,
    );
    cfg.smtp.port = Some(port);
    cfg.smtp.timeout_secs = 10;
    cfg
}

#[test]
fn reports_reach_a_real_smtp_server() {
    let _live = crate::helper::live_lock();
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let cfg = smtp_config(sink.port);
        let mailer = Mailer::new(&cfg).unwrap();

        let (first, second) = host.baseline_then_change(&store).await;
        let note = queue_report(&store, &cfg, &first, "planted-host")
            .await
            .unwrap();
        let report = queue_report(&store, &cfg, &second, "planted-host")
            .await
            .unwrap();
        let (note, report) = (note.expect("a started note"), report.expect("a report"));
        // Written to the outbox before anything is sent.
        assert!(store.outbox_get(report).await.unwrap().sent_at.is_none());
        assert!(sink.messages().is_empty());

        let stats = deliver_due(&store, &mailer).await.unwrap();
        assert_eq!(
            stats,
            DeliveryStats { sent: 2, failed: 0 },
            "{:?}",
            store.outbox_summary().await
        );
        for id in [note, report] {
            let row = store.outbox_get(id).await.unwrap();
            assert!(
                row.sent_at.is_some(),
                "outbox row {id} not marked sent: {row:?}"
            );
            assert_eq!(row.attempts, 0);
        }
        assert_eq!(store.outbox_summary().await.unwrap().pending, 0);

        let got = sink.messages();
        assert_eq!(got.len(), 2, "{got:#?}");
        let started = got
            .iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("monitoring started")))
            .expect("the started note");
        assert!(!started.contains("dawgmon-planted"));
        let msg = got
            .iter()
            .find(|m| m.contains(PLANTED))
            .unwrap_or_else(|| panic!("no message lists the planted group: {got:#?}"));
        assert_eq!(
            header(msg, "Subject"),
            Some("[dawgmon] planted-host: 1 changes, 0 warnings (highest: low)")
        );
        assert_eq!(
            header(msg, "X-RcptTo"),
            Some("root@planted-host.example, admin@example.org")
        );
        assert_eq!(
            header(msg, "X-MailFrom"),
            Some("dawgmon@planted-host.example")
        );
        assert_eq!(header(msg, "Auto-Submitted"), Some("auto-generated"));
        let (from, to) = (first.info.id, second.info.id);
        assert!(
            msg.contains(&format!("dawgctl diff --since {from} --to {to}")),
            "{msg}"
        );
        assert!(
            msg.contains("dawgmon on planted-host: 1 change detected (0 warnings)"),
            "{msg}"
        );
        assert!(msg.contains("[check_groups]"), "{msg}");
        assert!(msg.contains("Content-Type: text/html"), "{msg}");

        // An unchanged scan sends nothing with send = "changes", a report with send = "always".
        let third = host.scan(&store).await;
        assert_eq!(queue_report(&store, &cfg, &third, "h").await.unwrap(), None);
        let mut always = cfg.clone();
        always.send = SendPolicy::Always;
        assert!(
            queue_report(&store, &always, &third, "h")
                .await
                .unwrap()
                .is_some()
        );
        let mut high = cfg.clone();
        high.min_severity = dawgmon::model::Severity::High;
        assert_eq!(
            queue_report(&store, &high, &second, "h").await.unwrap(),
            None
        );

        // `dawgctl mail test` prints the server's answer.
        let answer = send_test(&mailer, "planted-host").await.unwrap();
        assert!(answer.starts_with("250"), "{answer}");
        assert!(
            sink.messages()
                .iter()
                .any(|m| header(m, "Subject") == Some("[dawgmon] test message from planted-host"))
        );
    })
}

#[test]
fn a_report_sent_while_the_server_was_down_arrives_exactly_once() {
    let _live = crate::helper::live_lock();
    run(async {
        let host = Host::new();
        let mail_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = smtp_config(port);
        let id = {
            let store = Store::open(&host.db).await.unwrap();
            let mailer = Mailer::new(&cfg).unwrap();
            let (_, second) = host.baseline_then_change(&store).await;
            let id = queue_report(&store, &cfg, &second, "planted-host")
                .await
                .unwrap()
                .unwrap();
            let before = Utc::now();
            let stats = deliver_due(&store, &mailer).await.unwrap();
            assert_eq!(stats, DeliveryStats { sent: 0, failed: 1 });
            let row = store.outbox_get(id).await.unwrap();
            assert!(row.sent_at.is_none());
            assert_eq!(row.attempts, 1);
            assert!(
                row.next_attempt_at > before + chrono::TimeDelta::seconds(50),
                "{row:?}"
            );
            let err = row.last_error.unwrap();
            assert!(
                err.contains(&format!("SMTP server 127.0.0.1:{port}")),
                "{err}"
            );
            let summary = store.outbox_summary().await.unwrap();
            assert_eq!((summary.pending, summary.max_attempts), (1, 1));
            assert_eq!(summary.last_error.as_deref(), Some(err.as_str()));

            // `dawgctl mail test` gives the exact failure.
            let e = send_test(&mailer, "planted-host")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("127.0.0.1:{port}")) && e.contains("onnect"),
                "{e}"
            );
            store.close().await;
            id
        };

        // The daemon restarts; the server comes up.
        let store = Store::open(&host.db).await.unwrap();
        let mailer = Mailer::new(&cfg).unwrap();
        let sink = SmtpSink::start(port, mail_dir.path());
        // Not due yet: backoff survives the restart.
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats::default()
        );
        assert!(sink.messages().is_empty());
        assert_eq!(store.outbox_retry_now(Utc::now()).await.unwrap(), 1);
        let stats = deliver_due(&store, &mailer).await.unwrap();
        assert_eq!(stats, DeliveryStats { sent: 1, failed: 0 });
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats::default()
        );
        let got = sink.messages();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].contains(PLANTED));
        let row = store.outbox_get(id).await.unwrap();
        assert!(row.sent_at.is_some() && row.last_error.is_none(), "{row:?}");
        assert_eq!(store.outbox_summary().await.unwrap().pending, 0);
    })
}

/// A stand-in for the MTA's sendmail binary that records its arguments and standard input.
fn fake_sendmail(dir: &Path, exit: i32) -> PathBuf {
    let script = dir.join("sendmail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{d}/args'\ncat > '{d}/stdin'\n[ {exit} = 0 ] || echo 'mta: queue directory is full' >&2\nexit {exit}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn the_sendmail_transport_hands_the_report_to_the_mta() {
    let _live = crate::helper::live_lock();
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = MailConfig::new(
            "dawgmon@planted-host.example",
            &["root@planted-host.example", "sec@example.org"],
            TransportKind::Sendmail,
        );
        cfg.sendmail.command = fake_sendmail(tmp.path(), 0);
        let mailer = Mailer::new(&cfg).unwrap();
        let (_, second) = host.baseline_then_change(&store).await;
        let id = queue_report(&store, &cfg, &second, "planted-host")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats { sent: 1, failed: 0 }
        );
        assert!(store.outbox_get(id).await.unwrap().sent_at.is_some());
        let args = std::fs::read_to_string(tmp.path().join("args")).unwrap();
        let args: Vec<&str> = args.lines().collect();
        assert_eq!(
            args,
            [
                "-i",
                "-f",
                "dawgmon@planted-host.example",
                "--",
                "root@planted-host.example",
                "sec@example.org"
            ]
        );
        let stdin = decode_qp(&std::fs::read_to_string(tmp.path().join("stdin")).unwrap());
        assert!(stdin.contains(PLANTED), "{stdin}");
        assert_eq!(
            header(&stdin, "Subject"),
            Some("[dawgmon] planted-host: 1 changes, 0 warnings (highest: low)")
        );
        assert!(
            send_test(&mailer, "h")
                .await
                .unwrap()
                .contains("sendmail command")
        );

        // A failing MTA: not sent, its complaint recorded.
        cfg.sendmail.command = fake_sendmail(tmp.path(), 75);
        let broken = Mailer::new(&cfg).unwrap();
        let id = store
            .outbox_enqueue(
                &dawgmon::store::NewMail {
                    scan_id: None,
                    subject: "s".into(),
                    body_text: "b".into(),
                    body_html: None,
                    recipients: vec!["x@example.org".into()],
                },
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(
            deliver_due(&store, &broken).await.unwrap(),
            DeliveryStats { sent: 0, failed: 1 }
        );
        let row = store.outbox_get(id).await.unwrap();
        let err = row.last_error.unwrap();
        assert!(
            err.contains("queue directory is full") && err.contains("sendmail"),
            "{err}"
        );
    })
}

#[tokio::test]
async fn an_unreadable_password_file_is_named_with_the_fix() {
    let mut cfg = smtp_config(25);
    cfg.smtp.username = Some("dawgmon".into());
    cfg.smtp.password_file = Some("/nonexistent/smtp-password".into());
    let e = Mailer::new(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("/nonexistent/smtp-password") && e.contains("password_file"),
        "{e}"
    );
}

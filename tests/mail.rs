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
use dawgmon::collectors::{Registry, by_name};
use dawgmon::engine::{Engine, ScanResult};
use dawgmon::mail::{
    DeliveryStats, MailConfig, Mailer, ReportStats, SendPolicy, TransportKind, deliver_due,
    queue_report, report_mail, report_unreported, send_test,
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
    crate::helper::block_on(f)
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
        let note = queue_report(&store, &cfg, &first, "planted-host", &Registry::default())
            .await
            .unwrap();
        let report = queue_report(&store, &cfg, &second, "planted-host", &Registry::default())
            .await
            .unwrap();
        let (note, report) = (note.expect("a started note"), report.expect("a report"));
        // Written to the outbox before anything is sent.
        assert!(store.outbox_get(report).await.unwrap().sent_at.is_none());
        assert!(sink.messages().is_empty());

        let stats = deliver_due(&store, &mailer).await.unwrap();
        assert_eq!(
            stats,
            DeliveryStats {
                sent: 2,
                failed: 0,
                given_up: 0
            },
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
        assert_eq!(
            queue_report(&store, &cfg, &third, "h", &Registry::default())
                .await
                .unwrap(),
            None
        );
        let mut always = cfg.clone();
        always.send = SendPolicy::Always;
        assert!(
            queue_report(&store, &always, &third, "h", &Registry::default())
                .await
                .unwrap()
                .is_some()
        );
        let mut high = cfg.clone();
        high.min_severity = dawgmon::model::Severity::High;
        assert_eq!(
            queue_report(&store, &high, &second, "h", &Registry::default())
                .await
                .unwrap(),
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
            let id = queue_report(&store, &cfg, &second, "planted-host", &Registry::default())
                .await
                .unwrap()
                .unwrap();
            let before = Utc::now();
            let stats = deliver_due(&store, &mailer).await.unwrap();
            assert_eq!(
                stats,
                DeliveryStats {
                    sent: 0,
                    failed: 1,
                    given_up: 0
                }
            );
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
        assert_eq!(
            stats,
            DeliveryStats {
                sent: 1,
                failed: 0,
                given_up: 0
            }
        );
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
        let id = queue_report(&store, &cfg, &second, "planted-host", &Registry::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats {
                sent: 1,
                failed: 0,
                given_up: 0
            }
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
            DeliveryStats {
                sent: 0,
                failed: 1,
                given_up: 0
            }
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

/// Whoever stored them, scans are reported once each, in order, with the report the scan got
/// when it was made; without mail they are marked reported and nothing is queued.
#[test]
fn every_stored_scan_is_reported_once_in_order() {
    let _live = crate::helper::live_lock();
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let engine = Engine::new(store.clone(), host.root.clone());
        let cfg = smtp_config(25);
        let (first, second) = host.baseline_then_change(&store).await;
        let _unchanged = host.scan(&store).await;

        let stats = report_unreported(&engine, Some(&cfg), None).await.unwrap();
        assert_eq!(
            stats,
            ReportStats {
                reported: 3,
                queued: 2
            }
        );
        let queued = store.outbox_due(Utc::now()).await.unwrap();
        let scans: Vec<Option<i64>> = queued.iter().map(|m| m.scan_id).collect();
        assert_eq!(scans, [Some(first.info.id), Some(second.info.id)]);
        assert!(
            queued[0].subject.contains("monitoring started"),
            "{queued:?}"
        );
        // Computed again from the store, the report is the one the scan made.
        let made = report_mail(
            &cfg,
            &second.report,
            second.items,
            "planted-host",
            &engine.registry,
        )
        .unwrap();
        assert_eq!(queued[1].subject, made.subject);
        assert_eq!(queued[1].body_text, made.body_text);
        assert!(queued[1].body_text.contains(PLANTED));
        let made = report_mail(
            &cfg,
            &first.report,
            first.items,
            "planted-host",
            &engine.registry,
        )
        .unwrap();
        assert_eq!(queued[0].body_text, made.body_text);

        // Reported once: a second run queues nothing.
        assert_eq!(
            report_unreported(&engine, Some(&cfg), None).await.unwrap(),
            ReportStats::default()
        );
        // A result the caller has is used as it is.
        std::fs::write(
            host.root.join("etc/group"),
            "root:x:0:\nusers:x:100:\ndawgmon-planted:x:4242:alice\nlater:x:4343:\n",
        )
        .unwrap();
        let fourth = host.scan(&store).await;
        assert_eq!(
            report_unreported(&engine, Some(&cfg), Some(&fourth))
                .await
                .unwrap(),
            ReportStats {
                reported: 1,
                queued: 1
            }
        );
        assert!(
            store.outbox_due(Utc::now()).await.unwrap()[2]
                .body_text
                .contains("group later added")
        );

        // Without mail (or with mail paused) scans are marked reported, nothing is queued.
        host.plant_group();
        host.scan(&store).await;
        assert_eq!(
            report_unreported(&engine, None, None).await.unwrap(),
            ReportStats {
                reported: 1,
                queued: 0
            }
        );
        host.scan(&store).await;
        let mut paused = cfg.clone();
        paused.send = SendPolicy::Never;
        assert_eq!(
            report_unreported(&engine, Some(&paused), None)
                .await
                .unwrap(),
            ReportStats {
                reported: 1,
                queued: 0
            }
        );
        assert_eq!(store.outbox_due(Utc::now()).await.unwrap().len(), 3);
        assert_eq!(store.unreported_count().await.unwrap(), 0);
    })
}

fn a_mail(subject: &str) -> dawgmon::store::NewMail {
    dawgmon::store::NewMail {
        scan_id: None,
        subject: subject.into(),
        body_text: "b".into(),
        body_html: None,
        recipients: vec!["root@planted-host.example".into()],
    }
}

/// A server answering 550 refuses for good: the message is given up at its third attempt,
/// never tried again, and the outbox summary (`dawgctl status`) says so.
#[test]
fn a_permanent_refusal_is_given_up_after_three_attempts() {
    let _live = crate::helper::live_lock();
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::refusing(free_port(), dir.path());
        let mailer = Mailer::new(&smtp_config(sink.port)).unwrap();
        let id = store
            .outbox_enqueue(&a_mail("refused"), Utc::now())
            .await
            .unwrap();
        let failed_once = DeliveryStats {
            sent: 0,
            failed: 1,
            given_up: 0,
        };
        for _ in 0..2 {
            assert_eq!(deliver_due(&store, &mailer).await.unwrap(), failed_once);
            store.outbox_retry_now(Utc::now()).await.unwrap();
        }
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats {
                sent: 0,
                failed: 1,
                given_up: 1
            }
        );
        let row = store.outbox_get(id).await.unwrap();
        assert!(row.failed_at.is_some() && row.sent_at.is_none(), "{row:?}");
        assert_eq!(row.attempts, 3);
        let s = store.outbox_summary().await.unwrap();
        assert_eq!((s.pending, s.failed), (0, 1), "{s:?}");
        let e = s.last_failure.unwrap();
        assert!(
            e.contains("550") && e.contains(&format!("SMTP server 127.0.0.1:{}", sink.port)),
            "{e}"
        );
        // Never again, even when everything waiting is retried.
        assert_eq!(store.outbox_retry_now(Utc::now()).await.unwrap(), 0);
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats::default()
        );
        assert_eq!(sink.refused(), 3);
    })
}

/// Issue 15 item 9: given-up mail was pruned only after a delivery that sent something, so
/// with nothing sent again it was kept forever; docs/mail.md says 30 days. Now every report
/// round (after each scan, with or without mail) deletes what was given up 30 days ago.
#[test]
fn given_up_mail_goes_after_30_days_when_nothing_is_sent_again() {
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let month = Utc::now() - chrono::TimeDelta::days(31);
        let old = store.outbox_enqueue(&a_mail("old"), month).await.unwrap();
        for _ in 0..3 {
            store
                .outbox_mark_failed(old, "550 no such user", true, month)
                .await
                .unwrap();
        }
        let recent_day = Utc::now() - chrono::TimeDelta::days(29);
        let recent = store
            .outbox_enqueue(&a_mail("recent"), recent_day)
            .await
            .unwrap();
        for _ in 0..3 {
            store
                .outbox_mark_failed(recent, "550 no such user", true, recent_day)
                .await
                .unwrap();
        }
        assert!(store.outbox_get(old).await.unwrap().failed_at.is_some());
        assert_eq!(store.outbox_summary().await.unwrap().failed, 2);
        // Mail off (no [mail] table): the round after a scan prunes all the same.
        let engine = Engine::new(store.clone(), host.root.clone());
        report_unreported(&engine, None, None).await.unwrap();
        assert!(store.outbox_get(old).await.is_err(), "kept past 30 days");
        let kept = store.outbox_get(recent).await.unwrap();
        assert!(kept.failed_at.is_some(), "{kept:?}");
        assert_eq!(store.outbox_summary().await.unwrap().failed, 1);
    })
}

/// A server that accepts connections and never says a word: each message costs one
/// `timeout_secs`, fails as a temporary error, and the delivery run ends.
#[test]
fn a_silent_smtp_server_costs_one_timeout_per_message() {
    let _live = crate::helper::live_lock();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = vec![];
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let mut cfg = smtp_config(port);
        cfg.smtp.timeout_secs = 1;
        let mailer = Mailer::new(&cfg).unwrap();
        let a = store
            .outbox_enqueue(&a_mail("a"), Utc::now())
            .await
            .unwrap();
        store
            .outbox_enqueue(&a_mail("b"), Utc::now())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats {
                sent: 0,
                failed: 2,
                given_up: 0
            }
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        let row = store.outbox_get(a).await.unwrap();
        let err = row.last_error.clone().unwrap();
        assert!(
            err.contains(&format!("SMTP server 127.0.0.1:{port}"))
                && err.contains("no complete answer within 1 s (mail.smtp.timeout_secs)"),
            "{err}"
        );
        assert!(row.failed_at.is_none(), "{row:?}");
    })
}

/// A stand-in for sendmail that hangs (its first call only, when `hang_once`) after writing its
/// pid to `dir/hung/pid`, and otherwise keeps each call's message as `dir/stdin.PID`.
fn hanging_sendmail(dir: &Path) -> PathBuf {
    let script = dir.join("sendmail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh
if mkdir '{d}/hung' 2>/dev/null; then echo $$ > '{d}/hung/pid'; sleep 3600; fi
cat > '{d}/stdin.'$$
",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Processes still alive (not zombies) in process group `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        if rest.len() > 2 && rest[0] != "Z" && rest[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

pub(crate) fn hung_sendmail_group(dir: &Path) -> i32 {
    std::fs::read_to_string(dir.join("hung/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_hung_sendmail_is_killed_at_its_timeout_and_the_next_message_goes_out() {
    let _live = crate::helper::live_lock();
    run(async {
        let host = Host::new();
        let store = Store::open(&host.db).await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = MailConfig::new(
            "dawgmon@planted-host.example",
            &["root@planted-host.example"],
            TransportKind::Sendmail,
        );
        cfg.sendmail.command = hanging_sendmail(tmp.path());
        cfg.sendmail.timeout_secs = 1;
        let mailer = Mailer::new(&cfg).unwrap();
        let hung = store
            .outbox_enqueue(&a_mail("first"), Utc::now())
            .await
            .unwrap();
        store
            .outbox_enqueue(&a_mail("second"), Utc::now())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats {
                sent: 1,
                failed: 1,
                given_up: 0
            }
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let row = store.outbox_get(hung).await.unwrap();
        let err = row.last_error.clone().unwrap();
        assert!(
            err.contains("no exit within 1 s (mail.sendmail.timeout_secs)")
                && err.contains("sendmail command"),
            "{err}"
        );
        assert!(
            row.failed_at.is_none(),
            "a time-out is not permanent: {row:?}"
        );
        // The whole process group is gone: the shell and its sleep.
        let group = hung_sendmail_group(tmp.path());
        crate::helper::wait_until(
            std::time::Duration::from_secs(5),
            "the hung sendmail's end",
            || group_members(group).is_empty().then_some(()),
        );
        let got = |subject: &str| {
            std::fs::read_dir(tmp.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("stdin."))
                .any(|e| {
                    header(&std::fs::read_to_string(e.path()).unwrap(), "Subject") == Some(subject)
                })
        };
        assert!(got("second") && !got("first"));
        // Its retry goes through.
        store.outbox_retry_now(Utc::now()).await.unwrap();
        assert_eq!(
            deliver_due(&store, &mailer).await.unwrap(),
            DeliveryStats {
                sent: 1,
                failed: 0,
                given_up: 0
            }
        );
        assert!(got("first"));
    })
}

// --- Through the real daemon -------------------------------------------------------------------

mod daemon {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Duration;

    use nix::sys::signal::{Signal, kill};

    use crate::helper::smtp::{SmtpSink, free_port, header};
    use crate::helper::{Daemon, DaemonOptions, TreeBuilder, wait_until};

    const GROUP_LINE: &str = "group dawgmon-mailed added";

    /// Scheduled every 2 s, check_groups only, over a fake root named "fakehost".
    fn options(root: &TreeBuilder, mail: &str) -> DaemonOptions {
        DaemonOptions {
            root: Some(root.path().to_path_buf()),
            collectors: vec!["check_groups".into()],
            schedule: "*/2 * * * * *".into(),
            extra: mail.to_string(),
            ..Default::default()
        }
    }

    fn smtp_mail(port: u16) -> String {
        format!(
            "[mail]\nfrom = \"dawgmon@fakehost.example\"\n\
             to = [\"root@fakehost.example\", \"sec@example.org\"]\n\
             [mail.smtp]\nport = {port}\ntimeout_secs = 5\n"
        )
    }

    fn status(d: &Daemon) -> serde_json::Value {
        d.ctl_json(&["status"])
    }

    /// Waits for the first scheduled scan, then adds a group to the fake root.
    fn change_after_first_scan(d: &Daemon, root: &TreeBuilder) {
        wait_until(Duration::from_secs(10), "a first scheduled scan", || {
            (status(d)["last_scheduled"]["id"].as_i64().unwrap_or(0) >= 1).then_some(())
        });
        root.append("etc/group", "dawgmon-mailed:x:4343:\n");
    }

    fn with_group(messages: &[String]) -> Vec<&String> {
        messages.iter().filter(|m| m.contains(GROUP_LINE)).collect()
    }

    #[test]
    fn a_scheduled_scan_with_changes_is_mailed() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let root = TreeBuilder::with_etc();
        let d = options(&root, &smtp_mail(sink.port)).spawn();
        let s = status(&d);
        assert_eq!(s["mail"]["transport"], "smtp", "{s}");
        assert_eq!(
            s["mail"]["via"],
            format!("SMTP server 127.0.0.1:{} (no TLS)", sink.port)
        );
        change_after_first_scan(&d, &root);
        let msg = wait_until(Duration::from_secs(20), "the mailed report", || {
            with_group(&sink.messages()).first().map(|m| m.to_string())
        });
        let subject = header(&msg, "Subject").unwrap();
        assert!(
            subject.contains("fakehost") && subject.contains("1 changes, 0 warnings"),
            "{subject}"
        );
        assert_eq!(
            header(&msg, "X-RcptTo"),
            Some("root@fakehost.example, sec@example.org")
        );
        assert!(
            msg.contains("group dawgmon-mailed added (gid=4343"),
            "{msg}"
        );
        // The first scan's note came first; unchanged scans send nothing more.
        let all = sink.messages();
        assert!(
            header(&all[0], "Subject").is_some_and(|s| s.contains("monitoring started")),
            "{all:#?}"
        );
        let text = d.ctl_ok(&["status"]);
        assert!(
            text.contains(&format!(
                "mail:      smtp to root@fakehost.example, sec@example.org via SMTP server 127.0.0.1:{}",
                sink.port
            )) && text.contains("mail:      no reports pending"),
            "{text}"
        );
        // A scan on request is mailed too: the next scheduled scan compares with it, so its
        // changes would otherwise never be reported.
        root.append("etc/group", "dawgmon-requested:x:4344:\n");
        d.ctl_ok(&["scan"]);
        wait_until(
            Duration::from_secs(20),
            "the requested scan's report",
            || {
                sink.messages()
                    .iter()
                    .any(|m| m.contains("group dawgmon-requested added"))
                    .then_some(())
            },
        );
    }

    /// The test: the server is down when the report is written, the daemon restarts,
    /// the server comes up: the report arrives, once.
    #[test]
    fn a_report_queued_while_the_server_was_down_arrives_once_after_a_restart() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let root = TreeBuilder::with_etc();
        let mut d = options(&root, &smtp_mail(port)).spawn();
        change_after_first_scan(&d, &root);
        // The note and the report wait, each tried at least once.
        let s = wait_until(Duration::from_secs(15), "two failed reports", || {
            let s = status(&d);
            let o = &s["outbox"];
            (o["pending"] == 2 && o["max_attempts"].as_i64().unwrap_or(0) >= 1).then_some(s)
        });
        let err = s["outbox"]["last_error"].as_str().unwrap();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        let text = d.ctl_ok(&["status"]);
        let line = text
            .lines()
            .find(|l| l.contains("reports pending"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.starts_with("mail:      2 reports pending since ")
                && line.contains("last error: sending through SMTP server")
                && line.contains("(attempt ")
                && line.contains("next try "),
            "{line}"
        );

        kill(d.pid(), Signal::SIGTERM).unwrap();
        assert!(
            d.wait_exit(Duration::from_secs(15)).success(),
            "{}",
            d.log()
        );
        let database = d.database.clone();
        let d2 = DaemonOptions {
            database: Some(database),
            ..options(&root, &smtp_mail(port))
        }
        .spawn();
        // `d` keeps the database's directory until the end.
        let sink = SmtpSink::start(port, mail_dir.path());
        wait_until(Duration::from_secs(15), "the report", || {
            (!with_group(&sink.messages()).is_empty()).then_some(())
        });
        std::thread::sleep(Duration::from_secs(4));
        let all = sink.messages();
        assert_eq!(with_group(&all).len(), 1, "{all:#?}");
        assert_eq!(all.len(), 2, "the note and the report, once each: {all:#?}");
        let s = d2.ctl_json(&["status"]);
        assert_eq!(s["outbox"]["pending"], 0, "{s}");
        assert!(s["outbox"]["last_error"].is_null(), "{s}");
    }

    #[test]
    fn mail_test_prints_the_answer_or_the_failure() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let root = TreeBuilder::with_etc();
        let d = DaemonOptions {
            root: Some(root.path().to_path_buf()),
            extra: smtp_mail(sink.port),
            ..Default::default()
        }
        .spawn();
        let out = d.ctl(&["mail", "test"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", d.log());
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(
            stdout.starts_with("test message to root@fakehost.example, sec@example.org sent through SMTP server 127.0.0.1:")
                && stdout.contains(": 250 "),
            "{stdout}"
        );
        let got = sink.messages();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(
            header(&got[0], "Subject"),
            Some("[dawgmon] test message from fakehost")
        );
        // --local: dawgctl reads the daemon's config file and sends itself.
        let config = d.config.to_str().unwrap();
        let out = d.ctl(&["--local", "mail", "test", "--config", config]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains(": 250 "), "{stdout}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not through dawgmond"),
            "{out:?}"
        );
        assert_eq!(sink.messages().len(), 2);
        drop(sink);

        let port = free_port();
        let closed = DaemonOptions {
            extra: smtp_mail(port),
            ..Default::default()
        }
        .spawn();
        for args in [
            vec!["mail", "test"],
            vec![
                "--local",
                "mail",
                "test",
                "--config",
                closed.config.to_str().unwrap(),
            ],
        ] {
            let out = closed.ctl(&args);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("dawgctl: sending through SMTP server ")
                    && last.contains(&format!("127.0.0.1:{port}")),
                "{args:?}: {stderr}"
            );
            assert!(out.stdout.is_empty());
        }
        assert_eq!(
            stderr_lines(&closed.ctl(&["mail", "test"])),
            1,
            "one line through the daemon"
        );
        let (code, body) = closed.request("POST", "/v1/mail/test", None);
        assert_eq!(code, 502, "{body}");
        assert!(body.contains(&format!("127.0.0.1:{port}")), "{body}");

        // No [mail]: a clear refusal, and status says so.
        let plain = DaemonOptions::default().spawn();
        let out = plain.ctl(&["mail", "test"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("mail is not configured"),
            "{out:?}"
        );
        let s = plain.ctl_json(&["status"]);
        assert!(s["mail"].is_null() && s["outbox"]["pending"] == 0, "{s}");
        assert!(
            plain
                .ctl_ok(&["status"])
                .contains("mail:      not configured")
        );
    }

    /// `dawgctl --local --database DB --root ROOT scan -c check_groups`, as root would run it
    /// against the daemon's database.
    fn local_scan(database: &Path, root: &TreeBuilder) {
        let out = Command::new(crate::helper::dawgctl_bin())
            .args(["--local", "--database"])
            .arg(database)
            .arg("--root")
            .arg(root.path())
            .args(["scan", "-c", "check_groups"])
            .env_remove("DAWGMON_DATABASE")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    fn no_schedule(root: &TreeBuilder, mail: &str, database: Option<PathBuf>) -> DaemonOptions {
        DaemonOptions {
            schedule: "off".into(),
            database,
            ..options(root, mail)
        }
    }

    /// How many messages mention `needle`, after giving the daemon `settle` to send more.
    fn count_after(sink: &SmtpSink, needle: &str, settle: Duration) -> usize {
        std::thread::sleep(settle);
        sink.messages()
            .iter()
            .filter(|m| m.contains(needle))
            .count()
    }

    fn stop(d: &mut Daemon) {
        kill(d.pid(), Signal::SIGTERM).unwrap();
        assert!(
            d.wait_exit(Duration::from_secs(15)).success(),
            "{}",
            d.log()
        );
    }

    /// A change that only `dawgctl --local` saw, written into the running daemon's database, is
    /// mailed by the daemon's next scan, once; a restart sends it again never.
    #[test]
    fn a_change_seen_by_a_local_scan_is_mailed_once_by_the_running_daemon() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let root = TreeBuilder::with_etc();
        let mut d = no_schedule(&root, &smtp_mail(sink.port), None).spawn();
        d.ctl_ok(&["scan"]);
        wait_until(Duration::from_secs(20), "the started note", || {
            (!sink.messages().is_empty()).then_some(())
        });
        root.append("etc/group", "dawgmon-local:x:4345:\n");
        local_scan(&d.database, &root);
        // The daemon's next scan sees no change itself, but reports the local scan first.
        let out = d.ctl_json(&["scan"]);
        assert_eq!(out["changes"].as_array().unwrap().len(), 0, "{out}");
        wait_until(Duration::from_secs(20), "the local scan's report", || {
            sink.messages()
                .iter()
                .any(|m| m.contains("group dawgmon-local added"))
                .then_some(())
        });
        let database = d.database.clone();
        stop(&mut d);
        let d2 = no_schedule(&root, &smtp_mail(sink.port), Some(database)).spawn();
        assert_eq!(
            count_after(&sink, "group dawgmon-local added", Duration::from_secs(3)),
            1,
            "{:#?}",
            sink.messages()
        );
        assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
        assert_eq!(status(&d2)["outbox"]["pending"], 0);
    }

    /// Issue 9's leftover: the apt hook's two steps through the daemon (`baseline apt-pre`
    /// before dpkg runs, `diff --since apt-pre` after it) are scans the daemon stores and mails;
    /// the message of the scan after names the package operation on top and groups the changes
    /// under the packages that brought them, what no package owns last.
    #[test]
    fn the_mail_after_an_apt_run_names_the_package_operation() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let root = crate::reports::fixture();
        let d = DaemonOptions {
            collectors: ["list_packages", "list_suids", "check_etc"]
                .map(String::from)
                .to_vec(),
            ..no_schedule(&root, &smtp_mail(sink.port), None)
        }
        .spawn();
        d.ctl_ok(&["--color", "never", "baseline", "apt-pre"]);
        wait_until(Duration::from_secs(20), "the started note", || {
            (!sink.messages().is_empty()).then_some(())
        });
        crate::reports::install_nginx(&root);
        let printed = d.ctl_ok(&[
            "--color",
            "never",
            "--no-timestamps",
            "diff",
            "--since",
            "apt-pre",
        ]);
        assert!(printed.contains("nginx-helper"), "{printed}");
        let body = wait_until(Duration::from_secs(20), "the report of the apt run", || {
            sink.messages()
                .iter()
                .map(|m| crate::helper::smtp::decode_qp(m))
                .find(|m| m.contains("Package operation: "))
        });
        assert!(
            body.contains(
                "Package operation: upgraded libc6:amd64 2.36-9 → 2.36-9+deb12u4, \
                 installed nginx 1.24.0-1\n"
            ),
            "{body}"
        );
        assert!(body.contains("Compared scan 1 \"apt-pre\""), "{body}");
        let pos = |needle: &str| {
            body.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing from:\n{body}"))
        };
        assert!(
            pos("== nginx 1.24.0-1 (installed): 1 suid binary /usr/lib/nginx/nginx-helper [")
                < pos("+ suid binary /usr/lib/nginx/nginx-helper got created")
        );
        assert!(
            pos("+ suid binary /usr/lib/nginx/nginx-helper got created")
                < pos("== NO PACKAGE OWNS THESE: 1 suid binary /usr/local/bin/rootsh [")
        );
        assert!(
            pos("== NO PACKAGE OWNS THESE")
                < pos("+ suid binary /usr/local/bin/rootsh got created")
        );
        assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    }

    /// Scans stored while no daemon ran (`dawgctl --local`) are reported when it starts, once:
    /// the next start sends nothing again.
    #[test]
    fn scans_stored_while_no_daemon_ran_are_mailed_once_at_start_up() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let root = TreeBuilder::with_etc();
        let state = tempfile::tempdir().unwrap();
        let database = state.path().join("dawgmon.db");
        local_scan(&database, &root);
        root.append("etc/group", "dawgmon-offline:x:4346:\n");
        local_scan(&database, &root);

        let mut d = no_schedule(&root, &smtp_mail(sink.port), Some(database.clone())).spawn();
        wait_until(Duration::from_secs(20), "the offline scan's report", || {
            sink.messages()
                .iter()
                .any(|m| m.contains("group dawgmon-offline added"))
                .then_some(())
        });
        let all = sink.messages();
        assert_eq!(all.len(), 2, "{all:#?}");
        assert!(
            header(&all[0], "Subject").is_some_and(|s| s.contains("monitoring started")),
            "{all:#?}"
        );
        stop(&mut d);
        let _d2 = no_schedule(&root, &smtp_mail(sink.port), Some(database)).spawn();
        assert_eq!(
            count_after(&sink, "group dawgmon-offline added", Duration::from_secs(3)),
            1
        );
        assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    }

    /// The choice for scans made while mail is off: a daemon without `[mail]` marks them
    /// reported, so turning mail on later does not mail old changes.
    #[test]
    fn scans_a_daemon_without_mail_saw_are_not_mailed_once_mail_is_on() {
        let _live = crate::helper::live_lock();
        let mail_dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), mail_dir.path());
        let root = TreeBuilder::with_etc();
        let state = tempfile::tempdir().unwrap();
        let database = state.path().join("dawgmon.db");
        local_scan(&database, &root);
        root.append("etc/group", "dawgmon-unmailed:x:4347:\n");
        local_scan(&database, &root);
        let mut quiet = no_schedule(&root, "", Some(database.clone())).spawn();
        stop(&mut quiet);
        let d = no_schedule(&root, &smtp_mail(sink.port), Some(database)).spawn();
        // A change after mail came on is mailed; the old ones are not.
        root.append("etc/group", "dawgmon-fresh:x:4348:\n");
        d.ctl_ok(&["scan"]);
        wait_until(Duration::from_secs(20), "the new scan's report", || {
            sink.messages()
                .iter()
                .any(|m| m.contains("group dawgmon-fresh added"))
                .then_some(())
        });
        std::thread::sleep(Duration::from_secs(1));
        let all = sink.messages();
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(!all[0].contains("dawgmon-unmailed"), "{all:#?}");
    }

    /// A server that refuses with 550: the report is given up after three attempts (the
    /// scheduled scans retry at once), no longer tried, and `dawgctl status` shows it.
    #[test]
    fn a_permanently_refused_report_is_given_up_and_shown_in_status() {
        let _live = crate::helper::live_lock();
        let dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::refusing(free_port(), dir.path());
        let root = TreeBuilder::with_etc();
        let d = options(&root, &smtp_mail(sink.port)).spawn();
        let s = wait_until(Duration::from_secs(30), "the note given up", || {
            let s = status(&d);
            (s["outbox"]["failed"] == 1).then_some(s)
        });
        assert_eq!(s["outbox"]["pending"], 0, "{s}");
        let e = s["outbox"]["last_failure"].as_str().unwrap();
        assert!(e.contains("550") && e.contains("User unknown"), "{e}");
        let text = d.ctl_ok(&["status"]);
        let line = text
            .lines()
            .find(|l| l.contains("given up"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.starts_with("mail:      1 report given up (last at ")
                && line.contains("(550)")
                && line.contains("User unknown"),
            "{line}"
        );
        // Three attempts (each stops at the first refused recipient); then never again.
        assert_eq!(sink.refused(), 3);
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(sink.refused(), 3);
        assert!(
            d.log().contains("mail given up after 3 attempts"),
            "{}",
            d.log()
        );
    }

    /// A sendmail that hangs is killed at `timeout_secs` and does not hold up later reports.
    #[test]
    fn a_hung_sendmail_does_not_hold_up_later_reports() {
        let _live = crate::helper::live_lock();
        let tmp = tempfile::tempdir().unwrap();
        let script = super::hanging_sendmail(tmp.path());
        let root = TreeBuilder::with_etc();
        let mail = format!(
            "[mail]\nfrom = \"dawgmon@fakehost.example\"\nto = [\"root@fakehost.example\"]\n\
             [mail.sendmail]\ncommand = {script:?}\ntimeout_secs = 2\n"
        );
        let d = options(&root, &mail).spawn();
        wait_until(Duration::from_secs(20), "sendmail to hang", || {
            tmp.path().join("hung/pid").exists().then_some(())
        });
        root.append("etc/group", "dawgmon-mailed:x:4343:\n");
        let report = wait_until(Duration::from_secs(30), "the report", || {
            calls(tmp.path(), "stdin.")
                .into_iter()
                .find(|m| m.contains(GROUP_LINE))
        });
        assert!(header(&report, "Subject").is_some_and(|s| s.contains("fakehost")));
        // The hung call's whole process group was killed, and its message went out later.
        assert!(super::group_members(super::hung_sendmail_group(tmp.path())).is_empty());
        wait_until(Duration::from_secs(20), "the retried note", || {
            calls(tmp.path(), "stdin.")
                .iter()
                .any(|m| header(m, "Subject").is_some_and(|s| s.contains("monitoring started")))
                .then_some(())
        });
        assert!(
            d.log()
                .contains("no exit within 2 s (mail.sendmail.timeout_secs)"),
            "{}",
            d.log()
        );
    }

    fn stderr_lines(out: &std::process::Output) -> usize {
        String::from_utf8_lossy(&out.stderr).lines().count()
    }

    /// A stand-in for sendmail that keeps each call's arguments and message.
    fn fake_sendmail(dir: &Path) -> PathBuf {
        let script = dir.join("sendmail");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{d}/args.'$$\ncat > '{d}/stdin.'$$\n",
                d = dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn calls(dir: &Path, prefix: &str) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| crate::helper::smtp::decode_qp(&std::fs::read_to_string(p).unwrap()))
            .collect()
    }

    #[test]
    fn the_daemon_mails_through_sendmail() {
        let _live = crate::helper::live_lock();
        let tmp = tempfile::tempdir().unwrap();
        let script = fake_sendmail(tmp.path());
        let root = TreeBuilder::with_etc();
        let mail = format!(
            "[mail]\nfrom = \"dawgmon@fakehost.example\"\nto = [\"root@fakehost.example\"]\n\
             [mail.sendmail]\ncommand = {script:?}\n"
        );
        let d = options(&root, &mail).spawn();
        assert_eq!(status(&d)["mail"]["transport"], "sendmail");
        change_after_first_scan(&d, &root);
        let msg = wait_until(
            Duration::from_secs(20),
            "the report on sendmail's stdin",
            || {
                calls(tmp.path(), "stdin.")
                    .into_iter()
                    .find(|m| m.contains(GROUP_LINE))
            },
        );
        assert!(
            header(&msg, "Subject").is_some_and(|s| s.contains("fakehost")),
            "{msg}"
        );
        let args = calls(tmp.path(), "args.");
        assert!(
            args.iter().all(|a| a.lines().collect::<Vec<_>>()
                == [
                    "-i",
                    "-f",
                    "dawgmon@fakehost.example",
                    "--",
                    "root@fakehost.example"
                ]),
            "{args:?}"
        );
        let out = d.ctl_ok(&["mail", "test"]);
        assert!(
            out.contains("accepted by the sendmail command") && out.lines().count() == 1,
            "{out}"
        );
    }

    #[test]
    fn an_unreadable_password_file_stops_the_daemon_with_the_fix() {
        let _live = crate::helper::live_lock();
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("dawgmond.toml");
        std::fs::write(
            &cfg,
            format!(
                "socket = {:?}\ndatabase = {:?}\nschedule = \"off\"\n\
                 [mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n\
                 [mail.smtp]\nusername = \"u\"\npassword_file = \"/nonexistent/smtp-password\"\n",
                dir.path().join("s.sock"),
                dir.path().join("db.sqlite"),
            ),
        )
        .unwrap();
        let out = Command::new(crate::helper::dawgmond_bin())
            .arg("--config")
            .arg(&cfg)
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.starts_with("dawgmond: "))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(
            line.contains("/nonexistent/smtp-password") && line.contains("password_file"),
            "{line}"
        );
    }
}

//! Issue 9: dawgmond logs to journald with structured fields when stderr is the journal, and
//! falls back to plain text on stderr when journald does not answer.
//!
//! No real journald runs here (no systemd as PID 1), so the test plays journald: dawgmond runs
//! in a private mount namespace (`unshare --mount`) where a temporary directory is bind-mounted
//! over /run, and the test listens on `<it>/systemd/journal/socket` (the path journald's native
//! protocol uses, fixed in tracing-journald) and parses the datagrams. `JOURNAL_STREAM` is set to
//! the device and inode of dawgmond's stderr, as systemd sets it for a unit whose stderr is the
//! journal.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helper::{TreeBuilder, dawgctl_bin, dawgmond_bin, live_lock, wait_until};

struct Run {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("d.sock")
    }
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(dawgctl_bin())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.stderr()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Starts dawgmond with `fake_run` as its /run and stderr a file; `journal_stream`: whether
/// JOURNAL_STREAM names that file (else it names something else).
fn start(root: &Path, fake_run: &Path, journal_stream: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dawgmond.toml");
    std::fs::write(
        &config,
        format!(
            "socket = {:?}\ndatabase = {:?}\nroot = {:?}\nschedule = \"off\"\n\
             collectors = [\"check_groups\"]\nlog_level = \"info\"\n",
            dir.path().join("d.sock"),
            dir.path().join("d.db"),
            root
        ),
    )
    .unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let meta = stderr.metadata().unwrap();
    let stream = if journal_stream {
        format!("{}:{}", meta.dev(), meta.ino())
    } else {
        format!("{}:{}", meta.dev(), meta.ino() + 1)
    };
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" /run && exec \"$2\" --config \"$3\"")
        .arg("sh")
        .arg(fake_run)
        .arg(dawgmond_bin())
        .arg(&config)
        .env("JOURNAL_STREAM", stream)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let run = Run { child, dir };
    wait_until(Duration::from_secs(30), "dawgmond to listen", || {
        std::os::unix::net::UnixStream::connect(run.socket())
            .ok()
            .map(|_| ())
    });
    run
}

/// One datagram of journald's native protocol: `KEY=value` lines, or `KEY`, a newline, a
/// little-endian u64 length, the value and a newline.
fn parse(mut d: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !d.is_empty() {
        let nl = d.iter().position(|&b| b == b'\n').unwrap_or(d.len());
        let line = &d[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            d = &d[(nl + 1).min(d.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let len = u64::from_le_bytes(d[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let value = &d[nl + 9..nl + 9 + len];
            fields.insert(key, String::from_utf8_lossy(value).into_owned());
            d = &d[(nl + 10 + len).min(d.len())..];
        }
    }
    fields
}

#[test]
fn structured_fields_go_to_journald_when_stderr_is_the_journal() {
    let _live = live_lock();
    let root = TreeBuilder::with_etc();
    let fake_run = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fake_run.path().join("systemd/journal")).unwrap();
    let journal = UnixDatagram::bind(fake_run.path().join("systemd/journal/socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let run = start(root.path(), fake_run.path(), true);
    run.ctl(&["baseline", "pre"]);
    root.append("etc/group", "journaled:x:4646:\n");
    run.ctl(&["scan"]);

    let mut events = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = journal.recv(&mut buf) {
        if n > 0 {
            events.push(parse(&buf[..n]));
        }
    }
    let change = events
        .iter()
        .find(|e| {
            e.get("MESSAGE")
                .is_some_and(|m| m.contains("group journaled added"))
        })
        .unwrap_or_else(|| panic!("no change event in {events:#?}\nstderr: {}", run.stderr()));
    assert_eq!(change["SCAN_ID"], "2", "{change:?}");
    assert_eq!(change["COLLECTOR"], "check_groups", "{change:?}");
    assert_eq!(change["KIND"], "added", "{change:?}");
    assert_eq!(change["KEY"], "journaled", "{change:?}");
    assert!(change.contains_key("SEVERITY"), "{change:?}");
    assert_eq!(change["SYSLOG_IDENTIFIER"], "dawgmond", "{change:?}");
    let stored = events
        .iter()
        .find(|e| e.get("SCAN_ID").is_some_and(|v| v == "2") && e.contains_key("CHANGES"))
        .unwrap_or_else(|| panic!("no 'scan stored' event in {events:#?}"));
    assert_eq!(stored["CHANGES"], "1", "{stored:?}");
    assert_eq!(stored["TRIGGER"], "request", "{stored:?}");
    // Nothing went to stderr: journald got it all.
    assert!(
        !run.stderr().contains("stored"),
        "plain text on stderr too: {}",
        run.stderr()
    );
}

#[test]
fn plain_text_on_stderr_without_journald_or_when_stderr_is_not_the_journal() {
    let _live = live_lock();
    let root = TreeBuilder::with_etc();
    // JOURNAL_STREAM names stderr, but no journald listens: a warning, then plain text.
    let empty_run = tempfile::tempdir().unwrap();
    let run = start(root.path(), empty_run.path(), true);
    run.ctl(&["scan"]);
    let err = run.stderr();
    assert!(err.contains("journald does not answer"), "{err}");
    assert!(err.contains("scan 1 stored"), "{err}");
    drop(run);

    // journald listens, but stderr is not the journal (JOURNAL_STREAM inherited from a parent
    // whose stderr it was): plain text, nothing sent to journald.
    let fake_run = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fake_run.path().join("systemd/journal")).unwrap();
    let journal = UnixDatagram::bind(fake_run.path().join("systemd/journal/socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let run = start(root.path(), fake_run.path(), false);
    run.ctl(&["scan"]);
    assert!(run.stderr().contains("scan 1 stored"), "{}", run.stderr());
    let mut buf = vec![0u8; 1 << 16];
    assert!(
        journal.recv(&mut buf).is_err(),
        "something was sent to journald"
    );
}

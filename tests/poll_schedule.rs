//! Issue 17, items 5 and 6: surfaces that are not files are polled between scans, and the
//! default schedule cannot be timed (a per-host minute and a random delay, shown by `status`).

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};

use crate::helper::{DaemonOptions, TreeBuilder, wait_until};

/// The id of the newest scan the daemon logged as stored with trigger `poll`.
fn poll_scans(log: &str) -> Vec<i64> {
    log.lines()
        .filter(|l| l.contains("stored") && l.contains("trigger") && l.contains("poll"))
        .filter_map(|l| {
            let at = l.find("scan_id=")? + "scan_id=".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// A TCP listener opened on the live host for longer than `poll_interval` is stored by a scan
/// the poller starts, with its process, and reported (journal), although it is closed before
/// any other scan; closing it starts another poll scan. Without the poller no scan runs at
/// all between the two requested ones, and this fails.
#[test]
fn a_listener_open_longer_than_the_poll_interval_is_stored_with_its_process() {
    let d = DaemonOptions {
        root: Some("/".into()),
        collectors: vec!["list_tcpudp_ports".into()],
        extra: "poll_interval = 1\n".into(),
        ..Default::default()
    }
    .spawn();
    d.ctl_ok(&["baseline", "pre-listener"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opened = format!("port {port} tcp opened on 127.0.0.1");
    let (id, line) = wait_until(
        Duration::from_secs(20),
        "a poll scan storing the listener",
        || {
            let log = d.log();
            let line = log.lines().find(|l| l.contains(&opened))?.to_string();
            let id = *poll_scans(&log).first()?;
            Some((id, line))
        },
    );
    // Reported with the process that holds it (the test binary).
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert!(line.contains(&format!("process {}", comm.trim())), "{line}");
    drop(listener);
    // The close is seen as well: a second poll scan, and the listener is gone from it.
    let after = wait_until(
        Duration::from_secs(20),
        "a poll scan after the close",
        || poll_scans(&d.log()).into_iter().find(|&i| i > id),
    );
    let diff = d.ctl_ok(&["diff", "--since", "pre-listener", "--to", &id.to_string()]);
    assert!(
        diff.contains(&opened),
        "the poll scan {id} stored it:\n{diff}"
    );
    let gone = d.ctl_ok(&[
        "diff",
        "--since",
        &id.to_string(),
        "--to",
        &after.to_string(),
    ]);
    assert!(
        gone.contains(&format!("port {port} tcp closed on 127.0.0.1")),
        "{gone}"
    );
    let s = d.ctl_json(&["status"]);
    assert_eq!(s["poll_interval_secs"], 1, "{s}");
}

/// The default schedule runs at the minute and second derived from the scanned root's machine
/// id, after a random delay of up to 30 minutes; `status` (JSON and text) shows the schedule,
/// the delay and the next scan's time, which lies in the delay's window after the tick; the
/// status line systemd shows every user does not tell that time.
#[test]
fn the_default_schedule_has_a_host_minute_and_a_random_delay() {
    let tree = TreeBuilder::with_etc();
    tree.file("etc/machine-id", "5d4c3b2a19f8e7d6c5b4a39281706f5e\n");
    let mut d = DaemonOptions {
        root: Some(tree.path().to_path_buf()),
        schedule: "hourly".into(),
        ..Default::default()
    }
    .spawn();
    let (minute, second, from) = dawgmon::daemon::scheduler::host_minute(tree.path());
    assert_eq!(from, "machine id");
    let s = d.ctl_json(&["status"]);
    assert_eq!(s["schedule"], format!("{second} {minute} * * * *"), "{s}");
    assert_eq!(s["schedule_random_delay_secs"], 1800, "{s}");
    let next: DateTime<Utc> = serde_json::from_value(s["next_scan"].clone()).unwrap();
    // The tick before `next` is at the host's minute and second, at most 30 minutes earlier.
    let tick = (0..=1800)
        .map(|back| next - chrono::Duration::seconds(back))
        .find(|t| t.minute() == minute && t.second() == second)
        .unwrap_or_else(|| panic!("{next} is not within 30 min after :{minute:02}:{second:02}"));
    assert!(tick > Utc::now() - chrono::Duration::hours(1), "{tick}");
    let text = d.ctl_ok(&["status"]);
    assert!(
        text.contains(&format!(
            "schedule:  {second} {minute} * * * * UTC + random delay up to 30m"
        )),
        "{text}"
    );
    assert!(text.contains("next scan "), "{text}");
    let status_line = d.wait_for_notice("STATUS=idle", Duration::from_secs(5));
    assert!(status_line.contains("random time"), "{status_line}");
}

/// A schedule written in the configuration is kept as written: no delay unless
/// `schedule_random_delay` is set, and then that delay.
#[test]
fn a_written_schedule_is_kept_and_delayed_only_when_asked() {
    let d = DaemonOptions {
        schedule: "0 7 * * * *".into(),
        ..Default::default()
    }
    .spawn();
    let s = d.ctl_json(&["status"]);
    assert_eq!(s["schedule"], "0 7 * * * *");
    assert_eq!(s["schedule_random_delay_secs"], 0);
    let next: DateTime<Utc> = serde_json::from_value(s["next_scan"].clone()).unwrap();
    assert_eq!((next.minute(), next.second()), (7, 0), "{next}");
    drop(d);

    let d = DaemonOptions {
        schedule: "0 7 * * * *".into(),
        extra: "schedule_random_delay = 600\n".into(),
        ..Default::default()
    }
    .spawn();
    let s = d.ctl_json(&["status"]);
    assert_eq!(s["schedule_random_delay_secs"], 600);
    let next: DateTime<Utc> = serde_json::from_value(s["next_scan"].clone()).unwrap();
    assert!((7..=17).contains(&next.minute()), "{next}");
}

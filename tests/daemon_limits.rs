//! The real `dawgmond` under a connection flood from unprivileged users, and its timeouts for
//! idle and slow clients (docs/daemon.md, "Limits").

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helper::{DaemonOptions, TreeBuilder, http_request, split_response};

/// Connections each flooding uid opens.
const FLOOD_PER_UID: usize = 400;
/// The flooding uids: nobody and seven more unprivileged ones (3200 connections in all).
const FLOOD_UIDS: [u32; 8] = [65534, 65533, 65532, 65531, 65530, 65529, 65528, 65527];

/// Not a test on its own: the flooding client `flood_as` runs under another uid. Opens
/// `DAWGMON_FLOOD_COUNT` connections to `DAWGMON_FLOOD_SOCKET`, waits a second, prints how many
/// the daemon kept open, and holds them until its stdin closes.
#[test]
fn flood_client() {
    let (Some(socket), Some(count)) = (
        std::env::var_os("DAWGMON_FLOOD_SOCKET"),
        std::env::var("DAWGMON_FLOOD_COUNT").ok(),
    ) else {
        return;
    };
    let count: usize = count.parse().unwrap();
    raise_own_descriptor_limit(count as u64 + 64);
    let mut streams = Vec::new();
    let mut failed = 0;
    for _ in 0..count {
        match UnixStream::connect(&socket) {
            Ok(s) => streams.push(s),
            Err(_) => failed += 1,
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut open = 0;
    for s in &streams {
        s.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        // SAFETY: a one-byte buffer; MSG_PEEK leaves the stream as it is.
        let n = unsafe {
            libc::recv(
                std::os::fd::AsRawFd::as_raw_fd(s),
                byte.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK,
            )
        };
        let would_block =
            n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
        if would_block {
            open += 1;
        }
    }
    println!(
        "FLOOD connected={} failed={failed} open={open} closed={}",
        streams.len(),
        streams.len() - open
    );
    std::io::stdout().flush().unwrap();
    // Until the test closes stdin; never more than two minutes, should the test be gone.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut rest);
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(Duration::from_secs(120));
    drop(streams);
}

fn raise_own_descriptor_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: fills / reads the one struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(want as libc::rlim_t).max(lim.rlim_cur);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// What one flooding client reported.
struct Flood {
    child: std::process::Child,
    open: usize,
    closed: usize,
}

/// Starts the flooding client as `uid` and waits for its count.
fn flood_as(uid: u32, socket: &std::path::Path) -> Flood {
    let mut child = Command::new(crate::helper::test_exe())
        .args([
            "daemon_limits::flood_client",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DAWGMON_FLOOD_SOCKET", socket)
        .env("DAWGMON_FLOOD_COUNT", FLOOD_PER_UID.to_string())
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the flooding client");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints "test NAME ... " before the test's own output, on the same line.
    let line = lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| l.find("FLOOD ").map(|at| l[at..].to_string()))
        })
        .unwrap_or_else(|| panic!("the flooding client as uid {uid} printed no count"));
    let field = |name: &str| -> usize {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    assert_eq!(field("failed"), 0, "{line}");
    Flood {
        child,
        open: field("open"),
        closed: field("closed"),
    }
}

/// Eight unprivileged users open 3200 idle connections against a daemon limited to 1024
/// descriptors; root is still answered at once, and the flood was cut at the caps.
#[test]
fn root_is_answered_while_unprivileged_users_flood_the_socket() {
    let d = DaemonOptions {
        socket_mode: 0o666,
        nofile: Some(1024),
        // Idle connections stay open long enough to test the caps alone.
        idle_timeout: 600,
        ..Default::default()
    }
    .spawn();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let floods: Vec<Flood> = std::thread::scope(|s| {
        let handles: Vec<_> = FLOOD_UIDS
            .iter()
            .map(|&uid| {
                let socket = &d.socket;
                s.spawn(move || flood_as(uid, socket))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let held: usize = floods.iter().map(|f| f.open).sum();
    let closed: usize = floods.iter().map(|f| f.closed).sum();
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .unwrap()
        .count();

    let start = Instant::now();
    let out = d.ctl(&["status", "--format", "json"]);
    let root_answer = start.elapsed();
    eprintln!(
        "flood: {} connections from {} unprivileged uids, {held} held open by the daemon, \
         {closed} closed at once; daemon descriptors {fds} of 1024; root's `dawgctl status` \
         answered in {root_answer:?}",
        FLOOD_PER_UID * FLOOD_UIDS.len(),
        FLOOD_UIDS.len()
    );
    assert!(
        out.status.success(),
        "root got no answer under the flood: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert!(
        root_answer < Duration::from_secs(3),
        "root waited {root_answer:?}"
    );
    for f in &floods {
        assert!(f.open <= 64, "one uid held {} connections", f.open);
    }
    // 8 × 64 would be 512: the total cap for non-admins (512 - 64 reserved) cut it to 448.
    assert!(held <= 448, "{held} connections held");
    assert!(held >= 64, "the daemon refused nearly everything: {held}");
    assert_eq!(held + closed, FLOOD_PER_UID * FLOOD_UIDS.len());
    assert!(fds < 1024, "{fds} descriptors");
    // A raw request as root, too, and the daemon said why it refused.
    let (code, _) = d.request("GET", "/v1/status", None);
    assert_eq!(code, 200);
    // Which cap refused first depends on how the eight floods interleave; the first refusal
    // is logged at once (later ones are counted into a line every 10 s), with its reason.
    let log = d.log();
    assert!(
        log.contains("refused")
            && (log.contains("per-user cap") || log.contains("users outside admin_group")),
        "{log}"
    );

    // Once the flood lets go, its places are given back: nobody is answered again.
    for mut f in floods {
        drop(f.child.stdin.take());
        f.child.wait().unwrap();
    }
    let mut status = d.dawgctl();
    status.arg("status").uid(65534).gid(65534);
    let out = crate::helper::wait_until(Duration::from_secs(10), "nobody to be answered", || {
        let out = status.output().unwrap();
        out.status.success().then_some(out)
    });
    assert!(String::from_utf8_lossy(&out.stdout).contains("schedule"));
}

/// Reads from `s` until the daemon closes it; returns what came and how long it took.
fn read_until_closed(s: &mut UnixStream) -> (String, Duration) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

/// Needs real collectors: check_etc hangs hashing a sparse terabyte until the collector
/// timeout, so the scan request takes longer than the idle timeout.
#[test]
fn idle_connections_are_closed_but_a_long_request_is_answered() {
    let root = TreeBuilder::with_etc();
    root.slow_to_hash("etc/huge");
    let d = DaemonOptions {
        root: Some(root.path().to_path_buf()),
        idle_timeout: 2,
        collector_timeout: 4,
        collectors: vec!["check_groups".into(), "check_etc".into()],
        extra: crate::helper::SLOW_HASH_CONFIG.into(),
        ..Default::default()
    }
    .spawn();

    // A body that never completes: 408 after the body timeout (10 s), read at the end.
    let mut trickle = UnixStream::connect(&d.socket).unwrap();
    trickle
        .write_all(
            b"POST /v1/scans HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 10\r\n\r\n{}",
        )
        .unwrap();
    let trickle_start = Instant::now();

    // Connected, sent nothing: closed after the idle timeout, without an answer.
    let mut idle = UnixStream::connect(&d.socket).unwrap();
    let (got, after) = read_until_closed(&mut idle);
    assert!(got.is_empty(), "{got:?}");
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(6),
        "closed after {after:?}"
    );

    // Half a request head: the same.
    let mut slow = UnixStream::connect(&d.socket).unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let (_, after) = read_until_closed(&mut slow);
    assert!(after < Duration::from_secs(6), "closed after {after:?}");

    // A keep-alive client gets its answer, then is closed once idle.
    let mut kept = UnixStream::connect(&d.socket).unwrap();
    kept.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let (got, after) = read_until_closed(&mut kept);
    assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(6),
        "closed after {after:?}"
    );

    // A scan that takes longer than the idle timeout is answered, not cut off.
    let mut scan = UnixStream::connect(&d.socket).unwrap();
    scan.write_all(http_request("POST", "/v1/scans", Some("{}")).as_bytes())
        .unwrap();
    let (got, after) = read_until_closed(&mut scan);
    let (code, body) = split_response(&got);
    assert_eq!(code, 200, "{body}");
    assert!(
        after >= Duration::from_secs(3),
        "the scan took only {after:?}"
    );
    assert!(body.contains("timed out after 4s"), "{body}");

    let (got, _) = read_until_closed(&mut trickle);
    let after = trickle_start.elapsed();
    let (code, body) = split_response(&got);
    assert_eq!(code, 408, "{body}");
    assert!(body.contains("did not arrive within 10s"), "{body}");
    assert!(
        after >= Duration::from_secs(9) && after < Duration::from_secs(20),
        "answered after {after:?}"
    );
}

//! Bench: the fleet store under a fleet's load (issue 19). Run by `bench/fleet.sh`, which
//! starts its own PostgreSQL and sets `FLEET_BENCH_URL` (the owner's URL); without it (as under
//! `cargo test --all-targets`) this prints that it was skipped.
//!
//! It makes `FLEET_HOSTS` hosts (`dawgmon::fleet::admin::add_host`, the same as `dawgctl fleet
//! add-host`), then for each host, logged in as that host's own role, pushes `FLEET_DAYS` days
//! of scans through `dawgmon::fleet::push::send` (the daemon's code path: the first scan a
//! baseline with the host's state, then one scan a day with its changes, each one transaction,
//! changes in batches). The mix per host-day: package upgrades (2-6 `list_packages` changes,
//! most days), an /etc edit (`check_etc`, every other day), and rarely a setuid file (1 in 400
//! host-days), a root SSH key (1 in 1,000) or a listener on 0.0.0.0 (1 in 1,000). 1% of the
//! hosts have a `/usr/bin/sudo` whose `package_digest` differs.
//!
//! Then it times the three questions with the query functions `dawgctl fleet` uses, each
//! `FLEET_RUNS` times, and prints p50/p99: setuid gained in the last 7 days (`fleet changes -c
//! list_suids --kind added --since 7d`), sudo differing now (`fleet where /usr/bin/sudo
//! --field 'package_digest=*differs'`), `fleet hosts`. And the bytes per change row (the
//! changes partitions with their indexes, over their rows).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dawgmon::fleet::{admin, connect, push, query};
use dawgmon::model::{Change, ChangeKind, Fields, Item, Outcome, Severity, Snapshot};
use dawgmon::report::{Report, ScanRef};
use dawgmon::store::ScanInfo;
use sqlx::postgres::PgConnectOptions;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A tiny deterministic generator (xorshift), seeded per host.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fields(pairs: &[(&str, String)]) -> Fields {
    let mut f = Fields::new();
    for (k, v) in pairs {
        f.insert(k, v);
    }
    f
}

fn change(
    collector: &str,
    kind: ChangeKind,
    key: String,
    severity: Severity,
    before: Option<Fields>,
    after: Option<Fields>,
) -> Change {
    Change {
        collector: collector.into(),
        kind,
        message: format!("{collector} {} {key}", kind.as_str()),
        key,
        severity,
        rule: Some(format!("{collector}.{}", kind.as_str())),
        before,
        after,
    }
}

fn state(host: u64, rng: &mut Rng) -> Snapshot {
    let mut snap = Snapshot::default();
    let differs = host % 100 == 7;
    let mut suids: Vec<Item> = (0..20)
        .map(|i| Item {
            key: format!("/usr/lib/bench/suid{i}"),
            fields: fields(&[("mode", "4755".into()), ("package", "bench".into())]),
        })
        .collect();
    suids.push(Item {
        key: "/usr/bin/sudo".into(),
        fields: fields(&[
            ("mode", "4755".into()),
            ("package", "sudo".into()),
            (
                "package_digest",
                if differs {
                    "sudo: differs"
                } else {
                    "sudo: matches"
                }
                .into(),
            ),
        ]),
    });
    suids.sort_by(|a, b| a.key.cmp(&b.key));
    snap.results
        .insert("list_suids".into(), Outcome::Items(suids));
    let mut pkgs: Vec<Item> = (0..150)
        .map(|i| Item {
            key: format!("pkg{i:03}"),
            fields: fields(&[("version", format!("1.{}", rng.below(9)))]),
        })
        .collect();
    pkgs.sort_by(|a, b| a.key.cmp(&b.key));
    snap.results
        .insert("list_packages".into(), Outcome::Items(pkgs));
    snap
}

fn day_changes(rng: &mut Rng, day: u64) -> Vec<Change> {
    let mut out = Vec::new();
    if rng.below(10) < 6 {
        for _ in 0..2 + rng.below(5) {
            let p = format!("pkg{:03}", rng.below(150));
            out.push(change(
                "list_packages",
                ChangeKind::Modified,
                p,
                Severity::Info,
                Some(fields(&[("version", format!("1.{day}"))])),
                Some(fields(&[("version", format!("1.{}", day + 1))])),
            ));
        }
    }
    if rng.below(2) == 0 {
        let f =
            ["/etc/hosts", "/etc/resolv.conf", "/etc/fstab", "/etc/motd"][rng.below(4) as usize];
        out.push(change(
            "check_etc",
            ChangeKind::Modified,
            f.into(),
            Severity::Low,
            Some(fields(&[("sha256", format!("{:x}", rng.next()))])),
            Some(fields(&[("sha256", format!("{:x}", rng.next()))])),
        ));
    }
    if rng.below(400) == 0 {
        out.push(change(
            "list_suids",
            ChangeKind::Added,
            format!("/tmp/.x{}", rng.below(1000)),
            Severity::Critical,
            None,
            Some(fields(&[
                ("mode", "4755".into()),
                ("package", "none".into()),
            ])),
        ));
    }
    if rng.below(1000) == 0 {
        out.push(change(
            "ssh_access",
            ChangeKind::Added,
            format!("root ssh-ed25519 {:x}", rng.next()),
            Severity::High,
            None,
            Some(fields(&[("user", "root".into())])),
        ));
    }
    if rng.below(1000) == 0 {
        out.push(change(
            "list_tcpudp_ports",
            ChangeKind::Added,
            format!("tcp 0.0.0.0:{}", 1024 + rng.below(60000)),
            Severity::High,
            None,
            Some(fields(&[("process", "nc".into())])),
        ));
    }
    out
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn timed<F, Fut>(runs: u64, mut f: F) -> (f64, f64, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        n = f().await;
        times.push(t.elapsed());
    }
    times.sort();
    (pct(&times, 0.5), pct(&times, 0.99), n)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(owner_url) = std::env::var("FLEET_BENCH_URL") else {
        println!("fleet bench skipped: run bench/fleet.sh (it starts PostgreSQL)");
        return;
    };
    let hosts = env("FLEET_HOSTS", 10_000);
    let days = env("FLEET_DAYS", 30);
    let runs = env("FLEET_RUNS", 20);
    let tasks = env("FLEET_TASKS", 2);
    let owner = PgConnectOptions::from_str(&owner_url).unwrap();
    let mut conn = connect::connect(&owner, connect::Who::Owner).await.unwrap();
    admin::init(&mut conn, &owner_url).await.unwrap();

    let t = Instant::now();
    let mut creds = Vec::new();
    for h in 0..hosts {
        creds.push(
            admin::add_host(&mut conn, &owner_url, &format!("host{h:05}"))
                .await
                .unwrap(),
        );
    }
    println!("hosts made: {hosts} in {:.1} s", t.elapsed().as_secs_f64());

    let creds = Arc::new(creds);
    let next = Arc::new(AtomicU64::new(0));
    let changes_sent = Arc::new(AtomicU64::new(0));
    let scans_sent = Arc::new(AtomicU64::new(0));
    let now = Utc::now();
    let t = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (creds, next, changes_sent, scans_sent) = (
            creds.clone(),
            next.clone(),
            changes_sent.clone(),
            scans_sent.clone(),
        );
        handles.push(tokio::spawn(async move {
            loop {
                let h = next.fetch_add(1, Ordering::SeqCst);
                if h >= creds.len() as u64 {
                    break;
                }
                let c = &creds[h as usize];
                let opts = dawgmon::config::fleet::options(&c.url, Some(&c.password)).unwrap();
                let mut pg = connect::connect(&opts, connect::Who::Host).await.unwrap();
                let mut rng = Rng(h * 2654435761 + 12345);
                let who = push::Identity {
                    hostname: format!("host{h:05}"),
                    machine_id: format!("{:032x}", h),
                };
                for d in 0..=days {
                    let at: DateTime<Utc> = now - chrono::Duration::days((days - d) as i64)
                        + chrono::Duration::seconds((h % 3600) as i64);
                    let info = ScanInfo {
                        id: d as i64 + 1,
                        label: None,
                        started_at: at,
                        finished_at: at,
                        hostname: who.hostname.clone(),
                        root: "/".into(),
                        changes: None,
                        warnings: None,
                        trigger: Some("schedule".into()),
                    };
                    let changes = if d == 0 {
                        Vec::new()
                    } else {
                        day_changes(&mut rng, d)
                    };
                    let report = Report {
                        from: (d > 0).then_some(ScanRef {
                            id: d as i64,
                            label: None,
                            started_at: at,
                        }),
                        to: ScanRef {
                            id: d as i64 + 1,
                            label: None,
                            started_at: at,
                        },
                        changes,
                        warnings: Vec::new(),
                        ignored: 0,
                    };
                    let p = push::Push::of(&info, &report, &[], &who, Some(86_400), None);
                    let st = (d == 0).then(|| state(h, &mut rng));
                    push::send(&mut pg, "bench", &p, st.as_ref()).await.unwrap();
                    changes_sent.fetch_add(p.changes.len() as u64, Ordering::Relaxed);
                    scans_sent.fetch_add(1, Ordering::Relaxed);
                }
                connect::close(pg).await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let nc = changes_sent.load(Ordering::Relaxed);
    let ns = scans_sent.load(Ordering::Relaxed);
    println!(
        "ingested: {ns} scans, {nc} changes, {} state items in {secs:.1} s: {:.0} changes/s, {:.0} scans/s",
        hosts * 171,
        nc as f64 / secs,
        ns as f64 / secs
    );
    sqlx::query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    let bytes: i64 = sqlx::query_scalar(
        "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'dawgmon.changes'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM dawgmon.changes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    println!(
        "changes table: {rows} rows, {bytes} bytes with indexes: {:.0} bytes per change row",
        bytes as f64 / rows.max(1) as f64
    );

    let (p50, p99, n) = timed(runs, || {
        let owner = owner.clone();
        async move {
            let mut c = connect::connect(&owner, connect::Who::Reader)
                .await
                .unwrap();
            let f = query::ChangeFilter {
                since: Utc::now() - chrono::Duration::days(7),
                collectors: vec!["list_suids".into()],
                kind: Some(ChangeKind::Added),
                ..Default::default()
            };
            let mut hosts = std::collections::BTreeSet::new();
            query::changes(&mut c, &f, |r| {
                hosts.insert(r.host);
                Ok(())
            })
            .await
            .unwrap();
            hosts.len()
        }
    })
    .await;
    println!(
        "query setuid gained in 7 days: p50 {p50:.1} ms, p99 {p99:.1} ms ({n} hosts, {runs} runs, connect included)"
    );
    let (p50, p99, n) = timed(runs, || {
        let owner = owner.clone();
        async move {
            let mut c = connect::connect(&owner, connect::Who::Reader)
                .await
                .unwrap();
            let f = query::WhereFilter {
                key: "/usr/bin/sudo".into(),
                collectors: Vec::new(),
                field: Some(("package_digest".into(), "*differs".into())),
            };
            let mut n = 0;
            query::where_now(&mut c, &f, |_| {
                n += 1;
                Ok(())
            })
            .await
            .unwrap();
            n
        }
    })
    .await;
    println!(
        "query sudo differs now: p50 {p50:.1} ms, p99 {p99:.1} ms ({n} hosts, {runs} runs, connect included)"
    );
    let (p50, p99, n) = timed(runs, || {
        let owner = owner.clone();
        async move {
            let mut c = connect::connect(&owner, connect::Who::Reader)
                .await
                .unwrap();
            let mut n = 0;
            query::hosts(&mut c, |_| {
                n += 1;
                Ok(())
            })
            .await
            .unwrap();
            n
        }
    })
    .await;
    println!(
        "query fleet hosts: p50 {p50:.1} ms, p99 {p99:.1} ms ({n} hosts, {runs} runs, connect included)"
    );
}

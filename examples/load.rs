//! Load generator for `bench/load.sh`: many concurrent clients reading the daemon's status and
//! history over its socket for a while; prints requests per second and latency percentiles.
//!
//! Usage: load SOCKET [CLIENTS=64] [SECONDS=10]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dawgmon::client::Client;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let socket = args.next().expect("usage: load SOCKET [CLIENTS] [SECONDS]");
    let clients: usize = args.next().map(|a| a.parse().unwrap()).unwrap_or(64);
    let seconds: u64 = args.next().map(|a| a.parse().unwrap()).unwrap_or(10);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        // One client (one connection pool) per simulated user, as separate dawgctl runs would.
        let client = Client::new(&socket);
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut lat) = (0u64, 0u64, Vec::new());
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = if n % 2 == 0 {
                    client.status().await.map(|_| ())
                } else {
                    client.scans(50, 0).await.map(|_| ())
                };
                lat.push(t.elapsed());
                match r {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        failed += 1;
                        if failed == 1 {
                            eprintln!("client {i}: {e}");
                        }
                    }
                }
                n += 1;
            }
            (ok, failed, lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (o, f, l) = t.await.unwrap();
        ok += o;
        failed += f;
        lat.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{clients} clients, {elapsed:.1}s: {ok} ok, {failed} failed, {:.0} req/s, latency p50 {:?} p99 {:?} max {:?}",
        ok as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        lat.last().unwrap()
    );
}

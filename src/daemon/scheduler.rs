//! Scheduled scans: a tokio-cron-scheduler job that fires at the schedule's times, waits a
//! random delay, and runs a scan of the configured collectors through [`Scans`], so it obeys the
//! one-scan-at-a-time rule and its result is stored, pruned (retention is applied by the
//! engine) and recorded in [`Scans::last_scheduled`]; it is then reported (its mail goes to the
//! outbox, see [`super::mail`]).
//!
//! A schedule that cannot be timed: the default (`schedule = "hourly"`) runs once an hour at a
//! minute and second of this host's own, derived from the scanned root's machine id, so a
//! fleet does not scan all at once and the shipped files do not publish the time. Each run then
//! waits a random delay, drawn anew every time (as systemd's `RandomizedDelaySec=` does): a
//! local user who can read the machine id still cannot tell when the next scan comes. The delay
//! is known only to the daemon and shown by `dawgctl status` (the socket is not open to
//! everyone); the status line systemd shows to every user says only that a scan is due.
//!
//! Times are UTC. The delay's sleep is checked against the wall clock at least once a minute, so a
//! suspended machine or a clock that was set scans when the time has come, not a sleep later.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use sha2::{Digest, Sha256};
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::api::ScanRequest;
use crate::config::{Config, DEFAULT_SCHEDULE};
use crate::error::Error;

use super::notify;
use super::scans::{ScanError, Scans, Trigger};

/// The longest single sleep before the wall clock is read again.
const WAKE_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// What the schedule runs: the cron expression (the default one resolved to this host's
/// minute) and the random delay before each run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The cron expression, with a seconds field, in UTC.
    pub expr: String,
    /// At most this long after each of the expression's times, drawn anew for each run.
    pub random_delay: Duration,
    /// Where the default schedule's minute came from (`"machine id"`, `"host name"`);
    /// `None` for a schedule written in the configuration.
    pub derived_from: Option<&'static str>,
    cron: Cron,
}

impl Plan {
    /// The configured schedule; `None` when scheduled scans are off.
    pub fn from_config(config: &Config) -> Result<Option<Plan>, Error> {
        let Some(written) = config.schedule.0.as_deref() else {
            return Ok(None);
        };
        let (expr, derived_from) = if written == DEFAULT_SCHEDULE {
            let (minute, second, from) = host_minute(&config.root);
            (format!("{second} {minute} * * * *"), Some(from))
        } else {
            (written.to_string(), None)
        };
        let cron = parse(&expr)?;
        Ok(Some(Plan {
            expr,
            random_delay: config.schedule_random_delay(),
            derived_from,
            cron,
        }))
    }

    /// The random delay of one run: up to [`Plan::random_delay`], drawn anew each time.
    pub fn draw_delay(&self) -> Duration {
        let max = u64::try_from(self.random_delay.as_millis()).unwrap_or(u64::MAX);
        if max == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::random_range(0..=max))
        }
    }

    /// The next time a scan is due after `now`: the expression's next time plus a fresh
    /// random delay. `None` when the expression has no next time.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tick = self.cron.find_next_occurrence(&now, false).ok()?;
        Some(tick + chrono::Duration::from_std(self.draw_delay()).unwrap_or_default())
    }
}

/// Parses a cron expression as the configuration checked it.
fn parse(expr: &str) -> Result<Cron, Error> {
    crate::config::parse_cron(expr).map_err(|e| {
        Error::Internal(format!(
            "the schedule {expr:?} is not a cron expression: {e}"
        ))
    })
}

/// This host's minute and second of the hour: from a hash of `root`'s machine id
/// (`etc/machine-id`, else `var/lib/dbus/machine-id`), else of its host name. The id itself is
/// not shown anywhere; the hash is salted so the minute tells nothing about it.
pub fn host_minute(root: &Path) -> (u32, u32, &'static str) {
    let read = |rel: &str| -> Option<String> {
        let text = std::fs::read(root.join(rel)).ok()?;
        let text = String::from_utf8_lossy(&text[..text.len().min(4096)]);
        let id = text.trim();
        (!id.is_empty()).then(|| id.to_string())
    };
    let (seed, from) = if let Some(id) = read("etc/machine-id") {
        (id, "machine id")
    } else if let Some(id) = read("var/lib/dbus/machine-id") {
        (id, "machine id")
    } else if let Some(name) = read("etc/hostname") {
        (name, "host name")
    } else {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        (name.trim().to_string(), "host name")
    };
    let digest = Sha256::new()
        .chain_update(b"dawgmon schedule minute\0")
        .chain_update(seed.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::from_le_bytes(first);
    ((n % 60) as u32, ((n / 60) % 60) as u32, from)
}

/// The running schedule.
pub struct Scheduler {
    inner: JobScheduler,
}

/// Starts scanning on `plan`: a tokio-cron-scheduler job fires at each of the expression's
/// times, waits the random delay drawn for that run (on the wall clock) and scans; `Scans`'
/// post-scan path stores, seals, runs the hooks and reports it, as for every scan.
pub async fn start(plan: Plan, scans: Arc<Scans>) -> Result<Scheduler, Error> {
    scans.set_next_scan_secret(!plan.random_delay.is_zero());
    tracing::info!(
        schedule = plan.expr.as_str(),
        random_delay_secs = plan.random_delay.as_secs(),
        minute_from = plan.derived_from.unwrap_or("configuration"),
        "scheduled scans on"
    );
    let fail = |what: &str, e: tokio_cron_scheduler::JobSchedulerError| {
        Error::Internal(format!("{what} the schedule {:?}: {e}", plan.expr))
    };
    let sched = JobScheduler::new().await.map_err(|e| fail("starting", e))?;
    // The delay of the coming run is drawn in advance, so `status` can show the real time.
    let delay = Arc::new(Mutex::new(plan.draw_delay()));
    let (for_job, job_delay, job_plan) = (scans.clone(), delay.clone(), plan.clone());
    let job = Job::new_async(plan.expr.as_str(), move |id, mut sched| {
        let (scans, delay, plan) = (for_job.clone(), job_delay.clone(), job_plan.clone());
        Box::pin(async move {
            let wait = *delay.lock().unwrap_or_else(|p| p.into_inner());
            sleep_until(Utc::now() + wait).await;
            run_scheduled(&scans).await;
            let next = plan.draw_delay();
            *delay.lock().unwrap_or_else(|p| p.into_inner()) = next;
            update_next(&scans, &mut sched, id, next).await;
            notify::status(&scans.idle_status());
        })
    })
    .map_err(|e| fail("parsing", e))?;
    let id = sched.add(job).await.map_err(|e| fail("adding", e))?;
    sched.start().await.map_err(|e| fail("starting", e))?;
    // The first time is set before this returns, so the READY=1 status line and the first
    // `status` already show it.
    let first = *delay.lock().unwrap_or_else(|p| p.into_inner());
    update_next(&scans, &mut sched.clone(), id, first).await;
    Ok(Scheduler { inner: sched })
}

impl Scheduler {
    /// Stops the schedule (a scan it started is handled by [`Scans::shutdown`]; its report,
    /// stored but not yet queued, is mailed at the next start).
    pub async fn stop(mut self) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!("stopping the scheduler: {e}");
        }
    }
}

/// Records when the next scan is due: the job's next time plus the delay drawn for it.
async fn update_next(scans: &Scans, sched: &mut JobScheduler, id: Uuid, delay: Duration) {
    match sched.next_tick_for_job(id).await {
        Ok(next) => {
            let next = next.map(|t| t + chrono::Duration::from_std(delay).unwrap_or_default());
            *scans.next_scan.lock().unwrap_or_else(|p| p.into_inner()) = next;
        }
        Err(e) => tracing::warn!("cannot tell when the next scan is due: {e}"),
    }
}

/// Sleeps until the wall clock reads `at`.
async fn sleep_until(at: DateTime<Utc>) {
    loop {
        let left = match (at - Utc::now()).to_std() {
            Ok(d) if !d.is_zero() => d,
            _ => return,
        };
        tokio::time::sleep(left.min(WAKE_AT_LEAST_EVERY)).await;
    }
}

async fn run_scheduled(scans: &Arc<Scans>) {
    match scans.run(ScanRequest::default(), Trigger::Schedule).await {
        // Logged and recorded by `Scans`; the report goes to the outbox, delivery runs in its
        // own task.
        Ok(_) => {}
        // Warned about and counted (for `status`) by `Scans`.
        Err(ScanError::Busy) => {}
        Err(ScanError::Stopping) => {}
        Err(e) => tracing::error!("scheduled scan failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};

    fn config(text: &str, root: &Path) -> Config {
        let mut c = Config::parse(text).unwrap();
        c.root = root.to_path_buf();
        c
    }

    #[test]
    fn the_default_minute_comes_from_the_machine_id() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(a.path().join("etc")).unwrap();
        std::fs::create_dir_all(b.path().join("etc")).unwrap();
        std::fs::write(
            a.path().join("etc/machine-id"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        std::fs::write(
            b.path().join("etc/machine-id"),
            "fedcba9876543210fedcba9876543210\n",
        )
        .unwrap();
        let pa = Plan::from_config(&config("", a.path())).unwrap().unwrap();
        let pb = Plan::from_config(&config("", b.path())).unwrap().unwrap();
        assert_eq!(pa.derived_from, Some("machine id"));
        // Stable for one host, different for two (these two ids hash apart).
        let again = Plan::from_config(&config("", a.path())).unwrap().unwrap();
        assert_eq!(pa.expr, again.expr);
        assert_ne!(pa.expr, pb.expr, "two machine ids, one minute");
        let (m, s, _) = host_minute(a.path());
        assert_eq!(pa.expr, format!("{s} {m} * * * *"));
        assert_eq!(
            pa.random_delay,
            Duration::from_secs(crate::config::DEFAULT_RANDOM_DELAY)
        );
    }

    #[test]
    fn minutes_spread_over_the_hour() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let mut minutes = std::collections::BTreeSet::new();
        for i in 0..200 {
            std::fs::write(dir.path().join("etc/machine-id"), format!("{i:032x}")).unwrap();
            minutes.insert(host_minute(dir.path()).0);
        }
        // 200 hosts over 60 minutes: nearly every minute is someone's.
        assert!(minutes.len() > 50, "{minutes:?}");
    }

    #[test]
    fn without_a_machine_id_the_host_name_decides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/hostname"), "web1\n").unwrap();
        assert_eq!(host_minute(dir.path()).2, "host name");
    }

    #[test]
    fn a_written_schedule_is_kept_and_runs_on_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = Plan::from_config(&config("schedule = \"0 7 * * * *\"", dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(p.expr, "0 7 * * * *");
        assert_eq!(p.derived_from, None);
        assert!(p.random_delay.is_zero());
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
        for _ in 0..20 {
            assert_eq!(
                p.next_after(now).unwrap(),
                Utc.with_ymd_and_hms(2026, 3, 1, 11, 7, 0).unwrap()
            );
        }
        assert!(
            Plan::from_config(&config("schedule = \"off\"", dir.path()))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn each_run_draws_its_own_delay_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let p = Plan::from_config(&config(
            "schedule = \"0 7 * * * *\"\nschedule_random_delay = 600",
            dir.path(),
        ))
        .unwrap()
        .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
        let tick = Utc.with_ymd_and_hms(2026, 3, 1, 11, 7, 0).unwrap();
        let times: std::collections::BTreeSet<_> =
            (0..50).map(|_| p.next_after(now).unwrap()).collect();
        assert!(
            times
                .iter()
                .all(|t| *t >= tick && *t <= tick + chrono::Duration::seconds(600))
        );
        assert!(times.len() > 40, "the delay is drawn anew: {times:?}");
        // Spread over the window, not bunched at its start.
        assert!(times.iter().any(|t| t.minute() >= 12), "{times:?}");
    }

    #[tokio::test]
    async fn the_sleep_ends_at_the_wall_clock_time() {
        let at = Utc::now() + chrono::Duration::milliseconds(300);
        sleep_until(at).await;
        assert!(Utc::now() >= at);
    }
}

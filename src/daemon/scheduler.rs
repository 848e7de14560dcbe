//! Scheduled scans: a cron job (tokio-cron-scheduler) that runs a scan of the configured
//! collectors through [`Scans`], so it obeys the one-scan-at-a-time rule and its result is
//! stored, pruned (retention is applied by the engine) and recorded in
//! [`Scans::last_scheduled`]; it is then reported (its mail goes to the outbox, see
//! [`super::mail`]).

use std::sync::Arc;

use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::api::ScanRequest;
use crate::error::Error;

use super::mail::DaemonMail;
use super::notify;
use super::scans::{ScanError, Scans, Trigger};

/// The running schedule.
pub struct Scheduler {
    inner: JobScheduler,
}

/// Starts scanning on `schedule` (a cron expression with seconds, in UTC).
/// After each scheduled scan, it is reported: by `mail` when configured (which queues its
/// report and wakes delivery), else marked reported without mail.
pub async fn start(
    schedule: &str,
    scans: Arc<Scans>,
    mail: Option<Arc<DaemonMail>>,
) -> Result<Scheduler, Error> {
    let fail = |what: &str, e: tokio_cron_scheduler::JobSchedulerError| {
        Error::Internal(format!("{what} the schedule {schedule:?}: {e}"))
    };
    let sched = JobScheduler::new().await.map_err(|e| fail("starting", e))?;
    let for_job = scans.clone();
    let job = Job::new_async(schedule, move |id, mut sched| {
        let scans = for_job.clone();
        let mail = mail.clone();
        Box::pin(async move {
            run_scheduled(&scans, mail.as_deref()).await;
            update_next(&scans, &mut sched, id).await;
            notify::status(&scans.idle_status());
        })
    })
    .map_err(|e| fail("parsing", e))?;
    let id = sched.add(job).await.map_err(|e| fail("adding", e))?;
    sched.start().await.map_err(|e| fail("starting", e))?;
    let mut handle = sched.clone();
    update_next(&scans, &mut handle, id).await;
    Ok(Scheduler { inner: sched })
}

impl Scheduler {
    /// Stops the schedule (a scan it started is handled by [`Scans::shutdown`]).
    pub async fn stop(mut self) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!("stopping the scheduler: {e}");
        }
    }
}

async fn run_scheduled(scans: &Arc<Scans>, mail: Option<&DaemonMail>) {
    match scans.run(ScanRequest::default(), Trigger::Schedule).await {
        // Logged and recorded by `Scans`; the report goes to the outbox, delivery runs in its
        // own task.
        Ok((result, _)) => super::mail::after_scan(mail, scans.engine(), &result).await,
        // Warned about and counted (for `status`) by `Scans`.
        Err(ScanError::Busy) => {}
        Err(ScanError::Stopping) => {}
        Err(e) => tracing::error!("scheduled scan failed: {e}"),
    }
}

async fn update_next(scans: &Scans, sched: &mut JobScheduler, id: Uuid) {
    match sched.next_tick_for_job(id).await {
        Ok(next) => *scans.next_scan.lock().unwrap_or_else(|p| p.into_inner()) = next,
        Err(e) => tracing::warn!("cannot tell when the next scan is due: {e}"),
    }
}

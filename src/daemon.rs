//! `dawgmond`: scheduled scans and the API on a UNIX socket.
//!
//! [`run`] takes its configuration, an already bound listener and a shutdown future (the
//! outside world is passed in, so tests drive it directly). It opens the database, starts the
//! schedule and the API, tells systemd it is ready, and on shutdown tells systemd it is
//! stopping, stops the schedule, lets a running scan finish for a few seconds or abandons it
//! (never half-stored: the store saves a scan in one transaction), answers the requests in
//! flight and closes the database.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::net::UnixListener;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Error;
use crate::store::Store;

pub mod accept;
pub mod auth;
pub mod events;
pub mod fleet;
pub mod hooks;
pub mod limits;
pub mod mail;
pub mod notify;
pub mod poll;
pub mod requests;
pub mod routes;
pub mod scans;
pub mod scheduler;
pub mod seal;
pub mod setup;
pub mod trigger;

/// How long a stopping daemon waits for a running scan before abandoning it. Short, so that
/// `systemctl restart dawgmond` (after a package upgrade, say) is quick; an abandoned scan is
/// simply not stored and the next one replaces it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// `dawgmond`'s exit status when its database is damaged or not a database at all
/// (`EX_DATAERR` from sysexits.h). Restarting cannot fix that, so the shipped unit lists it in
/// `RestartPreventExitStatus=` instead of restarting every few seconds.
pub const EXIT_DATABASE_DAMAGED: u8 = 65;

/// What the request handlers share.
pub struct Shared {
    pub config: Config,
    pub scans: Arc<scans::Scans>,
    pub admin: Option<auth::AdminGroup>,
    pub started_at: DateTime<Utc>,
    pub started: Instant,
    /// Mailed reports; `None` when `[mail]` is not configured.
    pub mail: Option<Arc<mail::DaemonMail>>,
    /// The fleet push; `None` when `[fleet]` is not configured.
    pub fleet: Option<Arc<fleet::DaemonFleet>>,
    /// Heavy requests (diffs) at once.
    pub heavy: limits::Heavy,
    /// Why the last reload was refused, if it was.
    pub reload: setup::ReloadNote,
    /// The schedule as it runs (the default one resolved to this host's minute); `None`: off.
    pub plan: Option<scheduler::Plan>,
    /// What the realtime watch does (for `GET /v1/status`).
    pub realtime: Arc<std::sync::Mutex<crate::api::RealtimeStatus>>,
    /// Targeted scans from inside the daemon (the realtime watch, pollers).
    pub requests: requests::ScanRequests,
}

/// Runs the daemon until `shutdown` resolves, with a configuration that passed
/// [`setup::Prepared::new`]. `note` carries a refused reload into `dawgctl status`.
pub async fn run(
    prepared: setup::Prepared,
    listener: UnixListener,
    shutdown: impl Future<Output = ()> + Send,
    note: setup::ReloadNote,
) -> Result<(), Error> {
    let setup::Prepared {
        config,
        admin,
        mailer,
        store,
        ..
    } = prepared;
    let store = match store {
        Some(store) => store,
        None => match Store::open(&config.database).await {
            Ok(store) => store,
            Err(e) => {
                // Not serving: leave no socket that would answer "connection refused".
                let _ = std::fs::remove_file(&config.socket);
                return Err(e.into());
            }
        },
    };
    // So that `dawgctl --local` on this database prunes with the daemon's retention.
    store.set_retention(config.retention).await?;
    let engine = Engine::from_config(store.clone(), &config)?;
    let mail = match (&config.mail, mailer) {
        (Some(cfg), Some(mailer)) => {
            Some(mail::DaemonMail::new(cfg.clone(), mailer, engine.clone()))
        }
        _ => None,
    };
    if mail.is_none() {
        // With mail, the delivery task reports what was stored while no daemon ran.
        mail::report_without_mail(&engine).await;
    }
    let hooks = hooks::Hooks::new(&config)?;
    if hooks.is_some() {
        tracing::info!(
            prometheus_textfile = ?config.prometheus_textfile,
            change_log = ?config.change_log,
            "fleet hooks on"
        );
    }
    let fleet = fleet::DaemonFleet::new(&config, engine.clone())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let sealer = seal::start(&config, &store).await;
    let ticker = seal::spawn_ticker(sealer.clone());
    let scans = Arc::new(
        scans::Scans::new(engine)
            .with_hooks(hooks)
            .with_sealer(sealer)
            .with_fleet(fleet.clone())
            .with_mail(mail.clone()),
    );
    let plan = scheduler::Plan::from_config(&config)?;
    let (requests, requested) = requests::spawn(scans.clone());
    let events = events::start(&config, &scans, requests.clone());
    let shared = Arc::new(Shared {
        config: config.clone(),
        scans: scans.clone(),
        admin,
        started_at: Utc::now(),
        started: Instant::now(),
        mail: mail.clone(),
        fleet: fleet.clone(),
        heavy: limits::Heavy::default(),
        reload: note,
        plan: plan.clone(),
        realtime: events.status.clone(),
        requests,
    });

    let scheduler = match plan {
        Some(p) => Some(scheduler::start(p, scans.clone()).await?),
        None => None,
    };
    let pushing = fleet.as_ref().map(|f| {
        tracing::info!(to = %f.to(), "fleet push on");
        f.spawn()
    });
    let poller = poll::start(
        config.root.clone(),
        Duration::from_secs(config.poll_interval),
        &scans.default_collectors(),
        poll::via_requests(shared.requests.clone()),
    )
    .map_err(|e| Error::Internal(format!("cannot start the poller thread: {e}")))?;
    let delivery = mail.as_ref().map(|m| {
        tracing::info!(via = m.mailer.via(), "mail reports on");
        m.spawn()
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api = accept::Server {
        router: routes::router(shared.clone()),
        admin: shared.admin.clone(),
        tracker: limits::Tracker::new(limits::Caps::default()),
        idle_timeout: config.idle_timeout(),
    };
    let mut server = tokio::spawn(api.run(listener, stop_rx));
    let watchdog = notify::spawn_watchdog();
    tracing::info!(
        socket = %config.socket.display(),
        database = %config.database.display(),
        schedule = config.schedule.0.as_deref().unwrap_or("off"),
        "dawgmond {} ready",
        env!("CARGO_PKG_VERSION")
    );
    notify::ready(&scans.idle_status());

    let early = tokio::select! {
        _ = shutdown => None,
        r = &mut server => Some(r),
    };
    if let Some(r) = early {
        let why = match r {
            Ok(()) => "stopped".to_string(),
            Err(e) => e.to_string(),
        };
        return Err(Error::Internal(format!("the API server failed: {why}")));
    }

    tracing::info!("stopping");
    notify::stopping("stopping");
    if let Some(s) = scheduler {
        s.stop().await;
    }
    if let Some(p) = poller {
        p.stop();
    }
    events.stop().await;
    requested.abort();
    if scans.shutdown(SHUTDOWN_GRACE).await {
        notify::stopping("stopping; abandoned the running scan");
    }
    if let (Some(m), Some(task)) = (&mail, delivery) {
        m.stop(task, SHUTDOWN_GRACE).await;
    }
    if let (Some(f), Some(task)) = (&fleet, pushing) {
        f.stop(task, SHUTDOWN_GRACE).await;
    }
    let _ = stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(5), &mut server)
        .await
        .is_err()
    {
        tracing::warn!("closing connections that are still open");
        server.abort();
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    ticker.abort();
    store.close().await;
    let _ = std::fs::remove_file(&config.socket);
    tracing::info!("stopped");
    Ok(())
}

/// Binds the API socket: creates its directory if missing, refuses to take over a socket a
/// running daemon answers on, removes a stale one, and sets the configured group and mode
/// (the socket is created owner-only, so it is never briefly open to others).
pub fn bind(prepared: &setup::Prepared) -> Result<UnixListener, Error> {
    let config = &prepared.config;
    let path = &config.socket;
    let fail = |what: &str, e: std::io::Error| {
        Error::Usage(format!("cannot {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| fail("create the directory of the socket", e))?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::Usage(format!(
                "another dawgmond is already listening on {}: stop it first \
                 (systemctl stop dawgmond) or choose another --socket",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| fail("remove the stale socket", e))?;
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(|e| fail("listen on", e))?;
    if let (Some(group), Some(gid)) = (&config.socket_group, prepared.socket_gid) {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| fail(&format!("give group {group} the socket"), e))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.socket_mode.0))
        .map_err(|e| fail("set the mode of", e))?;
    Ok(listener)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot watch for SIGTERM: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

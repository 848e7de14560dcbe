//! The HTTP API (axum): one handler per route of [`crate::api::routes`].
//!
//! Every error is JSON (`{"error": "..."}`) with a status that says whose fault it is: 400 for a
//! malformed request (not JSON, a bad query, an unknown collector, an invalid label), 403 for a
//! peer that may not do this, 404 for an unknown scan, label or route, 405 for a wrong method,
//! 408 for a body that did not arrive in time, 409 for a mail test without mail, 413 for a body
//! over [`api::MAX_BODY`], 415 for a body that is not `application/json`, 422 for JSON of the
//! wrong shape (axum's `JsonDataError`: a wrong type, an unknown field), 502 for a refused mail
//! test, 503 while stopping or when too many diffs wait ([`super::limits`]), 500 for the
//! daemon's own failures. docs/daemon.md has the same table; a test holds the two together.
//! Handlers never panic on input.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::api::{self, routes};
use crate::error::{Error, StoreError};
use crate::store::ScanInfo;

use super::Shared;
use super::accept::{BODY_TIMEOUT, class_of};
use super::auth::{self, Peer};
use super::limits::Saturated;
use super::scans::{ScanError, Trigger};

/// The API's router over the daemon's state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(routes::STATUS, get(status))
        .route(routes::SCANS, get(list_scans).post(start_scan))
        .route(routes::SCAN, get(get_scan))
        .route(routes::BASELINES, get(list_baselines).post(create_baseline))
        .route(routes::BASELINE, axum::routing::delete(delete_baseline))
        .route(routes::DIFF, get(diff))
        .route(routes::COLLECTORS, get(collectors))
        .route(routes::MAIL_TEST, axum::routing::post(mail_test))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(api::MAX_BODY))
        .layer(axum::middleware::from_fn(body_in_time))
        .layer(axum::middleware::map_response(version_header))
        .with_state(shared)
}

/// An error response: a status and a message naming the problem.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = api::ErrorBody {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The status for a library error.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Store(StoreError::NotFound(_) | StoreError::Empty) => StatusCode::NOT_FOUND,
        Error::Store(StoreError::BadLabel(_)) | Error::Usage(_) => StatusCode::BAD_REQUEST,
        Error::Busy => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<&Error> for ApiError {
    fn from(e: &Error) -> Self {
        let status = status_of(e);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("request failed: {e}");
        }
        ApiError::new(status, e.to_string())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::from(&e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Error::from(e).into()
    }
}

impl From<ScanError> for ApiError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Failed(e) => ApiError::from(&*e),
            ScanError::Busy => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            ScanError::Stopping => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

impl From<Saturated> for ApiError {
    fn from(e: Saturated) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

macro_rules! rejection {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(r: $t) -> Self {
                ApiError::new(r.status(), r.body_text())
            }
        }
    )*};
}
rejection!(JsonRejection, QueryRejection, PathRejection);

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Reads the request body before the handler runs, allowing [`BODY_TIMEOUT`] for it: a client
/// that sends a head and then trickles (or never sends) its body gets 408 and is closed, instead
/// of holding a connection and a handler. Bodies are small ([`api::MAX_BODY`]), so buffering
/// them costs nothing; a body over the limit gets 413 here.
async fn body_in_time(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, api::MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let over_limit =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if over_limit {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over {} KiB", api::MAX_BODY / 1024),
                )
                .into_response()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
                .into_response()
            }
        }
        Err(_) => {
            let mut res = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {}s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .into_response();
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            res
        }
    }
}

async fn version_header(mut res: Response) -> Response {
    res.headers_mut()
        .insert(api::VERSION_HEADER, HeaderValue::from(api::API_VERSION));
    res
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such route: {method} {uri}; the API's routes are under /v1 (see dawgmond's documentation)"
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

fn require_admin(shared: &Shared, peer: &Peer) -> Result<(), ApiError> {
    auth::check_admin(peer, shared.admin.as_ref()).map_err(|m| {
        tracing::info!(uid = peer.uid, pid = peer.pid, "refused: not an admin");
        ApiError::new(StatusCode::FORBIDDEN, m)
    })
}

/// `GET /v1/status`.
async fn status(State(shared): State<Arc<Shared>>) -> ApiResult<api::Status> {
    let engine = shared.scans.engine();
    let next_scan = *shared
        .scans
        .next_scan
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let last_scheduled = shared
        .scans
        .last_scheduled
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(Json(api::Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: api::API_VERSION,
        started_at: shared.started_at,
        uptime_secs: shared.started.elapsed().as_secs(),
        schedule: shared.plan.as_ref().map(|p| p.expr.clone()),
        next_scan,
        schedule_random_delay_secs: shared.plan.as_ref().map_or(0, |p| p.random_delay.as_secs()),
        poll_interval_secs: Some(shared.config.poll_interval).filter(|&i| {
            i > 0 && !super::poll::active(&shared.scans.default_collectors()).is_empty()
        }),
        last_scan: engine.store.latest().await?,
        last_scheduled,
        scan_in_progress: shared.scans.progress(),
        database: engine.store.path().display().to_string(),
        database_bytes: engine.store.size_on_disk(),
        scans_stored: engine.store.count().await?,
        root: engine.root.display().to_string(),
        collectors: shared
            .scans
            .default_collectors()
            .into_iter()
            .map(String::from)
            .collect(),
        mail: shared.mail.as_ref().map(|m| m.status()),
        outbox: engine.store.outbox_summary().await?,
        reload_refused: shared.reload.get(),
        hooks: shared.scans.hook_status(),
        skipped_scans: shared.scans.skipped(),
        checkpoint: shared
            .scans
            .sealer()
            .and_then(|s| s.checkpoint())
            .map(|c| c.to_line()),
        seal_problem: shared.scans.sealer().and_then(|s| s.problem()),
        fleet: match &shared.fleet {
            Some(f) => Some(f.status().await),
            None => None,
        },
        realtime: Some(
            shared
                .realtime
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        ),
    }))
}

/// `POST /v1/mail/test`: sends a test message now; 502 with the failure (naming the server or
/// the command) when it was not accepted.
async fn mail_test(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
) -> ApiResult<api::MailTestAnswer> {
    require_admin(&shared, &peer)?;
    let Some(mail) = &shared.mail else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "mail is not configured: add a [mail] table to dawgmond's config file \
             (/etc/dawgmon/dawgmond.toml; see docs/mail.md) and restart dawgmond",
        ));
    };
    let host = crate::engine::hostname(&shared.scans.engine().root);
    tracing::info!(
        uid = peer.uid,
        via = mail.mailer.via(),
        "mail test requested"
    );
    match mail.send_test(&host).await {
        Ok(answer) => Ok(Json(api::MailTestAnswer {
            answer,
            via: mail.mailer.via().to_string(),
            to: mail.config.to.clone(),
        })),
        Err(e) => {
            let message = one_line(&e.to_string());
            tracing::warn!("mail test failed: {message}");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, message))
        }
    }
}

/// Joins the lines of a (multi-line SMTP) error.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `GET /v1/scans?limit=&offset=`.
async fn list_scans(
    State(shared): State<Arc<Shared>>,
    page: Result<Query<api::Page>, QueryRejection>,
) -> ApiResult<api::ScanList> {
    let Query(page) = page?;
    let limit = page.limit.unwrap_or(api::PAGE_DEFAULT);
    let offset = page.offset.unwrap_or(0);
    if !(1..=api::PAGE_MAX).contains(&limit) || offset < 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {} and offset 0 or more", api::PAGE_MAX),
        ));
    }
    let store = &shared.scans.engine().store;
    let scans = store.list(limit, offset).await?;
    let total = store.count().await?;
    let next = offset + scans.len() as i64;
    Ok(Json(api::ScanList {
        scans,
        total,
        offset,
        next_offset: (next < total).then_some(next),
    }))
}

/// `GET /v1/scans/{id}`: by id, or by label.
async fn get_scan(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<ScanInfo> {
    let Path(id) = id?;
    Ok(Json(shared.scans.engine().store.resolve(&id).await?))
}

async fn scan(shared: &Shared, peer: &Peer, req: api::ScanRequest) -> ApiResult<api::ScanResponse> {
    require_admin(shared, peer)?;
    tracing::debug!(uid = peer.uid, label = ?req.label, "scan requested");
    // Reported (mailed) like a scheduled scan, by `Scans`' post-scan path: the next scheduled
    // scan compares with this one, so a change first seen here would otherwise never reach the
    // report (and someone in the admin group could hide a change from mail by scanning first).
    let (r, joined) = shared.scans.run(req, Trigger::Request).await?;
    Ok(Json(api::ScanResponse {
        scan: r.info.clone(),
        report: r.report.clone(),
        items: r.items,
        denied: r.denied.0,
        denied_examples: r.denied.1.clone(),
        scanned_as_root: nix::unistd::geteuid().is_root(),
        elapsed_ms: r.elapsed.as_millis() as u64,
        joined,
        files_hashed: r.files_hashed,
        files_carried: r.files_carried,
        timings: api::CollectorTiming::list(&r.timings),
    }))
}

/// `POST /v1/scans`: scan now (optionally a collector subset).
async fn start_scan(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    body: Result<Json<api::ScanRequest>, JsonRejection>,
) -> ApiResult<api::ScanResponse> {
    let Json(req) = body?;
    scan(&shared, &peer, req).await
}

/// `POST /v1/baselines`: scan now and store the scan under `label`.
async fn create_baseline(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    body: Result<Json<api::ScanRequest>, JsonRejection>,
) -> ApiResult<api::ScanResponse> {
    let Json(req) = body?;
    if req.label.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a baseline needs a label: {\"label\": \"pre\"}",
        ));
    }
    scan(&shared, &peer, req).await
}

/// `GET /v1/baselines`: labelled scans, newest first.
async fn list_baselines(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<ScanInfo>> {
    Ok(Json(shared.scans.engine().store.baselines().await?))
}

/// `DELETE /v1/baselines/{label}`: removes the label (the scan ages out like any other).
async fn delete_baseline(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    label: Result<Path<String>, PathRejection>,
) -> ApiResult<ScanInfo> {
    let Path(label) = label?;
    require_admin(&shared, &peer)?;
    let store = &shared.scans.engine().store;
    if label.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{label:?} is a scan id, not a baseline label"),
        ));
    }
    let scan = store.delete_label(&label).await?;
    tracing::info!(uid = peer.uid, label, id = scan.id, "baseline deleted");
    Ok(Json(store.get(scan.id).await?))
}

/// `GET /v1/diff?since=&to=&collectors=`: the same JSON as `dawgctl diff --format json`.
async fn diff(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    query: Result<Query<api::DiffQuery>, QueryRejection>,
) -> ApiResult<crate::report::Report> {
    let Query(q) = query?;
    let _turn = shared
        .heavy
        .enter(class_of(&peer, shared.admin.as_ref()))
        .await?;
    let engine = shared.scans.engine();
    let to = match &q.to {
        Some(spec) => engine.store.resolve(spec).await?,
        None => engine.latest().await?,
    };
    let only: Option<Vec<String>> = q
        .collectors
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(|n| n.trim().to_string()).collect());
    if let Some(names) = &only {
        crate::collectors::Registry::default()
            .check_names(names)
            .map_err(Error::Usage)?;
    }
    Ok(Json(
        engine
            .diff_stored(q.since.as_deref(), &to, only.as_deref())
            .await?,
    ))
}

/// `GET /v1/collectors`: every collector, `default` meaning the daemon runs it.
async fn collectors(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<api::CollectorInfo>> {
    let runs = shared.scans.default_collectors();
    let watches = shared.scans.engine().registry.watches();
    Ok(Json(api::collector_infos(watches, |n| runs.contains(&n))))
}

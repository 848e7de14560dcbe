//! The daemon's client: typed methods over the API of [`crate::api`], HTTP on a UNIX socket
//! (hyperlocal).
//!
//! A daemon that cannot be reached is one [`ClientError`] whose message names the socket, the
//! cause and the fix; errors the daemon answers with carry its message unchanged.

use std::io;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HttpClient;
use hyperlocal::{UnixClientExt, UnixConnector};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{self, routes};
use crate::report::Report;
use crate::store::ScanInfo;

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach dawgmond at {0}: no such file (is the daemon running? systemctl status dawgmond; or use --local)"
    )]
    NoSocket(PathBuf),
    #[error(
        "cannot reach dawgmond at {0}: nothing listens there (the daemon stopped: systemctl status dawgmond; or use --local)"
    )]
    Refused(PathBuf),
    #[error(
        "cannot connect to dawgmond at {0}: permission denied (ask an admin to add you to the group that owns the socket, or run as root)"
    )]
    Denied(PathBuf),
    #[error("cannot talk to dawgmond at {socket}: {message}")]
    Io { socket: PathBuf, message: String },
    /// The daemon answered with an error; its message names the problem.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error(
        "dawgmond speaks API version {theirs} and this dawgctl version {ours}: install matching versions of dawgctl and dawgmond"
    )]
    Version { theirs: String, ours: u32 },
    #[error("unexpected answer from dawgmond to {what}: {message}")]
    Protocol { what: String, message: String },
}

impl ClientError {
    /// The HTTP status the daemon answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one daemon socket.
#[derive(Clone)]
pub struct Client {
    socket: PathBuf,
    http: HttpClient<UnixConnector, Full<Bytes>>,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
            http: HttpClient::unix(),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<api::Status, ClientError> {
        self.get(routes::STATUS).await
    }

    /// `GET /v1/scans`: one page of the history, newest first.
    pub async fn scans(&self, limit: i64, offset: i64) -> Result<api::ScanList, ClientError> {
        self.get(&format!("{}?limit={limit}&offset={offset}", routes::SCANS))
            .await
    }

    /// `GET /v1/scans/{id}`: a scan by id or label.
    pub async fn scan_info(&self, spec: &str) -> Result<ScanInfo, ClientError> {
        self.get(&format!("{}/{}", routes::SCANS, api::segment(spec)))
            .await
    }

    /// `POST /v1/scans`: scans now, or joins the identical running scan.
    pub async fn scan(&self, req: &api::ScanRequest) -> Result<api::ScanResponse, ClientError> {
        self.send(Method::POST, routes::SCANS, Some(req)).await
    }

    /// `POST /v1/baselines`: scans now and labels the scan.
    pub async fn baseline(&self, req: &api::ScanRequest) -> Result<api::ScanResponse, ClientError> {
        self.send(Method::POST, routes::BASELINES, Some(req)).await
    }

    /// `GET /v1/baselines`.
    pub async fn baselines(&self) -> Result<Vec<ScanInfo>, ClientError> {
        self.get(routes::BASELINES).await
    }

    /// `DELETE /v1/baselines/{label}`.
    pub async fn delete_baseline(&self, label: &str) -> Result<ScanInfo, ClientError> {
        let path = format!("{}/{}", routes::BASELINES, api::segment(label));
        self.send(Method::DELETE, &path, None::<&()>).await
    }

    /// `GET /v1/diff`.
    pub async fn diff(
        &self,
        since: Option<&str>,
        to: Option<&str>,
        collectors: &[String],
    ) -> Result<Report, ClientError> {
        let mut query = Vec::new();
        if let Some(s) = since {
            query.push(format!("since={}", api::segment(s)));
        }
        if let Some(t) = to {
            query.push(format!("to={}", api::segment(t)));
        }
        if !collectors.is_empty() {
            let names: Vec<String> = collectors.iter().map(|c| api::segment(c)).collect();
            query.push(format!("collectors={}", names.join(",")));
        }
        let path = if query.is_empty() {
            routes::DIFF.to_string()
        } else {
            format!("{}?{}", routes::DIFF, query.join("&"))
        };
        self.get(&path).await
    }

    /// `GET /v1/collectors`.
    pub async fn collectors(&self) -> Result<Vec<api::CollectorInfo>, ClientError> {
        self.get(routes::COLLECTORS).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(Method::GET, path, None::<&()>).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let what = format!("{method} {path}");
        let protocol = |message: String| ClientError::Protocol {
            what: what.clone(),
            message,
        };
        let uri: hyper::Uri = hyperlocal::Uri::new(&self.socket, path).into();
        let mut builder = Request::builder().method(method.clone()).uri(uri);
        let body = match body {
            Some(b) => {
                builder = builder.header("content-type", "application/json");
                Full::new(Bytes::from(
                    serde_json::to_vec(b).expect("requests serialise"),
                ))
            }
            None => Full::new(Bytes::new()),
        };
        let req = builder.body(body).map_err(|e| protocol(e.to_string()))?;
        let res = self
            .http
            .request(req)
            .await
            .map_err(|e| self.connect_error(&e))?;
        let status = res.status();
        let version = res
            .headers()
            .get(api::VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| self.connect_error(&e))?
            .to_bytes();
        match version {
            Some(v) if v == api::API_VERSION.to_string() => {}
            theirs => {
                return Err(ClientError::Version {
                    theirs: theirs.unwrap_or_else(|| "unknown (not dawgmond?)".into()),
                    ours: api::API_VERSION,
                });
            }
        }
        if status != StatusCode::OK {
            let message = serde_json::from_slice::<api::ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(ClientError::Api {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| protocol(e.to_string()))
    }

    /// Turns a transport error into the one line a user needs.
    fn connect_error(&self, e: &(dyn std::error::Error + 'static)) -> ClientError {
        let mut source = Some(e);
        while let Some(err) = source {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                let socket = self.socket.clone();
                return match io.kind() {
                    io::ErrorKind::NotFound => ClientError::NoSocket(socket),
                    io::ErrorKind::ConnectionRefused => ClientError::Refused(socket),
                    io::ErrorKind::PermissionDenied => ClientError::Denied(socket),
                    _ => ClientError::Io {
                        socket,
                        message: io.to_string(),
                    },
                };
            }
            source = err.source();
        }
        ClientError::Io {
            socket: self.socket.clone(),
            message: e.to_string(),
        }
    }
}

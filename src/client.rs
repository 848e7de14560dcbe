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
use crate::model::ScanInfo;
use crate::report::Report;

pub use crate::error::ClientError;

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

    /// `POST /v1/mail/test`: the daemon sends a test message now.
    pub async fn mail_test(&self) -> Result<api::MailTestAnswer, ClientError> {
        self.send(Method::POST, routes::MAIL_TEST, None::<&()>)
            .await
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

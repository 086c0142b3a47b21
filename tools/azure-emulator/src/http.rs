//! HTTP/1.1 plumbing on hyper: the two accept loops (HTTPS for ARM, Entra and
//! discovery; plain HTTP for HIMDS and IMDS, like the real ones), keep-alive,
//! bodies of either framing, request-level faults, routing, ARM's response
//! headers and the request log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::faults::FaultKind;
use crate::log::RecordedRequest;
use crate::state::Shared;
use crate::util::form_decode;
use crate::{arm, entra, himds, imds, oidc};

const MAX_BODY: usize = 1024 * 1024;

/// A request, fully read.
#[derive(Debug, Clone)]
pub struct Request {
    pub scheme: &'static str,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub path_and_query: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// First decoded value of a query parameter (names case-sensitive, as ARM).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_decode(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn form(&self) -> Vec<(String, String)> {
        form_decode(&String::from_utf8_lossy(&self.body))
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn into_hyper(self) -> hyper::Response<Full<Bytes>> {
        let mut builder = hyper::Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(Full::new(Bytes::from(self.body)))
            .unwrap_or_else(|_| {
                let mut r = hyper::Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r
            })
    }
}

/// What a handler decided.
pub enum Outcome {
    Respond(Response),
    /// Drop the connection without answering.
    Close,
}

/// The service error that makes hyper drop the connection without a response.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for CloseConnection {}

/// Accepts TLS connections until `stop` changes.
pub async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                connection(tls, "https", shared).await;
            }
        });
    }
}

/// Accepts plain HTTP connections until `stop` changes.
pub async fn serve_http(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        tokio::spawn(connection(tcp, "http", shared));
    }
}

async fn connection<S>(stream: S, scheme: &'static str, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(shared.clone(), scheme, req));
    // Errors here are clients going away or injected closes: nothing to do.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    shared: Arc<Shared>,
    scheme: &'static str,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(Response::json(
                413,
                &json!({"error": {"code": "RequestEntityTooLarge", "message": "The request body is too large."}}),
            )
            .into_hyper())
        }
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let request = Request {
        scheme,
        method: parts.method.clone(),
        path_and_query: if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        },
        path,
        query,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };

    let fault = shared.lock().faults.take(
        &request.method,
        &request.path_and_query,
        FaultKind::is_request_level,
    );
    let outcome = match fault {
        Some(FaultKind::CloseConnection) => Outcome::Close,
        Some(FaultKind::Status {
            code,
            retry_after,
            arm_error,
        }) => Outcome::Respond(faulted(&request, code, retry_after, arm_error)),
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            route(&shared, &request)
        }
        _ => route(&shared, &request),
    };
    match outcome {
        Outcome::Close => {
            shared.lock().log.push(RecordedRequest::new(&request, 0));
            Err(CloseConnection)
        }
        Outcome::Respond(mut response) => {
            if arm::is_arm_path(&request) {
                response = arm::decorate(&request, response);
            }
            shared
                .lock()
                .log
                .push(RecordedRequest::new(&request, response.status));
            Ok(response.into_hyper())
        }
    }
}

fn route(shared: &Shared, req: &Request) -> Outcome {
    if req.scheme == "http" {
        if req.path == "/metadata/identity/oauth2/token" {
            return Outcome::Respond(identity_endpoint(shared, req));
        }
        return Outcome::Respond(not_found());
    }
    if arm::is_arm_path(req) {
        return Outcome::Respond(arm::handle(shared, req));
    }
    if entra::is_token_path(&req.path) {
        return Outcome::Respond(entra::handle(shared, req));
    }
    if oidc::is_oidc_path(&req.path) {
        return oidc::handle(shared, req);
    }
    Outcome::Respond(not_found())
}

/// HIMDS and VM IMDS share the path; the api-version and which identity is
/// configured decide who answers (a real machine has one or the other).
fn identity_endpoint(shared: &Shared, req: &Request) -> Response {
    let (arc, vm) = {
        let state = shared.lock();
        (
            state.arc_identity_tenant.is_some(),
            state.vm_identity_tenant.is_some(),
        )
    };
    let version = req.query_param("api-version").unwrap_or_default();
    if vm && (!arc || imds::API_VERSIONS.contains(&version.as_str())) {
        imds::handle(shared, req)
    } else if arc {
        himds::handle(shared, req)
    } else {
        imds::no_identity()
    }
}

fn not_found() -> Response {
    Response::json(
        404,
        &json!({"error": {"code": "NotFound", "message": "The requested path is not served by the Azure emulator."}}),
    )
}

/// The answer for a `FaultKind::Status`.
fn faulted(
    req: &Request,
    code: u16,
    retry_after: Option<u32>,
    arm_error: Option<(String, String)>,
) -> Response {
    let mut response = if arm::is_arm_path(req) || arm_error.is_some() {
        let (error_code, message) =
            arm_error.unwrap_or_else(|| arm::default_error_for_status(code));
        arm::error_response(code, &error_code, &message)
    } else {
        Response::json(
            code,
            &json!({
                "error": if code >= 500 { "temporarily_unavailable" } else { "invalid_request" },
                "error_description": format!("Injected fault: HTTP {code}."),
            }),
        )
    };
    if let Some(secs) = retry_after {
        response = response.with_header("retry-after", secs.to_string());
    }
    response
}

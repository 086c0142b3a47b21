//! The HTTPS side: TLS 1.2/1.3 with a client certificate required (signed by
//! the client CA, as kube-apiserver with `--anonymous-auth=false`), and a
//! minimal HTTP/1.1 — one request per connection, `Connection: close`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::certs::Bundle;
use crate::log;

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD: usize = 16 * 1024;
const CONFIGMAP_PATH: &str = "/api/v1/namespaces/azure-arc/configmaps/azure-clusterconfig";

/// What the server answers with.
#[derive(Debug, Clone)]
pub struct Site {
    /// The first issuer, when kube-apiserver would serve discovery for it.
    pub discovery_issuer: Option<String>,
    /// The azure-arc/azure-clusterconfig ConfigMap as JSON, if the file exists.
    pub configmap: PathBuf,
}

pub fn tls_config(bundle: &Bundle) -> Result<Arc<ServerConfig>, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("TLS set-up: {what}: {e}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(bundle.client_ca.as_bytes()) {
        let cert = cert.map_err(|e| fail("client CA", &e))?;
        roots.add(cert).map_err(|e| fail("client CA", &e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| fail("client verifier", &e))?;
    let chain = CertificateDer::pem_slice_iter(bundle.serving_cert.as_bytes())
        .chain(CertificateDer::pem_slice_iter(bundle.server_ca.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail("serving certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(bundle.serving_key.as_bytes())
        .map_err(|e| fail("serving key", &e))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| fail("protocol versions", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| fail("serving certificate", &e))?;
    Ok(Arc::new(config))
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, site: Arc<Site>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                log::warn(format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let site = site.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(acceptor, tcp, &site).await {
                log::info(format!("connection from {peer}: {e}"));
            }
        });
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    site: &Site,
) -> Result<(), String> {
    let mut tls = tokio::time::timeout(IO_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let head = tokio::time::timeout(IO_TIMEOUT, read_head(&mut tls))
        .await
        .map_err(|_| "request timed out".to_string())??;
    let response = match parse_request_line(&head) {
        Some((method, target)) => route(method, target, site),
        None => Response::status(400, "BadRequest", "malformed request"),
    };
    tls.write_all(&response.bytes())
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let _ = tls.shutdown().await;
    Ok(())
}

async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request was complete".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn parse_request_line(head: &str) -> Option<(&str, &str)> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    parts
        .next()?
        .starts_with("HTTP/1.")
        .then_some((method, target))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub code: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    fn ok(content_type: &'static str, body: String) -> Self {
        Response {
            code: 200,
            content_type,
            body,
        }
    }

    /// A Kubernetes `Status` object.
    fn status(code: u16, reason: &str, message: &str) -> Self {
        let body = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        });
        Response {
            code,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.code {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Internal Server Error",
        };
        format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.code,
            self.content_type,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

pub fn route(method: &str, target: &str, site: &Site) -> Response {
    if method != "GET" {
        return Response::status(
            405,
            "MethodNotAllowed",
            &format!("the server does not allow {method} here"),
        );
    }
    let path = target.split_once('?').map_or(target, |(p, _query)| p);
    let not_found = || {
        Response::status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    match path {
        "/readyz" | "/livez" | "/healthz" => Response::ok("text/plain; charset=utf-8", "ok".into()),
        "/.well-known/openid-configuration" => match &site.discovery_issuer {
            Some(issuer) => Response::ok("application/json", discovery(issuer)),
            None => not_found(),
        },
        "/openid/v1/jwks" => match &site.discovery_issuer {
            Some(_) => Response::ok("application/jwk-set+json", r#"{"keys":[]}"#.into()),
            None => not_found(),
        },
        CONFIGMAP_PATH => match std::fs::read_to_string(&site.configmap) {
            Ok(json) => Response::ok("application/json", json),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Response::status(
                404,
                "NotFound",
                "configmaps \"azure-clusterconfig\" not found",
            ),
            Err(e) => Response::status(
                500,
                "InternalError",
                &format!("cannot read the ConfigMap: {e}"),
            ),
        },
        _ => not_found(),
    }
}

fn discovery(issuer: &str) -> String {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/openid/v1/jwks", issuer.strip_suffix('/').unwrap_or(issuer)),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(issuer: Option<&str>) -> Site {
        Site {
            discovery_issuer: issuer.map(str::to_string),
            configmap: PathBuf::from("/nonexistent/k3s-standin/azure-clusterconfig.json"),
        }
    }

    #[test]
    fn discovery_document_names_the_first_issuer_verbatim() {
        let r = route(
            "GET",
            "/.well-known/openid-configuration",
            &site(Some("https://x.example/t/")),
        );
        assert_eq!(r.code, 200);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(v["issuer"], "https://x.example/t/");
        assert_eq!(v["jwks_uri"], "https://x.example/t/openid/v1/jwks");
        assert_eq!(v["id_token_signing_alg_values_supported"][0], "RS256");
    }

    #[test]
    fn other_routes() {
        let s = site(None);
        assert_eq!(route("GET", "/readyz?verbose", &s).body, "ok");
        assert_eq!(
            route("GET", "/.well-known/openid-configuration", &s).code,
            404
        );
        assert_eq!(route("GET", CONFIGMAP_PATH, &s).code, 404);
        assert_eq!(route("GET", "/api", &s).code, 404);
        assert_eq!(route("POST", "/readyz", &s).code, 405);
        assert_eq!(
            route("GET", "/openid/v1/jwks", &site(Some("https://a"))).body,
            r#"{"keys":[]}"#
        );
    }

    #[test]
    fn request_line() {
        assert_eq!(
            parse_request_line("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET", "/readyz"))
        );
        assert_eq!(parse_request_line("garbage\r\n\r\n"), None);
    }
}

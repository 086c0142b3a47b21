//! The live issuer: `GET https://<server>/.well-known/openid-configuration` through the
//! kubeconfig k3s writes (its CA and admin client certificate), SPEC §2.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::paths::{HostRoot, K3S_KUBECONFIG};
use crate::yaml::{Document, Node, NodeKind};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup from {path}: {message}")]
    Tls { path: PathBuf, message: String },
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
}

/// What a client needs from a kubeconfig.
#[derive(Clone)]
pub struct Kubeconfig {
    pub path: PathBuf,
    pub server: String,
    ca_pem: Vec<u8>,
    identity_pem: Vec<u8>,
}

impl std::fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("path", &self.path)
            .field("server", &self.server)
            .field("credentials", &"<redacted>")
            .finish()
    }
}

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.kind {
        NodeKind::Map { entries, .. } => entries
            .iter()
            .rev()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn named<'a>(list: Option<&'a Node>, name: Option<&str>, inner: &str) -> Option<&'a Node> {
    let NodeKind::Seq { items, .. } = &list?.kind else {
        return None;
    };
    let found = match name {
        Some(n) => items
            .iter()
            .find(|i| get(i, "name").and_then(Node::as_scalar) == Some(n)),
        None => None,
    };
    found.or(items.first()).and_then(|i| get(i, inner))
}

impl Kubeconfig {
    pub fn host_path() -> &'static str {
        K3S_KUBECONFIG
    }

    /// Reads the k3s kubeconfig; `Ok(None)` when it does not exist (k3s never started).
    pub fn load(root: &HostRoot) -> Result<Option<Kubeconfig>, VerifyError> {
        let path = root.resolve(K3S_KUBECONFIG);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(VerifyError::Read { path, source }),
        };
        let bad = |message: &str| VerifyError::Kubeconfig {
            path: path.clone(),
            message: message.to_string(),
        };
        let doc = Document::parse(&path, &text).map_err(|e| bad(&e.message))?;
        let root_node = doc.root.as_ref().ok_or_else(|| bad("empty"))?;
        let ctx_name = get(root_node, "current-context").and_then(Node::as_scalar);
        let ctx = named(get(root_node, "contexts"), ctx_name, "context");
        let cluster_name = ctx
            .and_then(|c| get(c, "cluster"))
            .and_then(Node::as_scalar);
        let user_name = ctx.and_then(|c| get(c, "user")).and_then(Node::as_scalar);
        let cluster = named(get(root_node, "clusters"), cluster_name, "cluster")
            .ok_or_else(|| bad("no cluster"))?;
        let user =
            named(get(root_node, "users"), user_name, "user").ok_or_else(|| bad("no user"))?;
        let server = get(cluster, "server")
            .and_then(Node::as_scalar)
            .ok_or_else(|| bad("cluster has no server"))?
            .to_string();
        let material =
            |node: &Node, data_key: &str, file_key: &str| -> Result<Vec<u8>, VerifyError> {
                if let Some(data) = get(node, data_key).and_then(Node::as_scalar) {
                    return base64::engine::general_purpose::STANDARD
                        .decode(data.trim())
                        .map_err(|_| bad(&format!("{data_key} is not base64")));
                }
                if let Some(file) = get(node, file_key).and_then(Node::as_scalar) {
                    let p = if Path::new(file).is_absolute() {
                        root.resolve(file)
                    } else {
                        path.parent().unwrap_or(Path::new("/")).join(file)
                    };
                    return std::fs::read(&p)
                        .map_err(|source| VerifyError::Read { path: p, source });
                }
                Err(bad(&format!("neither {data_key} nor {file_key}")))
            };
        let ca_pem = material(
            cluster,
            "certificate-authority-data",
            "certificate-authority",
        )?;
        let mut identity_pem = material(user, "client-certificate-data", "client-certificate")?;
        identity_pem.push(b'\n');
        identity_pem.extend(material(user, "client-key-data", "client-key")?);
        Ok(Some(Kubeconfig {
            path,
            server,
            ca_pem,
            identity_pem,
        }))
    }

    /// An HTTPS client that trusts only the cluster CA and presents the admin certificate.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, VerifyError> {
        let tls = |message: String| VerifyError::Tls {
            path: self.path.clone(),
            message,
        };
        let ca =
            reqwest::Certificate::from_pem_bundle(&self.ca_pem).map_err(|e| tls(e.to_string()))?;
        let identity =
            reqwest::Identity::from_pem(&self.identity_pem).map_err(|e| tls(e.to_string()))?;
        reqwest::Client::builder()
            .tls_certs_only(ca)
            .identity(identity)
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| tls(e.to_string()))
    }
}

/// Fetches the issuer the running API server signs tokens with.
pub async fn live_issuer(
    client: &reqwest::Client,
    kubeconfig: &Kubeconfig,
) -> Result<String, VerifyError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        kubeconfig.server.trim_end_matches('/')
    );
    let http = |message: String| VerifyError::Http {
        url: url.clone(),
        message,
    };
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| http(error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http(format!("HTTP {status}")));
    }
    let body: serde_json::Value = resp.json().await.map_err(|e| http(error_chain(&e)))?;
    body.get("issuer")
        .and_then(|v| v.as_str())
        .map(String::from)
        .ok_or_else(|| http("discovery document has no issuer".into()))
}

/// Polls the live issuer until it answers or `deadline` passes (the API server may refuse
/// connections for a moment after READY=1).
pub async fn live_issuer_until(
    client: &reqwest::Client,
    kubeconfig: &Kubeconfig,
    deadline: Instant,
) -> Result<String, VerifyError> {
    loop {
        match live_issuer(client, kubeconfig).await {
            Ok(issuer) => return Ok(issuer),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(e) => {
                tracing::debug!("live issuer not yet readable: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

//! A local emulator of the Azure services aio-prep talks to, for tests that
//! may reach nothing but loopback:
//!
//! * **ARM** — `Microsoft.Kubernetes/connectedClusters` GET / PUT (long-running,
//!   `Azure-AsyncOperation`) / PATCH / list, operation status; bearer tokens,
//!   `api-version`, ARM error bodies and `x-ms-*` headers checked and produced
//!   as the real service does.
//! * **Entra ID** — `POST /{tenant}/oauth2/v2.0/token`, client credentials with
//!   a secret, a certificate assertion (signature really verified) or a
//!   workload-identity federated assertion.
//! * **Azure Arc HIMDS** and **Azure VM IMDS** managed-identity endpoints
//!   (plain HTTP), including HIMDS's key-file challenge.
//! * **OIDC discovery** for the clusters' issuer URLs.
//! * **Faults** — statuses, `Retry-After`, dropped connections, delays, failed
//!   or canceled operations, agents that never settle, unreachable discovery.
//!
//! ARM, Entra and discovery share one HTTPS listener (a CA generated at
//! start); HIMDS and IMDS one plain-HTTP listener. The server runs on its own
//! thread with its own tokio runtime; dropping the [`Emulator`] stops it.
//!
//! ```no_run
//! use azure_emulator::{ClusterSpec, Credential, Emulator, EmulatorOptions};
//! let emu = Emulator::start(EmulatorOptions::default())?;
//! emu.add_cluster(ClusterSpec { lro_polls_before_done: 2, ..ClusterSpec::default() });
//! emu.add_service_principal(azure_emulator::DEFAULT_TENANT, "app", Credential::Secret("s".into()))?;
//! println!("ARM at {}, trust {}", emu.https_url(), emu.ca_pem_path().display());
//! # Ok::<(), azure_emulator::EmulatorError>(())
//! ```

mod arm;
mod cluster;
mod entra;
mod faults;
mod himds;
mod http;
mod imds;
mod jwt;
mod log;
mod lro;
mod oidc;
mod state;
mod tls;
mod tokens;
mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use cluster::{ClusterSpec, DEFAULT_TENANT, PATCHABLE_PROPERTIES};
pub use entra::JWT_BEARER;
pub use faults::{Fault, FaultKind, Matcher};
pub use hyper::Method;
pub use log::{RecordedRequest, REDACTED};
pub use state::Credential;

use state::{cluster_key, Config, Shared};

/// ARM api-versions of `Microsoft.Kubernetes/connectedClusters` that carry
/// `oidcIssuerProfile` and `securityProfile` (checked against
/// azure-rest-api-specs `specification/hybridkubernetes`).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "2024-07-15-preview",
    "2024-12-01-preview",
    "2025-08-01-preview",
    "2025-12-01-preview",
];

#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Host root for HIMDS key files (`<root>/var/opt/azcmagent/tokens`).
    /// Default: `<work dir>/root`.
    pub root: Option<PathBuf>,
    /// Where `ca.pem` is written. Default: a fresh temporary directory,
    /// removed when the emulator is dropped.
    pub work_dir: Option<PathBuf>,
    /// Lifetime of issued access tokens (`expires_in`). Default 3599 s.
    pub token_lifetime: Duration,
    /// Accepted ARM api-versions. Default [`DEFAULT_API_VERSIONS`].
    pub api_versions: Vec<String>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            root: None,
            work_dir: None,
            token_lifetime: Duration::from_secs(3599),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|v| v.to_string()).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("{0}")]
    Tls(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the emulator's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("invalid certificate for {client_id}: {message}")]
    Certificate { client_id: String, message: String },
}

/// A running emulator. Dropping it stops the servers.
pub struct Emulator {
    shared: Arc<Shared>,
    ca_pem: String,
    ca_pem_path: PathBuf,
    temp_dir: Option<PathBuf>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), EmulatorError> {
    std::fs::write(path, contents).map_err(|source| EmulatorError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl Emulator {
    /// Generates the PKI, binds both listeners on 127.0.0.1 (ephemeral ports)
    /// and starts serving on a background thread.
    pub fn start(options: EmulatorOptions) -> Result<Emulator, EmulatorError> {
        let pki = tls::generate().map_err(EmulatorError::Tls)?;
        let (work_dir, temp_dir) = match options.work_dir {
            Some(dir) => (dir, None),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "azure-emulator-{}-{}",
                    std::process::id(),
                    util::random_hex(6)
                ));
                (dir.clone(), Some(dir))
            }
        };
        std::fs::create_dir_all(&work_dir).map_err(|source| EmulatorError::Write {
            path: work_dir.clone(),
            source,
        })?;
        let ca_pem_path = work_dir.join("ca.pem");
        write_file(&ca_pem_path, pki.ca_pem.as_bytes())?;
        let root = options.root.unwrap_or_else(|| work_dir.join("root"));

        let bind = || -> Result<std::net::TcpListener, EmulatorError> {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(EmulatorError::Bind)?;
            l.set_nonblocking(true).map_err(EmulatorError::Bind)?;
            Ok(l)
        };
        let (https, plain) = (bind()?, bind()?);
        let port = |l: &std::net::TcpListener| l.local_addr().map(|a| a.port());
        let config = Config {
            https_url: format!(
                "https://127.0.0.1:{}",
                port(&https).map_err(EmulatorError::Bind)?
            ),
            http_url: format!(
                "http://127.0.0.1:{}",
                port(&plain).map_err(EmulatorError::Bind)?
            ),
            root,
            token_lifetime: options.token_lifetime,
            api_versions: options.api_versions,
        };
        let shared = Arc::new(Shared::new(config));

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(EmulatorError::Runtime)?;
        let (https, plain) = {
            let _guard = runtime.enter();
            (
                tokio::net::TcpListener::from_std(https).map_err(EmulatorError::Bind)?,
                tokio::net::TcpListener::from_std(plain).map_err(EmulatorError::Bind)?,
            )
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let acceptor = TlsAcceptor::from(pki.server);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("azure-emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(http::serve_https(
                        https,
                        acceptor,
                        thread_shared.clone(),
                        stop_rx.clone(),
                    ));
                    tokio::spawn(http::serve_http(plain, thread_shared, stop_rx.clone()));
                    let mut stop = stop_rx;
                    let _ = stop.changed().await;
                });
                // Dropping the runtime here cancels every connection task.
            })
            .map_err(EmulatorError::Runtime)?;
        Ok(Emulator {
            shared,
            ca_pem: pki.ca_pem,
            ca_pem_path,
            temp_dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT`: ARM endpoint, Entra authority host and OIDC
    /// discovery host.
    pub fn https_url(&self) -> &str {
        &self.shared.config.https_url
    }

    /// The ARM endpoint (same as [`Emulator::https_url`]).
    pub fn arm_endpoint(&self) -> &str {
        &self.shared.config.https_url
    }

    /// The Entra authority host (same as [`Emulator::https_url`]).
    pub fn authority_host(&self) -> &str {
        &self.shared.config.https_url
    }

    /// `http://127.0.0.1:PORT2`: HIMDS and VM IMDS.
    pub fn http_url(&self) -> &str {
        &self.shared.config.http_url
    }

    /// `IDENTITY_ENDPOINT` for HIMDS / the IMDS token URL.
    pub fn identity_endpoint(&self) -> String {
        format!(
            "{}/metadata/identity/oauth2/token",
            self.shared.config.http_url
        )
    }

    /// The token endpoint of `tenant`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!(
            "{}/{tenant}/oauth2/v2.0/token",
            self.shared.config.https_url
        )
    }

    /// PEM file of the CA that issued the HTTPS certificate.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The host root HIMDS writes under.
    pub fn root(&self) -> &Path {
        &self.shared.config.root
    }

    /// `<root>/var/opt/azcmagent/tokens`
    pub fn himds_key_dir(&self) -> PathBuf {
        himds::key_dir(&self.shared.config.root)
    }

    /// Adds (or replaces) a cluster; returns its ARM resource id.
    pub fn add_cluster(&self, spec: ClusterSpec) -> String {
        let default_issuer = format!(
            "{}/oidc/{}/{}/",
            self.shared.config.https_url,
            spec.tenant,
            util::guid()
        );
        let cluster = cluster::Cluster::from_spec(&spec, default_issuer, util::guid());
        let id = cluster.id();
        self.shared.lock().clusters.insert(
            cluster_key(&spec.subscription, &spec.resource_group, &spec.name),
            cluster,
        );
        id
    }

    /// Registers an application that may get tokens in `tenant`.
    pub fn add_service_principal(
        &self,
        tenant: &str,
        client_id: &str,
        credential: Credential,
    ) -> Result<(), EmulatorError> {
        let mut state = self.shared.lock();
        match credential {
            Credential::Secret(secret) => state.app_mut(tenant, client_id).secrets.push(secret),
            Credential::Certificate(pem) => {
                let cert =
                    jwt::store_certificate(&pem).map_err(|message| EmulatorError::Certificate {
                        client_id: client_id.to_string(),
                        message,
                    })?;
                state.app_mut(tenant, client_id).certificates.push(cert);
            }
        }
        Ok(())
    }

    /// Accepts `token` as a workload-identity `client_assertion` for the app.
    pub fn add_federated_token(&self, tenant: &str, client_id: &str, token: &str) {
        self.shared
            .lock()
            .app_mut(tenant, client_id)
            .federated_tokens
            .push(token.to_string());
    }

    /// Turns on the Arc-enabled server identity (HIMDS) for `tenant`.
    pub fn set_arc_identity(&self, tenant: &str) {
        self.shared.lock().arc_identity_tenant = Some(tenant.to_string());
    }

    /// Turns on the VM managed identity (IMDS) for `tenant`.
    pub fn set_vm_identity(&self, tenant: &str) {
        self.shared.lock().vm_identity_tenant = Some(tenant.to_string());
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.inject(fault);
    }

    /// Faults still armed.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.pending()
    }

    /// Every request so far, secrets removed.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Expires every access token issued so far.
    /// Every secret the emulator handed out: access tokens and HIMDS challenge keys. A test
    /// scans a client's output for these to prove nothing leaked.
    pub fn issued_secrets(&self) -> Vec<String> {
        let state = self.shared.lock();
        let mut out = state.tokens.all();
        out.extend(state.himds_keys.iter().map(|k| k.contents.clone()));
        out
    }

    pub fn expire_tokens(&self) {
        self.shared.lock().tokens.expire_all();
    }

    /// The cluster as a GET would return it now (without counting as a read),
    /// or `Value::Null` when there is no such cluster.
    pub fn cluster(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> serde_json::Value {
        self.shared
            .lock()
            .clusters
            .get(&cluster_key(subscription, resource_group, name))
            .map_or(serde_json::Value::Null, cluster::Cluster::render)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

//! Everything the emulator knows, behind one mutex: clusters, operations,
//! applications and their credentials, managed identities, issued tokens,
//! HIMDS challenge keys, armed faults and the request log. Handlers lock it
//! briefly and never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::cluster::Cluster;
use crate::faults::Faults;
use crate::log::RecordedRequest;
use crate::lro::Operation;
use crate::tokens::Tokens;

/// Fixed per run: where the emulator listens and how it behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// `https://127.0.0.1:PORT`: ARM endpoint, Entra authority host, discovery host.
    pub https_url: String,
    /// `http://127.0.0.1:PORT2`: HIMDS and VM IMDS.
    pub http_url: String,
    /// Host root under which HIMDS writes `var/opt/azcmagent/tokens/*.key`.
    pub root: PathBuf,
    pub token_lifetime: Duration,
    /// ARM api-versions accepted for `Microsoft.Kubernetes/connectedClusters`.
    pub api_versions: Vec<String>,
}

impl Config {
    /// The ARM endpoint is the HTTPS listener.
    pub fn arm_endpoint(&self) -> &str {
        &self.https_url
    }
}

/// Credential an application may present to the token endpoint.
#[derive(Clone)]
pub enum Credential {
    /// A client secret (`client_secret=`).
    Secret(String),
    /// A certificate (PEM); the application proves possession with a signed
    /// JWT `client_assertion` (RS256 + `x5t`, or PS256 + `x5t#S256`).
    Certificate(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate(_) => f.write_str("Certificate(..)"),
        }
    }
}

/// A registered certificate, parsed once.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    pub der: Vec<u8>,
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct App {
    pub tenant: String,
    pub client_id: String,
    pub secrets: Vec<String>,
    pub certificates: Vec<StoredCertificate>,
    /// Assertions accepted as workload-identity federation.
    pub federated_tokens: Vec<String>,
}

/// A challenge key HIMDS wrote; valid while its file exists.
#[derive(Debug, Clone)]
pub struct HimdsKey {
    pub file: PathBuf,
    pub contents: String,
}

/// Cluster key: subscription, resource group, name, all lower-case (ARM
/// names are case-insensitive).
pub type ClusterKey = (String, String, String);

pub fn cluster_key(sub: &str, rg: &str, name: &str) -> ClusterKey {
    (
        sub.to_ascii_lowercase(),
        rg.to_ascii_lowercase(),
        name.to_ascii_lowercase(),
    )
}

#[derive(Debug, Default)]
pub struct State {
    pub clusters: BTreeMap<ClusterKey, Cluster>,
    pub operations: HashMap<String, Operation>,
    /// Keyed by (tenant, client id), lower-case.
    pub apps: HashMap<(String, String), App>,
    pub tokens: Tokens,
    pub arc_identity_tenant: Option<String>,
    pub vm_identity_tenant: Option<String>,
    pub himds_keys: Vec<HimdsKey>,
    pub faults: Faults,
    pub log: Vec<RecordedRequest>,
}

impl State {
    /// Tenant of a subscription: the tenant of its clusters.
    pub fn subscription_tenant(&self, sub: &str) -> Option<String> {
        let sub = sub.to_ascii_lowercase();
        self.clusters
            .iter()
            .find(|((s, _, _), _)| *s == sub)
            .map(|(_, c)| c.tenant.clone())
    }

    pub fn resource_group_exists(&self, sub: &str, rg: &str) -> bool {
        let (sub, rg) = (sub.to_ascii_lowercase(), rg.to_ascii_lowercase());
        self.clusters.keys().any(|(s, r, _)| *s == sub && *r == rg)
    }

    pub fn tenant_known(&self, tenant: &str) -> bool {
        let t = tenant.to_ascii_lowercase();
        self.apps.keys().any(|(at, _)| *at == t)
            || self
                .arc_identity_tenant
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&t))
            || self
                .vm_identity_tenant
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&t))
            || self
                .clusters
                .values()
                .any(|c| c.tenant.eq_ignore_ascii_case(&t))
    }

    pub fn app_mut(&mut self, tenant: &str, client_id: &str) -> &mut App {
        self.apps
            .entry((tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase()))
            .or_insert_with(|| App {
                tenant: tenant.to_string(),
                client_id: client_id.to_string(),
                ..App::default()
            })
    }

    pub fn app(&self, tenant: &str, client_id: &str) -> Option<&App> {
        self.apps
            .get(&(tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase()))
    }
}

/// What every handler gets: the fixed configuration and the locked state.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    state: Mutex<State>,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        Shared {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// The state; a handler that panicked while holding the lock cannot leave
    /// it half-written in a way that matters to tests, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

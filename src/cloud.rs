//! One run's conversation with Azure: find the cluster, get a token, read (and, for apply,
//! enable) OIDC issuer + workload identity, discover the issuer. Domain logic lives in
//! `azure::*`; this module strings it together for plan, apply and status.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::azure::arm::{Arm, ClusterId};
use crate::azure::auth::{self, AccessToken, AuthInputs};
use crate::azure::coords::{self, CoordsSource, Partial};
use crate::azure::discovery::{self, Discovered};
use crate::azure::enable::{self, CloudState, Enabled, Pacing};
use crate::azure::endpoints::Endpoints;
use crate::azure::http::{Http, HttpOptions};
use crate::azure::AzureError;
use crate::config::Settings;
use crate::paths::HostRoot;

/// Where the issuer URL came from (the report's `issuer.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerSource {
    Offline,
    Arm,
    Discovery,
}

impl IssuerSource {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerSource::Offline => "offline",
            IssuerSource::Arm => "arm",
            IssuerSource::Discovery => "discovery",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedIssuer {
    pub url: String,
    pub source: IssuerSource,
    /// Why discovery could not be used, when it could not.
    pub warning: Option<String>,
}

/// Time spent per part, for `make bench`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudTimings {
    pub auth: Duration,
    pub arm: Duration,
    pub discovery: Duration,
}

pub struct Session {
    http: Http,
    endpoints: Endpoints,
    token: AccessToken,
    pub cluster: ClusterId,
    pub coords_source: CoordsSource,
    api_version: String,
    correlation_id: String,
    pacing: Pacing,
    pub timings: CloudTimings,
}

fn env<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

impl Session {
    pub async fn open(
        root: &HostRoot,
        settings: &Settings,
        process_env: &[(String, String)],
    ) -> Result<Session, AzureError> {
        let a = &settings.azure;
        let authority = a
            .authority_host
            .clone()
            .or_else(|| env(process_env, "AZURE_AUTHORITY_HOST").map(String::from));
        if let Some(h) = &authority {
            if !h.starts_with("https://") {
                return Err(AzureError::Config(format!(
                    "AZURE_AUTHORITY_HOST {h:?} must be an https:// URL"
                )));
            }
        }
        let endpoints =
            Endpoints::for_cloud(&a.cloud, a.arm_endpoint.as_deref(), authority.as_deref());
        let mut ca_files: Vec<PathBuf> = a.ca_file.iter().map(|p| root.resolve(p)).collect();
        if let Some(f) = env(process_env, "SSL_CERT_FILE") {
            ca_files.push(PathBuf::from(f));
        }
        let http = Http::new(&HttpOptions {
            ca_files,
            connect_timeout: a.connect_timeout,
            request_timeout: a.request_timeout,
            ..HttpOptions::default()
        })?;
        let partial = Partial {
            subscription: a.subscription_id.clone(),
            resource_group: a.resource_group.clone(),
            name: a.cluster_name.clone(),
            tenant: a.tenant_id.clone(),
        };
        let (cluster, tenant, coords_source) = coords::resolve(partial, process_env, root).await?;
        let t = Instant::now();
        let inputs = AuthInputs {
            root,
            env: process_env,
            endpoints: &endpoints,
            tenant,
            client_id: a.client_id.clone(),
            client_secret_file: a.client_secret_file.clone(),
            certificate_file: a.certificate_file.clone(),
        };
        let token = auth::acquire(&http, &inputs, &a.auth_method).await?;
        let timings = CloudTimings {
            auth: t.elapsed(),
            ..CloudTimings::default()
        };
        Ok(Session {
            http,
            endpoints,
            token,
            cluster,
            coords_source,
            api_version: a.api_version.clone(),
            correlation_id: correlation_id(),
            pacing: Pacing {
                lro_timeout: a.operation_timeout,
                agent_timeout: a.agent_timeout,
                poll: a.poll_interval,
            },
            timings,
        })
    }

    pub fn auth_method(&self) -> &'static str {
        self.token.method.name()
    }

    fn arm(&self) -> Arm<'_> {
        Arm {
            http: &self.http,
            endpoint: &self.endpoints.arm,
            token: &self.token,
            api_version: &self.api_version,
            correlation_id: &self.correlation_id,
        }
    }

    /// GET the connected cluster.
    pub async fn read(&mut self) -> Result<CloudState, AzureError> {
        let t = Instant::now();
        let v = self.arm().get(&self.cluster.path()).await;
        self.timings.arm += t.elapsed();
        Ok(CloudState::from_resource(&v?))
    }

    /// Turn both flags on (if needed) and wait for the agents.
    pub async fn enable(&mut self, progress: &mut dyn FnMut(&str)) -> Result<Enabled, AzureError> {
        let t = Instant::now();
        let r = enable::enable(&self.arm(), &self.cluster, &self.pacing, progress).await;
        self.timings.arm += t.elapsed();
        r
    }

    /// The issuer to configure, from `issuerUrl` and its discovery document.
    pub async fn issuer(&mut self, state: &CloudState) -> Result<ResolvedIssuer, AzureError> {
        let url = state
            .issuer_url
            .clone()
            .ok_or_else(|| AzureError::Operation {
                status: "Succeeded".into(),
                code: "NoIssuerUrl".into(),
                message: "the connected cluster has no oidcIssuerProfile.issuerUrl".into(),
            })?;
        let t = Instant::now();
        let found = discovery::discover(&self.http, &url).await;
        self.timings.discovery += t.elapsed();
        let resolved = match found? {
            Discovered::Issuer(i) => ResolvedIssuer {
                url: i,
                source: IssuerSource::Discovery,
                warning: None,
            },
            Discovered::Unreachable(why) => {
                tracing::warn!("issuer discovery failed ({why}); using issuerUrl verbatim");
                ResolvedIssuer {
                    url,
                    source: IssuerSource::Arm,
                    warning: Some(why),
                }
            }
        };
        crate::issuer::validate(&resolved.url).map_err(|e| AzureError::Operation {
            status: "Succeeded".into(),
            code: "BadIssuerUrl".into(),
            message: format!("the cluster's issuer cannot be used: {e}"),
        })?;
        Ok(resolved)
    }

    pub fn provisioned_cluster_off(&self) -> AzureError {
        enable::provisioned_cluster_off(&self.cluster)
    }
}

fn correlation_id() -> String {
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

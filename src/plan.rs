//! The plan: everything apply would do, computed without changing anything. `plan`,
//! `apply` and `status` share it (STYLE: plan, then apply).

use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::detect::{self, Detection, Flavor, Role};
use crate::error::{Error, Result};
use crate::k3s::exec::K3sFlags;
use crate::k3s::intent::Intent;
use crate::k3s::merge;
use crate::k3s::plan::HostPlan;
use crate::k3s::sources::Sources;
use crate::paths::HostRoot;
use crate::systemd::Systemd;
use crate::verify::{self, Kubeconfig};

/// Where the issuer URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerSource {
    Offline,
}

impl IssuerSource {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerSource::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedIssuer {
    pub url: String,
    pub source: IssuerSource,
}

/// What the running API server says, when it can be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    Issuer(String),
    Unknown(String),
}

#[derive(Debug, Clone)]
pub enum HostDecision {
    NotApplicable(String),
    Change(Box<HostPlan>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    FileChanged,
    LiveIssuerDiffers,
}

pub struct Context {
    pub root: HostRoot,
    pub settings: Settings,
    pub systemd: Option<Systemd>,
}

impl Context {
    pub async fn new(root: HostRoot, settings: Settings) -> Context {
        let systemd = match Systemd::connect().await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!("{e}");
                None
            }
        };
        Context {
            root,
            settings,
            systemd,
        }
    }

    pub async fn detect(&self) -> Detection {
        detect::detect(
            &self.root,
            self.systemd.as_ref(),
            self.settings.k3s.unit.as_deref(),
        )
        .await
    }
}

pub struct Plan {
    pub detection: Detection,
    pub issuer: ResolvedIssuer,
    pub host: HostDecision,
    pub live: Live,
    pub restart: Option<RestartReason>,
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub detect: Duration,
    pub issuer: Duration,
    pub host: Duration,
    pub live: Duration,
}

/// Refuses flavors apply cannot handle (SPEC §3).
pub fn check_flavor(d: &Detection) -> Result<()> {
    match d.flavor {
        Flavor::Unknown => Err(Error::Unsupported(format!(
            "no supported Kubernetes found on this host (evidence: {})",
            d.evidence.join("; ")
        ))),
        Flavor::AksEdgeEssentials if d.kubeadm => Err(Error::Unsupported(
            "AKS Edge Essentials with the k8s (kubeadm) distribution: set the service-account issuer through AKS EE's own configuration (Set-AksEdgeConfig); aio-prep handles the k3s distribution only".into(),
        )),
        Flavor::AksAzureLocal => Err(Error::Unsupported(
            "AKS on Azure Local: OIDC issuer and workload identity can only be set when the cluster is created (az aksarc create --enable-oidc-issuer --enable-workload-identity); nothing to change on the host".into(),
        )),
        _ => Ok(()),
    }
}

pub fn resolve_issuer(settings: &Settings) -> Result<ResolvedIssuer> {
    match &settings.issuer_url {
        Some(url) => Ok(ResolvedIssuer {
            url: url.clone(),
            source: IssuerSource::Offline,
        }),
        None => Err(Error::Usage(
            "no issuer URL: set [issuer] url in /etc/aio-prep/config.toml or pass --issuer-url (Azure enablement of the Arc cluster is not built into this version)".into(),
        )),
    }
}

/// Whether the host has an API server aio-prep should configure, and why not.
pub fn host_applicability(d: &Detection, sources: &Sources) -> Result<Option<String>> {
    if d.role == Role::Agent {
        return Ok(Some(
            "k3s agent node: kube-apiserver args belong on servers (a kube-apiserver-arg key makes `k3s agent` exit)".into(),
        ));
    }
    if d.flags.disable_apiserver {
        return Ok(Some("k3s server runs with --disable-apiserver".into()));
    }
    let merged = merge::merge(sources)?;
    if merged
        .get("disable-apiserver")
        .and_then(|v| v.last_text())
        .is_some_and(|v| crate::k3s::exec::go_bool_true(v.trim()))
    {
        return Ok(Some(
            "k3s server has disable-apiserver: true in its config".into(),
        ));
    }
    Ok(None)
}

/// The live issuer, asked quickly (a plan must not hang on a down API server).
pub async fn live(root: &HostRoot, wait_until: Option<Instant>) -> Live {
    let kubeconfig = match Kubeconfig::load(root) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Live::Unknown(format!(
                "{} not found (k3s not started yet?)",
                Kubeconfig::host_path()
            ))
        }
        Err(e) => return Live::Unknown(e.to_string()),
    };
    let client = match kubeconfig.client(Duration::from_secs(3)) {
        Ok(c) => c,
        Err(e) => return Live::Unknown(e.to_string()),
    };
    let result = match wait_until {
        Some(deadline) => verify::live_issuer_until(&client, &kubeconfig, deadline).await,
        None => verify::live_issuer(&client, &kubeconfig).await,
    };
    match result {
        Ok(i) => Live::Issuer(i),
        Err(e) => Live::Unknown(e.to_string()),
    }
}

pub fn intent(settings: &Settings, issuer: &ResolvedIssuer) -> Intent {
    Intent {
        issuer: issuer.url.clone(),
        keep_previous_issuer: settings.k3s.keep_previous_issuer,
        max_token_expiration: settings.k3s.max_token_expiration.clone(),
    }
}

pub fn load_sources(ctx: &Context, d: &Detection) -> Result<Sources> {
    Ok(Sources::load(&ctx.root, &d.config_file)?)
}

pub async fn build(ctx: &Context) -> Result<Plan> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let detection = ctx.detect().await;
    timings.detect = t.elapsed();
    check_flavor(&detection)?;
    let t = Instant::now();
    let issuer = resolve_issuer(&ctx.settings)?;
    timings.issuer = t.elapsed();
    let t = Instant::now();
    let sources = load_sources(ctx, &detection)?;
    let host = match host_applicability(&detection, &sources)? {
        Some(reason) => HostDecision::NotApplicable(reason),
        None => HostDecision::Change(Box::new(crate::k3s::plan::plan(
            &sources,
            &detection.flags,
            &intent(&ctx.settings, &issuer),
            ctx.settings.k3s.target,
        )?)),
    };
    timings.host = t.elapsed();
    let t = Instant::now();
    let (live, restart) = match &host {
        HostDecision::NotApplicable(_) => (Live::Unknown("not applicable".into()), None),
        HostDecision::Change(hp) => {
            let live = live(&ctx.root, None).await;
            let restart = if hp.changes_file() {
                Some(RestartReason::FileChanged)
            } else {
                match &live {
                    Live::Issuer(i) if *i != hp.desired.issuers[0] => {
                        Some(RestartReason::LiveIssuerDiffers)
                    }
                    _ => None,
                }
            };
            (live, restart)
        }
    };
    timings.live = t.elapsed();
    Ok(Plan {
        detection,
        issuer,
        host,
        live,
        restart,
        timings,
    })
}

/// Flags for effective-state computations outside a plan (rollback).
pub fn flags_of(d: &Detection) -> &K3sFlags {
    &d.flags
}

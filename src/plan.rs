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

pub use crate::cloud::{IssuerSource, ResolvedIssuer};

/// What the running API server says, when it can be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    Issuer(String),
    Unknown(String),
}

#[derive(Debug, Clone)]
pub enum HostDecision {
    NotApplicable(String),
    /// The host can only be planned once the cloud step has produced the issuer.
    Pending(String),
    Change(Box<HostPlan>),
}

/// The cloud step's state or result.
#[derive(Debug, Clone)]
pub enum CloudStep {
    /// Offline mode: no Azure calls.
    Offline,
    /// OIDC issuer and workload identity are on (nothing changed).
    Ready(String),
    /// Read-only run: they are off; apply would turn them on.
    WouldEnable(String),
    /// This apply turned them on.
    Enabled(String),
}

impl CloudStep {
    pub fn pending_change(&self) -> bool {
        matches!(self, CloudStep::WouldEnable(_))
    }
}

/// Whether the run may change the cloud side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadOnly,
    Apply,
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
    /// The process environment (credential sources and cluster coordinates read it).
    pub env: Vec<(String, String)>,
}

impl Context {
    pub async fn new(root: HostRoot, settings: Settings, env: Vec<(String, String)>) -> Context {
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
            env,
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
    pub cloud: CloudStep,
    pub issuer: Option<ResolvedIssuer>,
    pub host: HostDecision,
    pub live: Live,
    pub restart: Option<RestartReason>,
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub detect: Duration,
    pub cloud: crate::cloud::CloudTimings,
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
        Flavor::AksAzureLocal => Ok(()),
        _ => Ok(()),
    }
}

/// Offline mode: the operator gave the issuer.
pub fn offline_issuer(settings: &Settings) -> Option<ResolvedIssuer> {
    settings.issuer_url.as_ref().map(|url| ResolvedIssuer {
        url: url.clone(),
        source: IssuerSource::Offline,
        warning: None,
    })
}

/// The cloud phase: offline, or read (and in `Mode::Apply` enable) the connected cluster and
/// discover the issuer. May reclassify the host as AKS on Azure Local.
pub async fn cloud_phase(
    ctx: &Context,
    detection: &mut Detection,
    mode: Mode,
    progress: &mut dyn FnMut(&str),
) -> Result<(
    CloudStep,
    Option<ResolvedIssuer>,
    crate::cloud::CloudTimings,
)> {
    if let Some(issuer) = offline_issuer(&ctx.settings) {
        return Ok((CloudStep::Offline, Some(issuer), Default::default()));
    }
    if detection.flavor == Flavor::AksEdgeEssentials && detection.kubeadm {
        check_flavor(detection)?;
    }
    let mut session = crate::cloud::Session::open(&ctx.root, &ctx.settings, &ctx.env).await?;
    let host_known = matches!(detection.flavor, Flavor::K3s | Flavor::AksEdgeEssentials);
    let name = format!(
        "{} ({}, {} credential)",
        session.cluster.name,
        match session.coords_source {
            crate::azure::coords::CoordsSource::Settings => "named in settings",
            crate::azure::coords::CoordsSource::ConfigMap =>
                "from ConfigMap azure-arc/azure-clusterconfig",
        },
        session.auth_method()
    );
    let (step, state) = if mode == Mode::Apply && host_known {
        let enabled = session.enable(progress).await?;
        let mut detail = format!("{name}: OIDC issuer and workload identity on");
        if enabled.changed {
            detail.push_str(" (enabled now)");
        }
        for n in &enabled.notes {
            detail.push_str("; ");
            detail.push_str(n);
        }
        let step = if enabled.changed {
            CloudStep::Enabled(detail)
        } else {
            CloudStep::Ready(detail)
        };
        (step, enabled.state)
    } else {
        let state = session.read().await?;
        if state.flags_on() && state.issuer_url.is_some() {
            (
                CloudStep::Ready(format!("{name}: OIDC issuer and workload identity on")),
                state,
            )
        } else {
            (
                CloudStep::WouldEnable(format!(
                    "{name}: would enable {}",
                    match (state.oidc_enabled, state.workload_identity_enabled) {
                        (false, false) => "OIDC issuer and workload identity",
                        (false, true) => "the OIDC issuer",
                        _ => "workload identity",
                    }
                )),
                state,
            )
        }
    };
    if state.is_provisioned_cluster() {
        detection.flavor = Flavor::AksAzureLocal;
        detection.evidence.push(format!(
            "connected cluster {name} has kind ProvisionedCluster"
        ));
        if !state.flags_on() {
            return Err(session.provisioned_cluster_off().into());
        }
        let detail = format!(
            "{name}: AKS on Azure Local; OIDC issuer and workload identity are on (verify only)"
        );
        return Ok((CloudStep::Ready(detail), None, session.timings));
    }
    check_flavor(detection)?;
    if let CloudStep::WouldEnable(_) = step {
        return Ok((step, None, session.timings));
    }
    let issuer = session.issuer(&state).await?;
    Ok((step, Some(issuer), session.timings))
}

/// Whether the host has an API server aio-prep should configure, and why not.
pub fn host_applicability(d: &Detection, sources: &Sources) -> Result<Option<String>> {
    if d.flavor == Flavor::AksAzureLocal {
        return Ok(Some(
            "AKS on Azure Local: the cluster's own issuer is used; nothing to change on the host"
                .into(),
        ));
    }
    if d.role == Role::Agent {
        return Ok(Some(
            "k3s agent node: kube-apiserver args belong on servers (a kube-apiserver-arg key makes `k3s agent` exit)".into(),
        ));
    }
    if d.flags.disable_apiserver {
        return Ok(Some("k3s server runs with --disable-apiserver".into()));
    }
    merge::merge(sources)?;
    if config_disables_apiserver(sources)? {
        return Ok(Some(
            "k3s server has disable-apiserver: true in its config".into(),
        ));
    }
    Ok(None)
}

/// `disable-apiserver` as k3s reads it: the last value after k3s's merge, where a plain
/// YAML 1.1 `yes`/`on`/`y` is the bool true (yaml.v2 decodes it so and k3s passes
/// `--disable-apiserver=true`); a quoted "yes" stays text, which Go's bool parser refuses.
fn config_disables_apiserver(sources: &Sources) -> Result<bool> {
    use crate::yaml::{NodeKind, Style};
    let entries = merge::entries(sources)?;
    let mut last = None;
    for e in entries.iter().filter(|e| e.key == "disable-apiserver") {
        let tail = match &e.value.kind {
            NodeKind::Seq { items, .. } => items.last(),
            _ if e.value.is_null() => None,
            _ => Some(e.value),
        };
        // A plain key replaces the value; `key+:` appends (appending nothing keeps it).
        if !e.append || tail.is_some() {
            last = tail;
        }
    }
    Ok(match last.map(|n| &n.kind) {
        Some(NodeKind::Scalar { value, style }) => {
            (*style == Style::Plain
                && matches!(
                    value.as_str(),
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
                ))
                || crate::k3s::exec::go_bool_true(value.trim())
        }
        _ => false,
    })
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

pub async fn build(ctx: &Context, mode: Mode, progress: &mut dyn FnMut(&str)) -> Result<Plan> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let mut detection = ctx.detect().await;
    timings.detect = t.elapsed();
    if ctx.settings.issuer_url.is_some() {
        check_flavor(&detection)?;
    }
    let (cloud, issuer, cloud_timings) = cloud_phase(ctx, &mut detection, mode, progress).await?;
    timings.cloud = cloud_timings;
    let t = Instant::now();
    let host = host_phase(ctx, &detection, issuer.as_ref())?;
    timings.host = t.elapsed();
    let t = Instant::now();
    let (live, restart) = match &host {
        HostDecision::NotApplicable(_) | HostDecision::Pending(_) => {
            (Live::Unknown("not applicable".into()), None)
        }
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
        cloud,
        issuer,
        host,
        live,
        restart,
        timings,
    })
}

/// The host phase: what the k3s config must become for `issuer`.
pub fn host_phase(
    ctx: &Context,
    detection: &Detection,
    issuer: Option<&ResolvedIssuer>,
) -> Result<HostDecision> {
    if detection.flavor == Flavor::AksAzureLocal {
        return Ok(HostDecision::NotApplicable(
            "AKS on Azure Local: the cluster's own issuer is used; nothing to change on the host"
                .into(),
        ));
    }
    let sources = load_sources(ctx, detection)?;
    if let Some(reason) = host_applicability(detection, &sources)? {
        return Ok(HostDecision::NotApplicable(reason));
    }
    let Some(issuer) = issuer else {
        return Ok(HostDecision::Pending(
            "the kube-apiserver args are planned once the cluster's issuer URL exists".into(),
        ));
    };
    Ok(HostDecision::Change(Box::new(crate::k3s::plan::plan(
        &sources,
        &detection.flags,
        &intent(&ctx.settings, issuer),
        ctx.settings.k3s.target,
    )?)))
}

/// Flags for effective-state computations outside a plan (rollback).
pub fn flags_of(d: &Detection) -> &K3sFlags {
    &d.flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disable_apiserver_reads_yaml_1_1_bools_as_k3s_does() {
        for (text, off) in [
            ("disable-apiserver: true\n", true),
            ("disable-apiserver: yes\n", true),
            ("disable-apiserver: On\n", true),
            ("disable-apiserver: 'yes'\n", false),
            ("disable-apiserver: false\n", false),
            ("disable-apiserver: no\n", false),
            ("disable-apiserver: false\ndisable-apiserver+: [y]\n", true),
            ("disable-apiserver: yes\ndisable-apiserver+: []\n", true),
            ("disable-apiserver: yes\ndisable-apiserver: ~\n", false),
            ("node-name: a\n", false),
        ] {
            let s = crate::k3s::merge::tests::sources(&[("/c.yaml", text)]);
            assert_eq!(config_disables_apiserver(&s).expect("ok"), off, "{text:?}");
        }
    }
}

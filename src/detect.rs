//! Flavor detection (SPEC §3): which Kubernetes runs here, in which role, from which config
//! file, under which unit — and the evidence for each conclusion.

use std::path::PathBuf;

use serde::Serialize;

use crate::k3s::exec::{parse_k3s_argv, K3sFlags};
use crate::paths::{self, HostRoot};
use crate::systemd::{Systemd, UnitInfo};
use crate::unitfile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    K3s,
    AksEdgeEssentials,
    AksAzureLocal,
    Unknown,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::K3s => "k3s",
            Flavor::AksEdgeEssentials => "aks-edge-essentials",
            Flavor::AksAzureLocal => "aks-azure-local",
            Flavor::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Server,
    Agent,
    Unknown,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
            Role::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Detection {
    pub flavor: Flavor,
    pub role: Role,
    /// The k3s unit, when one was found.
    pub unit: Option<String>,
    /// Host path of the effective k3s config file.
    pub config_file: PathBuf,
    pub flags: K3sFlags,
    /// AKS EE with kubeadm instead of k3s: not supported.
    pub kubeadm: bool,
    pub evidence: Vec<String>,
    /// Whether systemd answered on the bus (restart needs it).
    pub dbus: bool,
}

/// Flags whose values never go into evidence (tokens, passwords).
fn redact_argv(argv: &[String]) -> String {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for a in argv {
        if hide_next {
            out.push("<redacted>".to_string());
            hide_next = false;
            continue;
        }
        let name = a.trim_start_matches('-').split('=').next().unwrap_or("");
        let secret = ["token", "password", "secret", "key"]
            .iter()
            .any(|s| name.contains(s))
            && a.starts_with('-');
        match (secret, a.split_once('=')) {
            (true, Some((n, _))) => out.push(format!("{n}=<redacted>")),
            (true, None) => {
                out.push(a.clone());
                hide_next = true;
            }
            _ => out.push(a.clone()),
        }
    }
    out.join(" ")
}

/// Reads the unit from systemd, or from unit files under the root when D-Bus is away.
async fn unit_info(
    systemd: Option<&Systemd>,
    root: &HostRoot,
    name: &str,
    evidence: &mut Vec<String>,
) -> Option<UnitInfo> {
    if let Some(sd) = systemd {
        match sd.unit_info(name).await {
            Ok(info) if info.is_loaded() => {
                evidence.push(format!(
                    "systemd: {name} is loaded ({}), {}",
                    info.active_state, info.fragment_path
                ));
                return Some(info);
            }
            Ok(_) => return None,
            Err(e) => evidence.push(format!("systemd: cannot read {name}: {e}")),
        }
    }
    for dir in paths::UNIT_DIRS {
        let path = root.resolve(format!("{dir}/{name}"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let u = unitfile::parse(&text);
            evidence.push(format!("unit file {dir}/{name}"));
            return Some(UnitInfo {
                name: name.to_string(),
                load_state: "loaded".into(),
                active_state: "unknown".into(),
                fragment_path: format!("{dir}/{name}"),
                exec_start: u.exec_start,
                environment: u.environment,
                environment_files: u.environment_files,
            });
        }
    }
    None
}

/// `K3S_CONFIG_FILE` from the unit's Environment= or EnvironmentFile= (later wins).
fn config_from_env(root: &HostRoot, info: &UnitInfo, evidence: &mut Vec<String>) -> Option<String> {
    let mut found = None;
    for file in &info.environment_files {
        let path = file.trim_start_matches('-');
        if let Ok(text) = std::fs::read_to_string(root.resolve(path)) {
            for (k, v) in unitfile::parse_env_file(&text) {
                if k == "K3S_CONFIG_FILE" {
                    found = Some((v, format!("EnvironmentFile {path}")));
                }
            }
        }
    }
    for kv in &info.environment {
        if let Some(v) = kv.strip_prefix("K3S_CONFIG_FILE=") {
            found = Some((v.to_string(), "Environment=".to_string()));
        }
    }
    found.map(|(v, from)| {
        evidence.push(format!("K3S_CONFIG_FILE={v} ({from} of {})", info.name));
        v
    })
}

pub async fn detect(
    root: &HostRoot,
    systemd: Option<&Systemd>,
    unit_setting: Option<&str>,
) -> Detection {
    let mut evidence = Vec::new();
    if systemd.is_none() {
        evidence.push("systemd D-Bus not reachable; reading unit files".into());
    }
    let candidates: Vec<&str> = match unit_setting {
        Some(u) => vec![u],
        None => vec!["k3s.service", "k3s-agent.service"],
    };
    let mut unit = None;
    for name in candidates {
        if let Some(info) = unit_info(systemd, root, name, &mut evidence).await {
            unit = Some(info);
            break;
        }
    }
    let exists = |p: &str| root.resolve(p).exists();
    let mut flags = K3sFlags::default();
    let mut env_config = None;
    if let Some(info) = &unit {
        if let Some(argv) = info
            .exec_start
            .iter()
            .find(|a| a.first().is_some_and(|b| b.contains("k3s")))
            .or(info.exec_start.first())
        {
            evidence.push(format!("ExecStart: {}", redact_argv(argv)));
            flags = parse_k3s_argv(argv);
        }
        env_config = config_from_env(root, info, &mut evidence);
    }
    let mut role = match flags.subcommand.as_deref() {
        Some("server") => Role::Server,
        Some("agent") => Role::Agent,
        _ => Role::Unknown,
    };
    if role == Role::Unknown && unit.as_ref().is_some_and(|u| u.name == "k3s-agent.service") {
        evidence.push("unit name k3s-agent.service means an agent".into());
        role = Role::Agent;
    }
    // k3s's server subcommand is the default when the binary is run bare as `k3s`.
    if role == Role::Unknown && unit.is_some() && flags.subcommand.is_none() {
        role = Role::Server;
    }
    if exists(paths::K3S_SERVER_DIR) {
        evidence.push(format!("{} exists", paths::K3S_SERVER_DIR));
        if role == Role::Unknown {
            role = Role::Server;
        }
    }
    if exists(paths::K3S_KUBECONFIG) {
        evidence.push(format!("{} exists", paths::K3S_KUBECONFIG));
        if role == Role::Unknown {
            role = Role::Server;
        }
    }
    if role == Role::Unknown && exists(paths::K3S_AGENT_DIR) {
        evidence.push(format!(
            "{} exists (and no server dir)",
            paths::K3S_AGENT_DIR
        ));
        role = Role::Agent;
    }
    let eflow = exists(paths::EFLOW_DIR);
    if eflow {
        evidence.push(format!("{} exists (AKS Edge Essentials)", paths::EFLOW_DIR));
    }
    let config_file = env_config
        .or_else(|| flags.config.clone())
        .or_else(|| {
            (eflow && exists(paths::EFLOW_K3S_CONFIG)).then(|| paths::EFLOW_K3S_CONFIG.to_string())
        })
        .unwrap_or_else(|| paths::K3S_DEFAULT_CONFIG.to_string());
    let k3s_found = unit.is_some() || role != Role::Unknown;
    let kubeadm = exists("/etc/kubernetes/manifests/kube-apiserver.yaml")
        || exists("/etc/kubernetes/admin.conf");
    if kubeadm {
        evidence.push("kubeadm control plane files in /etc/kubernetes".into());
    }
    let os_id = std::fs::read_to_string(root.resolve(paths::OS_RELEASE))
        .ok()
        .and_then(|t| {
            unitfile::parse_env_file(&t)
                .into_iter()
                .find(|(k, _)| k == "ID")
                .map(|(_, v)| v)
        });
    let flavor = if eflow {
        Flavor::AksEdgeEssentials
    } else if k3s_found {
        Flavor::K3s
    } else if kubeadm && matches!(os_id.as_deref(), Some("mariner" | "azurelinux")) {
        evidence.push(format!(
            "os-release ID={} (AKS on Azure Local node image)",
            os_id.as_deref().unwrap_or("")
        ));
        Flavor::AksAzureLocal
    } else {
        if evidence.iter().all(|e| e.starts_with("systemd")) {
            evidence.push(
                "no k3s unit, no /var/lib/rancher/k3s, no /var/.eflow, no kubeadm files".into(),
            );
        }
        Flavor::Unknown
    };
    Detection {
        flavor,
        role,
        unit: unit.map(|u| u.name),
        config_file: PathBuf::from(config_file),
        flags,
        kubeadm: eflow && !k3s_found,
        evidence,
        dbus: systemd.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn redacts_secrets_in_execstart() {
        assert_eq!(
            redact_argv(&v(&[
                "k3s",
                "server",
                "--token",
                "s3cret",
                "--agent-token=x",
                "--node-name",
                "n"
            ])),
            "k3s server --token <redacted> --agent-token=<redacted> --node-name n"
        );
    }

    fn root(files: &[(&str, &str)]) -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().expect("tmp");
        for (p, t) in files {
            let path = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, t).expect("write");
        }
        let r = HostRoot::new(dir.path());
        (dir, r)
    }

    fn run(r: &HostRoot) -> Detection {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt")
            .block_on(detect(r, None, None))
    }

    #[test]
    fn k3s_server_from_unit_file() {
        let (_d, r) = root(&[(
            "/etc/systemd/system/k3s.service",
            "[Service]\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nExecStart=/usr/local/bin/k3s \\\n  server --token abc\n",
        ), ("/etc/systemd/system/k3s.service.env", "K3S_CONFIG_FILE=/etc/k3s/alt.yaml\n")]);
        let d = run(&r);
        assert_eq!((d.flavor, d.role), (Flavor::K3s, Role::Server));
        assert_eq!(d.config_file, PathBuf::from("/etc/k3s/alt.yaml"));
        assert!(
            d.evidence.iter().any(|e| e.contains("--token <redacted>")),
            "{:?}",
            d.evidence
        );
        assert!(!d.evidence.iter().any(|e| e.contains("abc")));
    }

    #[test]
    fn agent_and_eflow_and_unknown() {
        let (_d, r) = root(&[(
            "/etc/systemd/system/k3s-agent.service",
            "[Service]\nExecStart=/usr/local/bin/k3s agent\n",
        )]);
        let d = run(&r);
        assert_eq!((d.flavor, d.role), (Flavor::K3s, Role::Agent));
        let (_d, r) = root(&[
            ("/var/.eflow/config/k3s/k3s-config.yml", "a: 1\n"),
            ("/etc/systemd/system/k3s.service", "[Service]\nExecStart=/usr/local/bin/k3s server --config /var/.eflow/config/k3s/k3s-config.yml\n"),
        ]);
        let d = run(&r);
        assert_eq!(d.flavor, Flavor::AksEdgeEssentials);
        assert_eq!(d.config_file, PathBuf::from(paths::EFLOW_K3S_CONFIG));
        assert!(!d.kubeadm);
        let (_d, r) = root(&[("/var/.eflow/x", ""), ("/etc/kubernetes/admin.conf", "")]);
        let d = run(&r);
        assert_eq!(d.flavor, Flavor::AksEdgeEssentials);
        assert!(d.kubeadm);
        let (_d, r) = root(&[]);
        let d = run(&r);
        assert_eq!(d.flavor, Flavor::Unknown);
        assert!(!d.evidence.is_empty());
    }
}

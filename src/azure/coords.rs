//! Which connected cluster this host belongs to: `[azure]` settings (and `AIO_PREP_AZURE_*`),
//! then `AZURE_SUBSCRIPTION_ID` / `AZURE_RESOURCE_GROUP` / `AZURE_RESOURCE_NAME` /
//! `AZURE_TENANT_ID`, then the Arc agents' ConfigMap `azure-arc/azure-clusterconfig` read
//! through the local API server (the kubeconfig k3s writes).

use std::time::Duration;

use serde_json::Value;

use super::arm::ClusterId;
use super::AzureError;
use crate::paths::HostRoot;
use crate::verify::Kubeconfig;

pub const CONFIGMAP_PATH: &str = "/api/v1/namespaces/azure-arc/configmaps/azure-clusterconfig";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub name: Option<String>,
    pub tenant: Option<String>,
}

impl Partial {
    fn fill(&mut self, other: Partial) {
        self.subscription = self.subscription.take().or(other.subscription);
        self.resource_group = self.resource_group.take().or(other.resource_group);
        self.name = self.name.take().or(other.name);
        self.tenant = self.tenant.take().or(other.tenant);
    }

    fn complete(&self) -> Option<ClusterId> {
        Some(ClusterId {
            subscription: self.subscription.clone()?,
            resource_group: self.resource_group.clone()?,
            name: self.name.clone()?,
        })
    }
}

pub fn from_env(env: &[(String, String)]) -> Partial {
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Partial {
        subscription: get("AZURE_SUBSCRIPTION_ID"),
        resource_group: get("AZURE_RESOURCE_GROUP"),
        name: get("AZURE_RESOURCE_NAME"),
        tenant: get("AZURE_TENANT_ID"),
    }
}

fn from_configmap(v: &Value) -> Partial {
    let get = |k: &str| {
        v.pointer(&format!("/data/{k}"))
            .and_then(Value::as_str)
            .map(String::from)
            .filter(|s| !s.is_empty())
    };
    Partial {
        subscription: get("AZURE_SUBSCRIPTION_ID"),
        resource_group: get("AZURE_RESOURCE_GROUP"),
        name: get("AZURE_RESOURCE_NAME"),
        tenant: get("AZURE_TENANT_ID"),
    }
}

/// Where the coordinates came from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordsSource {
    Settings,
    ConfigMap,
}

pub async fn resolve(
    settings: Partial,
    env: &[(String, String)],
    root: &HostRoot,
) -> Result<(ClusterId, Option<String>, CoordsSource), AzureError> {
    let mut p = settings;
    p.fill(from_env(env));
    if let Some(id) = p.complete() {
        return Ok((id, p.tenant, CoordsSource::Settings));
    }
    let missing = || {
        "set [azure] subscription_id, resource_group and cluster_name (or AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_RESOURCE_NAME)"
    };
    let kubeconfig = match Kubeconfig::load(root) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Err(AzureError::Coordinates(format!(
                "cannot tell which Arc cluster this is: no local API server kubeconfig; {}",
                missing()
            )))
        }
        Err(e) => {
            return Err(AzureError::Coordinates(format!(
                "cannot read the azure-clusterconfig ConfigMap ({e}); {}",
                missing()
            )))
        }
    };
    let client = kubeconfig
        .client(Duration::from_secs(5))
        .map_err(|e| AzureError::Coordinates(format!("{e}; {}", missing())))?;
    let url = format!(
        "{}{CONFIGMAP_PATH}",
        kubeconfig.server.trim_end_matches('/')
    );
    let resp = client.get(&url).send().await.map_err(|e| {
        AzureError::Coordinates(format!(
            "cannot read ConfigMap azure-arc/azure-clusterconfig: {}; {}",
            super::http::chain(&e),
            missing()
        ))
    })?;
    if !resp.status().is_success() {
        return Err(AzureError::Coordinates(format!(
            "ConfigMap azure-arc/azure-clusterconfig: HTTP {} (is this cluster connected to Arc?); {}",
            resp.status(),
            missing()
        )));
    }
    let v: Value = resp.json().await.map_err(|e| {
        AzureError::Coordinates(format!(
            "ConfigMap azure-arc/azure-clusterconfig is not JSON: {e}"
        ))
    })?;
    p.fill(from_configmap(&v));
    match p.complete() {
        Some(id) => Ok((id, p.tenant, CoordsSource::ConfigMap)),
        None => Err(AzureError::Coordinates(format!(
            "ConfigMap azure-arc/azure-clusterconfig lacks cluster coordinates; {}",
            missing()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_win_over_env_which_fills_gaps() {
        let mut p = Partial {
            subscription: Some("s-config".into()),
            ..Partial::default()
        };
        p.fill(from_env(&[
            ("AZURE_SUBSCRIPTION_ID".into(), "s-env".into()),
            ("AZURE_RESOURCE_GROUP".into(), "g".into()),
            ("AZURE_RESOURCE_NAME".into(), "n".into()),
        ]));
        let id = p.complete().expect("complete");
        assert_eq!(
            (
                id.subscription.as_str(),
                id.resource_group.as_str(),
                id.name.as_str()
            ),
            ("s-config", "g", "n")
        );
        let cm = serde_json::json!({"data": {"AZURE_SUBSCRIPTION_ID": "s", "AZURE_RESOURCE_GROUP": "g", "AZURE_RESOURCE_NAME": "n", "AZURE_TENANT_ID": "t"}});
        assert_eq!(from_configmap(&cm).tenant.as_deref(), Some("t"));
    }
}

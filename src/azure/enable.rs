//! Enable = GET the connected cluster; if OIDC issuer or workload identity is off, PUT the
//! whole resource back with both on and the read-only fields removed (PATCH cannot set
//! them); follow the long-running operation; wait for the Arc agents to settle; read the
//! issuer URL (SPEC §4). `kind == ProvisionedCluster` (AKS on Azure Local) is verify-only.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::arm::{Arm, ClusterId};
use super::http::retry_after;
use super::AzureError;

pub const PROVISIONED_CLUSTER: &str = "ProvisionedCluster";

/// Read-only paths of `Microsoft.Kubernetes/connectedClusters` (2024-07-15-preview spec);
/// `[]` means every item of an array.
pub const READ_ONLY: &[&str] = &[
    "id",
    "name",
    "type",
    "systemData",
    "identity.principalId",
    "identity.tenantId",
    "properties.kubernetesVersion",
    "properties.totalNodeCount",
    "properties.totalCoreCount",
    "properties.agentVersion",
    "properties.offering",
    "properties.managedIdentityCertificateExpirationTime",
    "properties.lastConnectivityTime",
    "properties.connectivityStatus",
    "properties.miscellaneousProperties",
    "properties.oidcIssuerProfile.issuerUrl",
    "properties.arcAgentProfile.agentState",
    "properties.arcAgentProfile.systemComponents[].currentVersion",
    // Every field of an agentErrors item is read-only: the list is status, not settings.
    "properties.arcAgentProfile.agentErrors",
];

/// What the cloud side looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudState {
    pub kind: Option<String>,
    pub oidc_enabled: bool,
    pub workload_identity_enabled: bool,
    pub issuer_url: Option<String>,
    pub agent_state: Option<String>,
    pub provisioning_state: Option<String>,
}

impl CloudState {
    pub fn from_resource(v: &Value) -> CloudState {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(String::from);
        let b = |p: &str| v.pointer(p).and_then(Value::as_bool).unwrap_or(false);
        CloudState {
            kind: s("/kind"),
            oidc_enabled: b("/properties/oidcIssuerProfile/enabled"),
            workload_identity_enabled: b("/properties/securityProfile/workloadIdentity/enabled"),
            issuer_url: s("/properties/oidcIssuerProfile/issuerUrl").filter(|u| !u.is_empty()),
            agent_state: s("/properties/arcAgentProfile/agentState"),
            provisioning_state: s("/properties/provisioningState"),
        }
    }

    pub fn is_provisioned_cluster(&self) -> bool {
        self.kind.as_deref() == Some(PROVISIONED_CLUSTER)
    }

    pub fn flags_on(&self) -> bool {
        self.oidc_enabled && self.workload_identity_enabled
    }

    /// Agents settled: no state reported, or a final one.
    pub fn agents_settled(&self) -> bool {
        matches!(
            self.agent_state.as_deref(),
            None | Some("Succeeded") | Some("Failed")
        )
    }
}

fn remove_path(v: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(field) = first.strip_suffix("[]") {
        if let Some(Value::Array(items)) = v.get_mut(field) {
            for item in items {
                remove_path(item, rest);
            }
        }
        return;
    }
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        obj.remove(*first);
    } else if let Some(child) = obj.get_mut(*first) {
        remove_path(child, rest);
    }
}

/// The PUT body: the resource as read, read-only fields removed, both flags on.
pub fn put_body(resource: &Value) -> Value {
    let mut body = resource.clone();
    for path in READ_ONLY {
        let parts: Vec<&str> = path.split('.').collect();
        remove_path(&mut body, &parts);
    }
    let set = |body: &mut Value, pointer: &[&str]| {
        let mut cur = body;
        for key in pointer {
            if !cur.get(*key).is_some_and(Value::is_object) {
                if let Some(obj) = cur.as_object_mut() {
                    obj.insert((*key).to_string(), Value::Object(Default::default()));
                }
            }
            match cur.get_mut(*key) {
                Some(next) => cur = next,
                None => return,
            }
        }
        if let Some(obj) = cur.as_object_mut() {
            obj.insert("enabled".into(), Value::Bool(true));
        }
    };
    set(&mut body, &["properties", "oidcIssuerProfile"]);
    set(
        &mut body,
        &["properties", "securityProfile", "workloadIdentity"],
    );
    body
}

/// Timing and pacing of the enable flow.
#[derive(Debug, Clone)]
pub struct Pacing {
    pub lro_timeout: Duration,
    pub agent_timeout: Duration,
    pub poll: Duration,
}

/// The result of [`enable`].
#[derive(Debug, Clone)]
pub struct Enabled {
    pub changed: bool,
    pub state: CloudState,
    pub notes: Vec<String>,
}

pub async fn enable(
    arm: &Arm<'_>,
    id: &ClusterId,
    pacing: &Pacing,
    progress: &mut dyn FnMut(&str),
) -> Result<Enabled, AzureError> {
    let path = id.path();
    let resource = arm.get(&path).await?;
    let state = CloudState::from_resource(&resource);
    if state.is_provisioned_cluster() {
        return if state.flags_on() && state.issuer_url.is_some() {
            Ok(Enabled {
                changed: false,
                state,
                notes: vec!["AKS on Azure Local (ProvisionedCluster): OIDC issuer and workload identity are on".into()],
            })
        } else {
            Err(provisioned_cluster_off(id))
        };
    }
    let mut notes = Vec::new();
    let changed = !state.flags_on();
    let state = if changed {
        progress("enabling OIDC issuer and workload identity");
        let resp = arm.put(&path, &put_body(&resource)).await?;
        let deadline = Instant::now() + pacing.lro_timeout;
        match resp.header("azure-asyncoperation").map(String::from) {
            Some(url) => {
                arm.wait_operation(
                    &url,
                    retry_after(&resp.headers),
                    deadline,
                    pacing.poll,
                    &mut |s| progress(&format!("update {s}")),
                )
                .await?
            }
            None => wait_provisioning(arm, &path, deadline, pacing.poll, progress).await?,
        }
        wait_agents(arm, &path, pacing, progress).await?
    } else if !state.agents_settled() {
        wait_agents(arm, &path, pacing, progress).await?
    } else {
        state
    };
    if state.agent_state.as_deref() == Some("Failed") {
        notes.push(
            "Arc agents report agentState Failed; check `az connectedk8s show` agentErrors".into(),
        );
    }
    if !state.flags_on() {
        return Err(AzureError::Operation {
            status: "Succeeded".into(),
            code: "FlagsNotSet".into(),
            message: "the update succeeded but OIDC issuer / workload identity still read as off"
                .into(),
        });
    }
    if state.issuer_url.is_none() {
        return Err(AzureError::Operation {
            status: "Succeeded".into(),
            code: "NoIssuerUrl".into(),
            message: "OIDC issuer is on but properties.oidcIssuerProfile.issuerUrl is empty".into(),
        });
    }
    Ok(Enabled {
        changed,
        state,
        notes,
    })
}

pub fn provisioned_cluster_off(id: &ClusterId) -> AzureError {
    AzureError::ProvisionedClusterOff(format!(
        "{} is AKS on Azure Local (kind ProvisionedCluster): OIDC issuer and workload identity can only be set when the cluster is created (az aksarc create --enable-oidc-issuer --enable-workload-identity)",
        id.name
    ))
}

/// Without `Azure-AsyncOperation`: poll the resource's `provisioningState`.
async fn wait_provisioning(
    arm: &Arm<'_>,
    path: &str,
    deadline: Instant,
    poll: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<(), AzureError> {
    loop {
        let state = CloudState::from_resource(&arm.get(path).await?);
        match state.provisioning_state.as_deref() {
            Some("Succeeded") | None => return Ok(()),
            Some(s @ ("Failed" | "Canceled")) => {
                return Err(AzureError::Operation {
                    status: s.to_string(),
                    code: "ProvisioningState".into(),
                    message: format!("provisioningState is {s}"),
                })
            }
            Some(s) => progress(&format!("provisioningState {s}")),
        }
        if Instant::now() + poll > deadline {
            return Err(AzureError::Timeout {
                what: "the connected cluster update".into(),
                after: poll,
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Polls until `arcAgentProfile.agentState` is absent, `Succeeded` or `Failed`.
async fn wait_agents(
    arm: &Arm<'_>,
    path: &str,
    pacing: &Pacing,
    progress: &mut dyn FnMut(&str),
) -> Result<CloudState, AzureError> {
    let started = Instant::now();
    loop {
        let state = CloudState::from_resource(&arm.get(path).await?);
        if state.agents_settled() {
            return Ok(state);
        }
        progress(&format!(
            "Arc agents {}",
            state.agent_state.as_deref().unwrap_or("?")
        ));
        if started.elapsed() + pacing.poll > pacing.agent_timeout {
            return Err(AzureError::Timeout {
                what: format!(
                    "Arc agents (agentState {})",
                    state.agent_state.as_deref().unwrap_or("?")
                ),
                after: started.elapsed(),
            });
        }
        tokio::time::sleep(pacing.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_body_drops_read_only_and_sets_flags() {
        let resource = serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Kubernetes/connectedClusters/c",
            "name": "c", "type": "Microsoft.Kubernetes/connectedClusters", "location": "eastus",
            "tags": {"a": "b"},
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "systemData": {"createdBy": "x"},
            "properties": {
                "agentPublicKeyCertificate": "cert", "provisioningState": "Succeeded",
                "kubernetesVersion": "1.30", "totalNodeCount": 1, "connectivityStatus": "Connected",
                "miscellaneousProperties": {"a": "b"},
                "oidcIssuerProfile": {"enabled": false, "issuerUrl": ""},
                "arcAgentProfile": {"agentAutoUpgrade": "Enabled", "agentState": "Succeeded",
                    "systemComponents": [{"type": "x", "userSpecifiedVersion": "1", "currentVersion": "1"}],
                    "agentErrors": [{"message": "m", "severity": "s", "component": "c", "time": "t"}]}
            }
        });
        let body = put_body(&resource);
        assert_eq!(
            body,
            serde_json::json!({
                "location": "eastus", "tags": {"a": "b"}, "identity": {"type": "SystemAssigned"},
                "properties": {
                    "agentPublicKeyCertificate": "cert", "provisioningState": "Succeeded",
                    "oidcIssuerProfile": {"enabled": true},
                    "securityProfile": {"workloadIdentity": {"enabled": true}},
                    "arcAgentProfile": {"agentAutoUpgrade": "Enabled",
                        "systemComponents": [{"type": "x", "userSpecifiedVersion": "1"}]}
                }
            })
        );
    }

    #[test]
    fn cloud_state_reads_flags_and_settling() {
        let v = serde_json::json!({"kind": "ProvisionedCluster", "properties": {
            "oidcIssuerProfile": {"enabled": true, "issuerUrl": "https://x/"},
            "securityProfile": {"workloadIdentity": {"enabled": true}},
            "arcAgentProfile": {"agentState": "Updating"}}});
        let s = CloudState::from_resource(&v);
        assert!(s.is_provisioned_cluster() && s.flags_on());
        assert!(!s.agents_settled());
        assert_eq!(s.issuer_url.as_deref(), Some("https://x/"));
        assert!(CloudState::from_resource(&serde_json::json!({})).agents_settled());
    }
}

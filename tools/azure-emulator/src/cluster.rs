//! The `Microsoft.Kubernetes/connectedClusters` resource: its state, how it
//! renders (the published 2024-07-15-preview shape), and how a PUT or PATCH
//! body is validated the way the resource provider would.
//!
//! Read-only properties (the swagger's `readOnly` markers plus ARM's own
//! `id`/`name`/`type`/`systemData`) are *rejected* in a PUT body rather than
//! ignored, so a client that claims to strip them is checked by the server.
//! `provisioningState` (not marked read-only in 2024-07-15-preview) follows
//! ARM's RPC: ignored when it equals the server's value, 400 otherwise.
//! `null` counts as absent.

use serde_json::{json, Map, Value};

use crate::util::{now_secs, rfc3339};

pub const RESOURCE_TYPE: &str = "Microsoft.Kubernetes/connectedClusters";
pub const PROVISIONED_CLUSTER: &str = "ProvisionedCluster";

/// How a test describes a cluster to preload.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    /// Tenant of the subscription (and of `identity.tenantId`).
    pub tenant: String,
    /// e.g. `Some("ProvisionedCluster")` for AKS on Azure Local.
    pub kind: Option<String>,
    pub oidc_enabled: bool,
    pub workload_identity_enabled: bool,
    /// After each PUT's operation succeeds, `arcAgentProfile.agentState` reads
    /// `Updating` this many times, then `Succeeded`.
    pub agent_state_reads_before_settled: u32,
    /// The operation answers `InProgress` this many polls, then finishes.
    pub lro_polls_before_done: u32,
    /// `Retry-After` (seconds) on the PUT and on in-progress operation polls.
    pub retry_after_secs: u32,
    /// Status of an accepted PUT to an existing cluster: 201 (default) or 200.
    pub put_status: u16,
    /// Whether an accepted PUT carries `Azure-AsyncOperation` (default true);
    /// without it a client must poll the resource's `provisioningState`.
    pub async_operation_header: bool,
    /// `oidcIssuerProfile.issuerUrl` once OIDC is on. Default:
    /// `https://127.0.0.1:PORT/oidc/<tenant>/<guid>/` (trailing slash), served
    /// by the emulator's discovery endpoint.
    pub issuer_url: Option<String>,
    /// Overrides the `issuer` the discovery document states. Default: the
    /// issuer URL without its trailing slash.
    pub discovery_issuer: Option<String>,
    pub self_hosted_issuer_url: Option<String>,
    pub distribution: String,
    pub infrastructure: String,
    pub kubernetes_version: String,
    pub agent_version: String,
    pub total_node_count: u32,
}

pub const DEFAULT_TENANT: &str = "72f988bf-0000-4000-8000-00000000a1b2";

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            subscription: "1bfbb5d0-917e-4346-9026-1d3b344417f5".to_string(),
            resource_group: "edge-rg".to_string(),
            name: "edge-cluster".to_string(),
            location: "eastus".to_string(),
            tenant: DEFAULT_TENANT.to_string(),
            kind: None,
            oidc_enabled: false,
            workload_identity_enabled: false,
            agent_state_reads_before_settled: 0,
            lro_polls_before_done: 0,
            retry_after_secs: 1,
            put_status: 201,
            async_operation_header: true,
            issuer_url: None,
            discovery_issuer: None,
            self_hosted_issuer_url: None,
            distribution: "k3s".to_string(),
            infrastructure: "generic".to_string(),
            kubernetes_version: "1.31.4+k3s1".to_string(),
            agent_version: "1.24.4".to_string(),
            total_node_count: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    Settled,
    Updating { reads_left: u32 },
    NeverSettles,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub tenant: String,
    pub kind: Option<String>,
    pub tags: Map<String, Value>,
    pub identity_type: String,
    pub principal_id: String,
    /// Properties the client owns (as last PUT), without the server-owned ones.
    pub writable: Map<String, Value>,
    pub oidc_enabled: bool,
    pub wi_enabled: bool,
    /// Shown as `issuerUrl` (OIDC on and its operation finished).
    pub issuer_url: Option<String>,
    /// What `issuerUrl` becomes when OIDC is turned on.
    pub issuer_url_when_enabled: String,
    pub discovery_issuer: Option<String>,
    pub provisioning_state: String,
    pub agent: AgentState,
    pub agent_reads_before_settled: u32,
    pub lro_polls_before_done: u32,
    pub retry_after_secs: u32,
    pub put_status: u16,
    pub async_operation_header: bool,
    pub pending_operation: Option<String>,
    pub created_at: u64,
    pub modified_at: u64,
    pub modified_by: String,
    pub kubernetes_version: String,
    pub agent_version: String,
    pub total_node_count: u32,
}

impl Cluster {
    pub fn from_spec(spec: &ClusterSpec, default_issuer: String, principal_id: String) -> Self {
        let now = now_secs();
        let mut writable = Map::new();
        writable.insert(
            "agentPublicKeyCertificate".into(),
            Value::String(crate::util::random_b64url(96)),
        );
        writable.insert("distribution".into(), json!(spec.distribution));
        writable.insert("infrastructure".into(), json!(spec.infrastructure));
        writable.insert("privateLinkState".into(), json!("Disabled"));
        writable.insert("azureHybridBenefit".into(), json!("NotApplicable"));
        writable.insert(
            "arcAgentProfile".into(),
            json!({
                "desiredAgentVersion": spec.agent_version,
                "agentAutoUpgrade": "Enabled",
                "systemComponents": [],
            }),
        );
        if let Some(url) = &spec.self_hosted_issuer_url {
            writable.insert(
                "oidcIssuerProfile".into(),
                json!({ "selfHostedIssuerUrl": url }),
            );
        }
        let issuer = spec.issuer_url.clone().unwrap_or(default_issuer);
        Cluster {
            subscription: spec.subscription.clone(),
            resource_group: spec.resource_group.clone(),
            name: spec.name.clone(),
            location: spec.location.clone(),
            tenant: spec.tenant.clone(),
            kind: spec.kind.clone(),
            tags: Map::new(),
            identity_type: "SystemAssigned".to_string(),
            principal_id,
            writable,
            oidc_enabled: spec.oidc_enabled,
            wi_enabled: spec.workload_identity_enabled,
            issuer_url: spec.oidc_enabled.then(|| issuer.clone()),
            issuer_url_when_enabled: issuer,
            discovery_issuer: spec.discovery_issuer.clone(),
            provisioning_state: "Succeeded".to_string(),
            agent: AgentState::Settled,
            agent_reads_before_settled: spec.agent_state_reads_before_settled,
            lro_polls_before_done: spec.lro_polls_before_done,
            retry_after_secs: spec.retry_after_secs,
            put_status: spec.put_status,
            async_operation_header: spec.async_operation_header,
            pending_operation: None,
            created_at: now,
            modified_at: now,
            modified_by: "azure-emulator".to_string(),
            kubernetes_version: spec.kubernetes_version.clone(),
            agent_version: spec.agent_version.clone(),
            total_node_count: spec.total_node_count,
        }
    }

    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{RESOURCE_TYPE}/{}",
            self.subscription, self.resource_group, self.name
        )
    }

    pub fn is_provisioned_cluster(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(PROVISIONED_CLUSTER))
    }

    pub fn agent_state_text(&self) -> &'static str {
        match self.agent {
            AgentState::Settled => "Succeeded",
            AgentState::Updating { .. } | AgentState::NeverSettles => "Updating",
        }
    }

    /// One read of the resource while no operation runs: the agents move one
    /// step towards settled.
    pub fn agent_read_step(&mut self) {
        if let AgentState::Updating { reads_left } = &mut self.agent {
            if *reads_left == 0 {
                self.agent = AgentState::Settled;
            } else {
                *reads_left -= 1;
            }
        }
    }

    /// The resource as GET returns it.
    pub fn render(&self) -> Value {
        let mut props = self.writable.clone();
        props.insert("provisioningState".into(), json!(self.provisioning_state));
        props.insert("kubernetesVersion".into(), json!(self.kubernetes_version));
        props.insert("totalNodeCount".into(), json!(self.total_node_count));
        props.insert("totalCoreCount".into(), json!(self.total_node_count * 4));
        props.insert("agentVersion".into(), json!(self.agent_version));
        props.insert("connectivityStatus".into(), json!("Connected"));
        props.insert("lastConnectivityTime".into(), json!(rfc3339(now_secs())));
        props.insert(
            "managedIdentityCertificateExpirationTime".into(),
            json!(rfc3339(self.created_at + 90 * 86_400)),
        );

        let mut agent = object(props.get("arcAgentProfile"));
        agent.insert("agentState".into(), json!(self.agent_state_text()));
        agent.insert("agentErrors".into(), json!([]));
        if let Some(Value::Array(components)) = agent.get_mut("systemComponents") {
            for c in components.iter_mut().filter_map(Value::as_object_mut) {
                let current = c.get("userSpecifiedVersion").cloned().unwrap_or(json!(""));
                c.insert("currentVersion".into(), current);
            }
        }
        props.insert("arcAgentProfile".into(), Value::Object(agent));

        let mut security = object(props.get("securityProfile"));
        let mut wi = object(security.get("workloadIdentity"));
        wi.insert("enabled".into(), json!(self.wi_enabled));
        security.insert("workloadIdentity".into(), Value::Object(wi));
        props.insert("securityProfile".into(), Value::Object(security));

        let mut oidc = object(props.get("oidcIssuerProfile"));
        oidc.insert("enabled".into(), json!(self.oidc_enabled));
        if let Some(url) = &self.issuer_url {
            oidc.insert("issuerUrl".into(), json!(url));
        }
        props.insert("oidcIssuerProfile".into(), Value::Object(oidc));

        let mut identity = Map::new();
        if self.identity_type == "SystemAssigned" {
            identity.insert("principalId".into(), json!(self.principal_id));
            identity.insert("tenantId".into(), json!(self.tenant));
        }
        identity.insert("type".into(), json!(self.identity_type));

        let mut resource = Map::new();
        resource.insert("id".into(), json!(self.id()));
        resource.insert("name".into(), json!(self.name));
        resource.insert("type".into(), json!(RESOURCE_TYPE));
        resource.insert("location".into(), json!(self.location));
        resource.insert("tags".into(), Value::Object(self.tags.clone()));
        if let Some(kind) = &self.kind {
            resource.insert("kind".into(), json!(kind));
        }
        resource.insert("identity".into(), Value::Object(identity));
        resource.insert(
            "systemData".into(),
            json!({
                "createdBy": "azure-emulator",
                "createdByType": "Application",
                "createdAt": rfc3339(self.created_at),
                "lastModifiedBy": self.modified_by,
                "lastModifiedByType": "Application",
                "lastModifiedAt": rfc3339(self.modified_at),
            }),
        );
        resource.insert("properties".into(), Value::Object(props));
        Value::Object(resource)
    }
}

fn object(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

/// A rejected body: status, ARM error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status: 400,
        code,
        message: message.into(),
    }
}

/// A validated PUT body.
#[derive(Debug, Clone)]
pub struct PutBody {
    pub location: String,
    pub tags: Map<String, Value>,
    pub kind: Option<String>,
    pub identity_type: String,
    /// Client-owned properties, with the two feature flags taken out.
    pub writable: Map<String, Value>,
    pub oidc_enabled: bool,
    pub wi_enabled: bool,
}

const READ_ONLY_TOP: &[&str] = &["id", "name", "type", "systemData"];
const READ_ONLY_IDENTITY: &[&str] = &["principalId", "tenantId"];
const READ_ONLY_PROPERTIES: &[&str] = &[
    "kubernetesVersion",
    "totalNodeCount",
    "totalCoreCount",
    "agentVersion",
    "offering",
    "managedIdentityCertificateExpirationTime",
    "lastConnectivityTime",
    "connectivityStatus",
    "miscellaneousProperties",
];

fn present(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(|v| !v.is_null())
}

/// Every read-only property the body sets, as dotted paths.
pub fn read_only_properties(body: &Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    for key in READ_ONLY_TOP {
        if present(body, key) {
            found.push((*key).to_string());
        }
    }
    if let Some(identity) = body.get("identity").and_then(Value::as_object) {
        for key in READ_ONLY_IDENTITY {
            if present(identity, key) {
                found.push(format!("identity.{key}"));
            }
        }
    }
    let Some(props) = body.get("properties").and_then(Value::as_object) else {
        return found;
    };
    for key in READ_ONLY_PROPERTIES {
        if present(props, key) {
            found.push(format!("properties.{key}"));
        }
    }
    if let Some(oidc) = props.get("oidcIssuerProfile").and_then(Value::as_object) {
        if present(oidc, "issuerUrl") {
            found.push("properties.oidcIssuerProfile.issuerUrl".to_string());
        }
    }
    if let Some(agent) = props.get("arcAgentProfile").and_then(Value::as_object) {
        if present(agent, "agentState") {
            found.push("properties.arcAgentProfile.agentState".to_string());
        }
        // Every field of an agent error is read-only.
        if agent
            .get("agentErrors")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            found.push("properties.arcAgentProfile.agentErrors".to_string());
        }
        if let Some(components) = agent.get("systemComponents").and_then(Value::as_array) {
            for (i, c) in components.iter().enumerate() {
                if c.as_object().is_some_and(|c| present(c, "currentVersion")) {
                    found.push(format!(
                        "properties.arcAgentProfile.systemComponents[{i}].currentVersion"
                    ));
                }
            }
        }
    }
    found
}

fn optional_bool(parent: Option<&Value>, key: &str, path: &str) -> Result<bool, Rejection> {
    match parent.and_then(|p| p.get(key)) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(
            "InvalidRequestContent",
            format!("The value '{other}' of property '{path}' is not a valid boolean."),
        )),
    }
}

/// Validates a PUT body like the resource provider: shape, required
/// properties, no read-only properties, `provisioningState` (if sent) equal to
/// `current_state` (the server's; `None` when creating).
pub fn validate_put(body: &[u8], current_state: Option<&str>) -> Result<PutBody, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        bad(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{e}'."),
        )
    })?;
    let Value::Object(body) = value else {
        return Err(bad(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: the body must be a JSON object.",
        ));
    };
    let read_only = read_only_properties(&body);
    if !read_only.is_empty() {
        let list = read_only
            .iter()
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(bad(
            "InvalidRequestContent",
            format!("The request content contains read-only properties that cannot be set: {list}. Remove them from the request body."),
        ));
    }
    let location = match body.get("location") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(bad(
                "LocationRequired",
                "The location property is required for this definition.",
            ))
        }
        Some(_) => {
            return Err(bad(
                "InvalidRequestContent",
                "The 'location' property must be a string.",
            ))
        }
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(t)) if t.values().all(Value::is_string) => t.clone(),
        Some(_) => {
            return Err(bad(
                "InvalidRequestContent",
                "The 'tags' property must be an object of string values.",
            ))
        }
    };
    let kind = match body.get("kind") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => {
            return Err(bad(
                "InvalidRequestContent",
                "The 'kind' property must be a string.",
            ))
        }
    };
    let identity_type = match body.get("identity") {
        Some(Value::Object(identity)) => match identity.get("type") {
            Some(Value::String(t)) if t == "SystemAssigned" || t == "None" => t.clone(),
            Some(Value::String(t)) => {
                return Err(bad(
                    "InvalidRequestContent",
                    format!("The value '{t}' of 'identity.type' is not valid. Allowed values: 'SystemAssigned', 'None'."),
                ))
            }
            _ => {
                return Err(bad(
                    "InvalidRequestContent",
                    "The required property 'identity.type' is missing from the request content.",
                ))
            }
        },
        None | Some(Value::Null) => {
            return Err(bad(
                "InvalidRequestContent",
                "The required property 'identity' is missing from the request content.",
            ))
        }
        Some(_) => return Err(bad("InvalidRequestContent", "The 'identity' property must be an object.")),
    };
    if let Some(sent) = body
        .get("properties")
        .and_then(|p| p.get("provisioningState"))
        .filter(|v| !v.is_null())
    {
        let matches = sent
            .as_str()
            .zip(current_state)
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
        if !matches {
            return Err(bad(
                "InvalidRequestContent",
                format!(
                    "The property 'properties.provisioningState' is read-only: the value {sent} does not match the resource's current state '{}'. Remove it from the request body.",
                    current_state.unwrap_or("(none)")
                ),
            ));
        }
    }
    let mut writable = match body.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        None | Some(Value::Null) => {
            return Err(bad(
                "InvalidRequestContent",
                "The required property 'properties' is missing from the request content.",
            ))
        }
        Some(_) => {
            return Err(bad(
                "InvalidRequestContent",
                "The 'properties' property must be an object.",
            ))
        }
    };
    match writable.get("agentPublicKeyCertificate") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            return Err(bad(
                "InvalidRequestContent",
                "The required property 'properties.agentPublicKeyCertificate' is missing from the request content.",
            ))
        }
    }
    let oidc_enabled = optional_bool(
        writable.get("oidcIssuerProfile"),
        "enabled",
        "properties.oidcIssuerProfile.enabled",
    )?;
    let wi_enabled = optional_bool(
        writable
            .get("securityProfile")
            .and_then(|s| s.get("workloadIdentity")),
        "enabled",
        "properties.securityProfile.workloadIdentity.enabled",
    )?;
    // The flags live in the cluster state; the rest of those objects stays.
    if let Some(Value::Object(oidc)) = writable.get_mut("oidcIssuerProfile") {
        oidc.remove("enabled");
    }
    if let Some(Value::Object(security)) = writable.get_mut("securityProfile") {
        if let Some(Value::Object(wi)) = security.get_mut("workloadIdentity") {
            wi.remove("enabled");
        }
    }
    if let Some(Value::Object(agent)) = writable.get_mut("arcAgentProfile") {
        agent.remove("agentErrors");
    }
    writable.remove("provisioningState");
    Ok(PutBody {
        location,
        tags,
        kind,
        identity_type,
        writable,
        oidc_enabled,
        wi_enabled,
    })
}

/// What PATCH may change in 2024-07-15-preview (`ConnectedClusterPatch`).
pub const PATCHABLE_PROPERTIES: &[&str] =
    &["distribution", "distributionVersion", "azureHybridBenefit"];

/// A validated PATCH body: new tags (replacing all, as ARM does) and patchable
/// properties.
#[derive(Debug, Clone, Default)]
pub struct PatchBody {
    pub tags: Option<Map<String, Value>>,
    pub properties: Map<String, Value>,
}

pub fn validate_patch(body: &[u8]) -> Result<PatchBody, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        bad(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{e}'."),
        )
    })?;
    let Value::Object(body) = value else {
        return Err(bad(
            "InvalidRequestContent",
            "The PATCH body must be a JSON object.",
        ));
    };
    let not_patchable = |path: &str| {
        bad(
            "InvalidRequestContent",
            format!(
                "The property '{path}' cannot be updated with PATCH. PATCH supports 'tags', {}; use PUT for other changes.",
                PATCHABLE_PROPERTIES
                    .iter()
                    .map(|p| format!("'properties.{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    let mut patch = PatchBody::default();
    for (key, value) in &body {
        match (key.as_str(), value) {
            ("tags", Value::Object(t)) if t.values().all(Value::is_string) => {
                patch.tags = Some(t.clone())
            }
            ("tags", Value::Null) => patch.tags = Some(Map::new()),
            ("tags", _) => {
                return Err(bad(
                    "InvalidRequestContent",
                    "The 'tags' property must be an object of string values.",
                ))
            }
            ("properties", Value::Object(props)) => {
                for (p, v) in props {
                    if !PATCHABLE_PROPERTIES.contains(&p.as_str()) {
                        return Err(not_patchable(&format!("properties.{p}")));
                    }
                    if !v.is_string() && !v.is_null() {
                        return Err(bad(
                            "InvalidRequestContent",
                            format!("The 'properties.{p}' property must be a string."),
                        ));
                    }
                    patch.properties.insert(p.clone(), v.clone());
                }
            }
            ("properties", Value::Null) => {}
            (other, _) => return Err(not_patchable(other)),
        }
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Value {
        json!({
            "location": "eastus",
            "identity": {"type": "SystemAssigned"},
            "properties": {"agentPublicKeyCertificate": "MIIB"}
        })
    }

    #[test]
    fn minimal_put_is_valid_and_flags_default_off() {
        let body = validate_put(minimal().to_string().as_bytes(), None).expect("valid");
        assert!(!body.oidc_enabled && !body.wi_enabled);
        assert_eq!(body.identity_type, "SystemAssigned");
    }

    #[test]
    fn rendered_resource_round_trips_only_after_stripping_read_only() {
        let spec = ClusterSpec {
            oidc_enabled: true,
            ..ClusterSpec::default()
        };
        let c = Cluster::from_spec(&spec, "https://x/oidc/t/g/".into(), "p".into());
        let rendered = c.render();
        let err = validate_put(rendered.to_string().as_bytes(), Some("Succeeded"))
            .expect_err("read-only");
        for p in [
            "'id'",
            "'systemData'",
            "'identity.principalId'",
            "'properties.kubernetesVersion'",
            "'properties.oidcIssuerProfile.issuerUrl'",
            "'properties.arcAgentProfile.agentState'",
        ] {
            assert!(err.message.contains(p), "{p} not in {}", err.message);
        }
        // agentErrors is an empty array: allowed; provisioningState matches.
        assert!(!err.message.contains("agentErrors"));
        assert!(!err.message.contains("provisioningState"));
    }

    #[test]
    fn provisioning_state_is_ignored_when_it_matches_the_server() {
        let mut b = minimal();
        b["properties"]["provisioningState"] = json!("Succeeded");
        let body = validate_put(b.to_string().as_bytes(), Some("Succeeded")).expect("matches");
        assert!(!body.writable.contains_key("provisioningState"));
        let e = validate_put(b.to_string().as_bytes(), Some("Failed")).expect_err("differs");
        assert!(e.message.contains("'properties.provisioningState'"));
        assert!(validate_put(b.to_string().as_bytes(), None).is_err());
    }

    #[test]
    fn missing_required_properties_are_named() {
        let mut b = minimal();
        b.as_object_mut().map(|o| o.remove("identity"));
        let e = validate_put(b.to_string().as_bytes(), None).expect_err("identity");
        assert!(e.message.contains("'identity'"));
        let mut b = minimal();
        b["properties"] = json!({});
        let e = validate_put(b.to_string().as_bytes(), None).expect_err("cert");
        assert!(e.message.contains("agentPublicKeyCertificate"));
        let e = validate_put(b"[1]", None).expect_err("object");
        assert_eq!(e.code, "InvalidRequestContent");
        let mut b = minimal();
        b.as_object_mut().map(|o| o.remove("location"));
        assert_eq!(
            validate_put(b.to_string().as_bytes(), None)
                .expect_err("loc")
                .code,
            "LocationRequired"
        );
    }

    #[test]
    fn patch_accepts_tags_and_three_properties_only() {
        let ok = validate_patch(br#"{"tags":{"a":"b"},"properties":{"distribution":"k3s"}}"#)
            .expect("ok");
        assert_eq!(ok.tags.map(|t| t.len()), Some(1));
        let e = validate_patch(br#"{"properties":{"oidcIssuerProfile":{"enabled":true}}}"#)
            .expect_err("not patchable");
        assert!(e.message.contains("'properties.oidcIssuerProfile'"));
        assert!(validate_patch(br#"{"identity":{"type":"None"}}"#).is_err());
    }
}

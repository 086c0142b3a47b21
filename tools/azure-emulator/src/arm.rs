//! Azure Resource Manager for `Microsoft.Kubernetes/connectedClusters`:
//! bearer-token checks (issued here, unexpired, audience = the ARM endpoint,
//! tenant = the subscription's), `api-version`, routing, GET / PUT (an LRO) /
//! PATCH (tags and three properties, synchronous) / list, operation status,
//! ARM error bodies and `x-ms-*` headers.

use serde_json::{json, Value};

use crate::cluster::{validate_patch, validate_put, Cluster, ClusterSpec, Rejection};
use crate::faults::FaultKind;
use crate::http::{Request, Response};
use crate::lro::{self, Operation, Previous};
use crate::state::{cluster_key, Shared, State};
use crate::tokens::{same_resource, TokenInfo};
use crate::util::{arm_clock, guid, normalize_location, now_secs};

pub fn is_arm_path(req: &Request) -> bool {
    if req.scheme != "https" {
        return false;
    }
    let p = req.path.to_ascii_lowercase();
    p.starts_with("/subscriptions/") || p.starts_with("/providers/")
}

pub fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

pub fn error_response(status: u16, code: &str, message: &str) -> Response {
    Response::json(status, &error_body(code, message))
}

fn rejection(r: Rejection) -> Response {
    error_response(r.status, r.code, &r.message)
}

/// The code ARM typically puts in an error with this status.
pub fn default_error_for_status(status: u16) -> (String, String) {
    let (code, message) = match status {
        400 => ("BadRequest", "The request is invalid."),
        401 => ("AuthenticationFailed", "Authentication failed."),
        403 => (
            "AuthorizationFailed",
            "The client does not have authorization to perform this action.",
        ),
        404 => ("NotFound", "The requested resource was not found."),
        408 => ("RequestTimeout", "The request timed out."),
        409 => ("Conflict", "The request conflicts with the current state."),
        429 => (
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type.",
        ),
        500 => ("InternalServerError", "Encountered internal server error."),
        502 => ("BadGateway", "The gateway received an invalid response."),
        503 => (
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
        ),
        504 => (
            "GatewayTimeout",
            "The gateway did not receive a response within the specified time period.",
        ),
        _ => ("Error", "The request failed."),
    };
    (code.to_string(), message.to_string())
}

/// ARM puts these on every response.
pub fn decorate(req: &Request, mut response: Response) -> Response {
    let correlation = req
        .header("x-ms-correlation-request-id")
        .map(str::to_string)
        .unwrap_or_else(guid);
    if !response.has_header("x-ms-request-id") {
        response = response.with_header("x-ms-request-id", guid());
    }
    if !response.has_header("x-ms-correlation-request-id") {
        response = response.with_header("x-ms-correlation-request-id", correlation);
    }
    if !response.has_header("cache-control") {
        response = response.with_header("cache-control", "no-cache");
    }
    response
}

enum Route {
    Cluster {
        sub: String,
        rg: String,
        name: String,
    },
    ClusterList {
        sub: String,
        rg: String,
    },
    Operation {
        sub: String,
        location: String,
        id: String,
    },
    Unknown {
        sub: Option<String>,
    },
}

fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    match l.as_slice() {
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.kubernetes", "connectedclusters", _] => {
            Route::Cluster {
                sub: segs[1].to_string(),
                rg: segs[3].to_string(),
                name: segs[7].to_string(),
            }
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.kubernetes", "connectedclusters"] => {
            Route::ClusterList {
                sub: segs[1].to_string(),
                rg: segs[3].to_string(),
            }
        }
        ["subscriptions", _, "providers", "microsoft.kubernetes", "locations", _, "operationstatuses", _] => {
            Route::Operation {
                sub: segs[1].to_string(),
                location: segs[5].to_string(),
                id: segs[7].to_string(),
            }
        }
        ["subscriptions", _, ..] => Route::Unknown {
            sub: Some(segs[1].to_string()),
        },
        _ => Route::Unknown { sub: None },
    }
}

fn route_subscription(route: &Route) -> Option<&str> {
    match route {
        Route::Cluster { sub, .. }
        | Route::ClusterList { sub, .. }
        | Route::Operation { sub, .. } => Some(sub),
        Route::Unknown { sub } => sub.as_deref(),
    }
}

fn unauthorized(shared: &Shared, tenant: &str, code: &str, message: &str) -> Response {
    error_response(401, code, message).with_header(
        "www-authenticate",
        format!(
            "Bearer authorization_uri=\"{}/{tenant}\", error=\"invalid_token\", error_description=\"{message}\"",
            shared.config.https_url
        ),
    )
}

/// Checks the bearer token: issued by this emulator, unexpired, for ARM.
fn authenticate(
    shared: &Shared,
    state: &State,
    req: &Request,
    tenant_hint: &str,
) -> Result<TokenInfo, Response> {
    let Some(header) = req.header("authorization") else {
        return Err(unauthorized(
            shared,
            tenant_hint,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let token = match header.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            token.trim()
        }
        _ => return Err(unauthorized(
            shared,
            tenant_hint,
            "AuthenticationFailedInvalidHeader",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )),
    };
    let Some(info) = state.tokens.get(token) else {
        return Err(unauthorized(
            shared,
            tenant_hint,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ));
    };
    let now = now_secs();
    if info.expires_on <= now {
        return Err(unauthorized(
            shared,
            tenant_hint,
            "ExpiredAuthenticationToken",
            &format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                arm_clock(info.expires_on),
                arm_clock(now)
            ),
        ));
    }
    let arm = shared.config.arm_endpoint();
    if !same_resource(&info.audience, arm) {
        return Err(unauthorized(
            shared,
            tenant_hint,
            "InvalidAuthenticationTokenAudience",
            &format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences '{arm}/','{arm}'.",
                info.audience
            ),
        ));
    }
    Ok(info.clone())
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    let route = parse_route(&req.path);
    let mut state = shared.lock();
    let sub_tenant = route_subscription(&route).and_then(|s| state.subscription_tenant(s));
    let tenant_hint = sub_tenant.clone().unwrap_or_else(|| "common".to_string());
    let token = match authenticate(shared, &state, req, &tenant_hint) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let Some(api_version) = req.query_param("api-version").filter(|v| !v.is_empty()) else {
        return error_response(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    if let Some(sub) = route_subscription(&route) {
        let Some(tenant) = &sub_tenant else {
            return error_response(
                404,
                "SubscriptionNotFound",
                &format!("The subscription '{sub}' could not be found."),
            );
        };
        if !tenant.eq_ignore_ascii_case(&token.tenant) {
            return unauthorized(
                shared,
                tenant,
                "InvalidAuthenticationTokenTenant",
                &format!(
                    "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{tenant}' to get the token.",
                    token.tenant
                ),
            );
        }
    }
    if !matches!(route, Route::Unknown { .. }) && !shared.config.api_versions.contains(&api_version)
    {
        return error_response(
            400,
            "NoRegisteredProviderFound",
            &format!(
                "No registered resource provider found for location 'global' and API version '{api_version}' for type 'connectedClusters'. The supported api-versions are '{}'.",
                shared.config.api_versions.join(", ")
            ),
        );
    }
    if matches!(req.method.as_str(), "PUT" | "PATCH") {
        let content_type = req.header("content-type").unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return error_response(
                415,
                "UnsupportedMediaType",
                &format!("The content media type '{media}' is not supported. Only 'application/json' is supported."),
            );
        }
    }
    match route {
        Route::Cluster { sub, rg, name } => match req.method.as_str() {
            "GET" => get_cluster(&mut state, &sub, &rg, &name),
            "PUT" => put_cluster(shared, &mut state, req, &token, &api_version, (&sub, &rg, &name)),
            "PATCH" => patch_cluster(&mut state, req, &token, &sub, &rg, &name),
            other => error_response(
                405,
                "MethodNotAllowed",
                &format!("The HTTP method '{other}' is not supported by the Azure emulator for this resource."),
            ),
        },
        Route::ClusterList { sub, rg } if req.method == "GET" => list_clusters(&state, &sub, &rg),
        Route::Operation { sub, location, id } if req.method == "GET" => {
            get_operation(&mut state, &sub, &location, &id)
        }
        _ => error_response(
            404,
            "InvalidResourceType",
            &format!("The resource type for '{}' could not be found.", req.path),
        ),
    }
}

fn not_found(state: &State, sub: &str, rg: &str, name: &str) -> Response {
    if !state.resource_group_exists(sub, rg) {
        return error_response(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        );
    }
    error_response(
        404,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.Kubernetes/connectedClusters/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"),
    )
}

fn get_cluster(state: &mut State, sub: &str, rg: &str, name: &str) -> Response {
    let key = cluster_key(sub, rg, name);
    if !state.clusters.contains_key(&key) {
        return not_found(state, sub, rg, name);
    }
    lro::on_resource_read(state, &key);
    match state.clusters.get(&key) {
        Some(c) => Response::json(200, &c.render()),
        None => not_found(state, sub, rg, name),
    }
}

fn list_clusters(state: &State, sub: &str, rg: &str) -> Response {
    if !state.resource_group_exists(sub, rg) {
        return error_response(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        );
    }
    let (s, r) = (sub.to_ascii_lowercase(), rg.to_ascii_lowercase());
    let value: Vec<Value> = state
        .clusters
        .iter()
        .filter(|((cs, cr, _), _)| *cs == s && *cr == r)
        .map(|(_, c)| c.render())
        .collect();
    Response::json(200, &json!({ "value": value }))
}

fn conflict(name: &str, verb: &str) -> Response {
    error_response(
        409,
        "AnotherOperationInProgress",
        &format!("Operation '{verb}' on connected cluster '{name}' is not allowed because another operation is in progress. Retry after it completes."),
    )
}

fn put_cluster(
    shared: &Shared,
    state: &mut State,
    req: &Request,
    token: &TokenInfo,
    api_version: &str,
    (sub, rg, name): (&str, &str, &str),
) -> Response {
    let key = cluster_key(sub, rg, name);
    let current = state
        .clusters
        .get(&key)
        .map(|c| c.provisioning_state.clone());
    let body = match validate_put(&req.body, current.as_deref()) {
        Ok(b) => b,
        Err(r) => return rejection(r),
    };
    if body.wi_enabled && !body.oidc_enabled {
        return error_response(
            400,
            "InvalidRequestContent",
            "Workload identity requires the OIDC issuer: set properties.oidcIssuerProfile.enabled to true when properties.securityProfile.workloadIdentity.enabled is true.",
        );
    }
    let creating = !state.clusters.contains_key(&key);
    if creating && !state.resource_group_exists(sub, rg) {
        return error_response(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        );
    }
    if let Some(existing) = state.clusters.get(&key) {
        if existing.pending_operation.is_some() {
            return conflict(&existing.name, "put");
        }
        if let Err(response) = check_update(existing, &body) {
            return response;
        }
    } else {
        let tenant = state
            .subscription_tenant(sub)
            .unwrap_or_else(|| token.tenant.clone());
        let spec = ClusterSpec {
            subscription: sub.to_string(),
            resource_group: rg.to_string(),
            name: name.to_string(),
            location: body.location.clone(),
            tenant: tenant.clone(),
            kind: body.kind.clone(),
            ..ClusterSpec::default()
        };
        let default_issuer = format!("{}/oidc/{tenant}/{}/", shared.config.https_url, guid());
        let mut cluster = Cluster::from_spec(&spec, default_issuer, guid());
        cluster.oidc_enabled = false;
        cluster.wi_enabled = false;
        state.clusters.insert(key.clone(), cluster);
    }
    let faults = state
        .faults
        .take_all(&req.method, &req.path_and_query, FaultKind::is_lro_level);
    let Some(cluster) = state.clusters.get_mut(&key) else {
        return not_found(state, sub, rg, name);
    };
    let previous = Previous {
        writable: cluster.writable.clone(),
        tags: cluster.tags.clone(),
        identity_type: cluster.identity_type.clone(),
        oidc_enabled: cluster.oidc_enabled,
        wi_enabled: cluster.wi_enabled,
    };
    cluster.writable = body.writable;
    cluster.tags = body.tags;
    cluster.identity_type = body.identity_type;
    cluster.oidc_enabled = body.oidc_enabled;
    cluster.wi_enabled = body.wi_enabled;
    cluster.provisioning_state = if creating { "Accepted" } else { "Updating" }.to_string();
    cluster.agent = crate::cluster::AgentState::Updating { reads_left: 0 };
    cluster.modified_at = now_secs();
    cluster.modified_by = token.subject.clone();
    let op = Operation::new(
        &cluster.subscription,
        &normalize_location(&cluster.location),
        key.clone(),
        cluster.lro_polls_before_done,
        &faults,
        previous,
    );
    cluster.pending_operation = Some(op.id.clone());
    let status = if creating { 201 } else { cluster.put_status };
    let mut response = Response::json(status, &cluster.render())
        .with_header("retry-after", cluster.retry_after_secs.to_string());
    if cluster.async_operation_header {
        response = response.with_header(
            "azure-asyncoperation",
            format!(
                "{}{}?api-version={api_version}",
                shared.config.https_url,
                op.path()
            ),
        );
    }
    state.operations.insert(op.id.clone(), op);
    response
}

/// What the resource provider refuses on an update.
fn check_update(existing: &Cluster, body: &crate::cluster::PutBody) -> Result<(), Response> {
    if normalize_location(&existing.location) != normalize_location(&body.location) {
        return Err(error_response(
            400,
            "InvalidResourceLocation",
            &format!(
                "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{}'. Please select a new resource name.",
                existing.name,
                normalize_location(&existing.location),
                existing.resource_group,
                normalize_location(&body.location)
            ),
        ));
    }
    let kind_now = existing.kind.as_deref().unwrap_or("");
    let kind_new = body.kind.as_deref().unwrap_or("");
    if !kind_now.eq_ignore_ascii_case(kind_new) {
        return Err(error_response(
            400,
            "PropertyChangeNotAllowed",
            &format!("Changing property 'kind' is not allowed (current '{kind_now}', requested '{kind_new}')."),
        ));
    }
    if existing.writable.get("agentPublicKeyCertificate")
        != body.writable.get("agentPublicKeyCertificate")
    {
        return Err(error_response(
            400,
            "PropertyChangeNotAllowed",
            "Changing property 'properties.agentPublicKeyCertificate' is not allowed: it must be the certificate the cluster's agents were onboarded with.",
        ));
    }
    if existing.is_provisioned_cluster()
        && (existing.oidc_enabled != body.oidc_enabled || existing.wi_enabled != body.wi_enabled)
    {
        return Err(error_response(
            400,
            "OperationNotAllowed",
            &format!(
                "The OIDC issuer and workload identity of connected cluster '{}' of kind 'ProvisionedCluster' cannot be changed after creation: they can only be set when the cluster is created (az aksarc create --enable-oidc-issuer --enable-workload-identity).",
                existing.name
            ),
        ));
    }
    Ok(())
}

fn patch_cluster(
    state: &mut State,
    req: &Request,
    token: &TokenInfo,
    sub: &str,
    rg: &str,
    name: &str,
) -> Response {
    let key = cluster_key(sub, rg, name);
    if !state.clusters.contains_key(&key) {
        return not_found(state, sub, rg, name);
    }
    let patch = match validate_patch(&req.body) {
        Ok(p) => p,
        Err(r) => return rejection(r),
    };
    let Some(cluster) = state.clusters.get_mut(&key) else {
        return not_found(state, sub, rg, name);
    };
    if cluster.pending_operation.is_some() {
        return conflict(&cluster.name, "patch");
    }
    if let Some(tags) = patch.tags {
        cluster.tags = tags;
    }
    for (k, v) in patch.properties {
        if v.is_null() {
            cluster.writable.remove(&k);
        } else {
            cluster.writable.insert(k, v);
        }
    }
    cluster.modified_at = now_secs();
    cluster.modified_by = token.subject.clone();
    Response::json(200, &cluster.render())
}

fn get_operation(state: &mut State, sub: &str, location: &str, id: &str) -> Response {
    let found = state.operations.get(id).is_some_and(|op| {
        op.subscription.eq_ignore_ascii_case(sub) && op.location == normalize_location(location)
    });
    if !found {
        return error_response(
            404,
            "OperationNotFound",
            &format!("The operation '{id}' could not be found."),
        );
    }
    lro::poll(state, id);
    let Some(op) = state.operations.get(id) else {
        return error_response(
            404,
            "OperationNotFound",
            "The operation could not be found.",
        );
    };
    let mut response = Response::json(200, &op.render());
    if !op.done {
        let retry = state
            .clusters
            .get(&op.cluster)
            .map_or(1, |c| c.retry_after_secs);
        response = response.with_header("retry-after", retry.to_string());
    }
    response
}

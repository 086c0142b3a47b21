//! Azure VM IMDS managed-identity endpoint (plain HTTP, no challenge):
//! `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
//! with `Metadata: true`; the token's numbers come as strings. Like the real
//! service it refuses proxied requests (`X-Forwarded-For`).

use serde_json::json;

use crate::http::{Request, Response};
use crate::state::Shared;
use crate::tokens::known_resource;

/// api-versions of the IMDS identity endpoint (2018-02-01 is what clients use).
pub const API_VERSIONS: &[&str] = &["2018-02-01", "2019-08-01", "2019-11-01"];

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// The answer on a machine without any managed identity.
pub fn no_identity() -> Response {
    oauth_error(400, "invalid_request", "Identity not found")
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    if req.method != "GET" {
        return oauth_error(405, "invalid_request", "Only GET is supported.");
    }
    if req.header("x-forwarded-for").is_some() {
        return oauth_error(
            400,
            "invalid_request",
            "Requests through a proxy (X-Forwarded-For) are not allowed.",
        );
    }
    if req.header("metadata") != Some("true") {
        return oauth_error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    let version = req.query_param("api-version").unwrap_or_default();
    if !API_VERSIONS.contains(&version.as_str()) {
        return oauth_error(
            400,
            "invalid_request",
            &format!("Invalid API version '{version}'."),
        );
    }
    let Some(resource) = req.query_param("resource").filter(|r| !r.is_empty()) else {
        return oauth_error(
            400,
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    let mut state = shared.lock();
    let Some(tenant) = state.vm_identity_tenant.clone() else {
        return no_identity();
    };
    if !known_resource(shared.config.arm_endpoint(), &resource) {
        return oauth_error(
            400,
            "invalid_resource",
            &format!("AADSTS500011: The resource principal named {resource} was not found in the tenant named {tenant}."),
        );
    }
    let client_id = format!("vm-identity-{tenant}");
    let issued = state
        .tokens
        .issue(&tenant, &resource, &client_id, shared.config.token_lifetime);
    drop(state);
    Response::json(
        200,
        &json!({
            "access_token": issued.access_token,
            "client_id": client_id,
            "expires_in": issued.expires_in.to_string(),
            "expires_on": issued.expires_on.to_string(),
            "ext_expires_in": issued.expires_in.to_string(),
            "not_before": issued.not_before.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

//! Entra ID v2 token endpoint, `POST /{tenant}/oauth2/v2.0/token`, for the
//! client-credentials grant: client secret, certificate assertion (verified
//! for real, see `jwt`) or a workload-identity federated assertion. Errors
//! have Entra's shape: `{"error","error_description":"AADSTSnnn: …",
//! "error_codes":[n],"timestamp","trace_id","correlation_id","error_uri"}`.

use serde_json::json;

use crate::http::{Request, Response};
use crate::jwt;
use crate::state::Shared;
use crate::tokens::known_resource;
use crate::util::{aad_timestamp, guid, now_secs};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `/{tenant}/oauth2/v2.0/token`
pub fn is_token_path(path: &str) -> bool {
    token_tenant(path).is_some()
}

fn token_tenant(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (tenant, tail) = rest.split_once('/')?;
    (tail == "oauth2/v2.0/token" && !tenant.is_empty()).then_some(tenant)
}

struct AadError {
    status: u16,
    error: &'static str,
    code: u32,
    text: String,
}

fn aad(status: u16, error: &'static str, code: u32, text: impl Into<String>) -> AadError {
    AadError {
        status,
        error,
        code,
        text: text.into(),
    }
}

fn error_response(shared: &Shared, req: &Request, e: AadError) -> Response {
    let now = now_secs();
    let trace = guid();
    let correlation = req
        .header("client-request-id")
        .map(str::to_string)
        .unwrap_or_else(guid);
    let ts = aad_timestamp(now);
    let body = json!({
        "error": e.error,
        "error_description": format!(
            "AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {ts}",
            e.code, e.text
        ),
        "error_codes": [e.code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("{}/error?code={}", shared.config.https_url, e.code),
    });
    with_headers(Response::json(e.status, &body), req)
}

fn with_headers(response: Response, req: &Request) -> Response {
    let mut response = response
        .with_header("cache-control", "no-store, no-cache")
        .with_header("pragma", "no-cache")
        .with_header("x-ms-request-id", guid());
    if let Some(id) = req.header("client-request-id") {
        response = response.with_header("client-request-id", id);
    }
    response
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    match token(shared, req) {
        Ok(response) => response,
        Err(e) => error_response(shared, req, e),
    }
}

fn token(shared: &Shared, req: &Request) -> Result<Response, AadError> {
    let tenant = token_tenant(&req.path).unwrap_or_default().to_string();
    if req.method != "POST" {
        return Err(aad(
            400,
            "invalid_request",
            900561,
            format!(
                "The endpoint only accepts POST requests. Received a {} request.",
                req.method
            ),
        ));
    }
    let form = req.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let required = |name: &str| {
        field(name).ok_or_else(|| {
            aad(
                400,
                "invalid_request",
                900144,
                format!("The request body must contain the following parameter: '{name}'."),
            )
        })
    };
    let arm = shared.config.arm_endpoint();
    let mut state = shared.lock();
    if !state.tenant_known(&tenant) {
        return Err(aad(
            400,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ));
    }
    let grant_type = required("grant_type")?;
    if grant_type != "client_credentials" {
        return Err(aad(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id = required("client_id")?;
    let scope = required("scope")?;
    let Some(resource) = scope.strip_suffix("/.default") else {
        return Err(aad(
            400,
            "invalid_scope",
            1002012,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        ));
    };
    if scope.split_whitespace().count() != 1 || !known_resource(arm, resource) {
        return Err(aad(
            400,
            "invalid_resource",
            500011,
            format!("The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
        ));
    }
    let Some(app) = state.app(&tenant, client_id).cloned() else {
        return Err(aad(
            400,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        ));
    };
    let secret = field("client_secret");
    let assertion = field("client_assertion");
    match (secret, assertion) {
        (Some(_), Some(_)) => {
            return Err(aad(
                400,
                "invalid_request",
                700025,
                "Only one of 'client_secret' and 'client_assertion' may be presented.",
            ))
        }
        (None, None) => {
            return Err(aad(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ))
        }
        (Some(secret), None) => {
            if !app.secrets.iter().any(|s| s == secret) {
                return Err(aad(
                    401,
                    "invalid_client",
                    7000215,
                    format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
                ));
            }
        }
        (None, Some(assertion)) => {
            if field("client_assertion_type") != Some(JWT_BEARER) {
                return Err(aad(
                    400,
                    "invalid_request",
                    90014,
                    format!("The required field 'client_assertion_type' is missing or is not '{JWT_BEARER}'."),
                ));
            }
            if app.federated_tokens.iter().any(|t| t == assertion) {
                // Workload identity federation: a registered external token.
            } else if !app.certificates.is_empty() {
                let audience = format!("{}{}", shared.config.https_url, req.path);
                jwt::verify_certificate_assertion(
                    assertion,
                    client_id,
                    &audience,
                    &app.certificates,
                    now_secs() as i64,
                )
                .map_err(|e| aad(401, "invalid_client", e.aadsts, e.message))?;
            } else if !app.federated_tokens.is_empty() {
                return Err(aad(
                    401,
                    "invalid_client",
                    70021,
                    "No matching federated identity record found for presented assertion.",
                ));
            } else {
                return Err(aad(
                    401,
                    "invalid_client",
                    700027,
                    format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"),
                ));
            }
        }
    }
    let issued = state.tokens.issue(
        &app.tenant,
        resource,
        &app.client_id,
        shared.config.token_lifetime,
    );
    drop(state);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "ext_expires_in": issued.expires_in,
        "access_token": issued.access_token,
    });
    Ok(with_headers(Response::json(200, &body), req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_paths() {
        assert_eq!(token_tenant("/t1/oauth2/v2.0/token"), Some("t1"));
        assert_eq!(token_tenant("/t1/oauth2/token"), None);
        assert_eq!(token_tenant("//oauth2/v2.0/token"), None);
        assert_eq!(token_tenant("/a/b/oauth2/v2.0/token"), None);
    }
}

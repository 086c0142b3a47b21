//! Azure Arc HIMDS identity endpoint (`IDENTITY_ENDPOINT`, plain HTTP):
//! `GET /metadata/identity/oauth2/token?api-version=2020-06-01&resource=…`
//! with `Metadata: true`. Without `Authorization` it writes a random key to
//! `<root>/var/opt/azcmagent/tokens/<guid>.key` and answers 401 with
//! `WWW-Authenticate: Basic realm=/var/opt/azcmagent/tokens/<guid>.key`;
//! with `Authorization: Basic <that file's contents>` it answers the token,
//! `expires_in`/`expires_on`/`not_before` as strings like the real one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::http::{Request, Response};
use crate::state::{HimdsKey, Shared};
use crate::tokens::known_resource;
use crate::util::{guid, random_hex};

/// Where HIMDS keeps challenge keys, as the host sees it.
pub const TOKENS_DIR: &str = "/var/opt/azcmagent/tokens";

/// api-versions the Arc agent's identity endpoint accepts.
pub const API_VERSIONS: &[&str] = &["2019-08-15", "2019-11-01", "2020-06-01", "2021-02-01"];

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    if req.method != "GET" {
        return oauth_error(405, "invalid_request", "Only GET is supported.");
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
            &format!(
                "Invalid API version '{version}'. Supported: {}",
                API_VERSIONS.join(", ")
            ),
        );
    }
    let Some(resource) = req.query_param("resource").filter(|r| !r.is_empty()) else {
        return oauth_error(
            400,
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    let presented = req.header("authorization").and_then(|h| {
        let (scheme, value) = h.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("basic")
            .then(|| value.trim().to_string())
    });
    let mut state = shared.lock();
    let Some(tenant) = state.arc_identity_tenant.clone() else {
        return oauth_error(
            404,
            "not_found",
            "No managed identity is configured on this machine.",
        );
    };
    let valid = presented.as_deref().is_some_and(|secret| {
        state.himds_keys.iter().any(|k| {
            k.contents == secret
                && std::fs::read_to_string(&k.file).is_ok_and(|on_disk| on_disk == k.contents)
        })
    });
    if !valid {
        drop(state);
        return challenge(shared);
    }
    if !known_resource(shared.config.arm_endpoint(), &resource) {
        return oauth_error(
            400,
            "invalid_resource",
            &format!("AADSTS500011: The resource principal named {resource} was not found in the tenant named {tenant}."),
        );
    }
    let subject = format!("arc-identity-{tenant}");
    let issued = state
        .tokens
        .issue(&tenant, &resource, &subject, shared.config.token_lifetime);
    drop(state);
    Response::json(
        200,
        &json!({
            "access_token": issued.access_token,
            "expires_in": issued.expires_in.to_string(),
            "expires_on": issued.expires_on.to_string(),
            "ext_expires_in": issued.expires_in.to_string(),
            "not_before": issued.not_before.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

/// Writes a fresh key file and asks for it.
fn challenge(shared: &Shared) -> Response {
    let name = format!("{}.key", guid());
    let host_path = format!("{TOKENS_DIR}/{name}");
    let file = key_dir(&shared.config.root).join(&name);
    let contents = random_hex(32);
    if let Err(e) = write_key(&file, &contents) {
        return oauth_error(
            500,
            "server_error",
            &format!("cannot write the challenge key {}: {e}", file.display()),
        );
    }
    shared.lock().himds_keys.push(HimdsKey { file, contents });
    oauth_error(
        401,
        "unauthorized_client",
        "Authorization is required: read the key file named in WWW-Authenticate and send it as 'Authorization: Basic <key>'.",
    )
    .with_header("www-authenticate", format!("Basic realm={host_path}"))
}

/// `<root>/var/opt/azcmagent/tokens`
pub fn key_dir(root: &Path) -> PathBuf {
    root.join(TOKENS_DIR.trim_start_matches('/'))
}

fn write_key(file: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

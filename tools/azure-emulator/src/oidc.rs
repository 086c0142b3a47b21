//! OIDC discovery for the clusters' issuers: for a cluster with OIDC on and
//! `issuerUrl = https://127.0.0.1:PORT/<path>/`, serves
//! `GET /<path>/.well-known/openid-configuration` (no authentication) with
//! `issuer` = the issuer URL *without* its trailing slash (or the cluster's
//! `discovery_issuer` override), and `GET /<path>/openid/v1/jwks`.

use serde_json::json;

use crate::faults::FaultKind;
use crate::http::{Outcome, Request, Response};
use crate::state::Shared;

const DISCOVERY: &str = "/.well-known/openid-configuration";
const JWKS: &str = "/openid/v1/jwks";

pub fn is_oidc_path(path: &str) -> bool {
    path.ends_with(DISCOVERY) || path.ends_with(JWKS)
}

/// The path part of `url` when it is served by this emulator.
fn local_path<'a>(https_url: &str, url: &'a str) -> Option<&'a str> {
    let rest = url.strip_prefix(https_url)?;
    rest.starts_with('/').then_some(rest)
}

pub fn handle(shared: &Shared, req: &Request) -> Outcome {
    let mut state = shared.lock();
    if state
        .faults
        .take(&req.method, &req.path_and_query, |k| {
            matches!(k, FaultKind::DiscoveryUnreachable)
        })
        .is_some()
    {
        return Outcome::Close;
    }
    let (prefix, is_discovery) = match req.path.strip_suffix(DISCOVERY) {
        Some(p) => (p, true),
        None => (req.path.strip_suffix(JWKS).unwrap_or(""), false),
    };
    let https = &shared.config.https_url;
    let cluster = state.clusters.values().find(|c| {
        c.issuer_url
            .as_deref()
            .and_then(|u| local_path(https, u))
            .is_some_and(|p| p.strip_suffix('/').unwrap_or(p) == prefix)
    });
    let Some(cluster) = cluster else {
        return Outcome::Respond(Response::json(
            404,
            &json!({"error": "not_found", "error_description": "No OIDC issuer is served at this path."}),
        ));
    };
    if req.method != "GET" {
        return Outcome::Respond(Response::empty(405).with_header("allow", "GET"));
    }
    let issuer_url = cluster.issuer_url.clone().unwrap_or_default();
    let base = issuer_url
        .strip_suffix('/')
        .unwrap_or(&issuer_url)
        .to_string();
    let body = if is_discovery {
        let issuer = cluster.discovery_issuer.clone().unwrap_or(base.clone());
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{base}{JWKS}"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    } else {
        json!({"keys": []})
    };
    drop(state);
    Outcome::Respond(Response::json(200, &body))
}

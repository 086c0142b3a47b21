//! OIDC discovery: issuerUrl has a trailing slash, the document's issuer not.

mod common;

use azure_emulator::ClusterSpec;
use common::*;
use serde_json::Value;

#[tokio::test]
async fn discovery_issuer_has_no_trailing_slash() {
    let emu = start();
    emu.add_cluster(ClusterSpec {
        oidc_enabled: true,
        workload_identity_enabled: true,
        ..fast_spec()
    });
    let issuer_url = emu.cluster(SUB, RG, CLUSTER)["properties"]["oidcIssuerProfile"]["issuerUrl"]
        .as_str()
        .expect("issuerUrl")
        .to_string();
    assert!(issuer_url.ends_with('/'));
    let c = client(&emu);
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer_url.trim_end_matches('/')
    );
    let r = c.get(&url).send().await.expect("discovery");
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    let issuer = doc["issuer"].as_str().expect("issuer");
    assert_eq!(format!("{issuer}/"), issuer_url);
    let jwks = doc["jwks_uri"].as_str().expect("jwks_uri");
    let keys: Value = c
        .get(jwks)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert!(keys["keys"].is_array());
}

#[tokio::test]
async fn discovery_follows_the_oidc_flag_and_overrides() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    // OIDC off: no issuer, nothing served under /oidc/.
    let r = c
        .get(format!(
            "{}/oidc/{TENANT}/x/.well-known/openid-configuration",
            emu.https_url()
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);

    // A cluster whose discovery states a different issuer (for mismatch tests).
    let custom = format!("{}/custom/issuer/", emu.https_url());
    emu.add_cluster(ClusterSpec {
        name: "mismatch".into(),
        oidc_enabled: true,
        issuer_url: Some(custom.clone()),
        discovery_issuer: Some("https://elsewhere.example/issuer".into()),
        ..fast_spec()
    });
    let doc: Value = c
        .get(format!("{custom}.well-known/openid-configuration"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["issuer"], "https://elsewhere.example/issuer");
}

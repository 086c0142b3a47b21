//! Every fault kind, and the "next `times` matching requests" rule.

mod common;

use std::time::{Duration, Instant};

use azure_emulator::{ClusterSpec, Fault, FaultKind, Matcher, Method};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn status_faults_carry_arm_bodies_and_retry_after() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);

    emu.inject(Fault::new(
        Matcher::method_path(Method::GET, "/connectedClusters/"),
        FaultKind::throttled(429, 7),
        1,
    ));
    let (status, headers, body) = get(&c, &url, &token).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert!(headers.contains_key("x-ms-request-id"));
    assert_eq!(body["error"]["code"], "TooManyRequests");
    // Only once.
    assert_eq!(get(&c, &url, &token).await.0, 200);

    for code in [500u16, 502, 503, 504, 403, 404, 401] {
        emu.inject(Fault::new(
            Matcher::path("/connectedClusters/"),
            FaultKind::status(code),
            1,
        ));
        let (status, _, body) = get(&c, &url, &token).await;
        assert_eq!(status, code);
        assert!(body["error"]["code"].is_string(), "{code}: {body}");
    }

    emu.inject(Fault::new(
        Matcher::any(),
        FaultKind::arm_error(403, "AuthorizationFailed", "The client 'x' does not have authorization to perform action 'Microsoft.Kubernetes/connectedClusters/write'."),
        2,
    ));
    for _ in 0..2 {
        let (status, _, body) = get(&c, &url, &token).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "AuthorizationFailed");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connectedClusters/write")));
    }
    assert_eq!(get(&c, &url, &token).await.0, 200);
    assert_eq!(emu.pending_faults(), 0);

    // On the token endpoint: an OAuth-style body.
    emu.inject(Fault::new(
        Matcher::path("/oauth2/v2.0/token"),
        FaultKind::throttled(503, 1),
        1,
    ));
    let scope = scope(&emu);
    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 503);
    assert_eq!(b["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn close_connection_and_delay() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);

    emu.inject(Fault::new(
        Matcher::path("/connectedClusters/"),
        FaultKind::CloseConnection,
        1,
    ));
    let err = c
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect_err("connection closed");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(emu.requests().last().map(|r| r.status), Some(0));
    assert_eq!(
        get(&c, &url, &token).await.0,
        200,
        "the next request is served"
    );

    emu.inject(Fault::new(
        Matcher::path("/connectedClusters/"),
        FaultKind::Delay(Duration::from_millis(400)),
        1,
    ));
    let started = Instant::now();
    assert_eq!(get(&c, &url, &token).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A client with a shorter timeout gives up.
    emu.inject(Fault::new(
        Matcher::any(),
        FaultKind::Delay(Duration::from_secs(3)),
        1,
    ));
    let err = c
        .get(&url)
        .bearer_auth(&token)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout());
}

async fn run_put(emu: &azure_emulator::Emulator) -> (reqwest::Client, String, String) {
    let c = client(emu);
    let token = arm_token(&c, emu).await;
    let url = cluster_url(emu);
    let (_, _, before) = get(&c, &url, &token).await;
    let (status, headers, _) = put(&c, &url, &token, &enable_body(&before)).await;
    assert_eq!(status, 201);
    let op = headers["azure-asyncoperation"]
        .to_str()
        .expect("ascii")
        .to_string();
    (c, token, op)
}

#[tokio::test]
async fn lro_failed_reverts_the_resource() {
    let emu = start();
    emu.add_cluster(ClusterSpec {
        lro_polls_before_done: 1,
        ..fast_spec()
    });
    emu.inject(Fault::new(
        Matcher::any(),
        FaultKind::LroFailed {
            code: "ExtensionOperationFailed".into(),
            message: "The workload identity webhook failed to install.".into(),
        },
        1,
    ));
    let (c, token, op) = run_put(&emu).await;
    assert_eq!(get(&c, &op, &token).await.2["status"], "InProgress");
    let (_, _, body) = get(&c, &op, &token).await;
    assert_eq!(body["status"], "Failed");
    assert_eq!(body["error"]["code"], "ExtensionOperationFailed");
    assert!(body["error"]["message"].is_string());
    let (_, _, r) = get(&c, &cluster_url(&emu), &token).await;
    assert_eq!(r["properties"]["provisioningState"], "Failed");
    assert_eq!(r["properties"]["oidcIssuerProfile"]["enabled"], false);
    assert!(r["properties"]["oidcIssuerProfile"]
        .get("issuerUrl")
        .is_none());
}

#[tokio::test]
async fn lro_canceled() {
    let emu = start();
    emu.add_cluster(fast_spec());
    emu.inject(Fault::new(
        Matcher::method_path(Method::PUT, "/connectedClusters/"),
        FaultKind::LroCanceled,
        1,
    ));
    let (c, token, op) = run_put(&emu).await;
    let (_, _, body) = get(&c, &op, &token).await;
    assert_eq!(body["status"], "Canceled");
    assert!(body["error"]["code"].is_string());
    let (_, _, r) = get(&c, &cluster_url(&emu), &token).await;
    assert_eq!(r["properties"]["provisioningState"], "Canceled");
}

#[tokio::test]
async fn agents_that_never_settle() {
    let emu = start();
    emu.add_cluster(fast_spec());
    emu.inject(Fault::new(Matcher::any(), FaultKind::AgentNeverSettles, 1));
    let (c, token, op) = run_put(&emu).await;
    assert_eq!(get(&c, &op, &token).await.2["status"], "Succeeded");
    for _ in 0..10 {
        let (_, _, r) = get(&c, &cluster_url(&emu), &token).await;
        assert_eq!(r["properties"]["provisioningState"], "Succeeded");
        assert_eq!(r["properties"]["arcAgentProfile"]["agentState"], "Updating");
    }
}

#[tokio::test]
async fn discovery_unreachable() {
    let emu = start();
    emu.add_cluster(ClusterSpec {
        oidc_enabled: true,
        workload_identity_enabled: true,
        ..fast_spec()
    });
    let issuer = emu.cluster(SUB, RG, CLUSTER)["properties"]["oidcIssuerProfile"]["issuerUrl"]
        .as_str()
        .expect("issuer")
        .to_string();
    let discovery = format!("{issuer}.well-known/openid-configuration");
    let c = client(&emu);
    emu.inject(Fault::new(
        Matcher::any(),
        FaultKind::DiscoveryUnreachable,
        1,
    ));
    // ARM requests do not consume it.
    let token = arm_token(&c, &emu).await;
    assert_eq!(get(&c, &cluster_url(&emu), &token).await.0, 200);
    assert!(c.get(&discovery).send().await.is_err());
    let r = c.get(&discovery).send().await.expect("served again");
    assert_eq!(r.status(), 200);
    let _: Value = r.json().await.expect("json");
}

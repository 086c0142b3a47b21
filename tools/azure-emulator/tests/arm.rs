//! ARM: authentication, api-version, routing errors, the resource shape, the
//! PUT → LRO → agents-settling flow, body validation, PATCH.

mod common;

use azure_emulator::{ClusterSpec, Credential};
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn token_is_required_and_checked() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let url = cluster_url(&emu);

    // No Authorization header.
    let r = c.get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(www.starts_with("Bearer authorization_uri="), "{www}");
    assert!(www.contains(TENANT), "tenant of the subscription in {www}");
    assert!(r.headers().contains_key("x-ms-request-id"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "AuthenticationFailed");

    // Not a bearer header.
    let r = c
        .get(&url)
        .header("authorization", "Basic abc")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "AuthenticationFailedInvalidHeader");

    // A token the emulator never issued.
    let (status, _, body) = get(&c, &url, "eyJhbGciOiJub25lIn0.e30.forged").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );

    // A token for another audience.
    let (s, body) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", "https://vault.azure.net/.default"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let vault = body["access_token"].as_str().expect("token");
    let (status, _, body) = get(&c, &url, vault).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenAudience");

    // A valid token works, both audience spellings.
    let token = arm_token(&c, &emu).await;
    let (status, _, _) = get(&c, &url, &token).await;
    assert_eq!(status, 200);
    let slash_scope = format!("{}//.default", emu.https_url());
    let (_, body) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &slash_scope),
        ],
    )
    .await;
    let (status, _, _) = get(&c, &url, body["access_token"].as_str().expect("t")).await;
    assert_eq!(status, 200);

    // Expired.
    emu.expire_tokens();
    let (status, _, body) = get(&c, &url, &token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "ExpiredAuthenticationToken");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("is earlier than current UTC time")));
}

#[tokio::test]
async fn token_from_another_tenant_is_refused() {
    let emu = start();
    emu.add_cluster(fast_spec());
    emu.add_service_principal("other-tenant", "other-app", Credential::Secret("x".into()))
        .expect("sp");
    let c = client(&emu);
    let scope = scope(&emu);
    let (_, body) = token_request(
        &c,
        &emu,
        "other-tenant",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "other-app"),
            ("client_secret", "x"),
            ("scope", &scope),
        ],
    )
    .await;
    let token = body["access_token"].as_str().expect("token");
    let (status, _, body) = get(&c, &cluster_url(&emu), token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenTenant");
}

#[tokio::test]
async fn api_version_and_not_found_errors() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let base = format!(
        "{}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters",
        emu.https_url()
    );

    let (status, headers, body) = get(&c, &format!("{base}/{CLUSTER}"), &token).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "MissingApiVersionParameter");
    assert!(headers.contains_key("x-ms-correlation-request-id"));

    let (status, _, body) = get(
        &c,
        &format!("{base}/{CLUSTER}?api-version=2099-01-01"),
        &token,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "NoRegisteredProviderFound");

    let (status, _, body) = get(&c, &format!("{base}/nope?api-version={API}"), &token).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("'Microsoft.Kubernetes/connectedClusters/nope'")));

    let other_rg = format!(
        "{}/subscriptions/{SUB}/resourceGroups/missing-rg/providers/Microsoft.Kubernetes/connectedClusters/{CLUSTER}?api-version={API}",
        emu.https_url()
    );
    let (status, _, body) = get(&c, &other_rg, &token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound"))
    );

    let other_sub = format!(
        "{}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters/{CLUSTER}?api-version={API}",
        emu.https_url()
    );
    let (status, _, body) = get(&c, &other_sub, &token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("SubscriptionNotFound"))
    );

    // Path segments and names are case-insensitive, as in ARM.
    let lower = format!(
        "{}/subscriptions/{SUB}/resourcegroups/EDGE-RG/providers/microsoft.kubernetes/connectedclusters/Edge-Cluster?api-version={API}",
        emu.https_url()
    );
    let (status, _, body) = get(&c, &lower, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], CLUSTER);

    // List.
    let (status, _, body) = get(&c, &format!("{base}?api-version={API}"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn get_returns_the_published_shape_and_echoes_correlation_id() {
    let emu = start();
    let id = emu.add_cluster(ClusterSpec {
        kind: Some("ProvisionedCluster".into()),
        oidc_enabled: true,
        workload_identity_enabled: true,
        ..fast_spec()
    });
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let r = c
        .get(cluster_url(&emu))
        .bearer_auth(&token)
        .header("x-ms-correlation-request-id", "corr-123")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-correlation-request-id"], "corr-123");
    assert!(r.headers().contains_key("x-ms-request-id"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["name"], CLUSTER);
    assert_eq!(body["type"], "Microsoft.Kubernetes/connectedClusters");
    assert_eq!(body["location"], "eastus");
    assert_eq!(body["kind"], "ProvisionedCluster");
    assert_eq!(body["identity"]["type"], "SystemAssigned");
    assert_eq!(body["identity"]["tenantId"], TENANT);
    assert!(body["systemData"]["createdAt"].is_string());
    let p = &body["properties"];
    for key in [
        "provisioningState",
        "agentPublicKeyCertificate",
        "kubernetesVersion",
        "totalNodeCount",
        "agentVersion",
        "connectivityStatus",
        "distribution",
        "infrastructure",
    ] {
        assert!(!p[key].is_null(), "properties.{key} missing in {p}");
    }
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(p["arcAgentProfile"]["agentState"], "Succeeded");
    assert_eq!(p["arcAgentProfile"]["agentAutoUpgrade"], "Enabled");
    assert!(p["arcAgentProfile"]["agentErrors"].is_array());
    assert!(p["arcAgentProfile"]["systemComponents"].is_array());
    assert!(p["arcAgentProfile"]["desiredAgentVersion"].is_string());
    assert_eq!(p["securityProfile"]["workloadIdentity"]["enabled"], true);
    assert_eq!(p["oidcIssuerProfile"]["enabled"], true);
    let issuer = p["oidcIssuerProfile"]["issuerUrl"]
        .as_str()
        .expect("issuerUrl");
    assert!(issuer.starts_with(&format!("{}/oidc/{TENANT}/", emu.https_url())));
    assert!(issuer.ends_with('/'));
    // Library view agrees.
    assert_eq!(
        emu.cluster(SUB, RG, CLUSTER)["properties"]["oidcIssuerProfile"]["issuerUrl"],
        issuer
    );
    assert!(emu.cluster(SUB, RG, "nope").is_null());
}

#[tokio::test]
async fn put_runs_an_lro_then_agents_settle() {
    let emu = start();
    emu.add_cluster(ClusterSpec {
        lro_polls_before_done: 2,
        agent_state_reads_before_settled: 2,
        ..fast_spec()
    });
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);
    let (_, _, before) = get(&c, &url, &token).await;
    assert_eq!(before["properties"]["oidcIssuerProfile"]["enabled"], false);
    assert!(before["properties"]["oidcIssuerProfile"]
        .get("issuerUrl")
        .is_none());

    let (status, headers, body) = put(&c, &url, &token, &enable_body(&before)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["provisioningState"], "Updating");
    assert_eq!(body["properties"]["oidcIssuerProfile"]["enabled"], true);
    assert_eq!(headers["retry-after"], "0");
    let op_url = headers["azure-asyncoperation"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        op_url.starts_with(&format!(
        "{}/subscriptions/{SUB}/providers/Microsoft.Kubernetes/locations/eastus/operationStatuses/",
        emu.https_url()
    )),
        "{op_url}"
    );
    assert!(op_url.ends_with(&format!("?api-version={API}")));

    // A second PUT while the operation runs conflicts.
    let (status, _, body) = put(&c, &url, &token, &enable_body(&before)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("AnotherOperationInProgress"))
    );

    for _ in 0..2 {
        let (status, headers, op) = get(&c, &op_url, &token).await;
        assert_eq!(status, 200);
        assert_eq!(op["status"], "InProgress");
        assert_eq!(headers["retry-after"], "0");
    }
    let (_, _, op) = get(&c, &op_url, &token).await;
    assert_eq!(op["status"], "Succeeded");
    assert!(op.get("error").is_none());
    assert!(op["endTime"].is_string());
    let op_id = op_url
        .split('/')
        .next_back()
        .and_then(|s| s.split('?').next())
        .expect("id");
    assert_eq!(op["name"], op_id);

    let mut states = Vec::new();
    for _ in 0..4 {
        let (_, _, r) = get(&c, &url, &token).await;
        assert_eq!(r["properties"]["provisioningState"], "Succeeded");
        assert_eq!(
            r["properties"]["securityProfile"]["workloadIdentity"]["enabled"],
            true
        );
        assert!(r["properties"]["oidcIssuerProfile"]["issuerUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with('/')));
        states.push(
            r["properties"]["arcAgentProfile"]["agentState"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(states, ["Updating", "Updating", "Succeeded", "Succeeded"]);
}

#[tokio::test]
async fn without_async_header_the_resource_is_polled() {
    let emu = start();
    emu.add_cluster(ClusterSpec {
        lro_polls_before_done: 1,
        async_operation_header: false,
        put_status: 200,
        ..fast_spec()
    });
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);
    let (_, _, before) = get(&c, &url, &token).await;
    let (status, headers, _) = put(&c, &url, &token, &enable_body(&before)).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("azure-asyncoperation"));
    let (_, _, r) = get(&c, &url, &token).await;
    assert_eq!(r["properties"]["provisioningState"], "Updating");
    let (_, _, r) = get(&c, &url, &token).await;
    assert_eq!(r["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        r["properties"]["arcAgentProfile"]["agentState"],
        "Succeeded"
    );
}

#[tokio::test]
async fn read_only_properties_are_rejected_by_name() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);
    let (_, _, resource) = get(&c, &url, &token).await;

    // The GET body as-is, flags flipped: read-only fields still in it.
    let mut naive = resource.clone();
    naive["properties"]["oidcIssuerProfile"]["enabled"] = json!(true);
    naive["properties"]["securityProfile"]["workloadIdentity"]["enabled"] = json!(true);
    let (status, _, body) = put(&c, &url, &token, &naive).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "InvalidRequestContent");
    let msg = body["error"]["message"].as_str().expect("message");
    for p in [
        "'id'",
        "'systemData'",
        "'properties.agentVersion'",
        "'identity.principalId'",
    ] {
        assert!(msg.contains(p), "{p} in {msg}");
    }

    // One read-only field alone is named.
    let mut one = enable_body(&resource);
    one["properties"]["oidcIssuerProfile"]["issuerUrl"] = json!("https://x/");
    let (status, _, body) = put(&c, &url, &token, &one).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("'properties.oidcIssuerProfile.issuerUrl'")));

    // provisioningState follows ARM's RPC: a value that differs from the
    // server's is refused...
    let mut stale = enable_body(&resource);
    stale["properties"]["provisioningState"] = json!("Updating");
    let (status, _, body) = put(&c, &url, &token, &stale).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("'properties.provisioningState'")));

    // Nothing changed.
    assert_eq!(
        emu.cluster(SUB, RG, CLUSTER)["properties"]["oidcIssuerProfile"]["enabled"],
        false
    );

    // ...and the server's own value is ignored.
    let mut same = enable_body(&resource);
    same["properties"]["provisioningState"] = json!("Succeeded");
    let (status, _, body) = put(&c, &url, &token, &same).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn put_body_is_validated_like_the_rp() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);
    let (_, _, resource) = get(&c, &url, &token).await;
    let good = enable_body(&resource);

    let cases: Vec<(Value, &str, &str)> = vec![
        (json!([1, 2]), "InvalidRequestContent", "JSON object"),
        (
            {
                let mut b = good.clone();
                b.as_object_mut().map(|o| o.remove("location"));
                b
            },
            "LocationRequired",
            "location",
        ),
        (
            {
                let mut b = good.clone();
                b.as_object_mut().map(|o| o.remove("identity"));
                b
            },
            "InvalidRequestContent",
            "'identity'",
        ),
        (
            {
                let mut b = good.clone();
                b["properties"]
                    .as_object_mut()
                    .map(|o| o.remove("agentPublicKeyCertificate"));
                b
            },
            "InvalidRequestContent",
            "agentPublicKeyCertificate",
        ),
        (
            {
                let mut b = good.clone();
                b["location"] = json!("westeurope");
                b
            },
            "InvalidResourceLocation",
            "westeurope",
        ),
        (
            {
                let mut b = good.clone();
                b["properties"]["agentPublicKeyCertificate"] = json!("AAAA");
                b
            },
            "PropertyChangeNotAllowed",
            "agentPublicKeyCertificate",
        ),
        (
            {
                let mut b = good.clone();
                b["properties"]["oidcIssuerProfile"]["enabled"] = json!(false);
                b
            },
            "InvalidRequestContent",
            "OIDC issuer",
        ),
        (
            {
                let mut b = good.clone();
                b["properties"]["oidcIssuerProfile"]["enabled"] = json!("yes");
                b
            },
            "InvalidRequestContent",
            "boolean",
        ),
    ];
    for (body, code, needle) in cases {
        let (status, _, err) = put(&c, &url, &token, &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["code"], code, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle)),
            "{needle} in {err}"
        );
    }
    // ARM wants JSON.
    let r = c
        .put(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 415);
    let err: Value = r.json().await.expect("json");
    assert_eq!(err["error"]["code"], "UnsupportedMediaType");

    // "East US" is the same location as "eastus".
    let mut spaced = good.clone();
    spaced["location"] = json!("East US");
    let (status, _, _) = put(&c, &url, &token, &spaced).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn provisioned_cluster_refuses_oidc_changes() {
    let emu = start();
    emu.add_cluster(ClusterSpec {
        kind: Some("ProvisionedCluster".into()),
        ..fast_spec()
    });
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);
    let (_, _, resource) = get(&c, &url, &token).await;
    let (status, _, body) = put(&c, &url, &token, &enable_body(&resource)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "OperationNotAllowed");
    let msg = body["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("ProvisionedCluster") && msg.contains("creat"),
        "{msg}"
    );
    assert!(msg.contains("az aksarc create --enable-oidc-issuer --enable-workload-identity"));

    // Kind cannot be dropped to get around it.
    let mut no_kind = enable_body(&resource);
    no_kind.as_object_mut().map(|o| o.remove("kind"));
    let (status, _, body) = put(&c, &url, &token, &no_kind).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("PropertyChangeNotAllowed"))
    );
}

#[tokio::test]
async fn patch_changes_tags_only_and_never_the_features() {
    let emu = start();
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let token = arm_token(&c, &emu).await;
    let url = cluster_url(&emu);
    let r = c
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"tags": {"owner": "ops"}, "properties": {"distributionVersion": "1.31"}}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["tags"]["owner"], "ops");
    assert_eq!(body["properties"]["distributionVersion"], "1.31");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");

    let r = c
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"properties": {"oidcIssuerProfile": {"enabled": true}, "securityProfile": {"workloadIdentity": {"enabled": true}}}}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "InvalidRequestContent");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("cannot be updated with PATCH")));
    assert_eq!(
        emu.cluster(SUB, RG, CLUSTER)["properties"]["oidcIssuerProfile"]["enabled"],
        false
    );
}

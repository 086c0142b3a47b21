//! Entra token endpoint: client secret, certificate assertions (verified,
//! tampering refused), workload-identity federation, AADSTS errors.

mod common;

use azure_emulator::{Credential, JWT_BEARER};
use common::*;
use serde_json::{json, Value};

fn assert_aadsts(status: u16, body: &Value, want_status: u16, error: &str, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    let desc = body["error_description"].as_str().expect("description");
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(
        desc.contains("Trace ID: ") && desc.contains("Correlation ID: "),
        "{desc}"
    );
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[k].is_string(), "{k} in {body}");
    }
}

#[tokio::test]
async fn client_secret_grant_and_its_errors() {
    let emu = start();
    let c = client(&emu);
    let scope = scope(&emu);
    let form = |secret: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", secret),
        ]
    };

    let mut ok = form(SECRET);
    ok.push(("scope", &scope));
    let r = c
        .post(emu.token_url(TENANT))
        .form(&ok)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .is_ok_and(|ct| ct.starts_with("application/json")));
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["access_token"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));

    let mut bad = form("wrong");
    bad.push(("scope", &scope));
    let (s, b) = token_request(&c, &emu, TENANT, &bad).await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000215);

    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-app"),
            ("client_secret", "x"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);

    let (s, b) = token_request(&c, &emu, "no-such-tenant", &ok).await;
    assert_aadsts(s, &b, 400, "invalid_request", 90002);

    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[("client_id", CLIENT_ID), ("scope", &scope)],
    )
    .await;
    assert_aadsts(s, &b, 400, "invalid_request", 900144);
    assert!(b["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("'grant_type'")));

    let mut no_scope_suffix = form(SECRET);
    let bare = emu.https_url().to_string();
    no_scope_suffix.push(("scope", &bare));
    let (s, b) = token_request(&c, &emu, TENANT, &no_scope_suffix).await;
    assert_aadsts(s, &b, 400, "invalid_scope", 1002012);

    let mut other_resource = form(SECRET);
    other_resource.push(("scope", "https://management.azure.com/.default"));
    let (s, b) = token_request(&c, &emu, TENANT, &other_resource).await;
    assert_aadsts(s, &b, 400, "invalid_resource", 500011);

    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", &scope),
        ],
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000218);

    let r = c.get(emu.token_url(TENANT)).send().await.expect("get");
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["error_codes"][0], 900561);
}

async fn assertion_grant(
    c: &reqwest::Client,
    emu: &azure_emulator::Emulator,
    client_id: &str,
    assertion: &str,
) -> (u16, Value) {
    let scope = scope(emu);
    token_request(
        c,
        emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", &scope),
        ],
    )
    .await
}

#[tokio::test]
async fn certificate_assertion_is_verified() {
    let emu = start();
    let m = cert_material();
    let app = "cert-app";
    emu.add_service_principal(TENANT, app, Credential::Certificate(m.cert_pem.clone()))
        .expect("cert principal");
    let c = client(&emu);
    let aud = emu.token_url(TENANT);

    // RS256 + x5t (SHA-1).
    let (s, b) = assertion_grant(&c, &emu, app, &assertion(&m, app, &aud)).await;
    assert_eq!(s, 200, "{b}");
    let token = b["access_token"].as_str().expect("token").to_string();
    emu.add_cluster(fast_spec());
    let (status, _, _) = get(&c, &cluster_url(&emu), &token).await;
    assert_eq!(
        status, 200,
        "the certificate principal's token works at ARM"
    );

    // PS256 + x5t#S256 (SHA-256), as current Entra docs describe.
    let t = now();
    let ps = sign(
        &m,
        &json!({"alg": "PS256", "typ": "JWT", "x5t#S256": sha256_b64(&m.cert_der)}),
        &json!({"aud": aud, "iss": app, "sub": app, "jti": "ps-1", "nbf": t, "exp": t + 300}),
    );
    let (s, b) = assertion_grant(&c, &emu, app, &ps).await;
    assert_eq!(s, 200, "{b}");

    // Tampered claims: signature no longer matches.
    let good = assertion(&m, app, &aud);
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = b64(
        json!({"aud": aud, "iss": app, "sub": app, "jti": "x", "nbf": t, "exp": t + 99999})
            .to_string(),
    );
    let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    let (s, b) = assertion_grant(&c, &emu, app, &tampered).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    assert!(b["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("signature")));

    // Flipped signature byte.
    let mut sig = parts[2].as_bytes().to_vec();
    sig[5] = if sig[5] == b'A' { b'B' } else { b'A' };
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).expect("ascii")
    );
    let (s, b) = assertion_grant(&c, &emu, app, &flipped).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // Unknown thumbprint.
    let other = sign(
        &m,
        &json!({"alg": "RS256", "x5t": b64([7u8; 20])}),
        &json!({"aud": aud, "iss": app, "sub": app, "jti": "u", "nbf": t, "exp": t + 300}),
    );
    let (s, b) = assertion_grant(&c, &emu, app, &other).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    assert!(b["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("not registered")));

    let claims_case = |claims: Value| {
        sign(
            &m,
            &json!({"alg": "RS256", "x5t": sha1_b64(&m.cert_der)}),
            &claims,
        )
    };
    let cases = [
        (
            claims_case(
                json!({"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token", "iss": app, "sub": app, "jti": "a", "nbf": t, "exp": t + 300}),
            ),
            700023,
        ),
        (
            claims_case(
                json!({"aud": aud, "iss": "someone-else", "sub": app, "jti": "a", "nbf": t, "exp": t + 300}),
            ),
            700021,
        ),
        (
            claims_case(
                json!({"aud": aud, "iss": app, "sub": "x", "jti": "a", "nbf": t, "exp": t + 300}),
            ),
            700021,
        ),
        (
            claims_case(
                json!({"aud": aud, "iss": app, "sub": app, "jti": "a", "nbf": t - 600, "exp": t - 10}),
            ),
            700024,
        ),
        (
            claims_case(
                json!({"aud": aud, "iss": app, "sub": app, "jti": "a", "nbf": t + 600, "exp": t + 900}),
            ),
            700024,
        ),
        (
            claims_case(json!({"aud": aud, "iss": app, "sub": app, "jti": "a", "exp": t + 300})),
            700024,
        ),
        (
            claims_case(json!({"aud": aud, "iss": app, "sub": app, "nbf": t, "exp": t + 300})),
            700027,
        ),
    ];
    for (assertion, code) in cases {
        let (s, b) = assertion_grant(&c, &emu, app, &assertion).await;
        assert_aadsts(s, &b, 401, "invalid_client", code);
    }

    // Garbage is malformed.
    let (s, b) = assertion_grant(&c, &emu, app, "not-a-jwt").await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error_codes"][0], 50027);

    // A secret does not work for a certificate-only app.
    let scope = scope(&emu);
    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", "guess"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn workload_identity_federated_token() {
    let emu = start();
    let app = "wi-app";
    emu.add_federated_token(TENANT, app, "eyJ.k8s-service-account-token.sig");
    let c = client(&emu);
    let (s, b) = assertion_grant(&c, &emu, app, "eyJ.k8s-service-account-token.sig").await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = assertion_grant(&c, &emu, app, "eyJ.another-token.sig").await;
    assert_aadsts(s, &b, 401, "invalid_client", 70021);

    // Wrong assertion type.
    let scope = scope(&emu);
    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_assertion_type", "urn:wrong"),
            ("client_assertion", "eyJ.k8s-service-account-token.sig"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 400, "{b}");
}

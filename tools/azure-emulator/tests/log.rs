//! The request log: what tests assert on, and proof that no secret enters it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use azure_emulator::{Credential, Emulator, EmulatorOptions, JWT_BEARER, REDACTED};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn no_secret_value_is_ever_recorded() {
    let root = std::env::temp_dir().join(format!("azure-emulator-log-{}", std::process::id()));
    let emu = Emulator::start(EmulatorOptions {
        root: Some(root.clone()),
        ..EmulatorOptions::default()
    })
    .expect("start");
    emu.add_service_principal(TENANT, CLIENT_ID, Credential::Secret(SECRET.into()))
        .expect("sp");
    let m = cert_material();
    emu.add_service_principal(
        TENANT,
        "cert-app",
        Credential::Certificate(m.cert_pem.clone()),
    )
    .expect("cert sp");
    emu.add_federated_token(TENANT, "wi-app", "federated-sa-token-value");
    emu.set_arc_identity(TENANT);
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let scope = scope(&emu);
    let mut secrets: Vec<String> = vec![SECRET.into(), "federated-sa-token-value".into()];

    // Client secret (right and wrong).
    let token = arm_token(&c, &emu).await;
    secrets.push(token.clone());
    let _ = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong-secret-xyz"),
            ("scope", &scope),
        ],
    )
    .await;
    secrets.push("wrong-secret-xyz".into());

    // Certificate assertion.
    let assertion = assertion(&m, "cert-app", &emu.token_url(TENANT));
    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "cert-app"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    secrets.push(assertion.clone());
    secrets.push(b["access_token"].as_str().expect("t").into());

    // Workload identity.
    let (s, b) = token_request(
        &c,
        &emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "wi-app"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", "federated-sa-token-value"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    secrets.push(b["access_token"].as_str().expect("t").into());

    // HIMDS challenge and key.
    let url = format!(
        "{}?api-version=2020-06-01&resource={}",
        emu.identity_endpoint(),
        emu.https_url()
    );
    let r = c
        .get(&url)
        .header("Metadata", "true")
        .send()
        .await
        .expect("challenge");
    let realm = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    let key_path = root.join(
        realm
            .trim_start_matches("Basic realm=")
            .trim_start_matches('/'),
    );
    let key = std::fs::read_to_string(key_path).expect("key");
    let body: Value = c
        .get(&url)
        .header("Metadata", "true")
        .header("Authorization", format!("Basic {key}"))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    secrets.push(key);
    secrets.push(body["access_token"].as_str().expect("t").into());

    // ARM calls with the tokens.
    let (status, _, resource) = get(&c, &cluster_url(&emu), &token).await;
    assert_eq!(status, 200);
    let _ = put(&c, &cluster_url(&emu), &token, &enable_body(&resource)).await;

    let log = emu.requests();
    assert!(log.len() >= 8);
    let dump = format!("{log:?}");
    for secret in &secrets {
        assert!(
            !dump.contains(secret.as_str()),
            "a secret leaked into the request log"
        );
        // Nor a recognisable part of a long one.
        if secret.len() > 40 {
            assert!(!dump.contains(&secret[secret.len() - 40..]));
        }
    }
    // What is recorded is still useful.
    let token_posts: Vec<_> = log
        .iter()
        .filter(|r| r.path().ends_with("/oauth2/v2.0/token"))
        .collect();
    assert!(token_posts
        .iter()
        .any(|r| r.form_field("client_secret").as_deref() == Some(REDACTED)));
    assert!(token_posts
        .iter()
        .any(|r| r.form_field("client_assertion").as_deref() == Some(REDACTED)));
    assert!(token_posts
        .iter()
        .all(|r| r.form_field("scope").as_deref() == Some(scope.as_str())));
    assert!(token_posts
        .iter()
        .any(|r| r.body.contains("client_secret=<redacted>")));
    let arm: Vec<_> = log
        .iter()
        .filter(|r| r.path().starts_with("/subscriptions/"))
        .collect();
    assert!(arm
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer")));
    let put = arm
        .iter()
        .find(|r| r.method == "PUT")
        .expect("PUT recorded");
    assert_eq!(put.status, 201);
    assert_eq!(put.query("api-version").as_deref(), Some(API));
    assert!(put.body.contains("\"oidcIssuerProfile\""));
    let himds: Vec<_> = log.iter().filter(|r| r.scheme == "http").collect();
    assert_eq!(
        himds.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 200]
    );
    assert_eq!(himds[1].header("authorization"), Some("Basic"));
    drop(emu);
    let _ = std::fs::remove_dir_all(root);
}

/// Raw HTTP/1.1 on the plain listener: two requests on one connection
/// (keep-alive), the first with a chunked body.
#[test]
fn keep_alive_and_chunked_bodies() {
    let emu = start();
    emu.set_vm_identity(TENANT);
    let addr = emu.http_url().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let chunked = "POST /metadata/identity/oauth2/token?api-version=2018-02-01 HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let get = format!(
        "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource={} HTTP/1.1\r\nHost: x\r\nMetadata: true\r\nConnection: close\r\n\r\n",
        emu.https_url()
    );
    s.write_all(chunked.as_bytes()).expect("write");
    s.write_all(get.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 2, "{out}");
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    assert!(out.contains("HTTP/1.1 200"), "{out}");
    let log = emu.requests();
    assert_eq!(log[0].body, "hello world");
    assert_eq!(log[0].status, 405);
    assert_eq!(log[1].status, 200);
}

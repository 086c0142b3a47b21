//! Shared test helpers: an emulator with one cluster and one secret
//! principal, a reqwest client that trusts its CA, token helpers and a
//! certificate-assertion signer (RSA key from tests/fixtures, cert by rcgen).
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use azure_emulator::{ClusterSpec, Credential, Emulator, EmulatorOptions, DEFAULT_TENANT};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

pub const TENANT: &str = DEFAULT_TENANT;
pub const SUB: &str = "1bfbb5d0-917e-4346-9026-1d3b344417f5";
pub const RG: &str = "edge-rg";
pub const CLUSTER: &str = "edge-cluster";
pub const CLIENT_ID: &str = "11111111-2222-4333-8444-555555555555";
pub const SECRET: &str = "s3cr3t~value-for-tests";
pub const API: &str = "2024-07-15-preview";

pub fn start() -> Emulator {
    let emu = Emulator::start(EmulatorOptions::default()).expect("emulator starts");
    emu.add_service_principal(TENANT, CLIENT_ID, Credential::Secret(SECRET.into()))
        .expect("secret principal");
    emu
}

/// A fast cluster: no Retry-After wait.
pub fn fast_spec() -> ClusterSpec {
    ClusterSpec {
        subscription: SUB.into(),
        resource_group: RG.into(),
        name: CLUSTER.into(),
        retry_after_secs: 0,
        ..ClusterSpec::default()
    }
}

pub fn client(emu: &Emulator) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).expect("CA pem");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

pub fn cluster_url(emu: &Emulator) -> String {
    format!(
        "{}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Kubernetes/connectedClusters/{CLUSTER}?api-version={API}",
        emu.https_url()
    )
}

pub fn scope(emu: &Emulator) -> String {
    format!("{}/.default", emu.https_url())
}

/// Posts a token request; returns status and JSON body.
pub async fn token_request(
    client: &reqwest::Client,
    emu: &Emulator,
    tenant: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let r = client
        .post(emu.token_url(tenant))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

/// An ARM token for the default principal.
pub async fn arm_token(client: &reqwest::Client, emu: &Emulator) -> String {
    let scope = scope(emu);
    let (status, body) = token_request(
        client,
        emu,
        TENANT,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub async fn get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub async fn put(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client
        .put(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("PUT");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

const READ_ONLY: &[&str] = &[
    "provisioningState",
    "kubernetesVersion",
    "totalNodeCount",
    "totalCoreCount",
    "agentVersion",
    "offering",
    "managedIdentityCertificateExpirationTime",
    "lastConnectivityTime",
    "connectivityStatus",
    "miscellaneousProperties",
];

/// What a careful client PUTs back: the GET body without read-only fields,
/// with both features on.
pub fn enable_body(resource: &Value) -> Value {
    let mut body = resource.clone();
    let obj = body.as_object_mut().expect("object");
    for k in ["id", "name", "type", "systemData"] {
        obj.remove(k);
    }
    if let Some(identity) = obj.get_mut("identity").and_then(Value::as_object_mut) {
        identity.remove("principalId");
        identity.remove("tenantId");
    }
    let props = obj
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("properties");
    for k in READ_ONLY {
        props.remove(*k);
    }
    if let Some(agent) = props
        .get_mut("arcAgentProfile")
        .and_then(Value::as_object_mut)
    {
        agent.remove("agentState");
        agent.remove("agentErrors");
    }
    props.insert("oidcIssuerProfile".into(), json!({"enabled": true}));
    props.insert(
        "securityProfile".into(),
        json!({"workloadIdentity": {"enabled": true}}),
    );
    body
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A certificate principal's material: RSA key (fixture) and a self-signed
/// certificate made by rcgen.
pub struct CertMaterial {
    pub pkcs8: Vec<u8>,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
}

pub fn cert_material() -> CertMaterial {
    use rustls_pki_types::pem::PemObject;
    let key_pem = include_str!("../fixtures/test-client-rsa2048.key.pem");
    let pkcs8 = match rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .expect("key pem")
    {
        rustls_pki_types::PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => panic!("fixture must be PKCS#8"),
    };
    let key = rcgen::KeyPair::from_pem(key_pem).expect("rcgen RSA key");
    let mut params =
        rcgen::CertificateParams::new(vec!["aio-prep-test".to_string()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "aio-prep test client");
    let cert = params.self_signed(&key).expect("self-signed");
    CertMaterial {
        pkcs8,
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
    }
}

pub fn b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Signs `header` and `claims` with the fixture key (RS256 or PS256).
pub fn sign(m: &CertMaterial, header: &Value, claims: &Value) -> String {
    let alg = header["alg"].as_str().unwrap_or("RS256");
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let key = ring::signature::RsaKeyPair::from_pkcs8(&m.pkcs8).expect("ring RSA key");
    let mut sig = vec![0u8; key.public().modulus_len()];
    let padding: &dyn ring::signature::RsaEncoding = if alg == "PS256" {
        &ring::signature::RSA_PSS_SHA256
    } else {
        &ring::signature::RSA_PKCS1_SHA256
    };
    key.sign(
        padding,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", b64(sig))
}

pub fn sha1_b64(der: &[u8]) -> String {
    b64(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

pub fn sha256_b64(der: &[u8]) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, der))
}

/// A well-formed RS256 assertion for `client_id` at `aud`.
pub fn assertion(m: &CertMaterial, client_id: &str, aud: &str) -> String {
    let now = now();
    sign(
        m,
        &json!({"alg": "RS256", "typ": "JWT", "x5t": sha1_b64(&m.cert_der)}),
        &json!({
            "aud": aud, "iss": client_id, "sub": client_id,
            "jti": format!("jti-{now}-{}", rand_suffix()),
            "nbf": now, "exp": now + 300,
        }),
    )
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

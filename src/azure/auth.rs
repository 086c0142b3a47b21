//! Credentials for ARM (SPEC §4). `auto` tries, in order: client secret, client certificate,
//! workload identity, Azure Arc-enabled server identity (HIMDS), VM IMDS, Azure CLI. A source
//! that is not configured is skipped (and listed if nothing works); a configured source that
//! fails stops the search with its own error. Tokens stay in memory, inside [`Secret`].

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::Value;

use super::endpoints::Endpoints;
use super::http::Http;
use super::secret::Secret;
use super::AzureError;
use crate::paths::HostRoot;

pub const HIMDS_TOKENS_DIR: &str = "/var/opt/azcmagent/tokens";
pub const HIMDS_BINARY: &str = "/opt/azcmagent/bin/himds";
pub const HIMDS_DEFAULT_ENDPOINT: &str = "http://localhost:40342/metadata/identity/oauth2/token";
pub const IMDS_DEFAULT_HOST: &str = "http://169.254.169.254";
const MAX_HIMDS_KEY_BYTES: u64 = 4096;
const ASSERTION_LIFETIME_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ClientSecret,
    ClientCertificate,
    WorkloadIdentity,
    ArcIdentity,
    Imds,
    AzureCli,
}

pub const AUTO_ORDER: [Method; 6] = [
    Method::ClientSecret,
    Method::ClientCertificate,
    Method::WorkloadIdentity,
    Method::ArcIdentity,
    Method::Imds,
    Method::AzureCli,
];

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::ClientSecret => "client-secret",
            Method::ClientCertificate => "client-certificate",
            Method::WorkloadIdentity => "workload-identity",
            Method::ArcIdentity => "arc-identity",
            Method::Imds => "imds",
            Method::AzureCli => "azure-cli",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        AUTO_ORDER.into_iter().find(|m| m.name() == name)
    }
}

/// An ARM access token (never printed).
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret,
    /// Seconds since the epoch.
    pub expires_on: u64,
    pub method: Method,
}

/// What the credential sources may use: settings, the process environment and the host root
/// (every file path is a host path, resolved under `--root`).
pub struct AuthInputs<'a> {
    pub root: &'a HostRoot,
    pub env: &'a [(String, String)],
    pub endpoints: &'a Endpoints,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub certificate_file: Option<PathBuf>,
}

impl AuthInputs<'_> {
    fn env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn tenant(&self) -> Option<String> {
        self.tenant
            .clone()
            .or_else(|| self.env("AZURE_TENANT_ID").map(String::from))
    }

    fn client_id(&self) -> Option<String> {
        self.client_id
            .clone()
            .or_else(|| self.env("AZURE_CLIENT_ID").map(String::from))
    }
}

enum Attempt {
    /// Not configured here: try the next source.
    Unavailable(String),
    /// Configured and failed: stop.
    Failed(AzureError),
}

impl From<AzureError> for Attempt {
    fn from(e: AzureError) -> Self {
        Attempt::Failed(e)
    }
}

/// Gets an ARM token with `method` (`auto` or one of [`Method::name`]).
pub async fn acquire(
    http: &Http,
    inputs: &AuthInputs<'_>,
    method: &str,
) -> Result<AccessToken, AzureError> {
    if method == "auto" {
        let mut tried = Vec::new();
        for m in AUTO_ORDER {
            match attempt(http, inputs, m).await {
                Ok(t) => return Ok(t),
                Err(Attempt::Unavailable(why)) => tried.push(format!("{} ({why})", m.name())),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        return Err(AzureError::NoCredential { tried });
    }
    let m = Method::from_name(method)
        .ok_or_else(|| AzureError::Config(format!("unknown auth method {method:?}")))?;
    match attempt(http, inputs, m).await {
        Ok(t) => Ok(t),
        Err(Attempt::Unavailable(why)) => Err(AzureError::Auth {
            method: m.name(),
            message: format!("not configured: {why}"),
        }),
        Err(Attempt::Failed(e)) => Err(e),
    }
}

async fn attempt(http: &Http, inputs: &AuthInputs<'_>, m: Method) -> Result<AccessToken, Attempt> {
    let started = std::time::Instant::now();
    let result = match m {
        Method::ClientSecret => client_secret(http, inputs).await,
        Method::ClientCertificate => client_certificate(http, inputs).await,
        Method::WorkloadIdentity => workload_identity(http, inputs).await,
        Method::ArcIdentity => arc_identity(http, inputs).await,
        Method::Imds => imds(http, inputs).await,
        Method::AzureCli => azure_cli(inputs).await,
    };
    if result.is_ok() {
        tracing::debug!(
            method = m.name(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "token acquired"
        );
    }
    result
}

fn auth_err(m: Method, message: impl Into<String>) -> AzureError {
    AzureError::Auth {
        method: m.name(),
        message: message.into(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read_host_file(root: &HostRoot, path: &Path, m: Method, what: &str) -> Result<String, Attempt> {
    let real = root.resolve(path);
    std::fs::read_to_string(&real).map_err(|e| {
        Attempt::Failed(auth_err(
            m,
            format!("cannot read {what} {}: {e}", path.display()),
        ))
    })
}

/// `expires_in` / `expires_on` as integers or strings (SPEC §4).
fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a token response: `access_token` + `expires_on` or `expires_in`.
fn parse_token(m: Method, body: &[u8]) -> Result<AccessToken, AzureError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| auth_err(m, "token response is not JSON"))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| auth_err(m, "token response has no access_token"))?;
    let expires_on = number(v.get("expires_on"))
        .or_else(|| number(v.get("expires_in")).map(|s| now() + s))
        .ok_or_else(|| auth_err(m, "token response has no expires_on/expires_in"))?;
    Ok(AccessToken {
        token: Secret::new(token),
        expires_on,
        method: m,
    })
}

/// Entra's error body, short: `AADSTS7000215: Invalid client secret provided.`
fn entra_error(status: u16, body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return format!("HTTP {status}");
    };
    let desc = v
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let first = desc.split(['\r', '\n']).next().unwrap_or("").trim();
    let first = first.split(" Trace ID:").next().unwrap_or(first).trim();
    let code = v.get("error").and_then(Value::as_str).unwrap_or("error");
    if first.is_empty() {
        format!("HTTP {status} {code}")
    } else {
        format!("HTTP {status} {code}: {first}")
    }
}

/// The client-credentials grant at `{authority}/{tenant}/oauth2/v2.0/token`.
async fn token_request(
    http: &Http,
    inputs: &AuthInputs<'_>,
    m: Method,
    tenant: &str,
    form: Vec<(&'static str, String)>,
) -> Result<AccessToken, Attempt> {
    let url = inputs.endpoints.token_url(tenant);
    let resp = http
        .send(&format!("POST {url}"), |c| c.post(&url).form(&form))
        .await
        .map_err(|e| auth_err(m, e.to_string()))?;
    if !(200..300).contains(&resp.status) {
        return Err(auth_err(m, entra_error(resp.status, &resp.body)).into());
    }
    Ok(parse_token(m, &resp.body)?)
}

/// The client-credentials grant with a JWT `client_assertion` (certificate or federated).
async fn assertion_grant(
    http: &Http,
    inputs: &AuthInputs<'_>,
    m: Method,
    tenant: &str,
    client: String,
    assertion: &Secret,
) -> Result<AccessToken, Attempt> {
    let form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
        ),
        ("client_assertion", assertion.expose().to_string()),
        ("scope", inputs.endpoints.arm_scope()),
    ];
    token_request(http, inputs, m, tenant, form).await
}

fn tenant_and_client(inputs: &AuthInputs<'_>) -> Result<(String, String), Attempt> {
    let tenant = inputs.tenant().ok_or_else(|| {
        Attempt::Unavailable("no tenant: set [azure] tenant_id or AZURE_TENANT_ID".into())
    })?;
    let client = inputs.client_id().ok_or_else(|| {
        Attempt::Unavailable("no client id: set [azure.auth] client_id or AZURE_CLIENT_ID".into())
    })?;
    Ok((tenant, client))
}

async fn client_secret(http: &Http, inputs: &AuthInputs<'_>) -> Result<AccessToken, Attempt> {
    let m = Method::ClientSecret;
    let secret = match (
        inputs.env("AZURE_CLIENT_SECRET"),
        &inputs.client_secret_file,
    ) {
        (Some(s), _) => Secret::new(s),
        (None, Some(file)) => {
            Secret::new(read_host_file(inputs.root, file, m, "client secret file")?.trim())
        }
        (None, None) => {
            return Err(Attempt::Unavailable(
                "AZURE_CLIENT_SECRET and [azure.auth] client_secret_file not set".into(),
            ))
        }
    };
    let (tenant, client) = tenant_and_client(inputs)?;
    let form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client),
        ("client_secret", secret.expose().to_string()),
        ("scope", inputs.endpoints.arm_scope()),
    ];
    token_request(http, inputs, m, &tenant, form).await
}

async fn client_certificate(http: &Http, inputs: &AuthInputs<'_>) -> Result<AccessToken, Attempt> {
    let m = Method::ClientCertificate;
    let path = match (
        inputs.env("AZURE_CLIENT_CERTIFICATE_PATH"),
        &inputs.certificate_file,
    ) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(p)) => p.clone(),
        (None, None) => {
            return Err(Attempt::Unavailable(
                "AZURE_CLIENT_CERTIFICATE_PATH and [azure.auth] certificate_file not set".into(),
            ))
        }
    };
    let (tenant, client) = tenant_and_client(inputs)?;
    let pem = read_host_file(inputs.root, &path, m, "certificate file")?;
    let audience = inputs.endpoints.token_url(&tenant);
    let assertion = jwt_assertion(pem.as_bytes(), &client, &audience)
        .map_err(|e| auth_err(m, format!("{}: {e}", path.display())))?;
    assertion_grant(http, inputs, m, &tenant, client, &assertion).await
}

/// An RS256 client assertion with `x5t` (SHA-1 thumbprint of the certificate), claims
/// aud/iss/sub/jti/nbf/exp (+300 s).
pub fn jwt_assertion(pem: &[u8], client_id: &str, audience: &str) -> Result<Secret, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(pem)
        .map_err(|e| format!("no certificate in the PEM: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("no private key in the PEM: {e}"))?;
    let key_pair = match &key {
        PrivateKeyDer::Pkcs8(k) => ring::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => ring::rsa::KeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err("the private key must be RSA (PKCS#8 or PKCS#1)".into()),
    }
    .map_err(|e| format!("unusable RSA key: {e}"))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let x5t = b64.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert.as_ref(),
    ));
    let now = now();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": x5t});
    let claims = serde_json::json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": random_id(),
        "nbf": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut sig = vec![0u8; key_pair.public().modulus_len()];
    key_pair
        .sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| "signing failed".to_string())?;
    Ok(Secret::new(format!("{signing_input}.{}", b64.encode(sig))))
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn workload_identity(http: &Http, inputs: &AuthInputs<'_>) -> Result<AccessToken, Attempt> {
    let m = Method::WorkloadIdentity;
    let Some(file) = inputs.env("AZURE_FEDERATED_TOKEN_FILE") else {
        return Err(Attempt::Unavailable(
            "AZURE_FEDERATED_TOKEN_FILE not set".into(),
        ));
    };
    let (tenant, client) = tenant_and_client(inputs)?;
    let assertion = Secret::new(
        read_host_file(inputs.root, Path::new(file), m, "federated token file")?.trim(),
    );
    assertion_grant(http, inputs, m, &tenant, client, &assertion).await
}

/// Checks the HIMDS challenge path: in the tokens directory, a `.key`, at most 4 KiB.
pub fn check_himds_key_path(root: &HostRoot, realm: &str) -> Result<PathBuf, String> {
    let path = Path::new(realm);
    let in_dir = path.parent() == Some(Path::new(HIMDS_TOKENS_DIR))
        && !realm.contains("/../")
        && path.file_name().is_some();
    if !in_dir {
        return Err(format!(
            "challenge key path {realm:?} is not in {HIMDS_TOKENS_DIR}"
        ));
    }
    if path.extension().and_then(|e| e.to_str()) != Some("key") {
        return Err(format!("challenge key path {realm:?} does not end in .key"));
    }
    let real = root.resolve(path);
    let meta =
        std::fs::symlink_metadata(&real).map_err(|e| format!("challenge key {realm}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("challenge key {realm} is not a regular file"));
    }
    if meta.len() > MAX_HIMDS_KEY_BYTES {
        return Err(format!(
            "challenge key {realm} is {} bytes; at most {MAX_HIMDS_KEY_BYTES}",
            meta.len()
        ));
    }
    Ok(real)
}

async fn arc_identity(http: &Http, inputs: &AuthInputs<'_>) -> Result<AccessToken, Attempt> {
    let m = Method::ArcIdentity;
    let endpoint = match (inputs.env("IDENTITY_ENDPOINT"), inputs.env("IMDS_ENDPOINT")) {
        (Some(e), Some(_)) => e.to_string(),
        _ if inputs.root.resolve(HIMDS_BINARY).exists() => HIMDS_DEFAULT_ENDPOINT.to_string(),
        _ => {
            return Err(Attempt::Unavailable(format!(
                "IDENTITY_ENDPOINT/IMDS_ENDPOINT not set and no {HIMDS_BINARY}"
            )))
        }
    };
    let url = format!(
        "{endpoint}?api-version=2020-06-01&resource={}",
        pct(&inputs.endpoints.arm_resource())
    );
    let what = format!("GET {endpoint}");
    let first = http
        .send_local(&what, |c| c.get(&url).header("Metadata", "true"))
        .await
        .map_err(|e| auth_err(m, e.to_string()))?;
    if first.status != 401 {
        return Err(auth_err(
            m,
            format!(
                "expected a 401 challenge from HIMDS, got HTTP {}",
                first.status
            ),
        )
        .into());
    }
    let realm = first
        .header("www-authenticate")
        .and_then(|h| h.trim().strip_prefix("Basic realm="))
        .map(|r| r.trim().trim_matches('"').to_string())
        .ok_or_else(|| {
            auth_err(
                m,
                "HIMDS 401 without `WWW-Authenticate: Basic realm=<path>`",
            )
        })?;
    let key_path = check_himds_key_path(inputs.root, &realm).map_err(|e| auth_err(m, e))?;
    let key = Secret::new(
        std::fs::read_to_string(&key_path)
            .map_err(|e| auth_err(m, format!("cannot read challenge key {realm}: {e}")))?
            .trim(),
    );
    let second = http
        .send_local(&what, |c| {
            c.get(&url)
                .header("Metadata", "true")
                .header("Authorization", format!("Basic {}", key.expose()))
        })
        .await
        .map_err(|e| auth_err(m, e.to_string()))?;
    if second.status != 200 {
        return Err(auth_err(
            m,
            format!(
                "HIMDS answered HTTP {} to the challenge response",
                second.status
            ),
        )
        .into());
    }
    Ok(parse_token(m, &second.body)?)
}

async fn imds(http: &Http, inputs: &AuthInputs<'_>) -> Result<AccessToken, Attempt> {
    let m = Method::Imds;
    let host = inputs
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .unwrap_or(IMDS_DEFAULT_HOST)
        .trim_end_matches('/')
        .to_string();
    let mut url = format!(
        "{host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
        pct(&inputs.endpoints.arm_resource())
    );
    if let Some(id) = inputs.client_id() {
        url.push_str(&format!("&client_id={}", pct(&id)));
    }
    let resp = match http
        .probe_local(|c| c.get(&url).header("Metadata", "true"))
        .await
    {
        Ok(r) => r,
        Err(e) => return Err(Attempt::Unavailable(format!("no IMDS at {host}: {e}"))),
    };
    match resp.status {
        200 => Ok(parse_token(m, &resp.body)?),
        // No identity assigned to this VM: not a VM identity host.
        400 | 404 => Err(Attempt::Unavailable(format!(
            "IMDS at {host} has no identity (HTTP {})",
            resp.status
        ))),
        s => Err(auth_err(m, format!("IMDS answered HTTP {s}")).into()),
    }
}

async fn azure_cli(inputs: &AuthInputs<'_>) -> Result<AccessToken, Attempt> {
    let m = Method::AzureCli;
    let path = inputs.env("PATH").unwrap_or("");
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let Ok(az) = which::which_in("az", Some(path), cwd) else {
        return Err(Attempt::Unavailable("`az` not on PATH".into()));
    };
    let resource = inputs.endpoints.arm_resource();
    let mut cmd = tokio::process::Command::new(&az);
    cmd.args([
        "account",
        "get-access-token",
        "--resource",
        &resource,
        "-o",
        "json",
    ]);
    if let Some(t) = inputs.tenant() {
        cmd.args(["--tenant", &t]);
    }
    cmd.env_clear()
        .envs(inputs.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| auth_err(m, "`az account get-access-token` did not answer in 60s"))?
        .map_err(|e| auth_err(m, format!("cannot run {}: {e}", az.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed")
            .trim();
        return Err(auth_err(m, format!("`az account get-access-token`: {line}")).into());
    }
    let v: Value =
        serde_json::from_slice(&out.stdout).map_err(|_| auth_err(m, "`az` printed no JSON"))?;
    let token = v
        .get("accessToken")
        .and_then(Value::as_str)
        .ok_or_else(|| auth_err(m, "`az` JSON has no accessToken"))?;
    let expires_on = number(v.get("expires_on")).unwrap_or_else(|| now() + 300);
    Ok(AccessToken {
        token: Secret::new(token),
        expires_on,
        method: m,
    })
}

/// Percent-encodes a query value.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_ints_or_strings() {
        let t = parse_token(
            Method::Imds,
            br#"{"access_token":"x","expires_on":"1700000000"}"#,
        )
        .expect("token");
        assert_eq!(t.expires_on, 1_700_000_000);
        let t = parse_token(Method::Imds, br#"{"access_token":"x","expires_in":"3599"}"#)
            .expect("token");
        assert!(t.expires_on >= now() + 3598);
        let t =
            parse_token(Method::Imds, br#"{"access_token":"x","expires_in":3599}"#).expect("token");
        assert!(t.expires_on >= now() + 3598);
        assert!(parse_token(Method::Imds, br#"{"access_token":"x"}"#).is_err());
    }

    #[test]
    fn entra_errors_are_one_short_line() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc\r\nCorrelation ID: def"}"#;
        assert_eq!(
            entra_error(401, body),
            "HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided."
        );
    }

    #[test]
    fn himds_key_path_rules() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = HostRoot::new(dir.path());
        let tokens = dir.path().join("var/opt/azcmagent/tokens");
        std::fs::create_dir_all(&tokens).expect("mkdir");
        std::fs::write(tokens.join("a.key"), "k").expect("write");
        std::fs::write(tokens.join("big.key"), vec![b'k'; 4097]).expect("write");
        std::fs::write(tokens.join("a.txt"), "k").expect("write");
        assert!(check_himds_key_path(&root, "/var/opt/azcmagent/tokens/a.key").is_ok());
        assert!(check_himds_key_path(&root, "/etc/shadow").is_err());
        assert!(
            check_himds_key_path(&root, "/var/opt/azcmagent/tokens/../../../etc/x.key").is_err()
        );
        assert!(check_himds_key_path(&root, "/var/opt/azcmagent/tokens/a.txt").is_err());
        assert!(check_himds_key_path(&root, "/var/opt/azcmagent/tokens/big.key").is_err());
        assert!(check_himds_key_path(&root, "/var/opt/azcmagent/tokens/none.key").is_err());
    }

    #[test]
    fn assertion_is_a_signed_rs256_jwt_with_x5t() {
        // A throwaway RSA key and self-signed certificate made for this test.
        let pem = include_str!("../../tests/fixtures/client-cert.pem");
        let jwt = jwt_assertion(
            pem.as_bytes(),
            "cid",
            "https://login.example/t/oauth2/v2.0/token",
        )
        .expect("jwt");
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Value =
            serde_json::from_slice(&b64.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            header["x5t"].as_str().expect("x5t").len(),
            27,
            "base64url of 20 bytes"
        );
        let claims: Value =
            serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["iss"], "cid");
        assert_eq!(claims["sub"], "cid");
        assert_eq!(
            claims["exp"].as_u64().expect("exp") - claims["nbf"].as_u64().expect("nbf"),
            300
        );
        assert_eq!(format!("{jwt:?}"), "<redacted>");
    }
}

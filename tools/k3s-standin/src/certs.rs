//! The stand-in's PKI, laid out like k3s's `server/tls/`: a server CA that
//! signs the serving certificate (127.0.0.1, localhost), a client CA that
//! signs the admin client certificate (`system:admin`, `system:masters`).
//! Generated once and kept, so the kubeconfig stays valid across restarts.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::files;

/// PEM text of everything the server and the kubeconfig need.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub server_ca: String,
    pub client_ca: String,
    pub serving_cert: String,
    pub serving_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

const SERVER_CA: (&str, &str) = ("server-ca.crt", "server-ca.key");
const CLIENT_CA: (&str, &str) = ("client-ca.crt", "client-ca.key");
const SERVING: (&str, &str) = ("serving-kube-apiserver.crt", "serving-kube-apiserver.key");
const ADMIN: (&str, &str) = ("client-admin.crt", "client-admin.key");

/// Loads the certificates from `dir`, generating (and saving) them if any is
/// missing. `Ok((bundle, true))` when they were generated now.
pub fn ensure(dir: &Path) -> Result<(Bundle, bool), String> {
    if let Some(bundle) = load(dir)? {
        return Ok((bundle, false));
    }
    let (bundle, ca_keys) = generate().map_err(|e| format!("cannot generate certificates: {e}"))?;
    save(dir, &bundle, &ca_keys)?;
    Ok((bundle, true))
}

fn load(dir: &Path) -> Result<Option<Bundle>, String> {
    let names = [
        SERVER_CA.0,
        CLIENT_CA.0,
        SERVING.0,
        SERVING.1,
        ADMIN.0,
        ADMIN.1,
    ];
    let mut texts = Vec::new();
    for name in names {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(t) => texts.push(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", dir.join(name).display())),
        }
    }
    let mut it = texts.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Ok(Some(Bundle {
        server_ca: next(),
        client_ca: next(),
        serving_cert: next(),
        serving_key: next(),
        admin_cert: next(),
        admin_key: next(),
    }))
}

struct CaKeys {
    server: String,
    client: String,
}

fn save(dir: &Path, b: &Bundle, keys: &CaKeys) -> Result<(), String> {
    let files: [(&str, &str, u32); 8] = [
        (SERVER_CA.0, &b.server_ca, 0o644),
        (SERVER_CA.1, &keys.server, 0o600),
        (CLIENT_CA.0, &b.client_ca, 0o644),
        (CLIENT_CA.1, &keys.client, 0o600),
        (SERVING.0, &b.serving_cert, 0o644),
        (SERVING.1, &b.serving_key, 0o600),
        (ADMIN.0, &b.admin_cert, 0o644),
        (ADMIN.1, &b.admin_key, 0o600),
    ];
    for (name, text, mode) in files {
        files::write_atomic(&dir.join(name), text.as_bytes(), mode)?;
    }
    Ok(())
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn generate() -> Result<(Bundle, CaKeys), rcgen::Error> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let server_ca_key = KeyPair::generate()?;
    let server_ca_params = ca_params(&format!("k3s-server-ca@{stamp}"));
    let server_ca = server_ca_params.self_signed(&server_ca_key)?;
    let server_issuer = Issuer::from_params(&server_ca_params, &server_ca_key);

    let client_ca_key = KeyPair::generate()?;
    let client_ca_params = ca_params(&format!("k3s-client-ca@{stamp}"));
    let client_ca = client_ca_params.self_signed(&client_ca_key)?;
    let client_issuer = Issuer::from_params(&client_ca_params, &client_ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
    ])?;
    serving.distinguished_name = name("kube-apiserver", None);
    serving.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serving.use_authority_key_identifier_extension = true;
    let serving_cert = serving.signed_by(&serving_key, &server_issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::default();
    admin.distinguished_name = name("system:admin", Some("system:masters"));
    admin.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    admin.use_authority_key_identifier_extension = true;
    let admin_cert = admin.signed_by(&admin_key, &client_issuer)?;

    Ok((
        Bundle {
            server_ca: server_ca.pem(),
            client_ca: client_ca.pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
        },
        CaKeys {
            server: server_ca_key.serialize_pem(),
            client: client_ca_key.serialize_pem(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = std::env::temp_dir().join(format!("k3s-standin-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (first, generated) = ensure(&dir).expect("generate");
        assert!(generated);
        assert!(first.server_ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(first.admin_key.contains("PRIVATE KEY"));
        let (second, generated) = ensure(&dir).expect("reuse");
        assert!(!generated);
        assert_eq!(first.admin_cert, second.admin_cert);
        assert_eq!(first.server_ca, second.server_ca);
        let _ = std::fs::remove_dir_all(dir);
    }
}

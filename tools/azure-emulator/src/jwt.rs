//! Verifying a certificate client assertion the way Entra does: a compact
//! JWS, `alg` RS256 (with `x5t` = base64url SHA-1 thumbprint of the
//! certificate DER) or PS256 (with `x5t#S256` = base64url SHA-256
//! thumbprint; either header is accepted with either algorithm), signed by
//! the registered certificate's key, with `aud` = the token endpoint,
//! `iss` = `sub` = the client id, `exp` in the future, `nbf` not in the
//! future, and a `jti`.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use serde_json::{Map, Value};
use webpki::EndEntityCert;

use crate::state::StoredCertificate;
use crate::util::hex;

/// Why an assertion was refused: Entra's AADSTS number and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionError {
    pub aadsts: u32,
    pub message: String,
}

fn err(aadsts: u32, message: impl Into<String>) -> AssertionError {
    AssertionError {
        aadsts,
        message: message.into(),
    }
}

/// A decoded (not yet verified) compact JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .or_else(|_| URL_SAFE.decode(part))
        .ok()
}

pub fn decode(token: &str) -> Result<Jws, AssertionError> {
    let malformed = || err(50027, "JWT token is invalid or malformed.");
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let header: Value = b64(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(malformed)?;
    let claims: Value = b64(c)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(malformed)?;
    let signature = b64(s).ok_or_else(malformed)?;
    match (header, claims) {
        (Value::Object(header), Value::Object(claims)) => Ok(Jws {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature,
        }),
        _ => Err(malformed()),
    }
}

/// Parses a PEM certificate for registration.
pub fn store_certificate(pem: &str) -> Result<StoredCertificate, String> {
    use rustls_pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    EndEntityCert::try_from(&der).map_err(|e| format!("unusable certificate: {e}"))?;
    Ok(StoredCertificate {
        sha1: ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref())
            .as_ref()
            .to_vec(),
        sha256: ring::digest::digest(&ring::digest::SHA256, der.as_ref())
            .as_ref()
            .to_vec(),
        der: der.as_ref().to_vec(),
    })
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    match claims.get(name)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

fn audience_matches(aud: Option<&Value>, expected: &str) -> bool {
    match aud {
        Some(Value::String(a)) => a == expected,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
        _ => false,
    }
}

/// Verifies `token` as a certificate assertion for `client_id` at `audience`.
pub fn verify_certificate_assertion(
    token: &str,
    client_id: &str,
    audience: &str,
    certificates: &[StoredCertificate],
    now: i64,
) -> Result<(), AssertionError> {
    let jws = decode(token)?;
    let alg = jws.header.get("alg").and_then(Value::as_str).unwrap_or("");
    let verifier: &dyn rustls_pki_types::SignatureVerificationAlgorithm = match alg {
        "RS256" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => {
            return Err(err(
                700027,
                format!("Client assertion contains an invalid signature. [Reason - The algorithm '{other}' is not supported; use RS256 or PS256.]"),
            ))
        }
    };
    let x5t = jws.header.get("x5t").and_then(Value::as_str).and_then(b64);
    let x5t256 = jws
        .header
        .get("x5t#S256")
        .and_then(Value::as_str)
        .and_then(b64);
    if x5t.is_none() && x5t256.is_none() {
        return Err(err(
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found., Client assertion has no 'x5t' or 'x5t#S256' header.]",
        ));
    }
    let cert = certificates.iter().find(|c| {
        x5t.as_deref().is_some_and(|t| t == c.sha1.as_slice())
            || x5t256.as_deref().is_some_and(|t| t == c.sha256.as_slice())
    });
    let Some(cert) = cert else {
        let thumbprint = x5t
            .or(x5t256)
            .map(|t| hex(&t).to_uppercase())
            .unwrap_or_default();
        return Err(err(
            700027,
            format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"),
        ));
    };
    let der = CertificateDer::from(cert.der.as_slice());
    let ee = EndEntityCert::try_from(&der)
        .map_err(|_| err(700027, "The registered certificate cannot be used."))?;
    ee.verify_signature(verifier, jws.signing_input.as_bytes(), &jws.signature)
        .map_err(|_| err(700027, "Client assertion failed signature validation."))?;

    let claims = &jws.claims;
    if !audience_matches(claims.get("aud"), audience) {
        return Err(err(
            700023,
            format!("Client assertion audience claim does not match Realm issuer. Expected '{audience}'."),
        ));
    }
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    if iss != Some(client_id) || sub != Some(client_id) {
        return Err(err(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter: 'iss' and 'sub' must both be the client id.",
        ));
    }
    let Some(exp) = number(claims, "exp") else {
        return Err(err(700024, "Client assertion has no 'exp' claim."));
    };
    let Some(nbf) = number(claims, "nbf") else {
        return Err(err(700024, "Client assertion has no 'nbf' claim."));
    };
    if exp <= now || nbf > now {
        return Err(err(
            700024,
            format!("Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."),
        ));
    }
    if claims
        .get("jti")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(err(700027, "Client assertion contains no 'jti' claim."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_are_aadsts50027() {
        for t in ["", "a.b", "a.b.c.d", "!!.e30.sig", "e30.e30.!!"] {
            assert_eq!(decode(t).expect_err(t).aadsts, 50027, "{t}");
        }
        let ok = decode("e30.e30.c2ln").expect("decodes");
        assert!(ok.header.is_empty() && ok.claims.is_empty());
    }

    #[test]
    fn unsupported_algorithm_and_missing_thumbprint() {
        let none = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(
            verify_certificate_assertion(&none, "c", "a", &[], 0)
                .expect_err("alg")
                .aadsts,
            700027
        );
        let no_x5t = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let e = verify_certificate_assertion(&no_x5t, "c", "a", &[], 0).expect_err("x5t");
        assert!(e.message.contains("x5t"));
    }
}

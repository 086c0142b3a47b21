//! Issuer discovery (SPEC §2): `{issuerUrl}/.well-known/openid-configuration` (one trailing
//! `/` dropped before appending); its `issuer` is used verbatim when it equals issuerUrl or
//! differs only by one trailing slash — Entra rejects a federated credential whose issuer
//! differs from the token's `iss` by a single `/` (AADSTS700211). Unreachable: warn, use
//! issuerUrl verbatim. Never normalised any other way.

use serde_json::Value;

use super::http::Http;
use super::AzureError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovered {
    /// The document's issuer, verbatim.
    Issuer(String),
    /// Discovery failed; the reason (issuerUrl is used verbatim).
    Unreachable(String),
}

pub fn discovery_url(issuer_url: &str) -> String {
    let base = issuer_url.strip_suffix('/').unwrap_or(issuer_url);
    format!("{base}/.well-known/openid-configuration")
}

/// Whether `discovered` may stand for `issuer_url`.
pub fn matches(issuer_url: &str, discovered: &str) -> bool {
    discovered == issuer_url
        || issuer_url.strip_suffix('/') == Some(discovered)
        || discovered.strip_suffix('/') == Some(issuer_url)
}

pub async fn discover(http: &Http, issuer_url: &str) -> Result<Discovered, AzureError> {
    let url = discovery_url(issuer_url);
    let resp = match http.send(&format!("GET {url}"), |c| c.get(&url)).await {
        Ok(r) if r.status == 200 => r,
        Ok(r) => {
            return Ok(Discovered::Unreachable(format!(
                "GET {url}: HTTP {}",
                r.status
            )))
        }
        Err(e) => return Ok(Discovered::Unreachable(e.to_string())),
    };
    let Some(issuer) = resp
        .json()
        .and_then(|v| v.get("issuer").and_then(Value::as_str).map(String::from))
    else {
        return Ok(Discovered::Unreachable(format!(
            "GET {url}: no issuer in the document"
        )));
    };
    if !matches(issuer_url, &issuer) {
        return Err(AzureError::IssuerMismatch {
            url,
            issuer_url: issuer_url.to_string(),
            discovered: issuer,
        });
    }
    Ok(Discovered::Issuer(issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_slash_is_the_only_difference_allowed() {
        assert_eq!(
            discovery_url("https://x/a/"),
            "https://x/a/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://x/a"),
            "https://x/a/.well-known/openid-configuration"
        );
        assert!(matches("https://x/a/", "https://x/a"));
        assert!(matches("https://x/a", "https://x/a/"));
        assert!(matches("https://x/a/", "https://x/a/"));
        assert!(!matches("https://x/a//", "https://x/a"));
        assert!(!matches("https://x/a/", "https://X/a"));
        assert!(!matches("https://x/a/", "https://x/b"));
    }
}

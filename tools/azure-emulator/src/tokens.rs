//! Access tokens: JWT-shaped strings (header and claims readable, signature
//! random) tracked server-side with tenant, audience and expiry. ARM accepts
//! only tokens found here. Tokens are never logged.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;

use crate::util::{guid, now_secs, random_b64url};

/// Resources other than ARM that the token services know (so a token for
/// the wrong audience can be obtained, and ARM can refuse it).
pub const OTHER_KNOWN_RESOURCES: &[&str] = &[
    "https://vault.azure.net",
    "https://storage.azure.com",
    "https://graph.microsoft.com",
];

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub tenant: String,
    /// The resource as requested (`https://host` or `https://host/`).
    pub audience: String,
    pub expires_on: u64,
    /// Application (client) id or managed identity the token was issued to.
    pub subject: String,
}

#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub expires_on: u64,
    pub not_before: u64,
}

#[derive(Debug, Default)]
pub struct Tokens {
    issued: HashMap<String, TokenInfo>,
}

impl Tokens {
    pub fn issue(
        &mut self,
        tenant: &str,
        audience: &str,
        subject: &str,
        lifetime: Duration,
    ) -> Issued {
        let now = now_secs();
        let expires_in = lifetime.as_secs();
        let expires_on = now + expires_in;
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "azure-emulator"});
        let claims = json!({
            "aud": audience,
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "appid": subject,
            "oid": subject,
            "sub": subject,
            "tid": tenant,
            "uti": guid(),
            "ver": "1.0",
        });
        let access_token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            random_b64url(64)
        );
        self.issued.insert(
            access_token.clone(),
            TokenInfo {
                tenant: tenant.to_string(),
                audience: audience.to_string(),
                expires_on,
                subject: subject.to_string(),
            },
        );
        Issued {
            access_token,
            expires_in,
            expires_on,
            not_before: now,
        }
    }

    pub fn get(&self, token: &str) -> Option<&TokenInfo> {
        self.issued.get(token)
    }

    /// Makes every token issued so far expired (for testing refresh paths).
    /// Every access token issued so far (for leak scans in tests).
    pub fn all(&self) -> Vec<String> {
        self.issued.keys().cloned().collect()
    }

    pub fn expire_all(&mut self) {
        let past = now_secs().saturating_sub(1);
        for info in self.issued.values_mut() {
            info.expires_on = past;
        }
    }
}

/// `https://host/` and `https://host` name the same resource.
pub fn same_resource(a: &str, b: &str) -> bool {
    a.strip_suffix('/')
        .unwrap_or(a)
        .eq_ignore_ascii_case(b.strip_suffix('/').unwrap_or(b))
}

/// Whether the token services will issue tokens for `resource`.
pub fn known_resource(arm_endpoint: &str, resource: &str) -> bool {
    same_resource(arm_endpoint, resource)
        || OTHER_KNOWN_RESOURCES
            .iter()
            .any(|r| same_resource(r, resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_compare_without_one_trailing_slash() {
        assert!(same_resource("https://a:1", "https://a:1/"));
        assert!(same_resource("https://a:1/", "https://A:1/"));
        assert!(!same_resource("https://a:1", "https://a:2"));
        assert!(known_resource("https://a:1", "https://vault.azure.net/"));
        assert!(!known_resource("https://a:1", "https://evil.example"));
    }

    #[test]
    fn issued_tokens_are_tracked_and_can_expire() {
        let mut t = Tokens::default();
        let issued = t.issue("t1", "https://a:1/", "app", Duration::from_secs(3599));
        assert_eq!(issued.expires_in, 3599);
        assert_eq!(issued.access_token.split('.').count(), 3);
        let info = t.get(&issued.access_token).expect("tracked");
        assert_eq!(info.audience, "https://a:1/");
        assert!(info.expires_on > now_secs());
        t.expire_all();
        let info = t.get(&issued.access_token).expect("tracked");
        assert!(info.expires_on < now_secs());
    }
}

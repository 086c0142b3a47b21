//! Validation of an issuer URL given by the operator (SPEC §2: https, no whitespace or
//! control characters, at most 2048 bytes). The URL is never normalised.

pub const MAX_ISSUER_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    #[error("issuer URL is empty")]
    Empty,
    #[error("issuer URL must start with https:// (got {shown})")]
    NotHttps { shown: String },
    #[error("issuer URL contains whitespace or a control character at byte {at}")]
    BadCharacter { at: usize },
    #[error("issuer URL is {len} bytes; at most {MAX_ISSUER_LEN} are allowed")]
    TooLong { len: usize },
    #[error("issuer URL has no host")]
    NoHost,
}

/// Checks `url` and returns it unchanged.
pub fn validate(url: &str) -> Result<&str, IssuerError> {
    if url.is_empty() {
        return Err(IssuerError::Empty);
    }
    if url.len() > MAX_ISSUER_LEN {
        return Err(IssuerError::TooLong { len: url.len() });
    }
    if let Some((at, _)) = url
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(IssuerError::BadCharacter { at });
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(IssuerError::NotHttps {
            shown: shorten(url),
        });
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(IssuerError::NoHost);
    }
    Ok(url)
}

/// A URL shortened for error messages (never more than 60 characters).
pub fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_arc_issuers_verbatim() {
        let u = "https://eastus.oic.prod-arc.azure.com/00000000-0000-0000-0000-000000000000/1111/";
        assert_eq!(validate(u), Ok(u));
    }

    #[test]
    fn rejects_what_spec_forbids() {
        assert_eq!(validate(""), Err(IssuerError::Empty));
        assert!(matches!(
            validate("http://x"),
            Err(IssuerError::NotHttps { .. })
        ));
        assert_eq!(
            validate("https://a b"),
            Err(IssuerError::BadCharacter { at: 9 })
        );
        assert_eq!(
            validate("https://a\nb"),
            Err(IssuerError::BadCharacter { at: 9 })
        );
        assert_eq!(
            validate("https://a\u{7f}"),
            Err(IssuerError::BadCharacter { at: 9 })
        );
        assert_eq!(validate("https:///x"), Err(IssuerError::NoHost));
        let long = format!("https://x/{}", "a".repeat(2048));
        assert!(matches!(validate(&long), Err(IssuerError::TooLong { .. })));
    }
}

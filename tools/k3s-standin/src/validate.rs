//! The kube-apiserver start-up checks that matter to issuer rotation, in the
//! order kube-apiserver runs them: flag parsing (pflag), `Complete()` (the
//! max token expiration), then `Validate()` (the issuers).

use crate::duration;
use crate::gostr::quote;
use crate::gourl;

const ISSUER: &str = "service-account-issuer";
const MAX_EXPIRATION: &str = "service-account-max-token-expiration";

/// What the accepted command line means for the stand-in.
#[derive(Debug, Clone, PartialEq)]
pub struct Apiserver {
    /// All `--service-account-issuer` values; the first one signs tokens.
    pub issuers: Vec<String>,
    /// Nanoseconds; zero or absent means "no limit".
    pub max_token_expiration: Option<i64>,
}

impl Apiserver {
    /// The issuer discovery is served for: the first one, when it is an
    /// `https` URL (kube-apiserver skips the discovery endpoints otherwise).
    pub fn discovery_issuer(&self) -> Option<&str> {
        let first = self.issuers.first()?;
        let url = gourl::parse(first).ok()?;
        (url.scheme == "https" && url.host.is_some()).then_some(first.as_str())
    }
}

/// Checks the final `--name=value` list, as kube-apiserver would at start-up.
pub fn check(args: &[String]) -> Result<Apiserver, String> {
    let mut issuers = Vec::new();
    let mut max_token_expiration = None;
    for arg in args {
        let body = arg.strip_prefix("--").unwrap_or(arg);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, value) = body.split_once('=').unwrap_or((body, ""));
        match name {
            ISSUER => issuers.push(value.to_string()),
            MAX_EXPIRATION => {
                let d = duration::parse(value).map_err(|e| {
                    format!(
                        "invalid argument {} for \"--{MAX_EXPIRATION}\" flag: {e}",
                        quote(value)
                    )
                })?;
                max_token_expiration = Some(d);
            }
            _ => {}
        }
    }

    // Complete(): only when token signing is on (a non-empty first issuer;
    // k3s always sets the signing key file).
    if issuers.first().is_some_and(|i| !i.is_empty()) {
        if let Some(d) = max_token_expiration.filter(|&d| d != 0) {
            if !(duration::HOUR..=(1i64 << 32) * duration::SECOND).contains(&d) {
                return Err(format!(
                    "the {MAX_EXPIRATION} must be between 1 hour and 2^32 seconds"
                ));
            }
        }
    }

    // Validate(): every issuer.
    let mut seen: Vec<&str> = Vec::new();
    for issuer in &issuers {
        if issuer.contains(':') {
            let bad = gourl::parse(issuer).err().or_else(|| {
                // Stricter than Go, which accepts spaces in a URL path: an
                // issuer with whitespace is always an operator mistake.
                issuer
                    .contains(char::is_whitespace)
                    .then(|| format!("parse {}: whitespace in URL", quote(issuer)))
            });
            if let Some(e) = bad {
                return Err(format!(
                    "{ISSUER} {} contained a ':' but was not a valid URL: {e}",
                    quote(issuer)
                ));
            }
        }
        if issuer.is_empty() {
            return Err(format!("{ISSUER} should not be an empty string"));
        }
        if seen.contains(&issuer.as_str()) {
            return Err(format!(
                "{ISSUER} {} is already specified (duplicate issuer)",
                quote(issuer)
            ));
        }
        seen.push(issuer);
    }
    if issuers.is_empty() {
        return Err(format!("{ISSUER} is a required flag"));
    }

    Ok(Apiserver {
        issuers,
        max_token_expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "https://kubernetes.default.svc.cluster.local";

    fn run(list: &[&str]) -> Result<Apiserver, String> {
        check(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn two_issuers_and_an_expiration_are_fine() {
        let a = run(&[
            "--secure-port=6444",
            "--service-account-issuer=https://new.example/t/",
            &format!("--service-account-issuer={DEFAULT}"),
            "--service-account-max-token-expiration=24h",
        ])
        .expect("valid");
        assert_eq!(a.issuers.len(), 2);
        assert_eq!(a.discovery_issuer(), Some("https://new.example/t/"));
        assert_eq!(a.max_token_expiration, Some(24 * duration::HOUR));
    }

    #[test]
    fn duplicate_issuer_is_refused() {
        let err = run(&[
            &format!("--service-account-issuer={DEFAULT}"),
            &format!("--service-account-issuer={DEFAULT}"),
        ])
        .expect_err("duplicate");
        assert!(
            err.contains("is already specified") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn bad_issuers_are_refused() {
        let err = run(&["--service-account-issuer=http://[::1]:namedport"]).expect_err("bad url");
        assert!(
            err.contains("contained a ':' but was not a valid URL"),
            "{err}"
        );
        assert!(run(&["--service-account-issuer=https://a.example/x y"]).is_err());
        assert!(run(&["--service-account-issuer=https://a\u{7}.example/"]).is_err());
        let err = run(&["--service-account-issuer="]).expect_err("empty");
        assert_eq!(err, "service-account-issuer should not be an empty string");
        assert!(run(&["--secure-port=1"]).is_err());
    }

    #[test]
    fn issuer_without_colon_is_accepted_but_gets_no_discovery() {
        let a = run(&["--service-account-issuer=k3s"]).expect("non-URL issuers are allowed");
        assert_eq!(a.discovery_issuer(), None);
        let a = run(&["--service-account-issuer=http://plain.example"]).expect("http is allowed");
        assert_eq!(a.discovery_issuer(), None);
    }

    #[test]
    fn max_expiration_bounds() {
        let issuer = format!("--service-account-issuer={DEFAULT}");
        let exp = |d: &str| {
            run(&[
                &issuer,
                &format!("--service-account-max-token-expiration={d}"),
            ])
        };
        assert!(exp("1h").is_ok());
        assert!(exp("4294967296s").is_ok());
        assert!(exp("0s").is_ok());
        assert!(exp("59m59s").is_err());
        assert!(exp("4294967297s").is_err());
        assert!(exp("-2h").is_err());
        let err = exp("24").expect_err("no unit");
        assert_eq!(
            err,
            "invalid argument \"24\" for \"--service-account-max-token-expiration\" flag: time: missing unit in duration \"24\""
        );
        // The last value wins, as for any pflag duration.
        assert!(run(&[
            &issuer,
            "--service-account-max-token-expiration=1m",
            "--service-account-max-token-expiration=2h"
        ])
        .is_ok());
    }

    #[test]
    fn bad_flag_syntax_is_refused() {
        assert!(run(&["--=x", "--service-account-issuer=k3s"]).is_err());
        assert!(run(&["---x=1", "--service-account-issuer=k3s"]).is_err());
    }
}

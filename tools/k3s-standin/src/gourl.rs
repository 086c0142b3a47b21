//! Which strings Go's `net/url.Parse` rejects — what kube-apiserver applies
//! to a `--service-account-issuer` that contains a ':'. Also yields the
//! scheme, which decides whether discovery is served.
//!
//! Rejected: control characters anywhere; a leading ':' (missing scheme); a
//! colon in the first segment of a scheme-less path; a bad port; characters
//! not allowed in a host; `%` not followed by two hex digits; `%`-escaped
//! ASCII in a host (except `%25`); bad userinfo characters; a `[` host
//! without `]`.

use crate::gostr::quote;

#[derive(Debug, Clone, PartialEq)]
pub struct GoUrl {
    /// Lower-cased, empty when there is none.
    pub scheme: String,
    pub host: Option<String>,
}

/// Ok, or `parse "<raw>": <reason>` as Go's `*url.Error` prints.
pub fn parse(raw: &str) -> Result<GoUrl, String> {
    let wrap = |reason: String| format!("parse {}: {reason}", quote(raw));
    let (main, fragment) = match raw.split_once('#') {
        Some((m, f)) => (m, Some(f)),
        None => (raw, None),
    };
    let url = parse_main(main).map_err(wrap)?;
    if let Some(f) = fragment {
        check_escapes(f, Part::Other).map_err(wrap)?;
    }
    Ok(url)
}

fn parse_main(s: &str) -> Result<GoUrl, String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if s == "*" {
        return Ok(GoUrl {
            scheme: String::new(),
            host: None,
        });
    }
    let (scheme, rest) = split_scheme(s)?;
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(before, _query)| before)
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // "scheme:opaque" — valid, no host.
            return Ok(GoUrl { scheme, host: None });
        }
        let first_segment = rest.split('/').next().unwrap_or("");
        if first_segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut host = None;
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, p) = after.find('/').map_or((after, ""), |i| after.split_at(i));
        host = Some(parse_authority(authority)?);
        path = p;
    }
    check_escapes(path, Part::Other)?;
    Ok(GoUrl { scheme, host })
}

fn split_scheme(s: &str) -> Result<(String, &str), String> {
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((s[..i].to_ascii_lowercase(), &s[i + 1..])),
            _ => break,
        }
    }
    Ok((String::new(), s))
}

fn parse_authority(authority: &str) -> Result<String, String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        check_escapes(userinfo, Part::Other)?;
    }
    Ok(host)
}

fn parse_host(host: &str) -> Result<String, String> {
    let port_ok = |p: &str| {
        p.is_empty() || (p.starts_with(':') && p[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    if host.starts_with('[') {
        let close = host.rfind(']').ok_or("missing ']' in host")?;
        let port = &host[close + 1..];
        if !port_ok(port) {
            return Err(format!("invalid port {} after host", quote(port)));
        }
        match host[..close].find("%25") {
            Some(zone) => {
                check_escapes(&host[..zone], Part::Host)?;
                check_escapes(&host[zone..close], Part::Other)?;
                check_escapes(&host[close..], Part::Host)?;
            }
            None => check_escapes(host, Part::Host)?,
        }
        return Ok(host.to_string());
    }
    if let Some(i) = host.rfind(':') {
        if !port_ok(&host[i..]) {
            return Err(format!("invalid port {} after host", quote(&host[i..])));
        }
    }
    check_escapes(host, Part::Host)?;
    Ok(host.to_string())
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Host,
    Other,
}

/// ASCII bytes Go allows unescaped in a host.
fn host_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&b)
}

fn check_escapes(s: &str, part: Part) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                let end = (i + 3).min(b.len());
                return Err(format!(
                    "invalid URL escape {}",
                    quote(&String::from_utf8_lossy(&b[i..end]))
                ));
            }
            let escaped = &s[i..i + 3];
            if part == Part::Host && b[i + 1] < b'8' && escaped != "%25" {
                return Err(format!("invalid URL escape {}", quote(escaped)));
            }
            i += 3;
            continue;
        }
        if part == Part::Host && b[i] < 0x80 && !host_byte_ok(b[i]) {
            return Err(format!(
                "invalid character {} in host name",
                quote(&char::from(b[i]).to_string())
            ));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_go_accepts() {
        for ok in [
            "https://kubernetes.default.svc.cluster.local",
            "https://westeurope.oic.prod-aks.azure.com/tenant/guid/",
            "https://host:6443/path?q=1#frag",
            "https://user:pw@host/",
            "https://[::1]:443/",
            "http://foo.bar.com",
            "urn:opaque:thing",
            "https:",
            "https://host:/",
            "https://a/b c",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        assert_eq!(parse("HTTPS://x/").map(|u| u.scheme), Ok("https".into()));
    }

    #[test]
    fn rejects_what_go_rejects() {
        // kube-apiserver's own test case.
        let err = parse("http://[::1]:namedport").expect_err("bad port");
        assert_eq!(
            err,
            "parse \"http://[::1]:namedport\": invalid port \":namedport\" after host"
        );
        for bad in [
            "https://host:port",
            "https://a b/",
            "https://host\n",
            "https://ho\tst/",
            ":missing-scheme",
            "1http://x",
            "https://host/%zz",
            "https://%41host/",
            "https://[::1/",
            "https://us er@host/",
            "https://host/#%g0",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}

//! The request log tests assert on. Nothing secret ever enters it:
//! `Authorization` is cut to its scheme, and the form fields that carry
//! credentials are replaced by `<redacted>`. Response bodies (tokens) are not
//! recorded at all.

use hyper::Method;

use crate::http::Request;
use crate::util::{form_decode, percent_decode};

/// Form fields whose values are credentials.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "refresh_token",
    "code",
];

pub const REDACTED: &str = "<redacted>";

/// One request as the emulator saw it, with secrets removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: Method,
    pub path_and_query: String,
    /// Lower-case names, in arrival order; `authorization` holds only the
    /// scheme (`Bearer`, `Basic`).
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status answered; `0` when the connection was closed instead.
    pub status: u16,
    /// `https` (ARM, Entra, discovery) or `http` (HIMDS, IMDS).
    pub scheme: &'static str,
}

impl RecordedRequest {
    pub(crate) fn new(req: &Request, status: u16) -> Self {
        RecordedRequest {
            method: req.method.clone(),
            path_and_query: req.path_and_query.clone(),
            headers: req
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = if name == "authorization" {
                        value.split_whitespace().next().unwrap_or("").to_string()
                    } else {
                        value.clone()
                    };
                    (name.clone(), value)
                })
                .collect(),
            body: redact_body(req),
            status,
            scheme: req.scheme,
        }
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(p, _)| p)
    }

    /// A decoded query parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, q) = self.path_and_query.split_once('?')?;
        form_decode(q)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A decoded form field of the (redacted) body.
    pub fn form_field(&self, name: &str) -> Option<String> {
        form_decode(&self.body)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn redact_body(req: &Request) -> String {
    let text = String::from_utf8_lossy(&req.body).into_owned();
    let is_form = req
        .header("content-type")
        .is_some_and(|ct| ct.contains("application/x-www-form-urlencoded"));
    let looks_like_form = SECRET_FIELDS
        .iter()
        .any(|f| text.starts_with(&format!("{f}=")) || text.contains(&format!("&{f}=")));
    if !is_form && !looks_like_form {
        return text;
    }
    // Keep every pair byte for byte except the secret values.
    text.split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if SECRET_FIELDS.contains(&percent_decode(key).as_str()) {
                format!("{key}={REDACTED}")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

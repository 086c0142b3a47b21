//! The cloud half (SPEC §2, §4): credentials, the ARM client, OIDC issuer + workload identity
//! enablement on the Arc connected cluster, and issuer discovery.

pub mod arm;
pub mod auth;
pub mod coords;
pub mod discovery;
pub mod enable;
pub mod endpoints;
pub mod http;
pub mod secret;

use std::time::Duration;

use crate::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Coordinates(String),
    #[error("{method}: {message}")]
    Auth {
        method: &'static str,
        message: String,
    },
    #[error("no Azure credential found; tried: {}", tried.join("; "))]
    NoCredential { tried: Vec<String> },
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
    #[error("{what}: HTTP {status} {code}: {message}")]
    Arm {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("the update of the connected cluster ended {status}: {code}: {message}")]
    Operation {
        status: String,
        code: String,
        message: String,
    },
    #[error("{what}: not done after {}", crate::duration::human(*after))]
    Timeout { what: String, after: Duration },
    #[error("issuer discovery at {url}: the document's issuer {discovered:?} does not match the cluster's issuerUrl {issuer_url:?}")]
    IssuerMismatch {
        url: String,
        issuer_url: String,
        discovered: String,
    },
    #[error("{0}")]
    ProvisionedClusterOff(String),
}

impl AzureError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AzureError::Config(_) | AzureError::Coordinates(_) => ErrorKind::InvalidInput,
            AzureError::ProvisionedClusterOff(_) => ErrorKind::Unsupported,
            _ => ErrorKind::Azure,
        }
    }
}

/// An ARM error from a response: `{"error":{"code","message"}}`, else the status.
pub fn arm_error(what: &str, resp: &http::Response) -> AzureError {
    let body = resp.json();
    let err = body.as_ref().and_then(|b| b.get("error"));
    let field = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .map(|s| s.replace('\n', " "))
    };
    AzureError::Arm {
        what: what.to_string(),
        status: resp.status,
        code: field("code").unwrap_or_else(|| "-".into()),
        message: field("message").unwrap_or_else(|| {
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(200)
                .collect()
        }),
    }
}

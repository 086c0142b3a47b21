//! k3s: where its config lives, how k3s merges it, what kube-apiserver ends up with, and
//! the edit that puts the issuer args in (SPEC §2).

pub mod args;
pub mod edit;
pub mod exec;
pub mod intent;
pub mod merge;
pub mod plan;
pub mod sources;

use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::hostfile::HostFileError;
use crate::yaml::YamlError;

pub const APISERVER_ARG_KEY: &str = "kube-apiserver-arg";
pub const ISSUER_ARG: &str = "service-account-issuer";
pub const MAX_EXPIRATION_ARG: &str = "service-account-max-token-expiration";
pub const DROPIN_NAME: &str = "90-aio-prep.yaml";

/// k3s's default issuer for a cluster domain (`pkg/daemons/control/server.go`).
pub fn default_issuer(cluster_domain: &str) -> String {
    format!("https://kubernetes.default.svc.{cluster_domain}")
}

#[derive(Debug, thiserror::Error)]
pub enum K3sError {
    #[error(transparent)]
    File(#[from] HostFileError),
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{path}:{line}: {key}: {message}")]
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Impossible(String),
    #[error("edit of {path} did not verify: {message} (nothing written)")]
    EditNotVerified { path: PathBuf, message: String },
}

impl K3sError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            K3sError::File(e) if !e.is_input_error() => ErrorKind::Internal,
            K3sError::File(_) | K3sError::Yaml(_) | K3sError::BadValue { .. } => {
                ErrorKind::InvalidInput
            }
            K3sError::Impossible(_) => ErrorKind::Unsupported,
            K3sError::EditNotVerified { .. } => ErrorKind::Internal,
        }
    }
}

//! The crate's top-level error: every module error converts into it, and it alone maps to
//! the exit codes of SPEC §7.

use std::path::PathBuf;

use crate::{azure, config, k3s, lock, state, systemd, verify, yaml};

/// Machine-readable error class; stable strings used in the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags, configuration or host files (exit 2).
    InvalidInput,
    /// The flavor or the requested state is not possible on this host (exit 4).
    Unsupported,
    /// Azure authentication, API or timeout (exit 5).
    Azure,
    /// The host change failed and was rolled back (exit 6).
    RolledBack,
    /// The rollback failed too; the host needs attention (exit 7).
    RollbackFailed,
    /// Another run holds the lock (exit 8).
    Locked,
    /// Anything else (exit 1).
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Azure => "azure",
            ErrorKind::RolledBack => "rolled-back",
            ErrorKind::RollbackFailed => "rollback-failed",
            ErrorKind::Locked => "locked",
            ErrorKind::Internal => "internal",
        }
    }

    /// Exit code per SPEC §7.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::InvalidInput => 2,
            ErrorKind::Unsupported => 4,
            ErrorKind::Azure => 5,
            ErrorKind::RolledBack => 6,
            ErrorKind::RollbackFailed => 7,
            ErrorKind::Locked => 8,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Azure(#[from] azure::AzureError),
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
    #[error(transparent)]
    K3s(#[from] k3s::K3sError),
    #[error(transparent)]
    Systemd(#[from] systemd::SystemdError),
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{message}")]
    RolledBack { message: String },
    #[error("{message}")]
    RollbackFailed { message: String },
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::Yaml(_) | Error::Usage(_) => ErrorKind::InvalidInput,
            Error::K3s(e) => e.kind(),
            Error::Azure(e) => e.kind(),
            Error::Systemd(_) | Error::Verify(_) | Error::Internal(_) | Error::Io { .. } => {
                ErrorKind::Internal
            }
            Error::State(e) => e.kind(),
            Error::Lock(e) => e.kind(),
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::RolledBack { .. } => ErrorKind::RolledBack,
            Error::RollbackFailed { .. } => ErrorKind::RollbackFailed,
        }
    }

    /// The message followed by its `caused by` chain, on one line (for the JSON report).
    pub fn one_line(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = cause.source();
        }
        out.replace('\n', " ")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

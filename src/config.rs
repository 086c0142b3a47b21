//! aio-prep's own configuration (SPEC §5): built-in defaults < /etc/aio-prep/config.toml <
//! /etc/aio-prep/config.d/*.toml (byte order) < `AIO_PREP_*` env < flags. Every key is in
//! one registry, which drives file validation, env names, `config set` and `config show`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{DocumentMut, Item, Table};

use crate::duration::{check_max_token_expiration, parse_go_duration};
use crate::hostfile::{self, Ownership};
use crate::k3s::plan::Target;
use crate::paths::{HostRoot, AIO_CONFIG_DIR, AIO_CONFIG_FILE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Str,
    Bool,
    Duration,
    OneOf(&'static [&'static str]),
}

pub struct KeySpec {
    /// Dotted name, e.g. `k3s.target`.
    pub name: &'static str,
    pub ty: KeyType,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

pub const AUTH_METHODS: &[&str] = &[
    "auto",
    "client-secret",
    "client-certificate",
    "workload-identity",
    "arc-identity",
    "imds",
    "azure-cli",
];
pub const CLOUDS: &[&str] = &["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"];

pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "azure.subscription_id",
        ty: KeyType::Str,
        default: None,
        help: "subscription of the Arc connected cluster",
    },
    KeySpec {
        name: "azure.resource_group",
        ty: KeyType::Str,
        default: None,
        help: "resource group of the connected cluster",
    },
    KeySpec {
        name: "azure.cluster_name",
        ty: KeyType::Str,
        default: None,
        help: "name of the connected cluster",
    },
    KeySpec {
        name: "azure.tenant_id",
        ty: KeyType::Str,
        default: None,
        help: "Entra tenant",
    },
    KeySpec {
        name: "azure.cloud",
        ty: KeyType::OneOf(CLOUDS),
        default: Some("AzureCloud"),
        help: "Azure cloud",
    },
    KeySpec {
        name: "azure.arm_endpoint",
        ty: KeyType::Str,
        default: None,
        help: "override the ARM endpoint",
    },
    KeySpec {
        name: "azure.authority_host",
        ty: KeyType::Str,
        default: None,
        help: "override the Entra authority",
    },
    KeySpec {
        name: "azure.ca_file",
        ty: KeyType::Str,
        default: None,
        help: "extra CA bundle (PEM) to trust",
    },
    KeySpec {
        name: "azure.api_version",
        ty: KeyType::Str,
        default: Some("2024-07-15-preview"),
        help: "connectedClusters api-version",
    },
    KeySpec {
        name: "azure.agent_timeout",
        ty: KeyType::Duration,
        default: Some("20m"),
        help: "how long to wait for Arc agents to settle",
    },
    KeySpec {
        name: "azure.operation_timeout",
        ty: KeyType::Duration,
        default: Some("30m"),
        help: "how long to wait for the connected cluster update (long-running operation)",
    },
    KeySpec {
        name: "azure.connect_timeout",
        ty: KeyType::Duration,
        default: Some("10s"),
        help: "TCP + TLS connect timeout for Azure endpoints",
    },
    KeySpec {
        name: "azure.request_timeout",
        ty: KeyType::Duration,
        default: Some("60s"),
        help: "timeout of one HTTP request to Azure (retries have their own budget)",
    },
    KeySpec {
        name: "azure.poll_interval",
        ty: KeyType::Duration,
        default: Some("5s"),
        help: "pause between polls when the server gives no Retry-After",
    },
    KeySpec {
        name: "azure.auth.method",
        ty: KeyType::OneOf(AUTH_METHODS),
        default: Some("auto"),
        help: "credential source",
    },
    KeySpec {
        name: "azure.auth.client_id",
        ty: KeyType::Str,
        default: None,
        help: "service principal / identity client id",
    },
    KeySpec {
        name: "azure.auth.client_secret_file",
        ty: KeyType::Str,
        default: None,
        help: "file holding the client secret",
    },
    KeySpec {
        name: "azure.auth.certificate_file",
        ty: KeyType::Str,
        default: None,
        help: "PEM file with key and certificate",
    },
    KeySpec {
        name: "issuer.url",
        ty: KeyType::Str,
        default: None,
        help: "issuer URL; set = offline mode (no Azure calls)",
    },
    KeySpec {
        name: "k3s.target",
        ty: KeyType::OneOf(&["config", "dropin"]),
        default: Some("config"),
        help: "edit config.yaml in place, or own config.yaml.d/90-aio-prep.yaml",
    },
    KeySpec {
        name: "k3s.unit",
        ty: KeyType::Str,
        default: None,
        help: "k3s unit name; empty = auto-detect",
    },
    KeySpec {
        name: "k3s.max_token_expiration",
        ty: KeyType::Duration,
        default: Some("24h"),
        help: "service-account-max-token-expiration (1h..2^32s)",
    },
    KeySpec {
        name: "k3s.keep_previous_issuer",
        ty: KeyType::Bool,
        default: Some("true"),
        help: "keep the previous issuer as the second, accept-only issuer",
    },
    KeySpec {
        name: "k3s.restart",
        ty: KeyType::Bool,
        default: Some("true"),
        help: "restart k3s when needed; false = report \"restart pending\"",
    },
    KeySpec {
        name: "k3s.restart_timeout",
        ty: KeyType::Duration,
        default: Some("10m"),
        help: "deadline for k3s to come back after a restart",
    },
];

pub fn key_spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// `k3s.target` → `AIO_PREP_K3S_TARGET`.
pub fn env_name(key: &str) -> String {
    format!("AIO_PREP_{}", key.replace('.', "_").to_uppercase())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
    #[error("{origin}: unknown key `{key}`")]
    UnknownKey { origin: String, key: String },
    #[error("{path}:{line}: invalid TOML: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    File(#[from] hostfile::HostFileError),
}

/// A raw value and where it came from (`file:line`, an env var, a flag, or the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: String,
}

/// The layered configuration before typing: key → winning setting.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub values: BTreeMap<&'static str, Setting>,
    pub files: Vec<PathBuf>,
}

impl Layers {
    /// Reads defaults, files and environment (`env` lists the process environment).
    pub fn load(
        root: &HostRoot,
        config_file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Layers, ConfigError> {
        let mut layers = Layers::default();
        for spec in KEYS {
            if let Some(d) = spec.default {
                layers.values.insert(
                    spec.name,
                    Setting {
                        value: d.to_string(),
                        origin: "default".into(),
                    },
                );
            }
        }
        let main = config_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.resolve(AIO_CONFIG_FILE));
        let explicit = config_file.is_some();
        layers.read_file(&main, explicit)?;
        let dir = root.resolve(AIO_CONFIG_DIR);
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(ConfigError::Io {
                    action: "list",
                    path: dir,
                    source: e,
                })
            }
        };
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            layers.read_file(&dir.join(name), true)?;
        }
        for spec in KEYS {
            let var = env_name(spec.name);
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == var) {
                layers.set(spec, v.clone(), var.clone())?;
            }
        }
        Ok(layers)
    }

    /// Sets a key from a flag or env var, checking its type.
    pub fn set(
        &mut self,
        spec: &'static KeySpec,
        value: String,
        origin: String,
    ) -> Result<(), ConfigError> {
        check_type(spec, &value).map_err(|message| ConfigError::Invalid {
            origin: origin.clone(),
            key: spec.name.into(),
            message,
        })?;
        self.values.insert(spec.name, Setting { value, origin });
        Ok(())
    }

    fn read_file(&mut self, path: &Path, must_exist: bool) -> Result<(), ConfigError> {
        let Some(file) = hostfile::read_guarded(path)? else {
            if must_exist {
                return Err(ConfigError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source: io::Error::from(io::ErrorKind::NotFound),
                });
            }
            return Ok(());
        };
        let doc =
            toml_edit::Document::parse(file.text.as_str()).map_err(|e| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: line_at(&file.text, e.span().map_or(0, |s| s.start)),
                message: e.message().replace('\n', " ").trim().to_string(),
            })?;
        let mut found = Vec::new();
        walk(doc.as_table(), "", &file.text, path, &mut found)?;
        for (spec, value, line) in found {
            let origin = format!("{}:{line}", path.display());
            self.set(spec, value, origin)?;
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|s| s.value.as_str())
            .filter(|v| !v.is_empty())
    }

    fn origin(&self, key: &str) -> String {
        self.values
            .get(key)
            .map(|s| s.origin.clone())
            .unwrap_or_else(|| "default".into())
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn walk(
    table: &Table,
    prefix: &str,
    text: &str,
    path: &Path,
    out: &mut Vec<(&'static KeySpec, String, usize)>,
) -> Result<(), ConfigError> {
    for (k, item) in table.iter() {
        let name = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        let line = table
            .get_key_value(k)
            .and_then(|(key, _)| key.span())
            .or_else(|| item.span())
            .map_or(0, |s| line_at(text, s.start));
        let origin = || format!("{}:{line}", path.display());
        if let Some(sub) = item.as_table_like() {
            if KEYS.iter().any(|s| s.name.starts_with(&format!("{name}."))) {
                let mut t = Table::new();
                for (sk, sv) in sub.iter() {
                    t.insert(sk, sv.clone());
                }
                // Spans are lost on copy; walk the original when it is a real table.
                if let Some(real) = item.as_table() {
                    walk(real, &name, text, path, out)?;
                } else if let Some(inline) = item.as_inline_table() {
                    walk(&inline.clone().into_table(), &name, text, path, out)?;
                }
                continue;
            }
            return Err(ConfigError::UnknownKey {
                origin: origin(),
                key: name,
            });
        }
        let Some(spec) = key_spec(&name) else {
            return Err(ConfigError::UnknownKey {
                origin: origin(),
                key: name,
            });
        };
        let value = match (spec.ty, item.as_value()) {
            (KeyType::Bool, Some(v)) => v.as_bool().map(|b| b.to_string()),
            (_, Some(v)) => v.as_str().map(String::from),
            _ => None,
        };
        let Some(value) = value else {
            let want = if spec.ty == KeyType::Bool {
                "true or false"
            } else {
                "a string"
            };
            return Err(ConfigError::Invalid {
                origin: origin(),
                key: name,
                message: format!("expected {want}"),
            });
        };
        out.push((spec, value, line));
    }
    Ok(())
}

fn check_type(spec: &KeySpec, value: &str) -> Result<(), String> {
    if value.chars().any(|c| c.is_control()) {
        return Err("contains a control character (newline?)".into());
    }
    match spec.ty {
        KeyType::Str => Ok(()),
        KeyType::Bool => match value {
            "true" | "false" => Ok(()),
            _ => Err(format!("expected true or false, got {value:?}")),
        },
        KeyType::Duration => parse_go_duration(value)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        KeyType::OneOf(choices) => {
            if choices.contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "expected one of {}, got {value:?}",
                    choices.join(", ")
                ))
            }
        }
    }
}

/// Typed k3s settings.
#[derive(Debug, Clone)]
pub struct K3sSettings {
    pub target: Target,
    pub unit: Option<String>,
    pub max_token_expiration: String,
    pub keep_previous_issuer: bool,
    pub restart: bool,
    pub restart_timeout: Duration,
}

/// Typed Azure settings.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub cloud: String,
    pub arm_endpoint: Option<String>,
    pub authority_host: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub api_version: String,
    pub agent_timeout: Duration,
    pub operation_timeout: Duration,
    pub poll_interval: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub subscription_id: Option<String>,
    pub resource_group: Option<String>,
    pub cluster_name: Option<String>,
    pub tenant_id: Option<String>,
    pub auth_method: String,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub certificate_file: Option<PathBuf>,
}

/// Typed settings, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer_url: Option<String>,
    pub azure: AzureSettings,
    pub k3s: K3sSettings,
    pub layers: Layers,
}

impl Settings {
    pub fn from_layers(layers: Layers) -> Result<Settings, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: layers.origin(key),
            key: key.into(),
            message,
        };
        let duration = |key: &str| -> Result<Duration, ConfigError> {
            parse_go_duration(layers.get(key).unwrap_or("0"))
                .map_err(|e| invalid(key, e.to_string()))
        };
        let issuer_url = match layers.get("issuer.url") {
            Some(u) => Some(
                crate::issuer::validate(u)
                    .map_err(|e| invalid("issuer.url", e.to_string()))?
                    .to_string(),
            ),
            None => None,
        };
        let max = layers
            .get("k3s.max_token_expiration")
            .unwrap_or("24h")
            .to_string();
        check_max_token_expiration(&max)
            .map_err(|e| invalid("k3s.max_token_expiration", e.to_string()))?;
        let k3s = K3sSettings {
            target: if layers.get("k3s.target") == Some("dropin") {
                Target::Dropin
            } else {
                Target::Config
            },
            unit: layers.get("k3s.unit").map(String::from),
            max_token_expiration: max,
            keep_previous_issuer: layers.get("k3s.keep_previous_issuer") != Some("false"),
            restart: layers.get("k3s.restart") != Some("false"),
            restart_timeout: duration("k3s.restart_timeout")?,
        };
        if let Some(u) = &k3s.unit {
            if u.contains('/') || !u.ends_with(".service") {
                return Err(invalid(
                    "k3s.unit",
                    format!("{u:?} is not a service unit name (e.g. k3s.service)"),
                ));
            }
        }
        let text = |key: &str| layers.get(key).map(String::from);
        let https_endpoint = |key: &str| -> Result<Option<String>, ConfigError> {
            match layers.get(key) {
                Some(u) if !u.starts_with("https://") => Err(invalid(
                    key,
                    format!("{u:?} must be an https:// URL (tokens never travel in clear text)"),
                )),
                other => Ok(other.map(String::from)),
            }
        };
        let azure = AzureSettings {
            cloud: text("azure.cloud").unwrap_or_else(|| "AzureCloud".into()),
            arm_endpoint: https_endpoint("azure.arm_endpoint")?,
            authority_host: https_endpoint("azure.authority_host")?,
            ca_file: text("azure.ca_file").map(PathBuf::from),
            api_version: text("azure.api_version").unwrap_or_else(|| "2024-07-15-preview".into()),
            agent_timeout: duration("azure.agent_timeout")?,
            operation_timeout: duration("azure.operation_timeout")?,
            poll_interval: duration("azure.poll_interval")?,
            connect_timeout: duration("azure.connect_timeout")?,
            request_timeout: duration("azure.request_timeout")?,
            subscription_id: text("azure.subscription_id"),
            resource_group: text("azure.resource_group"),
            cluster_name: text("azure.cluster_name"),
            tenant_id: text("azure.tenant_id"),
            auth_method: text("azure.auth.method").unwrap_or_else(|| "auto".into()),
            client_id: text("azure.auth.client_id"),
            client_secret_file: text("azure.auth.client_secret_file").map(PathBuf::from),
            certificate_file: text("azure.auth.certificate_file").map(PathBuf::from),
        };
        Ok(Settings {
            issuer_url,
            azure,
            k3s,
            layers,
        })
    }
}

/// `config set KEY VALUE`: edits `file` in place with toml_edit, keeping comments and
/// layout, after checking the key and value against the registry.
pub fn set_in_file(file: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    let spec = key_spec(key).ok_or_else(|| ConfigError::UnknownKey {
        origin: "config set".into(),
        key: key.into(),
    })?;
    check_type(spec, value).map_err(|message| ConfigError::Invalid {
        origin: "config set".into(),
        key: key.into(),
        message,
    })?;
    if key == "issuer.url" && !value.is_empty() {
        crate::issuer::validate(value).map_err(|e| ConfigError::Invalid {
            origin: "config set".into(),
            key: key.into(),
            message: e.to_string(),
        })?;
    }
    if key == "k3s.max_token_expiration" {
        check_max_token_expiration(value).map_err(|e| ConfigError::Invalid {
            origin: "config set".into(),
            key: key.into(),
            message: e.to_string(),
        })?;
    }
    let existing = hostfile::read_guarded(file)?;
    let text = existing.as_ref().map_or("", |f| f.text.as_str());
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Syntax {
                path: file.to_path_buf(),
                line: line_at(text, e.span().map_or(0, |s| s.start)),
                message: e.message().replace('\n', " ").trim().to_string(),
            })?;
    let parts: Vec<&str> = key.split('.').collect();
    let (leaf, tables) = parts.split_last().ok_or_else(|| ConfigError::UnknownKey {
        origin: "config set".into(),
        key: key.into(),
    })?;
    let mut table = doc.as_table_mut();
    for t in tables {
        let entry = table.entry(t).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(false);
            Item::Table(t)
        });
        table = entry.as_table_mut().ok_or_else(|| ConfigError::Invalid {
            origin: file.display().to_string(),
            key: (*t).to_string(),
            message: "is not a table".into(),
        })?;
    }
    let new_value = match spec.ty {
        KeyType::Bool => toml_edit::value(value == "true"),
        _ => toml_edit::value(value),
    };
    match table.get_mut(leaf) {
        Some(item) if item.is_value() => {
            let decor = item.as_value().map(|v| v.decor().clone());
            *item = new_value;
            if let (Some(d), Some(v)) = (decor, item.as_value_mut()) {
                *v.decor_mut() = d;
            }
        }
        _ => {
            table.insert(leaf, new_value);
        }
    }
    let owner = existing.as_ref().map_or(
        Ownership {
            mode: 0o644,
            uid: None,
            gid: None,
        },
        Ownership::of,
    );
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).map_err(|e| ConfigError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    hostfile::atomic_write(file, doc.to_string().as_bytes(), owner)?;
    Ok(())
}

/// `config show`: the effective configuration as TOML, each key with its origin.
pub fn render_effective(layers: &Layers) -> String {
    let mut out = String::new();
    let mut current_table = String::new();
    for spec in KEYS {
        let (table, leaf) = spec.name.rsplit_once('.').unwrap_or(("", spec.name));
        if table != current_table {
            out.push_str(&format!("\n[{table}]\n"));
            current_table = table.to_string();
        }
        match layers.values.get(spec.name) {
            Some(s) => {
                let shown = match spec.ty {
                    KeyType::Bool => s.value.clone(),
                    _ => toml_edit::Value::from(s.value.as_str())
                        .to_string()
                        .trim()
                        .to_string(),
                };
                out.push_str(&format!("{leaf} = {shown}  # {}\n", s.origin));
            }
            None => out.push_str(&format!("# {leaf} unset  ({})\n", spec.help)),
        }
    }
    out.trim_start().to_string()
}

/// The azure-identity variables present in the environment; secret ones redacted.
pub fn render_credential_env(env: &[(String, String)]) -> String {
    const VARS: &[(&str, bool)] = &[
        ("AZURE_TENANT_ID", false),
        ("AZURE_CLIENT_ID", false),
        ("AZURE_CLIENT_SECRET", true),
        ("AZURE_CLIENT_CERTIFICATE_PATH", false),
        ("AZURE_FEDERATED_TOKEN_FILE", false),
        ("AZURE_AUTHORITY_HOST", false),
        ("IDENTITY_ENDPOINT", false),
        ("IMDS_ENDPOINT", false),
        ("AZURE_SUBSCRIPTION_ID", false),
        ("AZURE_RESOURCE_GROUP", false),
        ("AZURE_RESOURCE_NAME", false),
    ];
    let mut out = String::new();
    for (name, secret) in VARS {
        if let Some((_, v)) = env.iter().find(|(k, v)| k == name && !v.is_empty()) {
            let shown = if *secret { "<redacted>" } else { v.as_str() };
            out.push_str(&format!("# env {name} = {shown}\n"));
        }
    }
    if !out.is_empty() {
        out.insert_str(0, "\n# Credentials and coordinates from the environment:\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_env_is_listed_with_secrets_redacted() {
        let env = vec![
            (
                "AZURE_CLIENT_SECRET".to_string(),
                "s3cr3t-value".to_string(),
            ),
            ("AZURE_CLIENT_ID".to_string(), "cid".to_string()),
        ];
        let text = render_credential_env(&env);
        assert!(text.contains("# env AZURE_CLIENT_SECRET = <redacted>"));
        assert!(text.contains("# env AZURE_CLIENT_ID = cid"));
        assert!(!text.contains("s3cr3t-value"));
    }

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (p, t) in files {
            let path = dir.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, t).expect("write");
        }
        let root = HostRoot::new(dir.path());
        (dir, root)
    }

    #[test]
    fn layers_apply_in_order() {
        let (_d, root) = root_with(&[
            (
                "/etc/aio-prep/config.toml",
                "[k3s]\ntarget = \"dropin\"\nmax_token_expiration = \"48h\"\n",
            ),
            (
                "/etc/aio-prep/config.d/10-a.toml",
                "k3s.max_token_expiration = \"12h\"\n",
            ),
            (
                "/etc/aio-prep/config.d/20-b.toml",
                "[k3s]\nrestart = false\n",
            ),
        ]);
        let env = vec![(
            "AIO_PREP_K3S_MAX_TOKEN_EXPIRATION".to_string(),
            "6h".to_string(),
        )];
        let layers = Layers::load(&root, None, &env).expect("load");
        let s = Settings::from_layers(layers).expect("settings");
        assert_eq!(s.k3s.target, Target::Dropin);
        assert_eq!(s.k3s.max_token_expiration, "6h");
        assert!(!s.k3s.restart);
        assert_eq!(s.k3s.restart_timeout, Duration::from_secs(600));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_line_key() {
        let (_d, root) = root_with(&[(
            "/etc/aio-prep/config.toml",
            "# c\n[k3s]\ntarget = \"config\"\nbogus = 1\n",
        )]);
        let e = Layers::load(&root, None, &[]).expect_err("unknown");
        assert!(
            e.to_string()
                .ends_with("etc/aio-prep/config.toml:4: unknown key `k3s.bogus`"),
            "{e}"
        );
        let (_d, root) = root_with(&[("/etc/aio-prep/config.toml", "[k3s]\nrestart = \"yes\"\n")]);
        let e = Layers::load(&root, None, &[]).expect_err("type");
        assert!(
            e.to_string()
                .ends_with("config.toml:2: k3s.restart: expected true or false"),
            "{e}"
        );
        let (_d, root) = root_with(&[("/etc/aio-prep/config.toml", "[k3s\n")]);
        let e = Layers::load(&root, None, &[]).expect_err("syntax");
        assert!(e.to_string().contains("config.toml:1: invalid TOML"), "{e}");
        let (_d, root) = root_with(&[(
            "/etc/aio-prep/config.toml",
            "[k3s]\nmax_token_expiration = \"30m\"\n",
        )]);
        let e = Settings::from_layers(Layers::load(&root, None, &[]).expect("load"))
            .expect_err("range");
        assert!(
            e.to_string()
                .contains("config.toml:2: k3s.max_token_expiration"),
            "{e}"
        );
    }

    #[test]
    fn config_set_keeps_comments() {
        let (d, _root) = root_with(&[(
            "/c.toml",
            "# top\n[k3s]\n# why\ntarget = \"config\" # inline\n",
        )]);
        let p = d.path().join("c.toml");
        set_in_file(&p, "k3s.target", "dropin").expect("set");
        set_in_file(&p, "issuer.url", "https://x/y").expect("set");
        set_in_file(&p, "k3s.restart", "false").expect("set");
        let text = fs::read_to_string(&p).expect("read");
        assert!(
            text.starts_with(
                "# top\n[k3s]\n# why\ntarget = \"dropin\" # inline\nrestart = false\n"
            ),
            "{text}"
        );
        assert!(text.contains("[issuer]\nurl = \"https://x/y\"\n"), "{text}");
        assert!(set_in_file(&p, "k3s.nope", "1").is_err());
        assert!(set_in_file(&p, "issuer.url", "http://x").is_err());
    }
}

//! `/etc/rancher/k3s/k3s.yaml` in the shape k3s writes it: one cluster, one
//! user, one context, all named `default`; certificates inline as base64 PEM;
//! the client certificate followed by its CA, as k3s does.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::certs::Bundle;
use crate::{files, gostr, log};

pub fn render(bundle: &Bundle, port: u16) -> String {
    let ca = STANDARD.encode(&bundle.server_ca);
    let cert = STANDARD.encode(format!("{}{}", bundle.admin_cert, bundle.client_ca));
    let key = STANDARD.encode(&bundle.admin_key);
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://127.0.0.1:{port}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
"
    )
}

/// k3s parses `write-kubeconfig-mode` as octal (so an unquoted YAML `0644`,
/// which is the integer 420, becomes mode 0420). A bad mode is logged and the
/// file stays 0600.
pub fn mode(requested: Option<&str>) -> u32 {
    let Some(text) = requested.filter(|m| !m.is_empty()) else {
        return 0o600;
    };
    match gostr::parse_int(text, 8).and_then(|m| u32::try_from(m).ok()) {
        Some(m) => m & 0o7777,
        None => {
            log::warn(format!(
                "Failed to set kubeconfig to mode {text}: invalid octal mode; keeping 0600"
            ));
            0o600
        }
    }
}

pub fn write(
    path: &Path,
    bundle: &Bundle,
    port: u16,
    requested_mode: Option<&str>,
) -> Result<(), String> {
    files::write_atomic(path, render(bundle, port).as_bytes(), mode(requested_mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_like_k3s() {
        assert_eq!(mode(None), 0o600);
        assert_eq!(mode(Some("0644")), 0o644);
        assert_eq!(mode(Some("644")), 0o644);
        assert_eq!(mode(Some("420")), 0o420);
        assert_eq!(mode(Some("rw-r--r--")), 0o600);
    }

    #[test]
    fn shape() {
        let b = Bundle {
            server_ca: "CA".into(),
            client_ca: "CCA".into(),
            serving_cert: String::new(),
            serving_key: String::new(),
            admin_cert: "CERT".into(),
            admin_key: "KEY".into(),
        };
        let text = render(&b, 6443);
        assert!(text.contains("    server: https://127.0.0.1:6443\n"));
        assert!(text.contains(&format!(
            "certificate-authority-data: {}",
            STANDARD.encode("CA")
        )));
        assert!(text.contains(&format!(
            "client-certificate-data: {}",
            STANDARD.encode("CERTCCA")
        )));
        assert!(text.contains("current-context: default\n"));
        // It is valid YAML with the expected structure.
        let doc = crate::yaml::parse_mapping(&text).expect("yaml");
        let keys: Vec<String> = doc
            .iter()
            .map(|(k, _)| crate::yaml::to_go_string(k))
            .collect();
        assert_eq!(
            keys,
            [
                "apiVersion",
                "clusters",
                "contexts",
                "current-context",
                "kind",
                "preferences",
                "users"
            ]
        );
    }
}

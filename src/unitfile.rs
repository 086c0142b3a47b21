//! Reading a systemd service file from disk (when D-Bus is unavailable, or under `--root`
//! for image builds): ExecStart argv, Environment= and EnvironmentFile= entries.

use crate::k3s::exec::split_exec_line;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFile {
    pub exec_start: Vec<Vec<String>>,
    pub environment: Vec<String>,
    pub environment_files: Vec<String>,
}

/// Parses the `[Service]` section; continuation lines (`\` at the end) are joined.
pub fn parse(text: &str) -> UnitFile {
    let mut unit = UnitFile::default();
    let mut section = String::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if let Some(stripped) = line.strip_suffix('\\') {
            logical.push_str(stripped);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let full = std::mem::take(&mut logical);
        let full = full.trim();
        if full.starts_with('#') || full.starts_with(';') || full.is_empty() {
            continue;
        }
        if full.starts_with('[') {
            section = full.to_string();
            continue;
        }
        if section != "[Service]" {
            continue;
        }
        let Some((key, value)) = full.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "ExecStart" if value.is_empty() => unit.exec_start.clear(),
            "ExecStart" => unit.exec_start.push(split_exec_line(value)),
            "Environment" => unit.environment.extend(split_exec_line(value)),
            "EnvironmentFile" => unit.environment_files.push(value.to_string()),
            _ => {}
        }
    }
    unit
}

/// `KEY=value` lines of an environment file (quotes stripped), for the keys we care about.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_k3s_install_script_unit() {
        let text = "[Unit]\nDescription=Lightweight Kubernetes\n\n[Service]\nType=notify\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/systemd/system/k3s.service.env\nEnvironment=\"K3S_CONFIG_FILE=/etc/k3s/c.yaml\" A=1\nExecStartPre=/bin/sh -xc '! /usr/bin/systemctl is-enabled --quiet nm-cloud-setup.service'\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--disable' \\\n\t'traefik' \\\n\n";
        let u = parse(text);
        assert_eq!(
            u.exec_start,
            vec![vec!["/usr/local/bin/k3s", "server", "--disable", "traefik"]]
        );
        assert_eq!(u.environment, ["K3S_CONFIG_FILE=/etc/k3s/c.yaml", "A=1"]);
        assert_eq!(
            u.environment_files,
            ["-/etc/default/%N", "-/etc/systemd/system/k3s.service.env"]
        );
    }

    #[test]
    fn env_file_lines() {
        let v = parse_env_file("# c\nK3S_TOKEN='x'\nexport K3S_CONFIG_FILE=\"/a b\"\n");
        assert_eq!(v[1], ("K3S_CONFIG_FILE".to_string(), "/a b".to_string()));
    }
}

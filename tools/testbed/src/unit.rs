//! The k3s unit file and k3s's choice of config file. Pure functions, unit-tested.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::TestbedError;
use crate::Role;

/// k3s's default config file.
pub const DEFAULT_CONFIG: &str = "/etc/rancher/k3s/config.yaml";

/// Everything the unit file says.
pub(crate) struct UnitSpec<'a> {
    pub id: &'a str,
    pub exec: &'a Path,
    pub role: Role,
    pub exec_args: &'a [String],
    pub environment: &'a [(String, String)],
    pub timeout_start: &'a str,
    /// `Some(RestartSec)` for `Restart=always`, like k3s's own unit.
    pub restart_sec: Option<&'a str>,
    /// stdout and stderr of the service are appended here (there is no journald).
    pub log: &'a Path,
}

/// Render the unit. Mirrors the parts of k3s's unit that matter to aio-prep: `Type=notify`,
/// ExecStart `k3s server|agent ...`, Environment, TimeoutStartSec, Restart.
pub(crate) fn render(spec: &UnitSpec<'_>) -> Result<String, TestbedError> {
    let mut u = String::new();
    // Writing to a String cannot fail; `let _ =` keeps clippy and the reader calm.
    let _ = writeln!(
        u,
        "# Written by the aio-prep testbed: the k3s stand-in as a Type=notify unit.\n\
         [Unit]\nDescription=k3s stand-in (testbed {})\n\n[Service]\nType=notify",
        spec.id
    );
    for (k, v) in spec.environment {
        if k.is_empty() || k.contains(['=', '\n', ' ']) {
            return Err(TestbedError::Invalid(format!(
                "invalid environment variable name {k:?}"
            )));
        }
        let _ = writeln!(u, "Environment={}", word(&format!("{k}={v}"), false)?);
    }
    let _ = write!(
        u,
        "ExecStart={} {}",
        word(&spec.exec.to_string_lossy(), true)?,
        spec.role.subcommand()
    );
    for a in spec.exec_args {
        let _ = write!(u, " {}", word(a, true)?);
    }
    let _ = writeln!(u, "\nTimeoutStartSec={}", plain(spec.timeout_start)?);
    // Teardown falls back to SIGKILL anyway; keep a hung stand-in from stalling `exit`.
    let _ = writeln!(u, "TimeoutStopSec=10s");
    if let Some(sec) = spec.restart_sec {
        let _ = writeln!(u, "Restart=always\nRestartSec={}", plain(sec)?);
    }
    let log = word(&spec.log.to_string_lossy(), false)?;
    let _ = writeln!(u, "StandardOutput=append:{log}\nStandardError=inherit");
    Ok(u)
}

/// One word of a unit setting: `%` and (in ExecStart) `$` escaped, quoted when it contains
/// characters systemd would split or unescape.
fn word(s: &str, exec: bool) -> Result<String, TestbedError> {
    if s.contains(['\n', '\r', '\0']) {
        return Err(TestbedError::Invalid(format!(
            "unit value {s:?} contains a line break or NUL"
        )));
    }
    let needs_quotes =
        s.is_empty() || s == ";" || s.contains(|c: char| c.is_whitespace() || "\"'\\".contains(c));
    let mut out = String::with_capacity(s.len() + 2);
    if needs_quotes {
        out.push('"');
    }
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '\\' if needs_quotes => out.push_str("\\\\"),
            '"' if needs_quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    if needs_quotes {
        out.push('"');
    }
    Ok(out)
}

/// A time span or similar single token: no quoting needed or allowed.
fn plain(s: &str) -> Result<&str, TestbedError> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err(TestbedError::Invalid(format!(
            "invalid systemd time span {s:?} (expected e.g. \"30s\", \"5min\", \"0\")"
        )));
    }
    Ok(s)
}

/// The config file k3s will read, as a host path: `K3S_CONFIG_FILE` from the unit's
/// environment wins, else the last `--config`/`-c` in ExecStart, else the default.
pub fn effective_config(environment: &[(String, String)], exec_args: &[String]) -> String {
    if let Some((_, v)) = environment
        .iter()
        .rev()
        .find(|(k, v)| k == "K3S_CONFIG_FILE" && !v.is_empty())
    {
        return absolute(v);
    }
    let mut found = None;
    let mut args = exec_args.iter();
    while let Some(a) = args.next() {
        if a == "--config" || a == "-c" {
            found = args.next().cloned();
        } else if let Some(v) = a
            .strip_prefix("--config=")
            .or_else(|| a.strip_prefix("-c="))
        {
            found = Some(v.to_string());
        }
    }
    found.map_or_else(|| DEFAULT_CONFIG.to_string(), |v| absolute(&v))
}

/// k3s runs with `/` as its working directory.
fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// A host path resolved under `root` (how aio-prep's `--root` and the stand-in see it).
pub fn under_root(root: &Path, host_path: &str) -> PathBuf {
    root.join(host_path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(args: &'a [String], env: &'a [(String, String)]) -> UnitSpec<'a> {
        UnitSpec {
            id: "1-0",
            exec: Path::new("/tb/bin/k3s"),
            role: Role::Server,
            exec_args: args,
            environment: env,
            timeout_start: "30s",
            restart_sec: None,
            log: Path::new("/tb/k3s.log"),
        }
    }

    #[test]
    fn renders_notify_unit() {
        let env = vec![("K3S_STANDIN_ROOT".to_string(), "/tb/root".to_string())];
        let u = render(&spec(&[], &env)).unwrap();
        assert!(u.contains("\nType=notify\n"), "{u}");
        assert!(
            u.contains("\nEnvironment=K3S_STANDIN_ROOT=/tb/root\n"),
            "{u}"
        );
        assert!(u.contains("\nExecStart=/tb/bin/k3s server\n"), "{u}");
        assert!(u.contains("\nTimeoutStartSec=30s\n"), "{u}");
        assert!(!u.contains("Restart="), "{u}");
        assert!(u.contains("StandardOutput=append:/tb/k3s.log"), "{u}");
    }

    #[test]
    fn restart_always_like_k3s() {
        let mut s = spec(&[], &[]);
        s.restart_sec = Some("5s");
        s.role = Role::Agent;
        let u = render(&s).unwrap();
        assert!(u.contains("\nRestart=always\nRestartSec=5s\n"), "{u}");
        assert!(u.contains("ExecStart=/tb/bin/k3s agent\n"), "{u}");
    }

    #[test]
    fn exec_args_are_escaped() {
        let args: Vec<String> = [
            "--kube-apiserver-arg=service-account-issuer=https://x",
            "a b",
            "100%",
            "$HOME",
            "say \"hi\"",
            ";",
        ]
        .map(String::from)
        .to_vec();
        let u = render(&spec(&args, &[])).unwrap();
        assert!(
            u.contains(
                "ExecStart=/tb/bin/k3s server --kube-apiserver-arg=service-account-issuer=https://x \
                 \"a b\" 100%% $$HOME \"say \\\"hi\\\"\" \";\"\n"
            ),
            "{u}"
        );
    }

    #[test]
    fn environment_with_spaces_is_quoted() {
        let env = vec![("K".to_string(), "a b%".to_string())];
        let u = render(&spec(&[], &env)).unwrap();
        assert!(u.contains("\nEnvironment=\"K=a b%%\"\n"), "{u}");
    }

    #[test]
    fn rejects_line_breaks_and_bad_spans() {
        let args = vec!["a\nb".to_string()];
        assert!(render(&spec(&args, &[])).is_err());
        let mut s = spec(&[], &[]);
        s.timeout_start = "30s\nExecStartPre=/bin/false";
        assert!(render(&s).is_err());
    }

    #[test]
    fn config_file_choice_follows_k3s() {
        let none: Vec<(String, String)> = Vec::new();
        assert_eq!(effective_config(&none, &[]), DEFAULT_CONFIG);
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            effective_config(
                &none,
                &args(&["--config", "/var/.eflow/config/k3s/k3s-config.yml"])
            ),
            "/var/.eflow/config/k3s/k3s-config.yml"
        );
        assert_eq!(
            effective_config(&none, &args(&["-c", "/a.yaml"])),
            "/a.yaml"
        );
        assert_eq!(
            effective_config(&none, &args(&["--config=/b.yaml"])),
            "/b.yaml"
        );
        let env = vec![("K3S_CONFIG_FILE".to_string(), "/env.yaml".to_string())];
        assert_eq!(
            effective_config(&env, &args(&["-c", "/a.yaml"])),
            "/env.yaml"
        );
    }

    #[test]
    fn under_root_strips_leading_slash() {
        assert_eq!(
            under_root(Path::new("/tb/root"), "/etc/rancher/k3s/config.yaml"),
            PathBuf::from("/tb/root/etc/rancher/k3s/config.yaml")
        );
    }
}

//! Helpers for the suites that run aio-prep against a real systemd manager with the k3s
//! stand-in (`tools/testbed`): host_faults.rs, concurrency.rs, crash.rs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use testbed::{Testbed, TestbedOptions};

pub const ARC: &str = "https://eastus.oic.prod-arc.azure.com/00000000-0000-0000-0000-000000000000/11111111-2222-3333-4444-555555555555/";
pub const ARC_B: &str = "https://westeurope.oic.prod-arc.azure.com/00000000-0000-0000-0000-000000000000/bbbbbbbb-2222-3333-4444-555555555555/";
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const OPERATOR_CONFIG: &str = "# site config — do not lose this comment\nwrite-kubeconfig-mode: \"0600\"\nnode-name: edge-01   # label\nkube-apiserver-arg:\n  - \"audit-log-maxage=30\"   # compliance\n  - audit-log-path=/var/log/k3s-audit.log\ntls-san: [edge-01.example]\n";

pub fn server(config: &str) -> Testbed {
    Testbed::start(TestbedOptions {
        config_yaml: Some(config.to_string()),
        ..TestbedOptions::server()
    })
    .expect("testbed")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// aio-prep with `--root` and the testbed's buses; `env` last (it may override them).
pub fn command(tb: &Testbed, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aio-prep"));
    cmd.arg("--root").arg(tb.root()).args(args).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in tb.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

pub fn aio(tb: &Testbed, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = command(tb, args, env).output().expect("run aio-prep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits for a spawned aio-prep and collects its output.
pub fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("wait for aio-prep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn ready_starts(tb: &Testbed) -> usize {
    tb.starts()
        .iter()
        .filter(|s| s["result"] == "ready")
        .count()
}

/// The issuers the last start of the stand-in ran kube-apiserver with.
pub fn last_start_issuers(tb: &Testbed) -> Vec<String> {
    tb.starts()
        .last()
        .and_then(|s| s["apiserver_args"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--service-account-issuer="))
        .map(String::from)
        .collect()
}

pub fn host(tb: &Testbed, p: &str) -> PathBuf {
    tb.root().join(p.trim_start_matches('/'))
}

pub fn config(tb: &Testbed) -> String {
    std::fs::read_to_string(tb.config_path()).expect("config.yaml")
}

/// What k3s reads besides the config file itself: every `*.yaml`/`*.yml` (any case) in
/// `<config>.d/` — names only. A half-written file there would be read by k3s.
pub fn k3s_readable(tb: &Testbed) -> Vec<String> {
    let mut dropins = tb.config_path().into_os_string();
    dropins.push(".d");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(PathBuf::from(dropins)) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let lower = name.to_ascii_lowercase();
            if lower.ends_with(".yaml") || lower.ends_with(".yml") {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// aio-prep's temp files anywhere under the root (`.aio-prep-tmp-*`).
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if e
                .file_name()
                .to_string_lossy()
                .starts_with(aio_prep::hostfile::TEMP_PREFIX)
            {
                out.push(p);
            }
        }
    }
    out
}

/// Whether the run lock can be taken right now (and releases it again).
pub fn lock_is_free(tb: &Testbed) -> bool {
    let p = host(tb, aio_prep::paths::LOCK_FILE);
    let Ok(f) = std::fs::OpenOptions::new().read(true).write(true).open(&p) else {
        return true; // never created
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            true
        }
        Err(_) => false,
    }
}

/// Host files under the root with their bytes, leaving out what the stand-in and the
/// testbed own (`/run`, the stand-in's directory, its TLS dir and kubeconfig).
pub fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let skip = [
        "run",
        "var/lib/rancher/k3s/standin",
        "var/lib/rancher/k3s/server",
        "etc/rancher/k3s/k3s.yaml",
    ]
    .map(|p| root.join(p));
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if skip.contains(&p) {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

pub fn step<'a>(j: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    j["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {j}"))
}

/// Waits until `f` holds, polling every 20 ms; false after `secs`.
pub fn wait_until(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f()
}

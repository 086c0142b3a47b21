//! Shared helpers for integration tests: a host root in a temp dir and a way to run the
//! aio-prep binary against it as an operator would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const ARC: &str = "https://eastus.oic.prod-arc.azure.com/00000000-0000-0000-0000-000000000000/11111111-2222-3333-4444-555555555555/";
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const K3S_UNIT: &str = "[Unit]\nDescription=Lightweight Kubernetes\n[Service]\nType=notify\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\n";
pub const AGENT_UNIT: &str = "[Service]\nType=notify\nExecStart=/usr/local/bin/k3s agent\n";

/// A fake host filesystem for `--root`.
pub struct Host {
    pub dir: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Host {
        Host {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A k3s server host (unit file on disk) with the given config.yaml.
    pub fn k3s_server(config: Option<&str>) -> Host {
        let h = Host::new();
        h.write("/etc/systemd/system/k3s.service", K3S_UNIT);
        if let Some(c) = config {
            h.write("/etc/rancher/k3s/config.yaml", c);
        }
        h
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, host: &str) -> PathBuf {
        self.root().join(host.trim_start_matches('/'))
    }

    pub fn write(&self, host: &str, text: &str) {
        let p = self.path(host);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn read(&self, host: &str) -> String {
        std::fs::read_to_string(self.path(host)).expect("read")
    }

    /// Every file under the root with its bytes (to prove nothing changed). `/run` is left
    /// out: it is the runtime tmpfs where the run lock lives, not host state.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root().to_path_buf()];
        let run = self.path("/run");
        while let Some(d) = stack.pop() {
            if d == run {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                let meta = std::fs::symlink_metadata(&p).expect("meta");
                if meta.is_dir() {
                    stack.push(p);
                } else if meta.is_file() {
                    out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
                } else {
                    out.push((p.clone(), Vec::new()));
                }
            }
        }
        out.sort();
        out
    }

    /// Runs aio-prep with `--root` set and no reachable D-Bus.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aio-prep"));
        cmd.arg("--root").arg(self.root()).args(args);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                "unix:path=/nonexistent/aio-prep-test-bus",
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run aio-prep");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The error line printed for people: exactly one `error:` line.
    pub fn error_line(&self) -> &str {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one error line, stderr: {}",
            self.stderr
        );
        lines[0]
    }
}

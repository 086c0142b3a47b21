//! Shared helpers for the harness's own tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use testbed::TestbedOptions;

/// The tiny notify script, for behaviour the stand-in does not have (ignoring SIGTERM).
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notify-standin.sh")
}

/// The real k3s stand-in (`target/<profile>/k3s-standin`; `cargo build --workspace` first).
pub fn standin() -> TestbedOptions {
    TestbedOptions::server()
}

/// A server testbed running the notify script.
pub fn scripted() -> TestbedOptions {
    TestbedOptions {
        program: Some(script()),
        ..TestbedOptions::server()
    }
}

/// True when `pid` is gone or a zombie (waiting for PID 1 to reap it).
pub fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st == "Z" || st == "X"),
    }
}

/// Poll `f` for up to `secs` seconds.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The pids recorded in starts.log.
pub fn start_pids(starts: &[serde_json::Value]) -> Vec<u64> {
    starts.iter().filter_map(|s| s["pid"].as_u64()).collect()
}

/// The cgroup (v2 or name=systemd) path of `pid`, e.g. `/testbed-123-0/app.slice/k3s.service`.
pub fn cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("0::")
                .or_else(|| l.split_once(":name=systemd:").map(|x| x.1))
        })
        .unwrap_or_default()
        .to_string()
}

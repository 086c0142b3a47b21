//! Checks and choices made before anything starts: options, the testbed directory, the API
//! port, time spans.

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::cgroup;
use crate::error::TestbedError;
use crate::TestbedOptions;

pub(crate) fn validate(opts: &TestbedOptions) -> Result<(), TestbedError> {
    let u = &opts.unit_name;
    let ok = u.ends_with(".service")
        && u.len() > ".service".len()
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c));
    if !ok {
        return Err(TestbedError::Invalid(format!(
            "unit name {u:?} must look like \"k3s.service\""
        )));
    }
    Ok(())
}

pub(crate) fn keep_requested() -> bool {
    std::env::var("TESTBED_KEEP").is_ok_and(|v| v == "1")
}

/// The testbed directory: `want` (created if missing, must be empty), or a fresh temp dir.
/// Its path ends up in unit files, D-Bus addresses and socket paths, so it is restricted to
/// plain characters and a length that leaves room for `run/systemd/private` (108-byte limit).
pub(crate) fn make_dir(want: Option<&Path>, id: &str) -> Result<PathBuf, TestbedError> {
    let dir = match want {
        Some(d) => {
            fs::create_dir_all(d).map_err(|e| TestbedError::io("create", d, e))?;
            let d = fs::canonicalize(d).map_err(|e| TestbedError::io("resolve", d, e))?;
            let mut entries = fs::read_dir(&d).map_err(|e| TestbedError::io("read", &d, e))?;
            if entries.next().is_some() {
                return Err(TestbedError::Invalid(format!(
                    "testbed directory {} is not empty",
                    d.display()
                )));
            }
            d
        }
        None => {
            let base = std::env::temp_dir();
            let mut d = base.join(format!("{}{id}", cgroup::PREFIX));
            if d.exists() {
                // Left by an earlier process with the same pid (TESTBED_KEEP or a crash).
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|t| t.subsec_nanos())
                    .unwrap_or_default();
                d = base.join(format!("{}{id}-{nanos}", cgroup::PREFIX));
            }
            fs::create_dir_all(&d).map_err(|e| TestbedError::io("create", &d, e))?;
            d
        }
    };
    let s = dir.to_string_lossy();
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    if !plain || s.len() > 80 {
        return Err(TestbedError::Invalid(format!(
            "testbed directory {s:?} must be at most 80 bytes of [A-Za-z0-9/._-] \
             (it ends up in unit files and socket paths)"
        )));
    }
    Ok(dir)
}

/// A loopback port that was free a moment ago (bind port 0, read it, release it), and never
/// handed to another testbed of this process.
pub(crate) fn free_port() -> Result<u16, TestbedError> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..64 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| TestbedError::io("bind", "127.0.0.1:0", e))?;
        let port = l
            .local_addr()
            .map_err(|e| TestbedError::io("read address of", "127.0.0.1:0", e))?
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
        if given.insert(port) {
            return Ok(port);
        }
    }
    Err(TestbedError::Invalid("no free loopback port found".into()))
}

/// A systemd time span of the simple forms the options use: `30`, `30s`, `5min`, `2m`,
/// `1h`, `500ms`, `0`, `infinity`. `None` when it is something fancier.
pub(crate) fn parse_span(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "infinity" {
        return Some(Duration::ZERO);
    }
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let secs = match &s[digits..] {
        "" | "s" | "sec" => n,
        "ms" | "msec" => return Some(Duration::from_millis(n)),
        "m" | "min" => n * 60,
        "h" | "hr" => n * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(parse_span("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_span("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_span("5min"), Some(Duration::from_secs(300)));
        assert_eq!(parse_span("0"), Some(Duration::ZERO));
        assert_eq!(parse_span("infinity"), Some(Duration::ZERO));
        assert_eq!(parse_span("1min 30s"), None);
    }

    #[test]
    fn unit_names() {
        assert!(validate(&TestbedOptions::server()).is_ok());
        assert!(validate(&TestbedOptions::agent()).is_ok());
        let bad = TestbedOptions {
            unit_name: "../k3s.service".into(),
            ..TestbedOptions::server()
        };
        assert!(validate(&bad).is_err());
    }

    #[test]
    fn dir_must_be_plain_and_empty() {
        let base = std::env::temp_dir().join(format!("testbed-mkdir-{}", std::process::id()));
        let d = make_dir(Some(&base.join("ok")), "x").unwrap();
        assert!(d.is_dir());
        fs::write(d.join("f"), "").unwrap();
        assert!(make_dir(Some(&d), "x").is_err());
        assert!(make_dir(Some(&base.join("with space")), "x").is_err());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn free_ports_are_distinct() {
        let a = free_port().unwrap();
        let b = free_port().unwrap();
        assert!(a != 0 && b != 0 && a != b);
    }
}

//! Finding the `k3s-standin` binary and reading what it records.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::TestbedError;

/// Environment variable that names the stand-in binary explicitly.
pub const STANDIN_ENV: &str = "K3S_STANDIN_BIN";

/// The stand-in's start log, relative to the host root.
pub const STARTS_LOG: &str = "/var/lib/rancher/k3s/standin/starts.log";
/// The stand-in's fault directives, relative to the host root.
pub const FAULTS: &str = "/var/lib/rancher/k3s/standin/faults";

/// `$K3S_STANDIN_BIN`, else `k3s-standin` in the cargo profile directory of the running
/// executable (`target/debug/k3s-standin` for `target/debug/deps/<test>-<hash>` and for
/// `target/debug/testbed`).
pub fn locate() -> Result<PathBuf, TestbedError> {
    if let Some(p) = env::var_os(STANDIN_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(TestbedError::StandinNotFound { searched: vec![p] })
        };
    }
    let exe = env::current_exe().map_err(|e| TestbedError::io("locate", "current exe", e))?;
    let searched = candidates(&exe);
    match searched.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(TestbedError::StandinNotFound { searched }),
    }
}

fn candidates(exe: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = exe.parent() {
        out.push(dir.join("k3s-standin"));
        if dir.file_name().is_some_and(|n| n == "deps") {
            if let Some(profile) = dir.parent() {
                out.push(profile.join("k3s-standin"));
            }
        }
    }
    out
}

/// Parse the JSON-lines start log. A line still being written (no trailing newline) is
/// skipped; a complete line that is not JSON comes back as a JSON string so a test sees it.
pub(crate) fn parse_starts(text: &str) -> Vec<serde_json::Value> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => "",
    };
    complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|_| serde_json::Value::String(l.to_string()))
        })
        .collect()
}

/// Write the fault directives atomically (temp file + rename): the stand-in may read the
/// file at any moment.
pub(crate) fn write_faults(path: &Path, lines: &[&str]) -> Result<(), TestbedError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(|e| TestbedError::io("create", dir, e))?;
    let tmp = path.with_extension("tmp");
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    fs::write(&tmp, text).map_err(|e| TestbedError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| TestbedError::io("rename into", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_deps_and_profile_dirs() {
        let c = candidates(Path::new("/w/target/debug/deps/int-abc"));
        assert_eq!(
            c,
            vec![
                PathBuf::from("/w/target/debug/deps/k3s-standin"),
                PathBuf::from("/w/target/debug/k3s-standin")
            ]
        );
        let c = candidates(Path::new("/w/target/debug/testbed"));
        assert_eq!(c, vec![PathBuf::from("/w/target/debug/k3s-standin")]);
    }

    #[test]
    fn starts_skip_partial_line_and_keep_garbage_visible() {
        let v = parse_starts("{\"pid\":1}\nnot json\n{\"pid\":");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["pid"], 1);
        assert_eq!(v[1], serde_json::Value::String("not json".into()));
        assert!(parse_starts("").is_empty());
    }
}

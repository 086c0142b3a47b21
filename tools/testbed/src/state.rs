//! `DIR/testbed.json`: what `testbed down`/`status` (another process) need to find a running
//! testbed again. Also handy when a test keeps its directory (`TESTBED_KEEP=1`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::TestbedError;

pub(crate) const FILE: &str = "testbed.json";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub id: String,
    pub dir: PathBuf,
    pub root: PathBuf,
    pub runtime_dir: PathBuf,
    pub unit: String,
    pub config_file: String,
    pub https_port: u16,
    pub manager_pid: u32,
    pub cgroups: Vec<PathBuf>,
}

impl State {
    pub(crate) fn save(&self) -> Result<(), TestbedError> {
        let v = json!({
            "id": self.id,
            "dir": self.dir,
            "root": self.root,
            "runtime_dir": self.runtime_dir,
            "unit": self.unit,
            "config_file": self.config_file,
            "https_port": self.https_port,
            "manager_pid": self.manager_pid,
            "cgroups": self.cgroups,
        });
        let path = self.dir.join(FILE);
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        fs::write(&path, text + "\n").map_err(|e| TestbedError::io("write", path, e))
    }

    pub(crate) fn load(dir: &Path) -> Result<State, TestbedError> {
        let path = dir.join(FILE);
        let text = fs::read_to_string(&path).map_err(|e| TestbedError::io("read", &path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            TestbedError::Invalid(format!(
                "{} is not a testbed state file: {e}",
                path.display()
            ))
        })?;
        let bad = |field: &str| {
            TestbedError::Invalid(format!(
                "{}: field {field:?} missing or of the wrong type",
                path.display()
            ))
        };
        let s = |field: &str| {
            v[field]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(field))
        };
        let n = |field: &str| v[field].as_u64().ok_or_else(|| bad(field));
        Ok(State {
            id: s("id")?,
            dir: s("dir")?.into(),
            root: s("root")?.into(),
            runtime_dir: s("runtime_dir")?.into(),
            unit: s("unit")?,
            config_file: s("config_file")?,
            https_port: u16::try_from(n("https_port")?).map_err(|_| bad("https_port"))?,
            manager_pid: u32::try_from(n("manager_pid")?).map_err(|_| bad("manager_pid"))?,
            cgroups: v["cgroups"]
                .as_array()
                .ok_or_else(|| bad("cgroups"))?
                .iter()
                .map(|c| c.as_str().map(PathBuf::from).ok_or_else(|| bad("cgroups")))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("testbed-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let s = State {
            id: "cli-1-0".into(),
            dir: dir.clone(),
            root: dir.join("root"),
            runtime_dir: dir.join("run"),
            unit: "k3s.service".into(),
            config_file: "/etc/rancher/k3s/config.yaml".into(),
            https_port: 40123,
            manager_pid: 77,
            cgroups: vec!["/sys/fs/cgroup/unified/testbed-cli-1-0".into()],
        };
        s.save().unwrap();
        assert_eq!(State::load(&dir).unwrap(), s);
        fs::write(dir.join(FILE), "{}").unwrap();
        let e = State::load(&dir).unwrap_err().to_string();
        assert!(e.contains("\"id\""), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

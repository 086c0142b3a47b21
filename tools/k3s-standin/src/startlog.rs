//! One JSON line per start attempt in `<standin dir>/starts.log`, so tests can
//! count restarts and see what each start was given.

use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct StartRecord {
    pub pid: u32,
    pub unix_ms: u128,
    pub role: String,
    /// Config files read, host paths, in order.
    pub files: Vec<String>,
    /// The kube-apiserver command line, when it got that far.
    pub apiserver_args: Vec<String>,
    /// When READY=1 was about to be sent, µs since the epoch (0 when it never was). Taken
    /// before this line is written, so READY→noticed latencies measured from it are upper
    /// bounds.
    pub ready_unix_us: u128,
    /// `ready`, `refused: <reason>`, `never-ready` (fault), or `stopped`
    /// (signalled before it was ready).
    pub result: String,
}

impl StartRecord {
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "pid": self.pid,
            "unix_ms": self.unix_ms as u64,
            "role": self.role,
            "files": self.files,
            "apiserver_args": self.apiserver_args,
            "ready_unix_us": self.ready_unix_us as u64,
            "result": self.result,
        })
        .to_string()
    }

    /// Appends the record as one line (a single write, so lines never mix).
    pub fn append_to(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = self.to_json();
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(line.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_object_per_line() {
        let r = StartRecord {
            pid: 7,
            unix_ms: 1,
            ready_unix_us: 0,
            role: "server".into(),
            files: vec!["/etc/rancher/k3s/config.yaml".into()],
            apiserver_args: vec!["--a=b".into()],
            result: "refused: x\ny".into(),
        };
        let line = r.to_json();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["result"], "refused: x\ny");
        assert_eq!(v["files"][0], "/etc/rancher/k3s/config.yaml");
        assert_eq!(v["pid"], 7);
    }
}

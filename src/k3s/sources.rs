//! The files k3s reads for its configuration: the effective config file and its drop-ins
//! `<file>.d/*.yaml|*.yml` in byte order of file name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::K3sError;
use crate::hostfile::{self, HostFile, HostFileError};
use crate::paths::HostRoot;
use crate::yaml::Document;

/// One config file: its host path (as k3s names it), and, when it exists, its contents.
#[derive(Debug, Clone)]
pub struct Source {
    pub host_path: PathBuf,
    pub file: Option<HostFile>,
    pub doc: Document,
}

impl Source {
    pub fn parse(host_path: PathBuf, file: Option<HostFile>) -> Result<Source, K3sError> {
        let text = file.as_ref().map_or("", |f| f.text.as_str());
        let doc = Document::parse(&host_path, text)?;
        Ok(Source {
            host_path,
            file,
            doc,
        })
    }

    pub fn text(&self) -> &str {
        self.file.as_ref().map_or("", |f| f.text.as_str())
    }
}

/// The effective config file followed by its drop-ins, in the order k3s applies them.
#[derive(Debug, Clone)]
pub struct Sources {
    pub files: Vec<Source>,
}

impl Sources {
    /// Reads `config_file` (a host path) and its drop-ins under `root`. A missing config file
    /// is an empty configuration (k3s runs without one).
    pub fn load(root: &HostRoot, config_file: &Path) -> Result<Sources, K3sError> {
        let main = hostfile::read_guarded(&root.resolve(config_file))?;
        let mut files = vec![Source::parse(config_file.to_path_buf(), main)?];
        let dropin_dir = dropin_dir(config_file);
        for name in list_dropins(&root.resolve(&dropin_dir))? {
            let host_path = dropin_dir.join(&name);
            let file = hostfile::read_guarded(&root.resolve(&host_path))?;
            files.push(Source::parse(host_path, file)?);
        }
        Ok(Sources { files })
    }

    pub fn index_of(&self, host_path: &Path) -> Option<usize> {
        self.files.iter().position(|s| s.host_path == host_path)
    }

    /// These sources with the file at `host_path` replaced by `text` (added in name order
    /// if it was not there) — what k3s would read after an edit.
    pub fn with_replaced(&self, host_path: &Path, text: &str) -> Result<Sources, K3sError> {
        let mut files = self.files.clone();
        let doc = crate::yaml::Document::parse(host_path, text)?;
        let replacement = Source {
            host_path: host_path.to_path_buf(),
            file: Some(HostFile {
                path: host_path.to_path_buf(),
                real_path: host_path.to_path_buf(),
                text: text.to_string(),
                mode: 0o600,
                uid: 0,
                gid: 0,
            }),
            doc,
        };
        match self.index_of(host_path) {
            Some(i) => files[i] = replacement,
            None => {
                files.push(replacement);
                let (main, dropins) = files.split_at_mut(1);
                let _ = main;
                dropins.sort_by(|a, b| {
                    a.host_path
                        .file_name()
                        .map(|n| n.as_encoded_bytes().to_vec())
                        .cmp(
                            &b.host_path
                                .file_name()
                                .map(|n| n.as_encoded_bytes().to_vec()),
                        )
                });
            }
        }
        Ok(Sources { files })
    }
}

/// `<config file>.d`, e.g. `/etc/rancher/k3s/config.yaml.d`.
pub fn dropin_dir(config_file: &Path) -> PathBuf {
    let mut s = config_file.as_os_str().to_os_string();
    s.push(".d");
    PathBuf::from(s)
}

/// Drop-in file names k3s would read: `*.yaml`/`*.yml`, not directories, byte order.
fn list_dropins(dir: &Path) -> Result<Vec<String>, K3sError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(HostFileError::Io {
                action: "list",
                path: dir.to_path_buf(),
                source: e,
            }
            .into())
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| HostFileError::Io {
            action: "list",
            path: dir.to_path_buf(),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // k3s compares the suffix case-insensitively (`.YAML` counts).
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".yaml") || lower.ends_with(".yml")) {
            continue;
        }
        if fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        names.push(name);
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

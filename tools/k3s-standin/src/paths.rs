//! Host paths, resolved under the stand-in's root (`K3S_STANDIN_ROOT`).
//!
//! Every path the stand-in touches is a *host* path (what real k3s would use);
//! nothing outside the root is ever read or written.

use std::path::{Component, Path, PathBuf};

/// k3s's default config file.
pub const DEFAULT_CONFIG: &str = "/etc/rancher/k3s/config.yaml";
/// The admin kubeconfig k3s writes.
pub const KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";
/// Where k3s keeps its server certificates.
pub const TLS_DIR: &str = "/var/lib/rancher/k3s/server/tls";
/// The stand-in's own files: faults, starts.log, the azure-clusterconfig ConfigMap.
pub const STANDIN_DIR: &str = "/var/lib/rancher/k3s/standin";

#[derive(Debug, Clone)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root(dir.into())
    }

    /// Maps a host path (absolute, or relative to `/` as systemd runs units)
    /// under the root. `..` never climbs above the root.
    pub fn resolve(&self, host_path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.0.clone();
        let mut depth = 0usize;
        for part in host_path.as_ref().components() {
            match part {
                Component::Normal(name) => {
                    out.push(name);
                    depth += 1;
                }
                Component::ParentDir if depth > 0 => {
                    out.pop();
                    depth -= 1;
                }
                Component::ParentDir | Component::RootDir | Component::CurDir => {}
                Component::Prefix(_) => {}
            }
        }
        out
    }

    /// A file in the stand-in's own directory.
    pub fn standin(&self, name: &str) -> PathBuf {
        self.resolve(Path::new(STANDIN_DIR).join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_under_root_and_never_above_it() {
        let root = Root::new("/tmp/r");
        assert_eq!(
            root.resolve("/etc/rancher/k3s/config.yaml"),
            Path::new("/tmp/r/etc/rancher/k3s/config.yaml")
        );
        assert_eq!(root.resolve("etc/x"), Path::new("/tmp/r/etc/x"));
        assert_eq!(root.resolve("/../../etc/x"), Path::new("/tmp/r/etc/x"));
        assert_eq!(root.resolve("/etc/a/../b"), Path::new("/tmp/r/etc/b"));
    }
}

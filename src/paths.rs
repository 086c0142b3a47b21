//! Host paths, resolved under `--root` (SPEC §1). D-Bus is not under the root.

use std::path::{Component, Path, PathBuf};

pub const AIO_CONFIG_FILE: &str = "/etc/aio-prep/config.toml";
pub const AIO_CONFIG_DIR: &str = "/etc/aio-prep/config.d";
pub const LOCK_FILE: &str = "/run/aio-prep/lock";
pub const STATE_DIR: &str = "/var/lib/aio-prep";
pub const K3S_DEFAULT_CONFIG: &str = "/etc/rancher/k3s/config.yaml";
pub const K3S_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";
pub const K3S_SERVER_DIR: &str = "/var/lib/rancher/k3s/server";
pub const K3S_AGENT_DIR: &str = "/var/lib/rancher/k3s/agent";
pub const EFLOW_DIR: &str = "/var/.eflow";
pub const EFLOW_K3S_CONFIG: &str = "/var/.eflow/config/k3s/k3s-config.yml";
pub const OS_RELEASE: &str = "/etc/os-release";
/// Where systemd unit files live, in the order systemd reads them.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Maps host paths (as k3s and systemd see them) to paths on this machine.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
}

impl HostRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostRoot { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `host` is an absolute host path; relative paths are taken as relative to `/`. `..`
    /// never climbs above the root (a unit's `K3S_CONFIG_FILE=/../../x` stays under it).
    pub fn resolve(&self, host: impl AsRef<Path>) -> PathBuf {
        let mut out = self.root.clone();
        let mut depth = 0usize;
        for part in host.as_ref().components() {
            match part {
                Component::Normal(p) => {
                    out.push(p);
                    depth += 1;
                }
                Component::ParentDir if depth > 0 => {
                    out.pop();
                    depth -= 1;
                }
                Component::ParentDir
                | Component::RootDir
                | Component::CurDir
                | Component::Prefix(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_under_root() {
        let r = HostRoot::new("/tmp/x");
        assert_eq!(
            r.resolve("/etc/rancher/k3s/config.yaml"),
            PathBuf::from("/tmp/x/etc/rancher/k3s/config.yaml")
        );
        assert_eq!(
            HostRoot::new("/").resolve("/etc/a"),
            PathBuf::from("/etc/a")
        );
        // `..` stays under the root, as the k3s stand-in resolves it.
        assert_eq!(
            r.resolve("/../../etc/passwd"),
            PathBuf::from("/tmp/x/etc/passwd")
        );
        assert_eq!(
            r.resolve("/etc/k3s/../a.yaml"),
            PathBuf::from("/tmp/x/etc/a.yaml")
        );
    }
}

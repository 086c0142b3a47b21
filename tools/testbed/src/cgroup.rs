//! One cgroup per testbed.
//!
//! A `systemd --user` manager takes the cgroup it was started in as its root and creates
//! `app.slice/<unit>` below it. Two managers started from the same cgroup therefore share
//! `/app.slice/k3s.service`: on this machine (hybrid hierarchy, harness in `/init.scope`)
//! stopping k3s in one manager killed the other manager's k3s. So every manager starts in its
//! own `testbed-<id>` cgroup, created at the root of each hierarchy systemd tracks processes
//! in: the cgroup2 mount (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`) and the v1
//! `name=systemd` mount (hybrid or legacy hosts). Teardown kills what is left in the tree and
//! removes it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::TestbedError;
use crate::process;

/// Prefix of every cgroup (and default temp dir) the harness creates.
pub(crate) const PREFIX: &str = "testbed-";

/// The `testbed-<id>` directories of one testbed, one per hierarchy; v2 first when present.
#[derive(Debug, Clone)]
pub(crate) struct Cgroup {
    dirs: Vec<Hierarchy>,
}

#[derive(Debug, Clone)]
struct Hierarchy {
    dir: PathBuf,
    v2: bool,
}

/// Mount points of the hierarchies systemd tracks processes in: `(path, is_v2)`.
fn hierarchies() -> Result<Vec<(PathBuf, bool)>, TestbedError> {
    let path = "/proc/self/mountinfo";
    let text = fs::read_to_string(path).map_err(|e| TestbedError::io("read", path, e))?;
    let found = parse_mountinfo(&text);
    if found.is_empty() {
        return Err(TestbedError::Invalid(
            "no cgroup2 or name=systemd cgroup hierarchy is mounted; a systemd user manager \
             cannot run here"
                .into(),
        ));
    }
    Ok(found)
}

/// From mountinfo text, the first cgroup2 mount and the first `name=systemd` v1 mount.
fn parse_mountinfo(text: &str) -> Vec<(PathBuf, bool)> {
    let mut v2 = None;
    let mut v1 = None;
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or_default();
        let options = right.nth(1).unwrap_or_default();
        let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
        if fstype == "cgroup2" && v2.is_none() {
            v2 = Some(mount_point);
        } else if fstype == "cgroup"
            && v1.is_none()
            && options.split(',').any(|o| o == "name=systemd")
        {
            v1 = Some(mount_point);
        }
    }
    v2.map(|p| (p, true))
        .into_iter()
        .chain(v1.map(|p| (p, false)))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d[0] <= b'3' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Cgroup {
    /// Create `testbed-<id>` in every tracked hierarchy.
    pub(crate) fn create(id: &str) -> Result<Cgroup, TestbedError> {
        let mut cg = Cgroup { dirs: Vec::new() };
        for (mount, v2) in hierarchies()? {
            let dir = mount.join(format!("{PREFIX}{id}"));
            if let Err(e) = fs::create_dir(&dir) {
                // Undo the ones made so far; the caller has nothing to clean up.
                let _ = cg.remove();
                return Err(TestbedError::io("create cgroup", dir, e));
            }
            cg.dirs.push(Hierarchy { dir, v2 });
        }
        Ok(cg)
    }

    /// Rebuild from the directories recorded in a state file.
    pub(crate) fn from_dirs(dirs: &[PathBuf]) -> Cgroup {
        Cgroup {
            dirs: dirs
                .iter()
                .map(|d| Hierarchy {
                    dir: d.clone(),
                    v2: d.join("cgroup.controllers").exists(),
                })
                .collect(),
        }
    }

    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|h| h.dir.clone()).collect()
    }

    /// The `cgroup.procs` files a process writes its pid into to join this testbed.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|h| h.dir.join("cgroup.procs"))
            .collect()
    }

    /// Every pid anywhere in the tree (first hierarchy that exists).
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for h in &self.dirs {
            if h.dir.exists() {
                collect_pids(&h.dir, &mut pids);
                break;
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILL everything in the tree and wait (bounded) until it is empty.
    pub(crate) fn kill_all(&self, timeout: Duration) -> bool {
        let killed_by_kernel = self
            .dirs
            .iter()
            .filter(|h| h.v2)
            .any(|h| fs::write(h.dir.join("cgroup.kill"), "1").is_ok());
        if !killed_by_kernel {
            process::kill9(&self.pids());
        }
        process::wait_until(timeout, || {
            let left = self.pids();
            if !left.is_empty() && !killed_by_kernel {
                process::kill9(&left);
            }
            left.is_empty()
        })
    }

    /// Remove the trees, deepest first. Retries briefly: the kernel may need a moment after
    /// the last process of a cgroup has exited.
    pub(crate) fn remove(&self) -> Result<(), TestbedError> {
        let mut last = Ok(());
        for h in &self.dirs {
            let ok = process::wait_until(Duration::from_secs(2), || {
                last = remove_tree(&h.dir);
                last.is_ok()
            });
            if !ok {
                return last;
            }
        }
        Ok(())
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<u32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    for sub in subdirs(dir) {
        collect_pids(&sub, out);
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect()
}

/// rmdir a cgroup tree bottom-up (cgroup directories only go away with rmdir, not unlink).
fn remove_tree(dir: &Path) -> Result<(), TestbedError> {
    for sub in subdirs(dir) {
        remove_tree(&sub)?;
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TestbedError::io("remove cgroup", dir, e)),
    }
}

/// Kill and remove cgroups of testbeds whose owning process is gone (a test binary that was
/// SIGKILLed or aborted before its Drop ran). Names are `testbed-<owner pid>-<n>`; testbeds
/// started by `testbed up` are named `testbed-cli-...` and are never swept.
pub(crate) fn sweep_stale() {
    let Ok(hs) = hierarchies() else { return };
    for (mount, _) in hs {
        for dir in subdirs(&mount) {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let Some(owner) = stale_owner(name) else {
                continue;
            };
            if process::pid_alive(owner) {
                continue;
            }
            let cg = Cgroup::from_dirs(std::slice::from_ref(&dir));
            cg.kill_all(Duration::from_secs(2));
            let _ = cg.remove();
        }
    }
}

/// The owner pid in `testbed-<pid>-<n>`, if the name has exactly that shape.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_uses_unified_and_name_systemd() {
        assert_eq!(
            parse_mountinfo(HYBRID),
            vec![
                (PathBuf::from("/sys/fs/cgroup/unified"), true),
                (PathBuf::from("/sys/fs/cgroup/systemd"), false)
            ]
        );
    }

    #[test]
    fn pure_v2() {
        let t = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            parse_mountinfo(t),
            vec![(PathBuf::from("/sys/fs/cgroup"), true)]
        );
    }

    #[test]
    fn mountinfo_octal_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/trail\04"), r"/trail\04");
    }

    #[test]
    fn stale_owner_parses_only_test_names() {
        assert_eq!(stale_owner("testbed-1234-0"), Some(1234));
        assert_eq!(stale_owner("testbed-1234-17"), Some(1234));
        assert_eq!(stale_owner("testbed-cli-1234-0"), None);
        assert_eq!(stale_owner("testbed-1234"), None);
        assert_eq!(stale_owner("init.scope"), None);
    }
}

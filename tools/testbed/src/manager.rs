//! The `systemd --user` manager: start it in a private mount namespace inside its own
//! cgroup, wait until it answers on its bus, ask it to exit, kill it if it will not.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{tail, TestbedError};
use crate::process::{self, POLL};

/// Where Debian and others install the manager; `TESTBED_SYSTEMD` overrides.
const SYSTEMD_CANDIDATES: [&str; 2] = ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"];

/// Runs inside `unshare -m`: join the testbed's cgroups (paths are the arguments), make
/// `/run/systemd/system` exist for this namespace only (systemd --user refuses to start
/// unless sd_booted(); creating it on the host would fool dpkg scripts and systemctl), exec
/// the manager. Exit codes 125/126 tell the two setup failures apart.
///
/// Logging: a user manager logs to `/dev/console` (it always reopens it, even with
/// `SYSTEMD_LOG_TARGET=console`), and there is no journald. So `script(1)` runs the manager on
/// a pty, that pty is bind-mounted over `/dev/console` in this namespace only, and `script`
/// copies everything to manager.log. Should the bind mount fail, the manager logs to the
/// real console and still works.
const LAUNCH: &str = r#"
for f; do echo $$ > "$f" || { echo "testbed: cannot join cgroup $f" >&2; exit 125; }; done
mkdir -p /run/systemd && mount -t tmpfs -o mode=755 tmpfs /run/systemd && mkdir /run/systemd/system \
  || { echo "testbed: cannot mount tmpfs on /run/systemd in the private namespace" >&2; exit 126; }
exec script -qfea -E never -c 'mount --bind "$(tty)" /dev/console 2>/dev/null; exec "$TESTBED_SYSTEMD" --user' \
  "$TESTBED_MANAGER_LOG" >/dev/null
"#;

pub(crate) struct Manager {
    /// Our child when we started it (`script`, the manager's parent); `None` when attached
    /// from a state file.
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

/// Where one manager lives.
pub(crate) struct ManagerPaths<'a> {
    pub runtime_dir: &'a Path,
    pub home: &'a Path,
    pub log: &'a Path,
}

impl Manager {
    /// Start the manager. The unit files must already be in `$XDG_RUNTIME_DIR/systemd/user`.
    /// `detached` puts it in its own process group so it outlives the caller's terminal job
    /// (`testbed up`). Otherwise Ctrl-C also reaches the launcher, `script(1)`, which ends
    /// its session: the manager gets SIGTERM, stops its units and exits (whatever is left is
    /// swept by the next start).
    pub(crate) fn spawn(
        paths: &ManagerPaths<'_>,
        cgroup_procs: &[PathBuf],
        detached: bool,
    ) -> Result<Manager, TestbedError> {
        let systemd = std::env::var_os("TESTBED_SYSTEMD")
            .map(PathBuf::from)
            .into_iter()
            .chain(SYSTEMD_CANDIDATES.iter().map(PathBuf::from))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                TestbedError::Invalid(format!(
                    "systemd not found at {}; install the Debian packages systemd, dbus and \
                     dbus-user-session",
                    SYSTEMD_CANDIDATES.join(" or ")
                ))
            })?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(paths.log)
            .map_err(|e| TestbedError::io("create", paths.log, e))?;
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", LAUNCH])
            .arg("testbed-manager")
            .args(cgroup_procs)
            .env_clear()
            .envs(manager_env(paths))
            .env("TESTBED_SYSTEMD", systemd)
            .env("TESTBED_MANAGER_LOG", paths.log)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if detached {
            cmd.process_group(0);
        }
        let child = cmd.spawn().map_err(|source| TestbedError::Spawn {
            command: process::describe(&cmd),
            source,
        })?;
        Ok(Manager {
            pid: child.id(),
            child: Some(child),
            log: paths.log.to_path_buf(),
        })
    }

    /// A manager started by another process (`testbed up`), known by pid.
    pub(crate) fn attach(pid: u32, log: PathBuf) -> Manager {
        Manager {
            child: None,
            pid,
            log,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
    }

    /// Still running? Reaps our child when it has exited.
    pub(crate) fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => process::pid_alive(self.pid),
        }
    }

    fn exit_status(&mut self) -> String {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(s))) => s.to_string(),
            _ => "exited".to_string(),
        }
    }

    /// Wait until the manager answers on `$XDG_RUNTIME_DIR/bus` (the bus aio-prep uses;
    /// dbus-daemon is socket-activated by the manager) and reports itself running.
    pub(crate) fn wait_ready(
        &mut self,
        client_env: &[(String, String)],
        timeout: Duration,
    ) -> Result<(), TestbedError> {
        let start = Instant::now();
        loop {
            if !self.alive() {
                return Err(TestbedError::ManagerNotReady {
                    reason: format!("manager {}", self.exit_status()),
                    waited: start.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            let mut busctl = Command::new("busctl");
            busctl
                .args([
                    "--user",
                    "get-property",
                    "org.freedesktop.systemd1",
                    "/org/freedesktop/systemd1",
                    "org.freedesktop.systemd1.Manager",
                    "SystemState",
                ])
                .envs(client_env.iter().map(|(k, v)| (k, v)));
            let last = match process::run(&mut busctl, Duration::from_secs(2)) {
                Ok(out) if out.status.success() => {
                    let state = String::from_utf8_lossy(&out.stdout);
                    if state.contains("\"running\"") || state.contains("\"degraded\"") {
                        return Ok(());
                    }
                    format!("SystemState {}", state.trim())
                }
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= timeout {
                return Err(TestbedError::ManagerNotReady {
                    reason: format!("no answer on its bus ({last})"),
                    waited: start.elapsed(),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(POLL * 2);
        }
    }

    /// `systemctl --user exit` (stops the units, then the manager exits); SIGKILL when it
    /// has not exited within `grace`. True when it is gone.
    pub(crate) fn shutdown(&mut self, client_env: &[(String, String)], grace: Duration) -> bool {
        if !self.alive() {
            return true;
        }
        let mut exit = Command::new("systemctl");
        exit.args(["--user", "exit"])
            .envs(client_env.iter().map(|(k, v)| (k, v)));
        let deadline = Instant::now() + grace;
        let asked = process::run(&mut exit, grace).is_ok_and(|o| o.status.success());
        if asked && self.wait_exit(deadline.saturating_duration_since(Instant::now())) {
            return true;
        }
        match &mut self.child {
            Some(c) => {
                let _ = c.kill();
            }
            None => process::kill9(&[self.pid]),
        }
        self.wait_exit(Duration::from_secs(5))
    }

    fn wait_exit(&mut self, timeout: Duration) -> bool {
        match &mut self.child {
            Some(c) => process::wait_child(c, timeout),
            None => process::wait_gone(self.pid, timeout),
        }
    }
}

/// A clean, explicit environment: nothing from the test process leaks into the manager
/// (and from it into the unit) except PATH.
fn manager_env(paths: &ManagerPaths<'_>) -> Vec<(String, OsString)> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let level = std::env::var_os("TESTBED_LOG_LEVEL").unwrap_or_else(|| "info".into());
    vec![
        ("SYSTEMD_LOG_LEVEL".into(), level),
        ("PATH".into(), path),
        ("HOME".into(), paths.home.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("XDG_RUNTIME_DIR".into(), paths.runtime_dir.into()),
        // No journald here: log to the console, which is manager.log (see LAUNCH).
        ("SYSTEMD_LOG_TARGET".into(), "console".into()),
        ("SYSTEMD_LOG_COLOR".into(), "0".into()),
        ("SYSTEMD_LOG_TIME".into(), "1".into()),
    ]
}

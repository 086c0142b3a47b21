//! Test harness: a REAL `systemd --user` manager on a REAL private D-Bus bus, running the
//! k3s stand-in (`k3s-standin`) as a `Type=notify` unit, so aio-prep's `RestartUnit` +
//! `JobRemoved` path runs against the real thing.
//!
//! ```no_run
//! use testbed::{Testbed, TestbedOptions};
//! let tb = Testbed::start(TestbedOptions {
//!     config_yaml: Some("write-kubeconfig-mode: \"0644\"\n".into()),
//!     ..TestbedOptions::server()
//! })?;
//! // run aio-prep with `--root tb.root()` and the variables from `tb.env()`
//! assert_eq!(tb.unit_active_state(), "active");
//! assert_eq!(tb.starts().len(), 1);
//! tb.stop();
//! # Ok::<(), testbed::TestbedError>(())
//! ```
//!
//! Layout of a testbed directory (a fresh `$TMPDIR/testbed-<pid>-<n>` unless
//! [`TestbedOptions::dir`] is set):
//!
//! | path | what |
//! |---|---|
//! | `root/` | the host root: pass as `aio-prep --root`; the unit gets `K3S_STANDIN_ROOT` = this |
//! | `run/` | `XDG_RUNTIME_DIR` (0700): `run/bus` is the D-Bus socket, `run/systemd/user/<unit>` the unit |
//! | `bin/k3s` | symlink to the stand-in, so ExecStart reads `.../k3s server ...` like k3s's unit |
//! | `manager.log`, `k3s.log` | the manager's log and the unit's stdout/stderr (there is no journald) |
//! | `testbed.json` | state for `testbed down`/`status` |
//!
//! **Port.** Each testbed's API server needs its own port, but aio-prep must leave the
//! operator's config file byte-identical outside its edit, so the port is never written into
//! that file. Servers get a drop-in `<config file>.d/00-testbed-port.yaml` with
//! `https-listen-port: N` (k3s reads `<config>.d/*.yaml` after the file, in name order).
//! Tests that list or compare drop-ins must expect that file.
//!
//! **Isolation.** Each manager runs in a private mount namespace (a tmpfs on `/run/systemd`
//! with an empty `system/`, so `systemd --user` believes it was booted by systemd) and in its
//! own `testbed-<id>` cgroup: managers started from one cgroup would share
//! `app.slice/k3s.service` and kill each other's k3s. Any number of testbeds may run at once,
//! in threads and in processes.
//!
//! **Teardown** (`stop`, `teardown` or Drop): `systemctl --user exit`, SIGKILL after 5 s, kill
//! whatever is left in the cgroup, remove the cgroups and the directory (kept when
//! `TESTBED_KEEP=1`). Cgroups left by a test process that died without teardown are swept by
//! the next `start`.

mod cgroup;
mod error;
mod manager;
mod process;
mod setup;
mod standin;
mod state;
mod testbed;
mod unit;

use std::path::PathBuf;

pub use error::TestbedError;
pub use standin::{locate as locate_standin, FAULTS, STANDIN_ENV, STARTS_LOG};
pub use testbed::{Testbed, Timings};
pub use unit::{effective_config, under_root, DEFAULT_CONFIG};

/// Which k3s subcommand the unit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Agent,
}

impl Role {
    /// `server` or `agent`.
    pub fn subcommand(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }
}

/// How to build a testbed. Start from [`TestbedOptions::server`] or
/// [`TestbedOptions::agent`] and override fields with struct update syntax.
#[derive(Debug, Clone)]
pub struct TestbedOptions {
    pub role: Role,
    /// `k3s.service` for servers, `k3s-agent.service` for agents (as k3s's installer names them).
    pub unit_name: String,
    /// Extra ExecStart arguments after `server`/`agent`.
    pub exec_args: Vec<String>,
    /// Extra `Environment=` lines, e.g. `("K3S_CONFIG_FILE", "/etc/k3s/custom.yaml")`.
    pub unit_environment: Vec<(String, String)>,
    /// Initial contents of the effective config file (`K3S_CONFIG_FILE` from
    /// `unit_environment`, else `--config`/`-c` in `exec_args`, else
    /// `/etc/rancher/k3s/config.yaml`), under the root. `None` writes no file.
    pub config_yaml: Option<String>,
    /// More files to create before k3s starts: `(host path, contents)`, e.g.
    /// `("/etc/rancher/k3s/config.yaml.d/50-site.yaml", "...")`.
    pub files: Vec<(String, String)>,
    /// Port for the API server. `None` picks a free loopback port. Servers get it as the
    /// drop-in `<config>.d/00-testbed-port.yaml`; agents get no drop-in.
    pub https_port: Option<u16>,
    /// `TimeoutStartSec=` of the unit. k3s's own unit says `0` (wait forever).
    pub start_timeout: String,
    /// Start the unit (and wait until it is active). `false`: manager up, unit loaded only.
    pub start_k3s: bool,
    /// `Restart=always` + `RestartSec=5s`, like k3s's own unit. Off by default so a test
    /// sees a failed start as `failed` instead of a restart loop.
    pub restart_always: bool,
    /// `RestartSec=` used with `restart_always`.
    pub restart_sec: String,
    /// The program the unit runs; default: the `k3s-standin` binary (see [`locate_standin`]).
    pub program: Option<PathBuf>,
    /// Directory for the testbed; must not exist or be empty. Default: a fresh temp dir.
    pub dir: Option<PathBuf>,
    /// For `testbed up`: the manager gets its own process group and a name the stale-testbed
    /// sweep leaves alone, so it outlives the process that started it (see
    /// [`Testbed::detach`]).
    pub detached: bool,
}

impl TestbedOptions {
    /// A k3s server in `k3s.service`.
    pub fn server() -> Self {
        TestbedOptions {
            role: Role::Server,
            unit_name: "k3s.service".into(),
            exec_args: Vec::new(),
            unit_environment: Vec::new(),
            config_yaml: None,
            files: Vec::new(),
            https_port: None,
            start_timeout: "30s".into(),
            start_k3s: true,
            restart_always: false,
            restart_sec: "5s".into(),
            program: None,
            dir: None,
            detached: false,
        }
    }

    /// A k3s agent in `k3s-agent.service`.
    pub fn agent() -> Self {
        TestbedOptions {
            role: Role::Agent,
            unit_name: "k3s-agent.service".into(),
            ..Self::server()
        }
    }
}

impl Default for TestbedOptions {
    fn default() -> Self {
        Self::server()
    }
}

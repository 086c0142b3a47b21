//! [`Testbed`]: build the directory, start the manager and the unit, answer questions about
//! them, tear everything down.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cgroup::{self, Cgroup};
use crate::error::{tail, TestbedError};
use crate::manager::{Manager, ManagerPaths};
use crate::setup::{free_port, keep_requested, make_dir, parse_span, validate};
use crate::state::State;
use crate::unit::{self, UnitSpec};
use crate::{process, standin, Role, TestbedOptions};

/// How long the manager may take to answer on its bus.
const MANAGER_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `systemctl --user exit` may take before the manager is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// Upper bound for `systemctl start` when the unit's own timeout is 0 (infinite).
const START_CAP: Duration = Duration::from_secs(300);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// How long the parts of [`Testbed::start`] took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Spawn to "manager answers on its bus".
    pub manager_up: Duration,
    /// `systemctl start` of the unit (until READY=1), if it was started.
    pub unit_start: Option<Duration>,
}

/// A running systemd user manager with the k3s unit. Torn down by [`Testbed::stop`],
/// [`Testbed::teardown`] or Drop.
pub struct Testbed {
    state: State,
    manager: Option<Manager>,
    cgroup: Option<Cgroup>,
    timings: Timings,
    keep_dir: bool,
    /// Torn down (or detached): nothing left to do.
    done: bool,
    /// Started by this process: Drop tears it down. Attached ones only go with `teardown`.
    owned: bool,
}

impl Testbed {
    /// Build the directory, write unit and config, start the manager, start the unit and
    /// wait until it is active (unless `start_k3s` is false).
    pub fn start(opts: TestbedOptions) -> Result<Testbed, TestbedError> {
        validate(&opts)?;
        cgroup::sweep_stale();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let id = if opts.detached {
            format!("cli-{pid}-{n}")
        } else {
            format!("{pid}-{n}")
        };
        let program = match &opts.program {
            Some(p) => p.clone(),
            None => standin::locate()?,
        };
        // Absolute, so the bin/k3s symlink works wherever the path came from.
        let program =
            fs::canonicalize(&program).map_err(|e| TestbedError::io("find", &program, e))?;
        if !program.is_file() {
            return Err(TestbedError::Invalid(format!(
                "{} is not a program",
                program.display()
            )));
        }
        let dir = make_dir(opts.dir.as_deref(), &id)?;
        let https_port = match opts.https_port {
            Some(p) => p,
            None => free_port()?,
        };
        let config_file = unit::effective_config(&opts.unit_environment, &opts.exec_args);
        let state = State {
            root: dir.join("root"),
            runtime_dir: dir.join("run"),
            unit: opts.unit_name.clone(),
            config_file,
            https_port,
            manager_pid: 0,
            cgroups: Vec::new(),
            id,
            dir,
        };
        // From here on Drop cleans up whatever exists.
        let mut tb = Testbed {
            state,
            manager: None,
            cgroup: None,
            timings: Timings::default(),
            keep_dir: keep_requested(),
            done: false,
            owned: true,
        };
        tb.prepare(&opts, &program)?;
        tb.start_manager(opts.detached)?;
        if opts.start_k3s {
            tb.start_unit(&opts.start_timeout)?;
        }
        Ok(tb)
    }

    /// Directory layout, host files, unit file.
    fn prepare(&mut self, opts: &TestbedOptions, program: &Path) -> Result<(), TestbedError> {
        let s = &self.state;
        let unit_dir = s.runtime_dir.join("systemd/user");
        for d in [&s.root, &unit_dir, &s.dir.join("home"), &s.dir.join("bin")] {
            fs::create_dir_all(d).map_err(|e| TestbedError::io("create", d, e))?;
        }
        fs::set_permissions(&s.runtime_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| TestbedError::io("chmod 0700", &s.runtime_dir, e))?;
        let exec = s.dir.join("bin/k3s");
        symlink(program, &exec).map_err(|e| TestbedError::io("symlink", &exec, e))?;

        if let Some(yaml) = &opts.config_yaml {
            self.write_host_file(&s.config_file, yaml)?;
        }
        if opts.role == Role::Server {
            let dropin = format!("{}.d/00-testbed-port.yaml", s.config_file);
            let text = format!(
                "# Written by the aio-prep testbed: this test's API server port.\n\
                 https-listen-port: {}\n",
                s.https_port
            );
            self.write_host_file(&dropin, &text)?;
        }
        for (path, text) in &opts.files {
            self.write_host_file(path, text)?;
        }

        let mut environment = vec![(
            "K3S_STANDIN_ROOT".to_string(),
            s.root.to_string_lossy().into_owned(),
        )];
        environment.extend(opts.unit_environment.iter().cloned());
        let text = unit::render(&UnitSpec {
            id: &s.id,
            exec: &exec,
            role: opts.role,
            exec_args: &opts.exec_args,
            environment: &environment,
            timeout_start: &opts.start_timeout,
            restart_sec: opts.restart_always.then_some(opts.restart_sec.as_str()),
            log: &s.dir.join("k3s.log"),
        })?;
        let path = unit_dir.join(&s.unit);
        fs::write(&path, text).map_err(|e| TestbedError::io("write", path, e))
    }

    fn write_host_file(&self, host_path: &str, text: &str) -> Result<(), TestbedError> {
        let path = unit::under_root(&self.state.root, host_path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| TestbedError::io("create", parent, e))?;
        }
        fs::write(&path, text).map_err(|e| TestbedError::io("write", path, e))
    }

    fn start_manager(&mut self, detached: bool) -> Result<(), TestbedError> {
        let cg = Cgroup::create(&self.state.id)?;
        self.state.cgroups = cg.dirs();
        let procs = cg.procs_files();
        self.cgroup = Some(cg);
        let t = Instant::now();
        let home = self.state.dir.join("home");
        let log = self.state.dir.join("manager.log");
        let manager = Manager::spawn(
            &ManagerPaths {
                runtime_dir: &self.state.runtime_dir,
                home: &home,
                log: &log,
            },
            &procs,
            detached,
        )?;
        self.state.manager_pid = manager.pid();
        let env = self.env();
        let manager = self.manager.insert(manager);
        manager.wait_ready(&env, MANAGER_READY_TIMEOUT)?;
        self.timings.manager_up = t.elapsed();
        self.state.save()
    }

    fn start_unit(&mut self, start_timeout: &str) -> Result<(), TestbedError> {
        let t = Instant::now();
        let unit = self.state.unit.clone();
        let limit = parse_span(start_timeout)
            .filter(|d| !d.is_zero())
            .map_or(START_CAP, |d| d + Duration::from_secs(5));
        let result = process::run(&mut self.systemctl_cmd(&["start", &unit]), limit);
        let state = self.unit_active_state();
        if state != "active" {
            let detail = match result {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            return Err(TestbedError::UnitStart {
                unit: unit.clone(),
                state,
                detail: format!(
                    "{detail}\n--- systemctl status ---\n{}\n--- {} ---\n{}\n\
                     (TESTBED_KEEP=1 keeps the testbed directory)",
                    tail(&self.status_text(), 12),
                    self.state.dir.join("k3s.log").display(),
                    tail(&self.unit_log(), 20)
                ),
            });
        }
        self.timings.unit_start = Some(t.elapsed());
        Ok(())
    }

    /// Re-open a testbed started by another process (`testbed up`) from its directory.
    /// Dropping it leaves the testbed running; [`Testbed::teardown`] or [`Testbed::stop`]
    /// end it.
    pub fn attach(dir: &Path) -> Result<Testbed, TestbedError> {
        let state = State::load(dir)?;
        let cgroup = Cgroup::from_dirs(&state.cgroups);
        // Only a pid inside the testbed's cgroup is ours: after a reboot or a manual cleanup
        // the recorded pid may belong to something else by now.
        let manager = cgroup
            .pids()
            .contains(&state.manager_pid)
            .then(|| Manager::attach(state.manager_pid, state.dir.join("manager.log")));
        Ok(Testbed {
            manager,
            cgroup: Some(cgroup),
            state,
            timings: Timings::default(),
            keep_dir: keep_requested(),
            done: false,
            owned: false,
        })
    }

    /// Leave the testbed running (for `testbed up`); [`Testbed::attach`] finds it again.
    pub fn detach(mut self) -> PathBuf {
        self.done = true;
        self.state.dir.clone()
    }

    /// The host root: pass it as `aio-prep --root`.
    pub fn root(&self) -> &Path {
        &self.state.root
    }

    /// The testbed directory (logs, unit, state).
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    pub fn unit_name(&self) -> &str {
        &self.state.unit
    }

    /// The effective config file as a host path (e.g. `/etc/rancher/k3s/config.yaml`).
    pub fn config_file(&self) -> &str {
        &self.state.config_file
    }

    /// The effective config file under the root.
    pub fn config_path(&self) -> PathBuf {
        unit::under_root(&self.state.root, &self.state.config_file)
    }

    /// `unix:path=<dir>/run/bus`: the manager's bus.
    pub fn bus_address(&self) -> String {
        format!("unix:path={}/bus", self.state.runtime_dir.display())
    }

    /// What a client needs to reach this manager: `XDG_RUNTIME_DIR` (for `systemctl --user`)
    /// and the bus as both session and *system* bus (aio-prep opens the system bus; zbus
    /// honours `DBUS_SYSTEM_BUS_ADDRESS`).
    pub fn env(&self) -> Vec<(String, String)> {
        let bus = self.bus_address();
        vec![
            (
                "XDG_RUNTIME_DIR".into(),
                self.state.runtime_dir.to_string_lossy().into_owned(),
            ),
            ("DBUS_SYSTEM_BUS_ADDRESS".into(), bus.clone()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), bus),
        ]
    }

    pub fn https_port(&self) -> u16 {
        self.state.https_port
    }

    /// The manager's launcher (`script(1)`, whose child is `systemd --user`): gone when the
    /// manager is gone. [`Testbed::pids`] lists every process of the testbed.
    pub fn manager_pid(&self) -> u32 {
        self.state.manager_pid
    }

    /// Is the manager still running (in this testbed's cgroup)?
    pub fn manager_running(&self) -> bool {
        process::pid_alive(self.state.manager_pid) && self.pids().contains(&self.state.manager_pid)
    }

    /// Keep (or remove) the directory at teardown; the default comes from `TESTBED_KEEP=1`.
    pub fn set_keep_dir(&mut self, keep: bool) {
        self.keep_dir = keep;
    }

    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// Every process in this testbed's cgroup (manager, dbus-daemon, the unit's processes).
    pub fn pids(&self) -> Vec<u32> {
        self.cgroup.as_ref().map(Cgroup::pids).unwrap_or_default()
    }

    /// The stand-in's start log (`<root>/var/lib/rancher/k3s/standin/starts.log`), one JSON
    /// value per start attempt; empty when it does not exist yet.
    pub fn starts(&self) -> Vec<serde_json::Value> {
        let path = unit::under_root(&self.state.root, standin::STARTS_LOG);
        standin::parse_starts(&fs::read_to_string(path).unwrap_or_default())
    }

    /// Replace the stand-in's fault directives (an empty slice clears them).
    ///
    /// # Panics
    /// When the file cannot be written: a test cannot go on meaningfully.
    pub fn set_faults(&self, lines: &[&str]) {
        let path = unit::under_root(&self.state.root, standin::FAULTS);
        if let Err(e) = standin::write_faults(&path, lines) {
            panic!("testbed: {e}");
        }
    }

    /// `systemctl --user --no-pager ARGS` against this manager (60 s limit).
    ///
    /// # Panics
    /// When systemctl cannot be run at all or hangs.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        match process::run(&mut self.systemctl_cmd(args), Duration::from_secs(60)) {
            Ok(out) => out,
            Err(e) => panic!("testbed: {e}"),
        }
    }

    fn systemctl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("systemctl");
        cmd.args(["--user", "--no-pager"])
            .args(args)
            .envs(self.env());
        cmd
    }

    /// A property of the unit (`systemctl show -p NAME --value`); empty when unknown.
    pub fn unit_property(&self, name: &str) -> String {
        let unit = &self.state.unit;
        match process::run(
            &mut self.systemctl_cmd(&["show", "-p", name, "--value", unit]),
            Duration::from_secs(10),
        ) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
            Err(_) => String::new(),
        }
    }

    /// `active`, `activating`, `failed`, ... (empty when the manager does not answer).
    pub fn unit_active_state(&self) -> String {
        self.unit_property("ActiveState")
    }

    /// The unit's main pid, if it is running.
    pub fn main_pid(&self) -> Option<u32> {
        self.unit_property("MainPID")
            .parse()
            .ok()
            .filter(|p| *p != 0)
    }

    /// Poll until the unit's ActiveState is `state`; false on timeout.
    pub fn wait_for_state(&self, state: &str, timeout: Duration) -> bool {
        process::wait_until(timeout, || self.unit_active_state() == state)
    }

    /// What the unit wrote to stdout/stderr (`k3s.log`).
    pub fn unit_log(&self) -> String {
        fs::read_to_string(self.state.dir.join("k3s.log")).unwrap_or_default()
    }

    fn status_text(&self) -> String {
        let mut cmd = self.systemctl_cmd(&["status", "--lines=0", &self.state.unit]);
        match process::run(&mut cmd, Duration::from_secs(10)) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => e.to_string(),
        }
    }

    /// Tear down; problems are printed to stderr. See [`Testbed::teardown`].
    pub fn stop(mut self) {
        if let Err(e) = self.teardown_inner() {
            warn(format_args!("testbed {}: teardown: {e}", self.state.id));
        }
    }

    /// Tear down and report whether everything went: manager exited (or was killed), no
    /// process left in the cgroup, cgroups and directory removed.
    pub fn teardown(mut self) -> Result<(), TestbedError> {
        self.teardown_inner()
    }

    fn teardown_inner(&mut self) -> Result<(), TestbedError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let mut problems = Vec::new();
        let env = self.env();
        if let Some(m) = &mut self.manager {
            if !m.shutdown(&env, EXIT_GRACE) {
                problems.push(format!("manager pid {} did not exit", m.pid()));
            }
        }
        if let Some(cg) = &self.cgroup {
            if !cg.kill_all(Duration::from_secs(5)) {
                problems.push(format!("processes {:?} survived SIGKILL", cg.pids()));
            }
            if let Err(e) = cg.remove() {
                problems.push(e.to_string());
            }
        }
        if self.keep_dir {
            warn(format_args!("testbed: kept {}", self.state.dir.display()));
        } else if let Err(e) = fs::remove_dir_all(&self.state.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                problems.push(format!("cannot remove {}: {e}", self.state.dir.display()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TestbedError::Invalid(problems.join("; ")))
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Err(e) = self.teardown_inner() {
            warn(format_args!("testbed {}: teardown: {e}", self.state.id));
        }
    }
}

/// A line on stderr that cannot panic (`eprintln!` does when stderr is gone): teardown runs
/// in Drop.
fn warn(msg: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

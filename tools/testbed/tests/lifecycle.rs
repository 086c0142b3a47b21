//! One testbed at a time: start, restart, options, failures, teardown.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cgroup_of, eventually, gone, scripted, standin, start_pids};
use testbed::{Role, Testbed, TestbedError, TestbedOptions};

#[test]
fn start_restart_stop() {
    let operator = "# operator's file\nwrite-kubeconfig-mode: \"0600\"\n";
    let tb = Testbed::start(TestbedOptions {
        config_yaml: Some(operator.into()),
        ..standin()
    })
    .unwrap();
    let t = tb.timings();
    eprintln!(
        "manager up {:?}, unit start {:?}",
        t.manager_up, t.unit_start
    );
    assert_eq!(tb.unit_active_state(), "active");
    let first = tb.main_pid().unwrap();

    // The manager's bus works as the *system* bus for a client given tb.env().
    let env = tb.env();
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "XDG_RUNTIME_DIR",
            "DBUS_SYSTEM_BUS_ADDRESS",
            "DBUS_SESSION_BUS_ADDRESS"
        ]
    );
    let out = Command::new("busctl")
        .args(["--system", "get-property", "org.freedesktop.systemd1"])
        .args([
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
        ])
        .arg("SystemState")
        .envs(env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "s \"running\"");

    // The unit runs in this testbed's own cgroup.
    let cg = cgroup_of(first);
    assert!(
        cg.starts_with("/testbed-") && cg.ends_with("/app.slice/k3s.service"),
        "{cg}"
    );
    // ExecStart reads like k3s's: `.../k3s server`.
    let exec = tb.unit_property("ExecStart");
    assert!(
        exec.contains("/bin/k3s ; argv[]=") && exec.contains("/bin/k3s server"),
        "{exec}"
    );

    let t = Instant::now();
    assert!(tb.systemctl(&["restart", "k3s.service"]).status.success());
    eprintln!("restart {:?}", t.elapsed());
    let second = tb.main_pid().unwrap();
    assert_ne!(first, second);
    let starts = tb.starts();
    assert_eq!(start_pids(&starts), [first as u64, second as u64]);
    assert!(starts.iter().all(|s| s["result"] == "ready"), "{starts:?}");

    // The port goes into a drop-in, never into the operator's file; the stand-in reads both
    // and serves on that port.
    let dropin = tb
        .root()
        .join("etc/rancher/k3s/config.yaml.d/00-testbed-port.yaml");
    let text = fs::read_to_string(dropin).unwrap();
    assert!(
        text.contains(&format!("\nhttps-listen-port: {}\n", tb.https_port())),
        "{text}"
    );
    assert_eq!(fs::read_to_string(tb.config_path()).unwrap(), operator);
    let files = starts[1]["files"].to_string();
    assert!(
        files.contains("/etc/rancher/k3s/config.yaml\"") && files.contains("00-testbed-port.yaml"),
        "{files}"
    );
    std::net::TcpStream::connect(("127.0.0.1", tb.https_port())).expect("API port listening");
    assert!(tb.root().join("etc/rancher/k3s/k3s.yaml").is_file());

    let dir = tb.dir().to_path_buf();
    let t = Instant::now();
    tb.stop();
    eprintln!("teardown {:?}", t.elapsed());
    assert!(!dir.exists());
}

#[test]
fn config_file_follows_k3s_rules_and_files_are_written() {
    let yaml = "# operator's file\nkube-apiserver-arg:\n  - \"enable-admission-plugins=NodeRestriction\"\n";
    let tb = Testbed::start(TestbedOptions {
        unit_environment: vec![("K3S_CONFIG_FILE".into(), "/etc/k3s/custom.yaml".into())],
        config_yaml: Some(yaml.into()),
        files: vec![("/var/.eflow/marker".into(), "x".into())],
        https_port: Some(16443),
        start_k3s: false,
        ..standin()
    })
    .unwrap();
    assert_eq!(tb.config_file(), "/etc/k3s/custom.yaml");
    assert_eq!(fs::read_to_string(tb.config_path()).unwrap(), yaml);
    assert!(tb
        .root()
        .join("etc/k3s/custom.yaml.d/00-testbed-port.yaml")
        .is_file());
    assert!(!tb.root().join("etc/rancher").exists());
    assert_eq!(
        fs::read_to_string(tb.root().join("var/.eflow/marker")).unwrap(),
        "x"
    );
    // start_k3s: false leaves the unit loaded but not started.
    assert_eq!(tb.unit_active_state(), "inactive");
    assert!(tb.starts().is_empty());
    let env = tb.unit_property("Environment");
    assert!(
        env.contains("K3S_CONFIG_FILE=/etc/k3s/custom.yaml"),
        "{env}"
    );
    assert!(
        env.contains(&format!("K3S_STANDIN_ROOT={}", tb.root().display())),
        "{env}"
    );
    tb.stop();
}

#[test]
fn agent_role() {
    let tb = Testbed::start(TestbedOptions {
        exec_args: ["--server", "https://127.0.0.1:6443", "--token", "t"]
            .map(String::from)
            .to_vec(),
        ..TestbedOptions::agent()
    })
    .unwrap();
    assert_eq!(tb.unit_name(), "k3s-agent.service");
    assert_eq!(tb.unit_active_state(), "active");
    let exec = tb.unit_property("ExecStart");
    assert!(
        exec.contains("/bin/k3s agent --server https://127.0.0.1:6443 --token t "),
        "{exec}"
    );
    assert_eq!(tb.starts()[0]["role"], "agent");
    // Agents get no port drop-in (k3s agent does not serve the API).
    assert!(!tb.root().join("etc/rancher/k3s/config.yaml.d").exists());
    assert_eq!(Role::Agent.subcommand(), "agent");
    tb.stop();
}

#[test]
fn faults_are_written_and_obeyed() {
    let tb = Testbed::start(standin()).unwrap();
    let path = tb.root().join("var/lib/rancher/k3s/standin/faults");
    tb.set_faults(&["# a test", "refuse"]);
    assert_eq!(fs::read_to_string(&path).unwrap(), "# a test\nrefuse\n");
    // The stand-in obeys: the restart fails and is recorded as refused.
    assert!(!tb.systemctl(&["restart", "k3s.service"]).status.success());
    assert_eq!(tb.unit_active_state(), "failed");
    let last = tb.starts().last().cloned().unwrap();
    assert!(
        last["result"].as_str().unwrap().starts_with("refused"),
        "{last}"
    );
    tb.set_faults(&[]);
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    assert!(tb.systemctl(&["restart", "k3s.service"]).status.success());
    assert_eq!(tb.unit_active_state(), "active");
    tb.stop();
}

/// Every process whose environment or command line mentions `dir`.
fn processes_mentioning(dir: &std::path::Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let mut text = fs::read(e.path().join("environ")).unwrap_or_default();
        text.extend(fs::read(e.path().join("cmdline")).unwrap_or_default());
        if String::from_utf8_lossy(&text).contains(&needle) && !gone(pid) {
            found.push(pid);
        }
    }
    found
}

fn unique_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("testbed-test-{}-{name}", std::process::id()))
}

#[test]
fn failed_start_explains_itself_and_cleans_up() {
    let dir = unique_dir("fail");
    let err = Testbed::start(TestbedOptions {
        files: vec![(testbed::FAULTS.into(), "refuse\n".into())],
        dir: Some(dir.clone()),
        ..standin()
    })
    .err()
    .expect("start must fail");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TestbedError::UnitStart { .. }), "{msg}");
    assert!(msg.contains("state failed"), "{msg}");
    assert!(msg.contains("k3s.log"), "{msg}");
    assert!(!dir.exists(), "dir must be removed");
    assert!(processes_mentioning(&dir).is_empty());
}

#[test]
fn missing_program_is_a_clear_error() {
    let err = Testbed::start(TestbedOptions {
        program: Some("/nonexistent/k3s-standin".into()),
        ..TestbedOptions::server()
    })
    .err()
    .expect("start must fail");
    assert!(
        err.to_string().contains("/nonexistent/k3s-standin"),
        "{err}"
    );
}

#[test]
fn teardown_leaves_no_process_cgroup_or_dir() {
    for by_drop in [false, true] {
        let tb = Testbed::start(standin()).unwrap();
        let main = tb.main_pid().unwrap();
        let pids = tb.pids();
        assert!(
            pids.contains(&tb.manager_pid()) && pids.contains(&main),
            "{pids:?}"
        );
        assert!(pids.len() >= 3, "manager, dbus-daemon, stand-in: {pids:?}");
        let cg = cgroup_of(main);
        let top = cg.split('/').nth(1).unwrap().to_string();
        let cgroup_dirs: Vec<PathBuf> = [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup",
        ]
        .iter()
        .map(|m| PathBuf::from(m).join(&top))
        .filter(|p| p.exists())
        .collect();
        assert!(!cgroup_dirs.is_empty());
        let dir = tb.dir().to_path_buf();
        if by_drop {
            drop(tb);
        } else {
            tb.teardown().unwrap();
        }
        assert!(
            eventually(5, || pids.iter().all(|p| gone(*p))),
            "left: {pids:?}"
        );
        for d in &cgroup_dirs {
            assert!(!d.exists(), "{} left", d.display());
        }
        assert!(!dir.exists());
        assert!(processes_mentioning(&dir).is_empty());
    }
}

#[test]
fn teardown_kills_a_stand_in_that_ignores_sigterm() {
    let tb = Testbed::start(TestbedOptions {
        unit_environment: vec![("IGNORE_TERM".into(), "1".into())],
        ..scripted()
    })
    .unwrap();
    let pids = tb.pids();
    let dir = tb.dir().to_path_buf();
    let t = Instant::now();
    tb.teardown().unwrap();
    eprintln!("teardown of a stuck stand-in: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(15));
    assert!(
        eventually(5, || pids.iter().all(|p| gone(*p))),
        "left: {pids:?}"
    );
    assert!(processes_mentioning(&dir).is_empty());
}

#[test]
fn restart_always_brings_a_killed_stand_in_back() {
    let tb = Testbed::start(TestbedOptions {
        restart_always: true,
        restart_sec: "100ms".into(),
        ..standin()
    })
    .unwrap();
    assert_eq!(tb.unit_property("Restart"), "always");
    let first = tb.main_pid().unwrap();
    Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(eventually(10, || tb.main_pid().is_some_and(|p| p != first)
        && tb.unit_active_state() == "active"));
    assert_eq!(tb.starts().len(), 2);
    tb.stop();
}

#[test]
fn stale_cgroups_of_dead_owners_are_swept() {
    let mount = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|m| m.join("cgroup.procs").exists() && m.join("cgroup.stat").exists())
        .expect("a cgroup2 mount");
    // The owner lives while the cgroup is set up (so a sweep in a parallel test process
    // leaves it alone), then dies: now the cgroup is stale.
    let mut owner = Command::new("sleep").arg("300").spawn().unwrap();
    let stale = mount.join(format!("testbed-{}-0", owner.id()));
    fs::create_dir(&stale).unwrap();
    let mut orphan = Command::new("sleep").arg("300").spawn().unwrap();
    fs::write(stale.join("cgroup.procs"), orphan.id().to_string()).unwrap();
    owner.kill().unwrap();
    owner.wait().unwrap();

    let tb = Testbed::start(TestbedOptions {
        start_k3s: false,
        ..standin()
    })
    .unwrap();
    let status = orphan.wait().unwrap();
    assert!(!status.success(), "the orphan was killed: {status:?}");
    assert!(!stale.exists());
    tb.stop();
}

//! One testbed at a time: start, restart, options, failures, teardown.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{cgroup_of, eventually, gone, scripted, start_pids};
use testbed::{Role, Testbed, TestbedError, TestbedOptions};

#[test]
fn start_restart_stop() {
    let tb = Testbed::start(scripted()).unwrap();
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
    assert_eq!(start_pids(&tb.starts()), [first as u64, second as u64]);

    // The port goes into a drop-in, never into the operator's file.
    let dropin = tb
        .root()
        .join("etc/rancher/k3s/config.yaml.d/00-testbed-port.yaml");
    let text = fs::read_to_string(dropin).unwrap();
    assert!(
        text.contains(&format!("\nhttps-listen-port: {}\n", tb.https_port())),
        "{text}"
    );
    assert!(!tb.config_path().exists());

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
        ..scripted()
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
        program: Some(common::script()),
        exec_args: vec!["--server".into(), "https://127.0.0.1:6443".into()],
        ..TestbedOptions::agent()
    })
    .unwrap();
    assert_eq!(tb.unit_name(), "k3s-agent.service");
    assert_eq!(tb.unit_active_state(), "active");
    let exec = tb.unit_property("ExecStart");
    assert!(
        exec.contains("/bin/k3s agent --server https://127.0.0.1:6443 "),
        "{exec}"
    );
    assert_eq!(tb.starts()[0]["role"], "agent");
    // Agents get no port drop-in (k3s agent does not serve the API).
    assert!(!tb.root().join("etc/rancher/k3s/config.yaml.d").exists());
    assert_eq!(Role::Agent.subcommand(), "agent");
    tb.stop();
}

#[test]
fn faults_file_is_replaced_atomically() {
    let tb = Testbed::start(TestbedOptions {
        start_k3s: false,
        ..scripted()
    })
    .unwrap();
    let path = tb.root().join("var/lib/rancher/k3s/standin/faults");
    tb.set_faults(&["refuse-start 1", "delay-ready 2s"]);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "refuse-start 1\ndelay-ready 2s\n"
    );
    tb.set_faults(&[]);
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
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
        unit_environment: vec![("FAIL_START".into(), "1".into())],
        dir: Some(dir.clone()),
        ..scripted()
    })
    .err()
    .expect("start must fail");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TestbedError::UnitStart { .. }), "{msg}");
    assert!(msg.contains("state failed"), "{msg}");
    assert!(msg.contains("refusing to start"), "{msg}");
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
        let tb = Testbed::start(scripted()).unwrap();
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
        ..scripted()
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
    // An owner pid that no longer exists.
    let mut owner = Command::new("true").spawn().unwrap();
    let dead = owner.id();
    owner.wait().unwrap();
    // Built under another name and renamed, so that a sweep running in a parallel test
    // process never sees it half-made.
    let setup = mount.join(format!("testbed-setup-{}", std::process::id()));
    let stale = mount.join(format!("testbed-{dead}-0"));
    fs::create_dir(&setup).unwrap();
    let mut orphan = Command::new("sleep").arg("300").spawn().unwrap();
    fs::write(setup.join("cgroup.procs"), orphan.id().to_string()).unwrap();
    fs::rename(&setup, &stale).unwrap();

    let tb = Testbed::start(TestbedOptions {
        start_k3s: false,
        ..scripted()
    })
    .unwrap();
    let status = orphan.wait().unwrap();
    assert!(!status.success(), "the orphan was killed: {status:?}");
    assert!(!stale.exists());
    tb.stop();
}

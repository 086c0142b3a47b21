//! The `testbed` binary as `make demo`/`make bench` use it, several at once in separate
//! processes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{eventually, gone};

/// The binary finds the stand-in next to itself (`target/<profile>/k3s-standin`).
fn testbed(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_testbed"));
    cmd.args(args).env_remove("K3S_STANDIN_BIN");
    cmd
}

fn dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("testbed-cli-test-{}-{name}", std::process::id()))
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{out:?}");
    out
}

/// `export K=V` lines of DIR/env as pairs.
fn env_file(dir: &Path) -> Vec<(String, String)> {
    fs::read_to_string(dir.join("env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn up_status_down_in_parallel_processes() {
    let dirs: Vec<PathBuf> = (0..3).map(|i| dir(&format!("p{i}"))).collect();
    let config = dir("config.yaml");
    fs::write(&config, "# operator\nwrite-kubeconfig-mode: \"0644\"\n").unwrap();

    // Three `up`s at once: separate processes, separate managers.
    let ups: Vec<_> = dirs
        .iter()
        .map(|d| {
            testbed(&[
                "up",
                "--dir",
                d.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for mut up in ups {
        assert!(up.wait().unwrap().success());
    }

    let mut managers = Vec::new();
    for d in &dirs {
        let env = env_file(d);
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("AIO_PREP_ROOT"), d.join("root").to_str().unwrap());
        assert_eq!(
            get("DBUS_SYSTEM_BUS_ADDRESS"),
            format!("unix:path={}/run/bus", d.display())
        );
        assert_eq!(
            fs::read_to_string(d.join("root/etc/rancher/k3s/config.yaml")).unwrap(),
            fs::read_to_string(&config).unwrap()
        );
        let status = ok(testbed(&["status", "--dir", d.to_str().unwrap()])
            .output()
            .unwrap());
        let text = String::from_utf8_lossy(&status.stdout).into_owned();
        assert!(
            text.contains("k3s.service active") && text.contains("starts:   1"),
            "{text}"
        );
        // A client that sources DIR/env restarts this testbed's k3s and only this one.
        let out = ok(Command::new("systemctl")
            .args(["--user", "restart", "k3s.service"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap());
        drop(out);
        let pid: u32 = text
            .lines()
            .find_map(|l| l.strip_prefix("manager:  pid "))
            .and_then(|r| r.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        managers.push(pid);
    }
    for d in &dirs {
        let text = String::from_utf8_lossy(
            &testbed(&["status", "--dir", d.to_str().unwrap()])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(text.contains("starts:   2"), "{text}");
    }

    let downs: Vec<_> = dirs
        .iter()
        .map(|d| {
            testbed(&["down", "--dir", d.to_str().unwrap()])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut down in downs {
        assert!(down.wait().unwrap().success());
    }
    for (d, pid) in dirs.iter().zip(managers) {
        assert!(!d.exists());
        assert!(eventually(5, || gone(pid)), "manager {pid} left");
    }
    fs::remove_file(config).unwrap();
}

#[test]
fn status_of_a_stopped_unit_is_exit_3_and_down_still_works() {
    let d = dir("stopped");
    ok(testbed(&[
        "up",
        "--dir",
        d.to_str().unwrap(),
        "--no-start",
        "--role",
        "agent",
    ])
    .output()
    .unwrap());
    let out = testbed(&["status", "--dir", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("k3s-agent.service inactive"));
    ok(testbed(&["down", "--dir", d.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(!d.exists());
}

#[test]
fn usage_errors() {
    let out = testbed(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: testbed up"));
    let out = testbed(&["up"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dir is required"));
    let out = testbed(&["up", "--dir", "/tmp", "--role", "boss"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Not empty: refused, and the directory is left alone.
    let d = dir("nonempty");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("keep-me"), "x").unwrap();
    let out = testbed(&["up", "--dir", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not empty"),
        "{out:?}"
    );
    assert!(d.join("keep-me").exists());
    // down/status on a directory without a testbed: clear error.
    let out = testbed(&["down", "--dir", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("testbed.json"),
        "{out:?}"
    );
    fs::remove_dir_all(&d).unwrap();
}

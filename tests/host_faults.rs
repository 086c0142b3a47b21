//! Host faults under a real systemd manager with the k3s stand-in: each row asserts the
//! documented exit code (SPEC §7) AND the state the host is left in — the config bytes,
//! the unit's state, what kube-apiserver runs with, aio-prep's own state (last-apply
//! record, backups), no temp file k3s could read, the lock free — and, where the fault
//! goes away, that the next `apply` converges.
//!
//! Rows already in tests/e2e.rs are not repeated: k3s refusing the new issuer (exit 6),
//! the start rate limit (exit 6). The never-ready row here extends e2e's with the state
//! checks and the recovery.

mod bed;

use std::path::PathBuf;
use std::time::Duration;

use bed::{aio, config, host, last_start_issuers, ready_starts, server, Run, ARC, DEFAULT_ISSUER};
use testbed::Testbed;

const NODE: &str = "node-name: faults\n";

/// What a row expects after the faulted run.
struct Expect<'a> {
    code: i32,
    kind: Option<&'a str>,
    says: &'a str,
    config: &'a str,
    unit: &'a str,
    /// First issuer of the last stand-in start, when it is running.
    live: Option<&'a str>,
    /// `last-apply.json` left for `rollback`.
    last_apply: bool,
}

fn check(tb: &Testbed, r: &Run, e: Expect) {
    let ctx = format!("stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.code, e.code, "{ctx}");
    if let Ok(j) = serde_json::from_str::<serde_json::Value>(&r.stdout) {
        assert_eq!(
            j["error"]["kind"].as_str(),
            e.kind,
            "JSON error kind; {ctx}"
        );
        if let Some(m) = j["error"]["message"].as_str() {
            assert!(m.contains(e.says), "{m:?} lacks {:?}", e.says);
        }
    }
    assert_eq!(config(tb), e.config, "config.yaml bytes; {ctx}");
    assert!(
        bed::wait_until(5.0, || tb.unit_active_state() == e.unit),
        "unit is {} (want {}); {ctx}",
        tb.unit_active_state(),
        e.unit
    );
    if let Some(live) = e.live {
        assert_eq!(
            last_start_issuers(tb).first().map(String::as_str),
            Some(live),
            "kube-apiserver's signing issuer"
        );
    }
    assert_eq!(
        host(tb, "/var/lib/aio-prep/last-apply.json").exists(),
        e.last_apply,
        "last-apply.json"
    );
    assert_eq!(
        bed::k3s_readable(tb),
        ["00-testbed-port.yaml"],
        "only the operator's files are k3s-readable"
    );
    assert!(
        bed::temp_files(tb.root()).is_empty(),
        "temp files left: {:?}",
        bed::temp_files(tb.root())
    );
    assert!(bed::lock_is_free(tb), "the run lock is still held");
}

fn backups(tb: &Testbed) -> usize {
    std::fs::read_dir(host(tb, "/var/lib/aio-prep/backups"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Clears the stand-in's faults once its start log has a line whose result starts with
/// `result` (and, when given, whose args contain `arg`) — so a fault hits exactly one start.
fn clear_faults_after(
    tb: &Testbed,
    result: &'static str,
    arg: Option<&'static str>,
) -> std::thread::JoinHandle<bool> {
    let starts: PathBuf = host(tb, testbed::STARTS_LOG);
    let faults: PathBuf = host(tb, testbed::FAULTS);
    std::thread::spawn(move || {
        bed::wait_until(60.0, || {
            let log = std::fs::read_to_string(&starts).unwrap_or_default();
            let hit = log.lines().any(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                v["result"].as_str().is_some_and(|r| r.starts_with(result))
                    && arg.is_none_or(|a| v["apiserver_args"].to_string().contains(a))
            });
            if hit {
                std::fs::write(&faults, "").expect("clear faults");
            }
            hit
        })
    })
}

fn converges(tb: &Testbed) {
    let r = aio(tb, &["--issuer-url", ARC, "--output", "json", "apply"], &[]);
    assert_eq!(r.code, 0, "recovery apply: {}\n{}", r.stdout, r.stderr);
    let r = aio(tb, &["--issuer-url", ARC, "status"], &[]);
    assert_eq!(r.code, 0, "status after recovery: {}{}", r.stdout, r.stderr);
    assert_eq!(last_start_issuers(tb), [ARC, DEFAULT_ISSUER]);
}

#[test]
fn never_ready_then_the_deadline_rolls_back_exit_6() {
    let tb = server(NODE);
    tb.set_faults(&["never-ready"]);
    let watcher = clear_faults_after(&tb, "never-ready", Some(ARC));
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_RESTART_TIMEOUT", "2s")],
    );
    assert!(
        watcher.join().expect("watcher"),
        "the never-ready start happened"
    );
    check(
        &tb,
        &r,
        Expect {
            code: 6,
            kind: Some("rolled-back"),
            says: "restart deadline",
            config: NODE,
            unit: "active",
            live: Some(DEFAULT_ISSUER),
            last_apply: false,
        },
    );
    assert_eq!(backups(&tb), 1, "the backup of the operator's file stays");
    converges(&tb);
}

#[test]
fn never_ready_persisting_fails_the_rollback_exit_7_file_restored_then_recovers() {
    let tb = server(NODE);
    tb.set_faults(&["never-ready"]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_RESTART_TIMEOUT", "2s")],
    );
    check(
        &tb,
        &r,
        Expect {
            code: 7,
            kind: Some("rollback-failed"),
            says: "rollback failed too",
            config: NODE,
            // The old config is back, and k3s is still starting with it (never ready).
            unit: "activating",
            live: None,
            last_apply: false,
        },
    );
    let last = tb.starts().last().cloned().expect("start");
    assert_eq!(last["result"], "never-ready");
    assert!(!last["apiserver_args"].to_string().contains(ARC), "{last}");
    // The host needs attention; once k3s can start, the next apply converges.
    tb.set_faults(&[]);
    converges(&tb);
}

#[test]
fn dies_right_after_ready_verify_fails_and_rolls_back_exit_6() {
    let tb = server(NODE);
    tb.set_faults(&["exit-after-ready-ms=0"]);
    let watcher = clear_faults_after(&tb, "ready", Some(ARC));
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_RESTART_TIMEOUT", "1s")],
    );
    assert!(watcher.join().expect("watcher"));
    check(
        &tb,
        &r,
        Expect {
            code: 6,
            kind: Some("rolled-back"),
            says: "cannot read the live issuer",
            config: NODE,
            unit: "active",
            live: Some(DEFAULT_ISSUER),
            last_apply: false,
        },
    );
    converges(&tb);
}

/// A crash after aio-prep verified is outside what one run can see: apply says ok, and
/// `status` (which asks the API server again) is what catches it.
#[test]
fn dies_after_verify_apply_ok_and_status_catches_it() {
    let tb = server(NODE);
    tb.set_faults(&["exit-after-ready-ms=1500"]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "failed"));
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "status"],
        &[],
    );
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(bed::step(&r.json(), "live")["status"], "failed");
    // The file is right; with k3s able to run, apply restarts it for the live issuer.
    tb.set_faults(&[]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(bed::step(&r.json(), "config")["status"], "unchanged");
    // k3s is failed, not running with another issuer: no restart, status still 3.
    let r = aio(&tb, &["--issuer-url", ARC, "status"], &[]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    tb.systemctl(&["start", "k3s.service"]);
    let r = aio(&tb, &["--issuer-url", ARC, "status"], &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn dbus_unavailable_when_a_restart_is_needed_exit_1_nothing_written() {
    let tb = server(NODE);
    // The unit is found on disk (as on a host where D-Bus is down), so only the bus is missing.
    let unit =
        std::fs::read_to_string(tb.dir().join("run/systemd/user/k3s.service")).expect("unit file");
    let unit_path = host(&tb, "/etc/systemd/system/k3s.service");
    std::fs::create_dir_all(unit_path.parent().expect("dir")).expect("mkdir");
    std::fs::write(&unit_path, unit).expect("unit");
    let before = bed::snapshot(tb.root());
    let starts = tb.starts().len();
    let no_bus = [(
        "DBUS_SYSTEM_BUS_ADDRESS",
        "unix:path=/nonexistent/aio-prep-no-bus",
    )];
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &no_bus,
    );
    check(
        &tb,
        &r,
        Expect {
            code: 1,
            kind: Some("internal"),
            says: "systemd is not reachable",
            config: NODE,
            unit: "active",
            live: Some(DEFAULT_ISSUER),
            last_apply: false,
        },
    );
    assert_eq!(bed::snapshot(tb.root()), before, "nothing written");
    assert_eq!(tb.starts().len(), starts, "no restart");
    // Converged with the bus; then without it there is nothing to restart: exit 0.
    converges(&tb);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &no_bus,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["outcome"], "ok");
}

#[test]
fn unit_missing_exit_4_nothing_written() {
    let tb = server(NODE);
    let before = bed::snapshot(tb.root());
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_UNIT", "k3s-missing.service")],
    );
    check(
        &tb,
        &r,
        Expect {
            code: 4,
            kind: Some("unsupported"),
            says: "no k3s unit was found",
            config: NODE,
            unit: "active",
            live: Some(DEFAULT_ISSUER),
            last_apply: false,
        },
    );
    assert_eq!(bed::snapshot(tb.root()), before, "nothing written");
    assert_eq!(ready_starts(&tb), 1, "no restart");
}

#[test]
fn operator_stops_k3s_during_the_restart_wait_rolled_back_exit_6() {
    let tb = server(NODE);
    tb.set_faults(&["startup-delay-ms=1500"]);
    let child = bed::command(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    )
    .spawn()
    .expect("spawn");
    assert!(
        bed::wait_until(10.0, || tb.unit_active_state() == "activating"),
        "restart under way"
    );
    // `systemctl stop` cancels aio-prep's restart job (JobRemoved result "canceled").
    let out = tb.systemctl(&["stop", "--no-block", "k3s.service"]);
    assert!(out.status.success());
    let r = bed::finish(child);
    check(
        &tb,
        &r,
        Expect {
            code: 6,
            kind: Some("rolled-back"),
            says: "canceled",
            config: NODE,
            unit: "active",
            live: Some(DEFAULT_ISSUER),
            last_apply: false,
        },
    );
    tb.set_faults(&[]);
    converges(&tb);
}

#[test]
fn k3s_down_before_apply_is_started_by_the_restart() {
    let tb = server(NODE);
    tb.set_faults(&["refuse"]);
    let _ = tb.systemctl(&["restart", "k3s.service"]);
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "failed"));
    tb.set_faults(&[]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    check(
        &tb,
        &r,
        Expect {
            code: 0,
            kind: None,
            says: "",
            config: &format!(
                "{NODE}kube-apiserver-arg:\n  - service-account-issuer={ARC}\n  - service-account-issuer={DEFAULT_ISSUER}\n  - service-account-max-token-expiration=24h\n"
            ),
            unit: "active",
            live: Some(ARC),
            last_apply: true,
        },
    );
    assert_eq!(aio(&tb, &["--issuer-url", ARC, "status"], &[]).code, 0);
}

/// "The API server may be stopped on purpose" (docs/design.md): with nothing to change,
/// apply leaves a stopped k3s stopped, and status says the live issuer is unknown.
#[test]
fn k3s_stopped_on_a_converged_host_stays_stopped() {
    let tb = server(NODE);
    converges(&tb);
    let starts = tb.starts().len();
    tb.systemctl(&["stop", "k3s.service"]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["restarted"], false);
    assert_eq!(bed::step(&j, "verify")["status"], "skipped");
    assert_eq!(tb.unit_active_state(), "inactive");
    assert_eq!(tb.starts().len(), starts);
    assert_eq!(aio(&tb, &["--issuer-url", ARC, "status"], &[]).code, 3);
}

#[test]
fn rollback_command_when_k3s_cannot_start_exit_7_file_restored() {
    let tb = server(NODE);
    converges(&tb);
    tb.set_faults(&["refuse"]);
    let r = aio(&tb, &["--output", "json", "rollback"], &[]);
    check(
        &tb,
        &r,
        Expect {
            code: 7,
            kind: Some("rollback-failed"),
            says: "k3s.service",
            config: NODE,
            unit: "failed",
            live: None,
            last_apply: false,
        },
    );
    tb.set_faults(&[]);
    converges(&tb);
}

#[test]
fn restart_deadline_is_ours_not_systemds() {
    // TimeoutStartSec=0 (k3s's own unit): systemd would wait forever; aio-prep gives up at
    // its deadline and rolls back. The stand-in comes up late, after the deadline.
    let tb = Testbed::start(testbed::TestbedOptions {
        config_yaml: Some(NODE.into()),
        start_timeout: "0".into(),
        ..testbed::TestbedOptions::server()
    })
    .expect("testbed");
    tb.set_faults(&["startup-delay-ms=3000"]);
    let t = std::time::Instant::now();
    let child = bed::command(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_RESTART_TIMEOUT", "1s")],
    )
    .spawn()
    .expect("spawn");
    // Once the slow start has read its faults, clear them so the rollback's start is quick.
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "activating"));
    std::thread::sleep(Duration::from_millis(300));
    tb.set_faults(&[]);
    let r = bed::finish(child);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    check(
        &tb,
        &r,
        Expect {
            code: 6,
            kind: Some("rolled-back"),
            says: "restart deadline",
            config: NODE,
            unit: "active",
            live: Some(DEFAULT_ISSUER),
            last_apply: false,
        },
    );
}

/// A run killed while k3s restarts into a config k3s then refuses: nobody is left to roll
/// back. The next apply finds the file as intended and cannot ask the (failed) API server,
/// so — as for a k3s stopped on purpose — it does not restart and says the live issuer is
/// unknown; `status` exits 3; `rollback` puts the operator's file back and k3s runs again.
#[test]
fn killed_during_a_restart_k3s_then_refuses_status_3_and_rollback_recovers() {
    let tb = server(NODE);
    tb.set_faults(&["startup-delay-ms=800", &format!("refuse-issuer={ARC}")]);
    let mut child = bed::command(&tb, &["--issuer-url", ARC, "apply"], &[])
        .spawn()
        .expect("spawn");
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "activating"));
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "failed"));
    assert!(config(&tb).contains(ARC), "the new file was in place");
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(bed::step(&r.json(), "verify")["status"], "skipped");
    assert_eq!(aio(&tb, &["--issuer-url", ARC, "status"], &[]).code, 3);
    tb.set_faults(&[]);
    let r = aio(&tb, &["--output", "json", "rollback"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(config(&tb), NODE);
    assert_eq!(tb.unit_active_state(), "active");
    assert_eq!(last_start_issuers(&tb), [DEFAULT_ISSUER]);
}

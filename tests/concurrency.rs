//! Many runs at once against one host (real systemd manager, k3s stand-in): the run lock
//! serialises `apply`; exactly one writes and restarts, the rest wait and find nothing to
//! do (or give up with exit 8 under a short `--lock-timeout`); read-only commands running
//! alongside never see a half-written file; a writer killed while it holds the lock does
//! not block the next run (flock is released by the kernel).

mod bed;

use std::process::Child;
use std::time::{Duration, Instant};

use bed::{aio, command, finish, ready_starts, server, ARC, ARC_B, DEFAULT_ISSUER};

const RUNS: usize = 12;

fn spawn_applies(tb: &testbed::Testbed, n: usize, extra: &[&str], issuer: &str) -> Vec<Child> {
    (0..n)
        .map(|_| {
            let mut args = vec!["--issuer-url", issuer, "--output", "json"];
            args.extend_from_slice(extra);
            args.push("apply");
            command(tb, &args, &[]).spawn().expect("spawn")
        })
        .collect()
}

#[test]
fn twelve_applies_at_once_one_writer_one_restart_and_readers_never_see_a_torn_file() {
    let tb = server("node-name: c\n");
    // A slow start keeps the writer holding the lock while the others queue up.
    tb.set_faults(&["startup-delay-ms=400"]);
    let applies = spawn_applies(&tb, RUNS, &[], ARC);
    // Read-only commands take no lock: they must see the old file or the new one, whole.
    let mut readers = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(600) {
        readers.push(
            command(&tb, &["--issuer-url", ARC, "--output", "json", "plan"], &[])
                .spawn()
                .expect("spawn plan"),
        );
        std::thread::sleep(Duration::from_millis(40));
    }
    let mut outcomes = Vec::new();
    for c in applies {
        let r = finish(c);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        outcomes.push(r.json()["outcome"].as_str().unwrap_or("").to_string());
    }
    for c in readers {
        let r = finish(c);
        assert!(
            r.code == 0 || r.code == 3,
            "plan during the applies: exit {} {}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
    }
    assert_eq!(
        outcomes.iter().filter(|o| *o == "changed").count(),
        1,
        "exactly one writer: {outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "ok").count(),
        RUNS - 1,
        "the others found nothing to do: {outcomes:?}"
    );
    assert_eq!(ready_starts(&tb), 2, "exactly one restart");
    let backups = std::fs::read_dir(bed::host(&tb, "/var/lib/aio-prep/backups"))
        .expect("backups")
        .count();
    assert_eq!(backups, 1, "one write, one backup");
    assert_eq!(aio(&tb, &["--issuer-url", ARC, "status"], &[]).code, 0);
    assert!(bed::lock_is_free(&tb));
}

#[test]
fn short_lock_timeout_gives_up_with_exit_8_and_changes_nothing() {
    let tb = server("node-name: d\n");
    tb.set_faults(&["startup-delay-ms=1500"]);
    let writer = spawn_applies(&tb, 1, &[], ARC).pop().expect("writer");
    assert!(
        bed::wait_until(10.0, || tb.unit_active_state() == "activating"),
        "the writer is restarting k3s (and holds the lock)"
    );
    let waiters = spawn_applies(&tb, RUNS - 1, &["--lock-timeout", "200ms"], ARC);
    for c in waiters {
        let r = finish(c);
        assert_eq!(r.code, 8, "{}\n{}", r.stdout, r.stderr);
        let j = r.json();
        assert_eq!(j["error"]["kind"], "locked");
        assert!(j["steps"].as_array().is_some_and(|s| s.is_empty()), "{j}");
    }
    let r = finish(writer);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["outcome"], "changed");
    assert_eq!(ready_starts(&tb), 2, "exactly one restart");
    assert_eq!(aio(&tb, &["--issuer-url", ARC, "status"], &[]).code, 0);
}

/// Two intents racing (an issuer rotation while an old run still queues): the lock makes
/// them one after the other, so the file is one complete result and k3s runs what it says.
/// Two runs each: every alternation restarts k3s, and systemd refuses a sixth start
/// within 10 s (`start-limit-hit`, covered in e2e.rs).
#[test]
fn two_issuers_racing_end_in_one_consistent_state() {
    let tb = server("node-name: e\n");
    let mut all = spawn_applies(&tb, 2, &[], ARC);
    all.extend(spawn_applies(&tb, 2, &[], ARC_B));
    for c in all {
        let r = finish(c);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    let cfg = bed::config(&tb);
    let signer = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("- service-account-issuer="))
        .expect("an issuer line")
        .to_string();
    assert!(signer == ARC || signer == ARC_B, "{cfg}");
    let other = if signer == ARC { ARC_B } else { ARC };
    assert_eq!(
        bed::last_start_issuers(&tb),
        [signer.as_str(), other, DEFAULT_ISSUER],
        "k3s runs the last writer's issuer first, the rotated-out one second"
    );
    assert_eq!(aio(&tb, &["--issuer-url", &signer, "status"], &[]).code, 0);
}

#[test]
fn a_writer_killed_while_holding_the_lock_does_not_block_the_next_run() {
    let tb = server("node-name: f\n");
    tb.set_faults(&["startup-delay-ms=2000"]);
    let mut writer = spawn_applies(&tb, 1, &[], ARC).pop().expect("writer");
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "activating"));
    assert!(!bed::lock_is_free(&tb), "the writer holds the lock");
    writer.kill().expect("SIGKILL the writer");
    let _ = writer.wait();
    assert!(bed::lock_is_free(&tb), "the kernel released the lock");
    tb.set_faults(&[]);
    let r = aio(
        &tb,
        &[
            "--issuer-url",
            ARC,
            "--lock-timeout",
            "2s",
            "--output",
            "json",
            "apply",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(bed::wait_until(10.0, || tb.unit_active_state() == "active"));
    // The killed run's restart may still have been starting k3s: if the next run saw no
    // live issuer it left k3s alone; by now it is up with the new config either way.
    assert_eq!(aio(&tb, &["--issuer-url", ARC, "status"], &[]).code, 0);
}

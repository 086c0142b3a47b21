//! Crash safety: `kill -9` of `aio-prep apply` at random instants, against a real systemd
//! manager running the k3s stand-in. Config sizes vary from 1 KB to ~700 KB (so parsing
//! and the fsync'd writes take measurable time) and the stand-in gets a random
//! `startup-delay-ms` (so the restart wait is wide); kill instants are drawn over the whole
//! run, and half of them over the part before the restart, where the writes are.
//!
//! One run in three writes the aio-prep drop-in (`[k3s] target = "dropin"`), whose temp
//! file is created inside `config.yaml.d/`.
//!
//! After every kill:
//! * the target file (config.yaml, or `config.yaml.d/90-aio-prep.yaml`) is byte-for-byte
//!   the old file (or absent, if it was) or the new one, and parses; with the drop-in
//!   target the operator's config.yaml is untouched;
//! * no file k3s would read appeared in `config.yaml.d/` (k3s reads every `*.yaml`/`*.yml`
//!   there, any case) — aio-prep's temp files are `.aio-prep-tmp-*.tmp`;
//! * the run lock is free;
//! * the next `apply` exits 0, leaves exactly the new bytes and no temp file beside them,
//!   and once systemd has settled `status` exits 0 (verified live issuer);
//! * at the end no temp file is left anywhere under the root (backups, state included).
//!
//! Where each kill landed is inferred from what was left: the file, temp files, the backup
//! record, the unit's state and main pid, and the stand-in's start log. The counts are
//! printed (`cargo test --test crash -- --nocapture`).
//!
//! `AIO_PREP_KILLS` (default 200) sets the number of kills; `AIO_PREP_CRASH_SEED` replays
//! a sequence.

mod bed;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aio_prep::k3s::exec::K3sFlags;
use aio_prep::k3s::intent::Intent;
use aio_prep::k3s::plan::{plan, Target};
use aio_prep::k3s::sources::Sources;
use aio_prep::paths::HostRoot;
use bed::{aio, command, host, server, ARC, ARC_B};
use testbed::Testbed;

/// xorshift64*: enough randomness for kill instants, replayable from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// An operator's config of about `size` bytes: comments, a few options, a
/// `kube-apiserver-arg` list, and a long `tls-san` list as the bulk.
fn operator_config(size: usize, rng: &mut Rng) -> String {
    let mut s = format!(
        "# site config {}\nwrite-kubeconfig-mode: \"0600\"\nnode-name: edge-{:02}\nkube-apiserver-arg:\n  - \"audit-log-maxage=30\"   # compliance\n  - audit-log-path=/var/log/k3s-audit.log\n",
        rng.next(),
        rng.below(100)
    );
    s.push_str("tls-san:\n");
    let mut n = 0;
    while s.len() < size {
        s.push_str(&format!(
            "  - host-{n:06}.edge.example.com   # rack {}\n",
            n % 97
        ));
        n += 1;
    }
    s
}

/// What `apply --issuer-url issuer` will write for `target` over what is there now.
fn expected_new(tb: &Testbed, issuer: &str, target: Target) -> String {
    let root = HostRoot::new(tb.root());
    let sources = Sources::load(&root, Path::new(testbed::DEFAULT_CONFIG)).expect("sources");
    let intent = Intent {
        issuer: issuer.into(),
        keep_previous_issuer: true,
        max_token_expiration: "24h".into(),
    };
    plan(&sources, &K3sFlags::default(), &intent, target)
        .expect("plan")
        .new_text
        .expect("a change")
}

fn last_apply(tb: &Testbed) -> Option<String> {
    std::fs::read_to_string(host(tb, "/var/lib/aio-prep/last-apply.json")).ok()
}

fn temp_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(aio_prep::hostfile::TEMP_PREFIX)
                })
                .count()
        })
        .unwrap_or(0)
}

fn settle(tb: &Testbed) {
    let ok = bed::wait_until(30.0, || {
        let s = tb.unit_active_state();
        s != "activating" && s != "deactivating" && s != "reloading"
    });
    assert!(ok, "k3s did not settle: {}", tb.unit_active_state());
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// An uninterrupted apply's timeline in ms: wall time, when the restart began (the
/// write is done), and how long the config step (backup + write) took.
fn calibrate(tb: &Testbed, issuer: &str) -> (u64, u64, u64) {
    tb.systemctl(&["reset-failed", "k3s.service"]);
    let t = Instant::now();
    let r = aio(
        tb,
        &["--issuer-url", issuer, "--output", "json", "apply"],
        &[],
    );
    let wall = t.elapsed().as_millis() as u64;
    assert_eq!(r.code, 0, "calibration: {}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let ms = |id: &str| bed::step(&j, id)["duration_ms"].as_u64().unwrap_or(0);
    (
        wall,
        wall.saturating_sub(ms("restart") + ms("verify")),
        ms("config"),
    )
}

#[test]
fn kill_9_at_random_instants_never_leaves_a_broken_host() {
    let kills: usize = std::env::var("AIO_PREP_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("AIO_PREP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| (now_us() as u64) | 1);
    eprintln!("crash: seed {seed} (AIO_PREP_CRASH_SEED), {kills} kills");
    let mut rng = Rng(seed);
    let sizes = [1_024usize, 16_384, 131_072, 393_216, 716_800];

    let tb = server("node-name: crash\n");
    let dropin_dir = host(&tb, "/etc/rancher/k3s/config.yaml.d");
    let dropin = dropin_dir.join(aio_prep::k3s::DROPIN_NAME);
    let cfg_dir = host(&tb, "/etc/rancher/k3s");
    let mut issuers = [ARC, ARC_B].iter().cycle();

    // Calibrate the kill window per size (no startup delay).
    let mut windows = Vec::new();
    for &size in &sizes {
        std::fs::write(tb.config_path(), operator_config(size, &mut rng)).expect("config");
        windows.push(calibrate(&tb, issuers.next().expect("issuer")));
    }
    eprintln!("crash: (wall, before-restart, config step) ms per size {sizes:?}: {windows:?}");

    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let mut killed = 0;
    let mut iterations = 0;
    let started = Instant::now();
    while killed < kills {
        iterations += 1;
        assert!(
            iterations < kills * 3,
            "too many runs finished before the kill"
        );
        let which = rng.below(sizes.len() as u64) as usize;
        let delay = rng.below(200);
        // One run in three writes the aio-prep drop-in (`[k3s] target = "dropin"`): its temp
        // file is then created inside config.yaml.d, where k3s reads every *.yaml.
        let to_dropin = rng.below(3) == 0;
        let (target, target_path, target_dir, env) = if to_dropin {
            (
                Target::Dropin,
                dropin.clone(),
                dropin_dir.clone(),
                vec![("AIO_PREP_K3S_TARGET", "dropin")],
            )
        } else {
            (Target::Config, tb.config_path(), cfg_dir.clone(), vec![])
        };
        tb.set_faults(&[&format!("startup-delay-ms={delay}")]);
        // The operator's file, fresh each run (no issuer args, so either target may own them).
        let base = operator_config(sizes[which], &mut rng);
        std::fs::write(tb.config_path(), &base).expect("config");
        if !to_dropin {
            let _ = std::fs::remove_file(&dropin);
        }
        let issuer = *issuers.next().expect("issuer");
        let read = |p: &Path| std::fs::read_to_string(p).ok();
        let old = read(&target_path);
        let new = expected_new(&tb, issuer, target);
        let record_before = last_apply(&tb);
        let pid_before = tb.main_pid();
        let starts_before = tb.starts().len();
        tb.systemctl(&["reset-failed", "k3s.service"]);

        // Kill instants: a third uniform over the run or its part before the restart; the
        // rest a random delay after a moment one phase starts (the backup record written,
        // the temp file created, the rename done, k3s ready again), so the narrow windows
        // — a write takes a few ms — are hit too.
        let (wall, pre, write) = windows[which];
        let mode = rng.below(6);
        let (uniform, extra_us) = match mode {
            0 => (Some((wall + delay) * 13 / 10), 0),
            1 => (Some(pre.max(1)), 0),
            2 => (None, rng.below(1_000)),
            3 => (None, rng.below(write.max(1) * 1_000)),
            4 => (None, rng.below(3_000)),
            _ => (None, rng.below(5_000)),
        };
        let record_path = host(&tb, "/var/lib/aio-prep/last-apply.json");
        let ino = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .ok()
        };
        let (record_ino, target_ino) = (ino(&record_path), ino(&target_path));
        let starts_log = host(&tb, testbed::STARTS_LOG);
        let ready_lines = |p: &Path| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .matches("\"result\":\"ready\"")
                .count()
        };
        let ready0 = ready_lines(&starts_log);
        let mut child = command(&tb, &["--issuer-url", issuer, "apply"], &env)
            .spawn()
            .expect("spawn");
        let t0 = Instant::now();
        let kill_after = match uniform {
            Some(ms) => {
                let d = Duration::from_micros(rng.below(ms * 1000));
                std::thread::sleep(d);
                d
            }
            None => {
                let hit = || match mode {
                    2 => ino(&record_path) != record_ino,
                    3 => temp_in(&target_dir) > 0,
                    4 => ino(&target_path) != target_ino,
                    _ => ready_lines(&starts_log) > ready0,
                };
                while !hit() && t0.elapsed() < Duration::from_secs(20) {
                    if child.try_wait().expect("try_wait").is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
                std::thread::sleep(Duration::from_micros(extra_us));
                t0.elapsed()
            }
        };
        let exited = child.try_wait().expect("try_wait");
        let kill_us = now_us();
        let _ = child.kill();
        let status = child.wait().expect("wait");

        // What the kill left behind.
        let now = read(&target_path);
        let temps = temp_in(&target_dir);
        let state = tb.unit_active_state();
        let pid = tb.main_pid();
        let starts = tb.starts();
        let new_ready_before_kill = starts[starts_before.min(starts.len())..].iter().any(|s| {
            s["result"] == "ready" && u128::from(s["ready_unix_us"].as_u64().unwrap_or(0)) < kill_us
        });
        let phase = if exited.is_some() {
            assert!(status.success(), "an unkilled run failed: {status:?}");
            "finished before the kill"
        } else if now == old {
            if temps > 0 {
                "writing the file (temp file, before rename)"
            } else if last_apply(&tb) != record_before {
                "backup saved, file not yet written"
            } else {
                "before any write (detect, plan, backup)"
            }
        } else if new_ready_before_kill {
            "after k3s was back (verify, report)"
        } else if state == "active" && pid == pid_before {
            "after the rename, before the restart job"
        } else {
            "waiting for the restart job"
        };
        if exited.is_none() {
            killed += 1;
        }
        let target_name = if to_dropin { "drop-in" } else { "config.yaml" };
        *phases
            .entry(format!("{phase} [{target_name}]"))
            .or_default() += 1;

        let ctx = format!(
            "seed {seed}, iteration {iterations}, {target_name}, size {}, delay {delay} ms, mode {mode}, kill after {kill_after:?}, phase {phase:?}",
            sizes[which]
        );
        assert!(
            now == old || now.as_deref() == Some(new.as_str()),
            "{ctx}: {} is neither the old bytes nor the new",
            target_path.display()
        );
        if to_dropin {
            assert_eq!(
                bed::config(&tb),
                base,
                "{ctx}: the operator's config.yaml changed"
            );
        }
        aio_prep::yaml::Document::parse(&target_path, now.as_deref().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{ctx}: the file does not parse: {e}"));
        let mut readable = vec!["00-testbed-port.yaml".to_string()];
        if now.is_some() && to_dropin {
            readable.push(aio_prep::k3s::DROPIN_NAME.to_string());
        }
        assert_eq!(
            bed::k3s_readable(&tb),
            readable,
            "{ctx}: a file k3s would read appeared in {}",
            dropin_dir.display()
        );
        assert!(bed::lock_is_free(&tb), "{ctx}: the lock is still held");

        // The next run completes the job.
        tb.systemctl(&["reset-failed", "k3s.service"]);
        let r = aio(
            &tb,
            &["--issuer-url", issuer, "--output", "json", "apply"],
            &env,
        );
        assert_eq!(r.code, 0, "{ctx}: next apply: {}\n{}", r.stdout, r.stderr);
        assert_eq!(
            read(&target_path).as_deref(),
            Some(new.as_str()),
            "{ctx}: next apply did not leave the new bytes"
        );
        assert_eq!(
            temp_in(&target_dir),
            0,
            "{ctx}: temp file left in {}",
            target_dir.display()
        );
        settle(&tb);
        let r = aio(&tb, &["--issuer-url", issuer, "status"], &env);
        assert_eq!(
            r.code, 0,
            "{ctx}: status after the next apply: {}{}",
            r.stdout, r.stderr
        );
    }
    let stray: Vec<_> = bed::temp_files(tb.root());
    eprintln!(
        "crash: {killed} kills in {iterations} runs, {:.0} s; landed: {phases:#?}",
        started.elapsed().as_secs_f64(),
    );
    assert!(stray.is_empty(), "temp files left behind: {stray:?}");
}

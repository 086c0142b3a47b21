//! End to end under a real systemd manager on a real D-Bus bus, with the k3s stand-in as a
//! `Type=notify` unit: apply, idempotence, restart-only-when-needed, verify, rollback.

mod common;

use std::process::Command;

use common::{ARC, DEFAULT_ISSUER};
use testbed::{Testbed, TestbedOptions};

const OPERATOR_CONFIG: &str = "# site config — do not lose this comment\nwrite-kubeconfig-mode: \"0600\"\nnode-name: edge-01   # label\nkube-apiserver-arg:\n  - \"audit-log-maxage=30\"   # compliance\n  - audit-log-path=/var/log/k3s-audit.log\ntls-san: [edge-01.example]\n";

fn server(config: &str) -> Testbed {
    Testbed::start(TestbedOptions {
        config_yaml: Some(config.to_string()),
        ..TestbedOptions::server()
    })
    .expect("testbed")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

fn aio(tb: &Testbed, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aio-prep"));
    cmd.arg("--root").arg(tb.root()).args(args).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in tb.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run aio-prep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ready_starts(tb: &Testbed) -> usize {
    tb.starts()
        .iter()
        .filter(|s| s["result"] == "ready")
        .count()
}

fn step<'a>(j: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    j["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {j}"))
}

#[test]
fn apply_restarts_once_verifies_and_second_apply_changes_nothing() {
    let tb = server(OPERATOR_CONFIG);
    assert_eq!(ready_starts(&tb), 1);
    let issuer = ["--issuer-url", ARC];

    let r = aio(
        &tb,
        &[&issuer[..], &["--output", "json", "status"]].concat(),
        &[],
    );
    assert_eq!(r.code, 3, "status before apply: {}", r.stderr);
    let r = aio(
        &tb,
        &[&issuer[..], &["--output", "json", "plan"]].concat(),
        &[],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.json()["flavor"]["unit"], "k3s.service");
    assert_eq!(ready_starts(&tb), 1, "plan must not restart");

    let r = aio(
        &tb,
        &[&issuer[..], &["--output", "json", "apply"]].concat(),
        &[],
    );
    assert_eq!(r.code, 0, "apply: {}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "changed");
    assert_eq!(j["restarted"], true);
    assert_eq!(step(&j, "restart")["status"], "changed");
    assert_eq!(
        step(&j, "verify")["detail"],
        format!("live issuer is {ARC}")
    );
    assert_eq!(ready_starts(&tb), 2, "exactly one restart");
    let args = tb.starts().last().expect("start")["apiserver_args"].clone();
    let issuers: Vec<&str> = args
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--service-account-issuer="))
        .collect();
    assert_eq!(
        issuers,
        [ARC, DEFAULT_ISSUER],
        "the stand-in runs with ours first, previous second"
    );
    let written = std::fs::read_to_string(tb.config_path()).expect("config");
    assert_eq!(
        written,
        format!(
            "# site config — do not lose this comment\nwrite-kubeconfig-mode: \"0600\"\nnode-name: edge-01   # label\nkube-apiserver-arg:\n  - \"service-account-issuer={ARC}\"\n  - \"service-account-issuer={DEFAULT_ISSUER}\"\n  - \"service-account-max-token-expiration=24h\"\n  - \"audit-log-maxage=30\"   # compliance\n  - audit-log-path=/var/log/k3s-audit.log\ntls-san: [edge-01.example]\n"
        )
    );

    let r = aio(
        &tb,
        &[&issuer[..], &["--output", "json", "apply"]].concat(),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "ok");
    assert_eq!(j["restarted"], false);
    assert_eq!(ready_starts(&tb), 2, "second apply must not restart");
    assert_eq!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        written
    );
    let r = aio(&tb, &[&issuer[..], &["status"]].concat(), &[]);
    assert_eq!(r.code, 0, "status after apply: {}{}", r.stdout, r.stderr);
}

#[test]
fn a_run_killed_after_the_write_is_completed_by_the_next_run() {
    let tb = server("node-name: a\n");
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "apply"],
        &[("AIO_PREP_K3S_RESTART", "false")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ready_starts(&tb), 1, "restart = false must not restart");
    let r = aio(&tb, &["--issuer-url", ARC, "--output", "json", "plan"], &[]);
    assert_eq!(r.code, 3, "live issuer differs: restart pending");
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(step(&j, "config")["status"], "unchanged");
    assert_eq!(step(&j, "restart")["status"], "changed");
    assert!(step(&j, "restart")["detail"]
        .as_str()
        .expect("detail")
        .contains("another issuer"));
    assert_eq!(ready_starts(&tb), 2);
}

#[test]
fn k3s_refusing_the_new_config_is_rolled_back_exit_6() {
    let tb = server(OPERATOR_CONFIG);
    tb.set_faults(&[&format!("refuse-issuer={ARC}")]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 6, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "rolled-back");
    assert_eq!(j["error"]["kind"], "rolled-back");
    assert_eq!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        OPERATOR_CONFIG,
        "old bytes restored"
    );
    assert_eq!(tb.unit_active_state(), "active");
    let last = tb.starts().last().cloned().expect("start");
    assert_eq!(last["result"], "ready");
    assert!(last["apiserver_args"]
        .to_string()
        .contains(&format!("--service-account-issuer={DEFAULT_ISSUER}")));
}

#[test]
fn k3s_never_ready_hits_the_deadline_and_a_failed_rollback_exits_7() {
    let tb = server("node-name: a\n");
    tb.set_faults(&["never-ready"]);
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_RESTART_TIMEOUT", "2s")],
    );
    assert_eq!(r.code, 7, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["error"]["kind"], "rollback-failed");
    assert!(
        j["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("restart deadline"),
        "{j}"
    );
    // The file is back to the operator's bytes even though k3s needs attention.
    assert_eq!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        "node-name: a\n"
    );
}

#[test]
fn rollback_command_restores_the_previous_config() {
    let tb = server(OPERATOR_CONFIG);
    let r = aio(&tb, &["--issuer-url", ARC, "apply"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ne!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        OPERATOR_CONFIG
    );
    let r = aio(&tb, &["--output", "json", "rollback"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["restarted"], true);
    assert_eq!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        OPERATOR_CONFIG
    );
    assert_eq!(ready_starts(&tb), 3);
    let r = aio(&tb, &["--output", "json", "rollback"], &[]);
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["restarted"], false, "nothing left to roll back");
}

#[test]
fn agent_node_gets_nothing_and_no_restart() {
    let tb = Testbed::start(TestbedOptions {
        config_yaml: Some("server: https://192.0.2.1:6443\ntoken: K10-agent-join-token\n".into()),
        ..TestbedOptions::agent()
    })
    .expect("testbed");
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "not-applicable");
    assert_eq!(j["flavor"]["role"], "agent");
    assert_eq!(j["flavor"]["unit"], "k3s-agent.service");
    assert_eq!(ready_starts(&tb), 1);
}

#[test]
fn config_file_from_unit_environment_is_the_one_edited() {
    let tb = Testbed::start(TestbedOptions {
        unit_environment: vec![("K3S_CONFIG_FILE".into(), "/etc/k3s/site.yaml".into())],
        config_yaml: Some("node-name: b\n".into()),
        ..TestbedOptions::server()
    })
    .expect("testbed");
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["flavor"]["config_file"], "/etc/k3s/site.yaml");
    assert!(std::fs::read_to_string(tb.root().join("etc/k3s/site.yaml"))
        .expect("site")
        .contains(ARC));
    assert!(!tb.root().join("etc/rancher/k3s/config.yaml").exists());
    assert_eq!(ready_starts(&tb), 2);
}

#[test]
fn dropin_target_works_under_real_k3s_rules() {
    let tb = server(OPERATOR_CONFIG);
    let env = [("AIO_PREP_K3S_TARGET", "dropin")];
    let r = aio(&tb, &["--issuer-url", ARC, "apply"], &env);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        OPERATOR_CONFIG
    );
    assert_eq!(ready_starts(&tb), 2);
    let r = aio(&tb, &["--issuer-url", ARC, "status"], &env);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn concurrent_applies_write_once_and_restart_once() {
    let tb = server("node-name: c\n");
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_aio-prep"));
            cmd.arg("--root")
                .arg(tb.root())
                .args(["--issuer-url", ARC, "--output", "json", "apply"])
                .env_clear();
            for (k, v) in tb.env() {
                cmd.env(k, v);
            }
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut changed = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        if j["outcome"] == "changed" {
            changed += 1;
        }
    }
    assert_eq!(changed, 1, "exactly one writer");
    assert_eq!(ready_starts(&tb), 2, "exactly one restart");
}

#[test]
fn start_rate_limit_is_named_and_rollback_still_restores_service() {
    let tb = server(OPERATOR_CONFIG);
    // systemd's default limit is 5 starts in 10 s (k3s's unit keeps it): use up the burst.
    for _ in 0..4 {
        let out = tb.systemctl(&["restart", "k3s.service"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = aio(
        &tb,
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[],
    );
    assert_eq!(r.code, 6, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert!(
        j["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("start-limit-hit"),
        "{j}"
    );
    assert_eq!(
        std::fs::read_to_string(tb.config_path()).expect("config"),
        OPERATOR_CONFIG
    );
    assert_eq!(
        tb.unit_active_state(),
        "active",
        "rollback reset the limit and started k3s"
    );
}

#[test]
fn cluster_domain_sets_the_previous_issuer_k3s_agrees() {
    let tb = server("cluster-domain: edge.local\n");
    let r = aio(&tb, &["--issuer-url", ARC, "apply"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let args = tb.starts().last().expect("start")["apiserver_args"].to_string();
    assert!(
        args.contains(&format!("--service-account-issuer={ARC}")),
        "{args}"
    );
    assert!(
        args.contains("--service-account-issuer=https://kubernetes.default.svc.edge.local"),
        "{args}"
    );
}

#[test]
fn waits_over_two_seconds_show_progress() {
    let tb = server("node-name: slow\n");
    tb.set_faults(&["startup-delay-ms=2600"]);
    let r = aio(&tb, &["--issuer-url", ARC, "apply"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("waiting for k3s.service to restart (2."),
        "stderr: {}",
        r.stderr
    );
}

/// The whole flow: coordinates from the Arc ConfigMap through the local API server, a client
/// secret from a 0600 file, OIDC issuer + workload identity enabled over ARM (LRO, agents
/// settling), the issuer discovered, config written, k3s restarted over D-Bus, the live
/// issuer verified. A second apply changes nothing in the cloud or on the host.
#[test]
fn cloud_and_host_end_to_end_with_coordinates_from_the_configmap() {
    use azure_emulator::{ClusterSpec, Credential, Emulator, EmulatorOptions, Method};
    let tb = server(OPERATOR_CONFIG);
    let emu = Emulator::start(EmulatorOptions {
        root: Some(tb.root().to_path_buf()),
        ..EmulatorOptions::default()
    })
    .expect("emulator");
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    emu.add_cluster(ClusterSpec {
        tenant: tenant.into(),
        retry_after_secs: 0,
        lro_polls_before_done: 2,
        agent_state_reads_before_settled: 2,
        ..ClusterSpec::default()
    });
    let spec = ClusterSpec::default();
    emu.add_service_principal(
        tenant,
        "sp-client",
        Credential::Secret("e2e-secret-value".into()),
    )
    .expect("sp");
    let configmap = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "azure-clusterconfig", "namespace": "azure-arc"},
        "data": {"AZURE_SUBSCRIPTION_ID": spec.subscription, "AZURE_RESOURCE_GROUP": spec.resource_group,
                 "AZURE_RESOURCE_NAME": spec.name, "AZURE_TENANT_ID": tenant, "AZURE_REGION": "eastus"}
    });
    let write = |host: &str, text: &str, mode: u32| {
        let p = tb.root().join(host.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    write(
        "/var/lib/rancher/k3s/standin/azure-clusterconfig.json",
        &configmap.to_string(),
        0o600,
    );
    write("/etc/aio-prep/azure-ca.pem", emu.ca_pem(), 0o644);
    write("/etc/aio-prep/sp-secret", "e2e-secret-value\n", 0o600);
    write(
        "/etc/aio-prep/config.toml",
        &format!(
            "[azure]\narm_endpoint = \"{}\"\nauthority_host = \"{}\"\nca_file = \"/etc/aio-prep/azure-ca.pem\"\npoll_interval = \"50ms\"\n[azure.auth]\nmethod = \"client-secret\"\nclient_id = \"sp-client\"\nclient_secret_file = \"/etc/aio-prep/sp-secret\"\n",
            emu.arm_endpoint(),
            emu.authority_host()
        ),
        0o644,
    );
    let r = aio(&tb, &["--output", "json", "apply"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "changed");
    assert_eq!(j["restarted"], true);
    assert_eq!(step(&j, "cloud")["status"], "changed");
    let issuer = j["issuer"]["url"].as_str().expect("issuer").to_string();
    assert_eq!(j["issuer"]["source"], "discovery");
    assert_eq!(
        step(&j, "verify")["detail"],
        format!("live issuer is {issuer}")
    );
    assert_eq!(ready_starts(&tb), 2);
    let puts = |e: &Emulator| {
        e.requests()
            .iter()
            .filter(|q| q.method == Method::PUT)
            .count()
    };
    assert_eq!(puts(&emu), 1);

    let r = aio(&tb, &["--output", "json", "apply"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "ok");
    assert_eq!(ready_starts(&tb), 2, "no second restart");
    assert_eq!(puts(&emu), 1, "no second PUT");
    let r = aio(&tb, &["status"], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

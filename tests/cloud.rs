//! The cloud half against the Azure emulator (real HTTPS on loopback with a CA generated at
//! start): every credential source, the LRO paths, agent settling, issuer discovery, faults,
//! and AKS on Azure Local. The host is a `--root` with a k3s unit file; k3s restarts are
//! covered in e2e.rs, so these runs set `k3s.restart = false` unless they say otherwise.

mod common;

use azure_emulator::{
    ClusterSpec, Credential, Emulator, EmulatorOptions, Fault, FaultKind, Matcher, Method,
};
use common::{Host, Run};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b7f3a2e-5c1d-4f6a-9e8b-3c2d1a0f9e8d";
const SECRET: &str = "SECRET-client-Zq8~vYp2.Lw3Nx7Kd5";
const SUB: &str = "1bfbb5d0-917e-4346-9026-1d3b344417f5";
const RG: &str = "edge-rg";
const NAME: &str = "edge-cluster";

struct Cloud {
    emu: Emulator,
    host: Host,
}

impl Cloud {
    fn new(spec: ClusterSpec) -> Cloud {
        let host = Host::k3s_server(Some("# site\nnode-name: edge-01\n"));
        let emu = Emulator::start(EmulatorOptions {
            root: Some(host.root().to_path_buf()),
            ..EmulatorOptions::default()
        })
        .expect("emulator");
        emu.add_cluster(spec);
        emu.add_service_principal(TENANT, CLIENT, Credential::Secret(SECRET.into()))
            .expect("sp");
        // The operator installs the CA on the host; config paths are host paths.
        host.write("/etc/aio-prep/azure-ca.pem", emu.ca_pem());
        Cloud { emu, host }
    }

    /// The aio-prep config pointing at the emulator (coordinates explicit, restart off).
    fn config(&self, extra: &str) -> String {
        format!(
            "[azure]\nsubscription_id = \"{SUB}\"\nresource_group = \"{RG}\"\ncluster_name = \"{NAME}\"\ntenant_id = \"{TENANT}\"\narm_endpoint = \"{}\"\nauthority_host = \"{}\"\nca_file = \"/etc/aio-prep/azure-ca.pem\"\npoll_interval = \"20ms\"\n[azure.auth]\nclient_id = \"{CLIENT}\"\n[k3s]\nrestart = false\n{extra}",
            self.emu.arm_endpoint(),
            self.emu.authority_host(),
        )
    }

    fn run(&self, config_extra: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let path = self.host.path("/etc/aio-prep/config.toml");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, self.config(config_extra)).expect("config");
        self.host.run_env(args, env)
    }

    fn secret_env() -> Vec<(&'static str, &'static str)> {
        vec![("AZURE_CLIENT_SECRET", SECRET)]
    }

    fn puts(&self) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.method == Method::PUT)
            .count()
    }

    fn cluster_json(&self) -> serde_json::Value {
        self.emu.cluster(SUB, RG, NAME)
    }
}

fn spec() -> ClusterSpec {
    ClusterSpec {
        subscription: SUB.into(),
        resource_group: RG.into(),
        name: NAME.into(),
        tenant: TENANT.into(),
        retry_after_secs: 0,
        lro_polls_before_done: 2,
        agent_state_reads_before_settled: 2,
        ..ClusterSpec::default()
    }
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
fn client_secret_enables_discovers_and_writes_then_converges() {
    let c = Cloud::new(spec());
    let r = c.run("", &["--output", "json", "apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "changed");
    assert_eq!(step(&j, "cloud")["status"], "changed");
    assert_eq!(j["issuer"]["source"], "discovery");
    let issuer_url = c.cluster_json()["properties"]["oidcIssuerProfile"]["issuerUrl"]
        .as_str()
        .expect("issuerUrl")
        .to_string();
    assert!(
        issuer_url.ends_with('/'),
        "the emulator's issuerUrl has a trailing slash"
    );
    let discovered = issuer_url.trim_end_matches('/');
    assert_eq!(
        j["issuer"]["url"], discovered,
        "the discovery document's issuer, verbatim (no trailing slash)"
    );
    let config = c.host.read("/etc/rancher/k3s/config.yaml");
    assert!(
        config.contains(&format!("  - \"service-account-issuer={discovered}\"\n"))
            || config.contains(&format!("  - service-account-issuer={discovered}\n")),
        "{config}"
    );
    assert!(
        !config.contains(&issuer_url),
        "never the slash variant: {config}"
    );
    assert_eq!(c.puts(), 1);
    let put = c
        .emu
        .requests()
        .into_iter()
        .find(|r| r.method == Method::PUT)
        .expect("put");
    let body: serde_json::Value = serde_json::from_str(&put.body).expect("json body");
    assert_eq!(body["properties"]["oidcIssuerProfile"]["enabled"], true);
    assert_eq!(
        body["properties"]["securityProfile"]["workloadIdentity"]["enabled"],
        true
    );
    for ro in ["id", "name", "type", "systemData"] {
        assert!(body.get(ro).is_none(), "read-only {ro} sent in the PUT");
    }
    assert!(put
        .path_and_query
        .contains("api-version=2024-07-15-preview"));

    // Second run: nothing to do in the cloud, nothing on the host.
    let before = c.emu.requests().len();
    let r = c.run("", &["--output", "json", "apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "ok");
    assert_eq!(step(&j, "cloud")["status"], "unchanged");
    assert_eq!(c.puts(), 1, "no second PUT");
    assert!(
        c.emu.requests().len() - before <= 3,
        "token + one GET + discovery"
    );
}

#[test]
fn plan_and_status_read_only_report_pending_cloud_change() {
    let c = Cloud::new(spec());
    let snap = c.host.snapshot();
    let r = c.run("", &["--output", "json", "plan"], &Cloud::secret_env());
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(step(&r.json(), "cloud")["detail"]
        .as_str()
        .expect("d")
        .contains("would enable OIDC issuer and workload identity"));
    let r = c.run("", &["--output", "json", "status"], &Cloud::secret_env());
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(c.puts(), 0, "plan and status never PUT");
    let after: Vec<_> = c
        .host
        .snapshot()
        .into_iter()
        .filter(|(p, _)| !p.ends_with("config.toml"))
        .collect();
    let before: Vec<_> = snap
        .into_iter()
        .filter(|(p, _)| !p.ends_with("config.toml"))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn client_certificate_signs_an_assertion_the_emulator_verifies() {
    let c = Cloud::new(spec());
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/client-cert.pem"
    ))
    .expect("pem");
    c.emu
        .add_service_principal(TENANT, "cert-app", Credential::Certificate(pem.clone()))
        .expect("cert sp");
    c.host.write("/etc/aio-prep/sp.pem", &pem);
    let r = c.run(
        "",
        &["--output", "json", "apply"],
        &[
            ("AZURE_CLIENT_ID", "cert-app"),
            ("AIO_PREP_AZURE_AUTH_CLIENT_ID", "cert-app"),
            ("AIO_PREP_AZURE_AUTH_METHOD", "client-certificate"),
            (
                "AIO_PREP_AZURE_AUTH_CERTIFICATE_FILE",
                "/etc/aio-prep/sp.pem",
            ),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let token_req = c
        .emu
        .requests()
        .into_iter()
        .find(|r| r.path_and_query.contains("/oauth2/v2.0/token"))
        .expect("token request");
    assert!(
        token_req.body.contains("client_assertion_type"),
        "{}",
        token_req.body
    );
}

#[test]
fn workload_identity_federated_token_file() {
    let c = Cloud::new(spec());
    c.emu
        .add_federated_token(TENANT, CLIENT, "federated-token-abc.def.ghi");
    c.host.write(
        "/var/run/secrets/azure/tokens/azure-identity-token",
        "federated-token-abc.def.ghi\n",
    );
    let r = c.run(
        "",
        &["--output", "json", "apply"],
        &[(
            "AZURE_FEDERATED_TOKEN_FILE",
            "/var/run/secrets/azure/tokens/azure-identity-token",
        )],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn arc_enabled_server_identity_answers_the_himds_challenge() {
    let c = Cloud::new(spec());
    c.emu.set_arc_identity(TENANT);
    let endpoint = c.emu.identity_endpoint();
    let r = c.run(
        "",
        &["--output", "json", "apply"],
        &[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IMDS_ENDPOINT", c.emu.http_url()),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let himds: Vec<_> = c
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.scheme == "http")
        .collect();
    assert_eq!(himds.len(), 2, "challenge, then the answer");
    assert_eq!(himds[0].status, 401);
    assert!(himds[1]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Basic"));
}

#[test]
fn vm_imds_identity() {
    let c = Cloud::new(spec());
    c.emu.set_vm_identity(TENANT);
    let r = c.run(
        "",
        &["--output", "json", "apply"],
        &[
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", c.emu.http_url()),
            ("AIO_PREP_AZURE_AUTH_METHOD", "imds"),
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn azure_cli_token_when_az_is_on_path() {
    let c = Cloud::new(spec());
    let bin = tempfile::tempdir().expect("tmp");
    // A stand-in `az` that gets a real token from the emulator with the client secret.
    let script = format!(
        "#!/bin/sh\nset -e\nbody=$(curl -sS --cacert '{ca}' --data-urlencode grant_type=client_credentials --data-urlencode client_id={CLIENT} --data-urlencode client_secret='{SECRET}' --data-urlencode 'scope={arm}/.default' '{token_url}')\ntoken=$(printf '%s' \"$body\" | sed -n 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/p')\nprintf '{{\"accessToken\": \"%s\", \"expires_on\": %s, \"tokenType\": \"Bearer\"}}\\n' \"$token\" $(( $(date +%s) + 3000 ))\n",
        ca = c.emu.ca_pem_path().display(),
        arm = c.emu.arm_endpoint(),
        token_url = c.emu.token_url(TENANT),
    );
    let az = bin.path().join("az");
    std::fs::write(&az, script).expect("az");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = c.run(
        "",
        &["--output", "json", "apply"],
        &[("PATH", &path), ("AIO_PREP_AZURE_AUTH_METHOD", "azure-cli")],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn auto_with_no_credential_lists_what_it_tried() {
    let c = Cloud::new(spec());
    let r = c.run(
        "",
        &["plan"],
        &[
            ("PATH", "/nonexistent"),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let snap = c.host.snapshot();
    let r = c.run(
        "",
        &["apply"],
        &[
            ("PATH", "/nonexistent"),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let line = r.error_line();
    for m in [
        "client-secret",
        "client-certificate",
        "workload-identity",
        "arc-identity",
        "imds",
        "azure-cli",
    ] {
        assert!(line.contains(m), "{line} lacks {m}");
    }
    assert_eq!(c.host.snapshot(), snap, "nothing written");
}

#[test]
fn wrong_client_secret_names_the_method_and_the_aadsts_error() {
    let c = Cloud::new(spec());
    let r = c.run(
        "",
        &["apply"],
        &[("AZURE_CLIENT_SECRET", "wrong-secret-value")],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    let line = r.error_line();
    assert!(line.contains("client-secret: HTTP 401"), "{line}");
    assert!(line.contains("AADSTS"), "{line}");
    assert!(!r.stderr.contains("wrong-secret-value") && !r.stdout.contains("wrong-secret-value"));
}

#[test]
fn lro_by_provisioning_state_when_no_async_operation_header_and_put_200() {
    let c = Cloud::new(ClusterSpec {
        async_operation_header: false,
        put_status: 200,
        ..spec()
    });
    let r = c.run("", &["--output", "json", "apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        c.cluster_json()["properties"]["oidcIssuerProfile"]["enabled"],
        true
    );
}

#[test]
fn agents_that_never_settle_time_out_exit_5_host_untouched() {
    let c = Cloud::new(spec());
    c.emu.inject(Fault::new(
        Matcher {
            method: Some(Method::PUT),
            path_contains: None,
        },
        FaultKind::AgentNeverSettles,
        1,
    ));
    let r = c.run(
        "",
        &["apply"],
        &[
            ("AZURE_CLIENT_SECRET", SECRET),
            ("AIO_PREP_AZURE_AGENT_TIMEOUT", "300ms"),
        ],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.error_line().contains("Arc agents"), "{}", r.stderr);
    assert_eq!(
        c.host.read("/etc/rancher/k3s/config.yaml"),
        "# site\nnode-name: edge-01\n"
    );
}

#[test]
fn lro_failed_and_canceled_show_arm_code_and_message() {
    for (kind, says) in [
        (
            FaultKind::LroFailed {
                code: "InternalOperationError".into(),
                message: "agent update failed".into(),
            },
            "Failed: InternalOperationError: agent update failed",
        ),
        (FaultKind::LroCanceled, "Canceled"),
    ] {
        let c = Cloud::new(spec());
        c.emu.inject(Fault::new(
            Matcher {
                method: Some(Method::PUT),
                path_contains: None,
            },
            kind,
            1,
        ));
        let r = c.run("", &["apply"], &Cloud::secret_env());
        assert_eq!(r.code, 5, "{}", r.stderr);
        assert!(r.error_line().contains(says), "{}", r.stderr);
        assert_eq!(
            c.host.read("/etc/rancher/k3s/config.yaml"),
            "# site\nnode-name: edge-01\n"
        );
    }
}

#[test]
fn retryable_faults_are_retried_and_the_run_succeeds() {
    for kind in [
        FaultKind::throttled(429, 1),
        FaultKind::status(500),
        FaultKind::status(502),
        FaultKind::status(503),
        FaultKind::status(504),
        FaultKind::status(408),
        FaultKind::CloseConnection,
    ] {
        let c = Cloud::new(spec());
        c.emu.inject(Fault::new(
            Matcher {
                method: Some(Method::GET),
                path_contains: Some("connectedClusters".into()),
            },
            kind.clone(),
            1,
        ));
        let r = c.run("", &["--output", "json", "apply"], &Cloud::secret_env());
        assert_eq!(r.code, 0, "{kind:?}: {}\n{}", r.stdout, r.stderr);
        assert_eq!(c.emu.pending_faults(), 0, "{kind:?} was hit");
    }
}

#[test]
fn retry_after_is_honoured() {
    let c = Cloud::new(spec());
    c.emu.inject(Fault::new(
        Matcher {
            method: Some(Method::GET),
            path_contains: Some("connectedClusters".into()),
        },
        FaultKind::throttled(429, 2),
        1,
    ));
    let t = std::time::Instant::now();
    let r = c.run("", &["apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(2),
        "waited {:?}",
        t.elapsed()
    );
}

#[test]
fn non_retryable_errors_fail_once_with_arm_code_and_message() {
    for (code, arm_code, says) in [
        (403, "AuthorizationFailed", "HTTP 403 AuthorizationFailed"),
        (404, "ResourceNotFound", "HTTP 404 ResourceNotFound"),
        (401, "InvalidAuthenticationToken", "HTTP 401"),
    ] {
        let c = Cloud::new(spec());
        c.emu.inject(Fault::new(
            Matcher {
                method: Some(Method::GET),
                path_contains: Some("connectedClusters".into()),
            },
            FaultKind::arm_error(code, arm_code, "the client does not have authorization"),
            5,
        ));
        let r = c.run("", &["apply"], &Cloud::secret_env());
        assert_eq!(r.code, 5, "{code}: {}", r.stderr);
        assert!(r.error_line().contains(says), "{code}: {}", r.stderr);
        let gets = c
            .emu
            .requests()
            .iter()
            .filter(|q| q.method == Method::GET && q.path_and_query.contains("connectedClusters"))
            .count();
        assert_eq!(gets, 1, "{code} must not be retried");
    }
}

#[test]
fn slow_response_past_the_request_timeout_is_retried() {
    let c = Cloud::new(spec());
    c.emu.inject(Fault::new(
        Matcher {
            method: Some(Method::GET),
            path_contains: Some("connectedClusters".into()),
        },
        FaultKind::Delay(std::time::Duration::from_secs(3)),
        1,
    ));
    let r = c.run(
        "",
        &["apply"],
        &[
            ("AZURE_CLIENT_SECRET", SECRET),
            ("AIO_PREP_AZURE_REQUEST_TIMEOUT", "1s"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn discovery_unreachable_warns_and_uses_issuer_url_verbatim() {
    let c = Cloud::new(spec());
    c.emu.inject(Fault::new(
        Matcher::any(),
        FaultKind::DiscoveryUnreachable,
        10,
    ));
    let r = c.run("", &["--output", "json", "apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["issuer"]["source"], "arm");
    let issuer_url = c.cluster_json()["properties"]["oidcIssuerProfile"]["issuerUrl"]
        .as_str()
        .expect("url")
        .to_string();
    assert_eq!(
        j["issuer"]["url"],
        issuer_url.as_str(),
        "verbatim, trailing slash kept"
    );
    assert!(step(&j, "issuer")["detail"]
        .as_str()
        .expect("d")
        .contains("discovery failed"));
}

#[test]
fn discovery_issuer_that_differs_beyond_a_slash_is_refused() {
    let c = Cloud::new(ClusterSpec {
        discovery_issuer: Some("https://attacker.example/oidc/".into()),
        ..spec()
    });
    let r = c.run("", &["apply"], &Cloud::secret_env());
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.error_line().contains("does not match"), "{}", r.stderr);
    assert_eq!(
        c.host.read("/etc/rancher/k3s/config.yaml"),
        "# site\nnode-name: edge-01\n"
    );
}

#[test]
fn provisioned_cluster_is_verify_only() {
    let on = Cloud::new(ClusterSpec {
        kind: Some("ProvisionedCluster".into()),
        oidc_enabled: true,
        workload_identity_enabled: true,
        ..spec()
    });
    let empty = Host::new();
    empty.write("/etc/aio-prep/azure-ca.pem", on.emu.ca_pem());
    std::fs::write(empty.path("/etc/aio-prep/config.toml"), on.config("")).expect("config");
    let r = empty.run_env(&["--output", "json", "apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["flavor"]["name"], "aks-azure-local");
    assert_eq!(on.puts(), 0);

    let off = Cloud::new(ClusterSpec {
        kind: Some("ProvisionedCluster".into()),
        ..spec()
    });
    empty.write("/etc/aio-prep/azure-ca.pem", off.emu.ca_pem());
    std::fs::write(empty.path("/etc/aio-prep/config.toml"), off.config("")).expect("config");
    let r = empty.run_env(&["apply"], &Cloud::secret_env());
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.error_line()
            .contains("az aksarc create --enable-oidc-issuer --enable-workload-identity"),
        "{}",
        r.stderr
    );
    assert_eq!(off.puts(), 0);
}

#[test]
fn agent_node_gets_the_cloud_step_only() {
    let c = Cloud::new(spec());
    c.host.write(
        "/etc/systemd/system/k3s.service",
        "[Service]\nExecStart=/usr/local/bin/k3s agent\n",
    );
    let r = c.run("", &["--output", "json", "apply"], &Cloud::secret_env());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "changed");
    assert_eq!(step(&j, "config")["status"], "skipped");
    assert_eq!(
        c.host.read("/etc/rancher/k3s/config.yaml"),
        "# site\nnode-name: edge-01\n"
    );
}

/// Secrets never leak: not to stdout, stderr or logs at any level, not to the JSON report,
/// not to the emulator's request log beyond the auth scheme, not to any host file other than
/// the ones where the operator put them.
#[test]
fn no_secret_reaches_any_output_log_report_or_file() {
    const FEDERATED: &str = "SECRET-federated-eyJhbGciOiJSUzI1NiJ9.leakcheck";
    let c = Cloud::new(spec());
    c.emu.add_federated_token(TENANT, CLIENT, FEDERATED);
    c.emu.set_arc_identity(TENANT);
    c.host
        .write("/etc/aio-prep/client-secret", &format!("{SECRET}\n"));
    c.host
        .write("/var/run/secrets/azure/tokens/token", FEDERATED);
    let endpoint = c.emu.identity_endpoint();
    let mut outputs = Vec::new();
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let runs: Vec<(Vec<&str>, Env)> = vec![
        (vec!["-vv", "plan"], vec![("AZURE_CLIENT_SECRET", SECRET)]),
        (
            vec!["-vvv", "--output", "json", "apply"],
            vec![("RUST_LOG", "trace")],
        ),
        (
            vec!["-vv", "status"],
            vec![
                ("AIO_PREP_AZURE_AUTH_METHOD", "workload-identity"),
                (
                    "AZURE_FEDERATED_TOKEN_FILE",
                    "/var/run/secrets/azure/tokens/token",
                ),
            ],
        ),
        (
            vec!["-vv", "--output", "json", "status"],
            vec![
                ("AIO_PREP_AZURE_AUTH_METHOD", "arc-identity"),
                ("IDENTITY_ENDPOINT", &endpoint),
                ("IMDS_ENDPOINT", c.emu.http_url()),
                ("RUST_LOG", "trace"),
            ],
        ),
        (
            vec!["config", "show"],
            vec![("AZURE_CLIENT_SECRET", SECRET)],
        ),
        (
            vec!["-vv", "apply"],
            vec![("AZURE_CLIENT_SECRET", "SECRET-wrong-one-9f8e7d")],
        ),
    ];
    let config_extra = "";
    for (args, env) in &runs {
        let mut env = env.clone();
        if !env
            .iter()
            .any(|(k, _)| *k == "AZURE_CLIENT_SECRET" || *k == "AIO_PREP_AZURE_AUTH_METHOD")
        {
            env.push((
                "AIO_PREP_AZURE_AUTH_CLIENT_SECRET_FILE",
                "/etc/aio-prep/client-secret",
            ));
        }
        let r = c.run(config_extra, args, &env);
        assert!(
            r.code == 0 || r.code == 3 || r.code == 5,
            "{args:?}: {}\n{}",
            r.stdout,
            r.stderr
        );
        outputs.push(format!("{args:?}\n{}\n{}", r.stdout, r.stderr));
    }
    assert!(
        outputs.iter().any(|o| o.contains("DEBUG")),
        "debug logging was on"
    );
    let mut secrets: Vec<String> = vec![
        SECRET.into(),
        FEDERATED.into(),
        "SECRET-wrong-one-9f8e7d".into(),
    ];
    let issued = c.emu.issued_secrets();
    assert!(
        issued.len() >= 3,
        "tokens and a HIMDS key were issued: {}",
        issued.len()
    );
    secrets.extend(issued);
    let log: String = c
        .emu
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} {}\n",
                r.method, r.path_and_query, r.headers, r.body
            )
        })
        .collect();
    let configured = [
        c.host.path("/etc/aio-prep/client-secret"),
        c.host.path("/var/run/secrets/azure/tokens/token"),
    ];
    let files: Vec<(std::path::PathBuf, String)> = c
        .host
        .snapshot()
        .into_iter()
        .filter(|(p, _)| {
            !configured.contains(p) && !p.starts_with(c.host.path("/var/opt/azcmagent/tokens"))
        })
        .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
        .collect();
    for s in &secrets {
        for o in &outputs {
            assert!(
                !o.contains(s.as_str()),
                "secret {}… leaked to output:\n{o}",
                &s[..8.min(s.len())]
            );
        }
        assert!(
            !log.contains(s.as_str()),
            "secret leaked into the request log"
        );
        for (p, text) in &files {
            assert!(
                !text.contains(s.as_str()),
                "secret leaked into {}",
                p.display()
            );
        }
    }
    assert!(
        !log.contains("client_secret=SECRET"),
        "form secrets redacted in the log"
    );
}

#[test]
fn https_proxy_is_used_and_no_proxy_is_respected() {
    let c = Cloud::new(spec());
    // A proxy nobody listens on: if aio-prep honours HTTPS_PROXY, Azure is unreachable.
    let dead = "http://127.0.0.1:9";
    let r = c.run(
        "",
        &["plan"],
        &[("AZURE_CLIENT_SECRET", SECRET), ("HTTPS_PROXY", dead)],
    );
    assert_eq!(r.code, 5, "HTTPS_PROXY must be used: {}", r.stderr);
    assert_eq!(
        c.emu.requests().len(),
        0,
        "nothing reached the emulator directly"
    );
    let r = c.run(
        "",
        &["plan"],
        &[
            ("AZURE_CLIENT_SECRET", SECRET),
            ("HTTPS_PROXY", dead),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    assert_eq!(r.code, 3, "NO_PROXY exempts the endpoint: {}", r.stderr);
}

/// A minimal host without a system CA bundle: `[azure] ca_file` alone is enough, the local
/// identity endpoints need no roots at all, and with neither the error says what to install.
#[test]
fn no_system_ca_bundle_works_with_ca_file_and_says_what_to_install_without() {
    let c = Cloud::new(spec());
    c.emu.set_arc_identity(TENANT);
    c.host.write("/tmp/empty-bundle.pem", "");
    let empty = c.host.path("/tmp/empty-bundle.pem");
    let empty = empty.to_str().expect("utf8");
    let no_roots = [("SSL_CERT_FILE", empty), ("SSL_CERT_DIR", "/nonexistent")];
    let endpoint = c.emu.identity_endpoint();
    let mut env = no_roots.to_vec();
    env.extend([
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IMDS_ENDPOINT", c.emu.http_url()),
    ]);
    let r = c.run("", &["--output", "json", "apply"], &env);
    assert_eq!(
        r.code, 0,
        "ca_file alone must do: {}\n{}",
        r.stdout, r.stderr
    );
    let r = c.host.run_env(
        &["plan"],
        &[no_roots[0], no_roots[1], ("AIO_PREP_AZURE_CA_FILE", "")],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.error_line()
            .contains("install the ca-certificates package"),
        "{}",
        r.stderr
    );
}

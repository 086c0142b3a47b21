//! Cloud faults tests/cloud.rs does not cover, against the Azure emulator: the Entra token
//! endpoint answering 401 (never retried) or 503 then success (retried), and ARM closing the
//! connection on the PUT, throttling it, or failing an operation-status poll once. Each row
//! asserts the exit code, what was sent (request log) and that the host is untouched when
//! the run fails.

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
const SITE: &str = "# site\nnode-name: edge-01\n";
const TOKEN_PATH: &str = "/oauth2/v2.0/token";

struct Cloud {
    emu: Emulator,
    host: Host,
}

impl Cloud {
    fn new() -> Cloud {
        let host = Host::k3s_server(Some(SITE));
        let emu = Emulator::start(EmulatorOptions {
            root: Some(host.root().to_path_buf()),
            ..EmulatorOptions::default()
        })
        .expect("emulator");
        emu.add_cluster(ClusterSpec {
            subscription: SUB.into(),
            resource_group: RG.into(),
            name: NAME.into(),
            tenant: TENANT.into(),
            retry_after_secs: 0,
            lro_polls_before_done: 2,
            agent_state_reads_before_settled: 1,
            ..ClusterSpec::default()
        });
        emu.add_service_principal(TENANT, CLIENT, Credential::Secret(SECRET.into()))
            .expect("sp");
        host.write("/etc/aio-prep/azure-ca.pem", emu.ca_pem());
        host.write(
            "/etc/aio-prep/config.toml",
            &format!(
                "[azure]\nsubscription_id = \"{SUB}\"\nresource_group = \"{RG}\"\ncluster_name = \"{NAME}\"\ntenant_id = \"{TENANT}\"\narm_endpoint = \"{}\"\nauthority_host = \"{}\"\nca_file = \"/etc/aio-prep/azure-ca.pem\"\npoll_interval = \"20ms\"\n[azure.auth]\nmethod = \"client-secret\"\nclient_id = \"{CLIENT}\"\n[k3s]\nrestart = false\n",
                emu.arm_endpoint(),
                emu.authority_host(),
            ),
        );
        Cloud { emu, host }
    }

    fn apply(&self) -> Run {
        self.host.run_env(
            &["--output", "json", "apply"],
            &[("AZURE_CLIENT_SECRET", SECRET)],
        )
    }

    fn count(&self, method: Method, path: &str) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path_and_query.contains(path))
            .count()
    }

    fn oidc_on(&self) -> bool {
        self.emu.cluster(SUB, RG, NAME)["properties"]["oidcIssuerProfile"]["enabled"] == true
    }
}

#[test]
fn entra_401_on_the_token_request_is_not_retried_exit_5_host_untouched() {
    let c = Cloud::new();
    c.emu.inject(Fault::new(
        Matcher::method_path(Method::POST, TOKEN_PATH),
        FaultKind::status(401),
        5,
    ));
    let before = c.host.snapshot();
    let r = c.apply();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["error"]["kind"], "azure");
    let msg = j["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("client-secret") && msg.contains("401"),
        "{msg}"
    );
    assert_eq!(c.count(Method::POST, TOKEN_PATH), 1, "401 is never retried");
    assert_eq!(
        c.count(Method::GET, "connectedClusters"),
        0,
        "no ARM call without a token"
    );
    assert!(!c.oidc_on());
    assert_eq!(c.host.snapshot(), before, "host untouched");
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));
}

#[test]
fn token_endpoint_503_then_success_is_retried_and_the_run_completes() {
    let c = Cloud::new();
    c.emu.inject(Fault::new(
        Matcher::method_path(Method::POST, TOKEN_PATH),
        FaultKind::status(503),
        2,
    ));
    let r = c.apply();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.emu.pending_faults(), 0);
    assert_eq!(
        c.count(Method::POST, TOKEN_PATH),
        3,
        "two 503s, then a token"
    );
    assert!(c.oidc_on());
    assert!(c
        .host
        .read("/etc/rancher/k3s/config.yaml")
        .contains("service-account-issuer="));
}

#[test]
fn connection_closed_on_the_put_is_retried_once_and_enables_once() {
    let c = Cloud::new();
    c.emu.inject(Fault::new(
        Matcher::method_path(Method::PUT, "connectedClusters"),
        FaultKind::CloseConnection,
        1,
    ));
    let r = c.apply();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.emu.pending_faults(), 0, "the close was hit");
    let puts: Vec<u16> = c
        .emu
        .requests()
        .iter()
        .filter(|q| q.method == Method::PUT)
        .map(|q| q.status)
        .collect();
    assert_eq!(puts.len(), 2, "closed, then retried: {puts:?}");
    assert_eq!(puts[0], 0, "the first PUT got no response");
    assert!(c.oidc_on());
}

#[test]
fn throttled_put_waits_for_retry_after() {
    let c = Cloud::new();
    c.emu.inject(Fault::new(
        Matcher::method_path(Method::PUT, "connectedClusters"),
        FaultKind::throttled(429, 1),
        1,
    ));
    let t = std::time::Instant::now();
    let r = c.apply();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(c.count(Method::PUT, "connectedClusters"), 2);
    assert!(c.oidc_on());
}

#[test]
fn operation_status_poll_failing_once_is_retried() {
    let c = Cloud::new();
    c.emu.inject(Fault::new(
        Matcher::method_path(Method::GET, "/operationStatuses/"),
        FaultKind::status(500),
        1,
    ));
    let r = c.apply();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.emu.pending_faults(), 0);
    assert!(c.oidc_on());
}

#[test]
fn token_endpoint_that_keeps_failing_gives_up_exit_5_host_untouched() {
    let c = Cloud::new();
    c.emu.inject(Fault::new(
        Matcher::method_path(Method::POST, TOKEN_PATH),
        FaultKind::status(503),
        100,
    ));
    let before = c.host.snapshot();
    let r = c.host.run_env(
        &["--output", "json", "apply"],
        &[("AZURE_CLIENT_SECRET", SECRET)],
    );
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    let n = c.count(Method::POST, TOKEN_PATH);
    assert!((2..=6).contains(&n), "bounded retries: {n} token requests");
    assert_eq!(c.host.snapshot(), before);
}

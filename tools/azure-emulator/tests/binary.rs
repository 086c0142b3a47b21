//! `azure-emulator serve --dir DIR --demo`, as `make demo` runs it.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn env_value(env: &str, key: &str) -> String {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("export {key}=")))
        .map(|v| v.trim_matches('\'').to_string())
        .unwrap_or_else(|| panic!("{key} not in env:\n{env}"))
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serve_demo_then_sigterm() {
    let dir = std::env::temp_dir().join(format!("azure-emulator-bin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-emulator"))
        .args(["serve", "--dir"])
        .arg(&dir)
        .arg("--demo")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(&dir.join("pid"));
    let env = std::fs::read_to_string(dir.join("env")).expect("env");
    let arm = env_value(&env, "AIO_PREP_AZURE_ARM_ENDPOINT");
    assert_eq!(env_value(&env, "AIO_PREP_AZURE_AUTHORITY_HOST"), arm);
    let ca = env_value(&env, "AIO_PREP_AZURE_CA_FILE");
    let tenant = env_value(&env, "AZURE_TENANT_ID");
    let client_id = env_value(&env, "AZURE_CLIENT_ID");
    let secret_file = env_value(&env, "AIO_PREP_AZURE_AUTH_CLIENT_SECRET_FILE");
    let sub = env_value(&env, "AIO_PREP_AZURE_SUBSCRIPTION_ID");
    let rg = env_value(&env, "AIO_PREP_AZURE_RESOURCE_GROUP");
    let name = env_value(&env, "AIO_PREP_AZURE_CLUSTER_NAME");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("secret")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let secret = std::fs::read_to_string(&secret_file).expect("secret");
    assert!(!env.contains(&secret), "the secret itself is not in env");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("ca")).expect("pem");
    let c = reqwest::Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .build()
        .expect("client");
    let token: Value = c
        .post(format!("{arm}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", &format!("{arm}/.default")),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["access_token"].as_str().expect("access_token");
    let r: Value = c
        .get(format!("{arm}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Kubernetes/connectedClusters/{name}?api-version=2024-07-15-preview"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(r["properties"]["oidcIssuerProfile"]["enabled"], false);
    assert_eq!(
        r["properties"]["securityProfile"]["workloadIdentity"]["enabled"],
        false
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "emulator did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(!dir.join("pid").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_azure-emulator"))
        .arg("serve")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dir"));
}

#[test]
fn with_root_files_are_exported_as_the_host_sees_them() {
    let base = std::env::temp_dir().join(format!("azure-emulator-binroot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (dir, root) = (base.join("emu"), base.join("root"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-emulator"))
        .args(["serve", "--demo", "--dir"])
        .arg(&dir)
        .arg("--root")
        .arg(&root)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(&dir.join("pid"));
    let env = std::fs::read_to_string(dir.join("env")).expect("env");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        env_value(&env, "AIO_PREP_AZURE_CA_FILE"),
        "/etc/azure-emulator/ca.pem"
    );
    let secret = env_value(&env, "AIO_PREP_AZURE_AUTH_CLIENT_SECRET_FILE");
    assert_eq!(secret, "/etc/azure-emulator/client-secret");
    let on_host = root.join(secret.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(on_host).expect("secret under root"),
        std::fs::read_to_string(dir.join("client-secret")).expect("secret in dir")
    );
    assert!(root.join("etc/azure-emulator/ca.pem").exists());
    assert_eq!(
        env_value(&env, "AZURE_EMULATOR_ROOT"),
        root.display().to_string()
    );
    let _ = std::fs::remove_dir_all(&base);
}

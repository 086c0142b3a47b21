//! Managed identity endpoints on plain HTTP: Arc HIMDS (challenge, key file)
//! and VM IMDS.

mod common;

use azure_emulator::{Emulator, EmulatorOptions};
use common::*;
use serde_json::Value;

fn himds_url(emu: &Emulator) -> String {
    format!(
        "{}?api-version=2020-06-01&resource={}",
        emu.identity_endpoint(),
        emu.https_url()
    )
}

#[tokio::test]
async fn himds_challenge_key_file_then_token() {
    let root = std::env::temp_dir().join(format!("azure-emulator-himds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let emu = Emulator::start(EmulatorOptions {
        root: Some(root.clone()),
        ..EmulatorOptions::default()
    })
    .expect("start");
    emu.set_arc_identity(TENANT);
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let url = himds_url(&emu);

    // Metadata header required.
    let r = c.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 400);

    // Challenge.
    let r = c
        .get(&url)
        .header("Metadata", "true")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    let path = www.strip_prefix("Basic realm=").expect("Basic realm=");
    assert!(
        path.starts_with("/var/opt/azcmagent/tokens/") && path.ends_with(".key"),
        "{path}"
    );
    assert!(path.len() <= 4096);
    let on_host = root.join(path.trim_start_matches('/'));
    let key = std::fs::read_to_string(&on_host).expect("key file written under root");
    assert!(on_host.starts_with(emu.himds_key_dir()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&on_host)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Wrong key: challenged again.
    let r = c
        .get(&url)
        .header("Metadata", "true")
        .header("Authorization", "Basic not-the-key")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);

    // Right key.
    let r = c
        .get(&url)
        .header("Metadata", "true")
        .header("Authorization", format!("Basic {key}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    for k in ["expires_in", "expires_on", "not_before"] {
        assert!(body[k].is_string(), "{k} is a string in {body}");
        assert!(body[k].as_str().is_some_and(|v| v.parse::<u64>().is_ok()));
    }
    assert_eq!(body["resource"], emu.https_url());
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().expect("token");
    let (status, _, _) = get(&c, &cluster_url(&emu), token).await;
    assert_eq!(status, 200, "the Arc identity's token works at ARM");

    // A deleted key file no longer authorises.
    std::fs::remove_file(&on_host).expect("rm");
    let r = c
        .get(&url)
        .header("Metadata", "true")
        .header("Authorization", format!("Basic {key}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);

    // Unsupported api-version, missing resource.
    let r = c
        .get(format!(
            "{}?api-version=1999-01-01&resource=x",
            emu.identity_endpoint()
        ))
        .header("Metadata", "true")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    let r = c
        .get(format!(
            "{}?api-version=2020-06-01",
            emu.identity_endpoint()
        ))
        .header("Metadata", "true")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    drop(emu);
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn imds_token_without_challenge() {
    let emu = start();
    emu.set_vm_identity(TENANT);
    emu.add_cluster(fast_spec());
    let c = client(&emu);
    let url = format!(
        "{}?api-version=2018-02-01&resource={}/",
        emu.identity_endpoint(),
        emu.https_url()
    );
    let r = c.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["error_description"],
        "Required metadata header not specified"
    );

    let r = c
        .get(&url)
        .header("Metadata", "true")
        .header("X-Forwarded-For", "10.0.0.1")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400, "proxied requests are refused");

    let r = c
        .get(&url)
        .header("Metadata", "true")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert!(body["expires_on"].is_string());
    assert!(body["expires_in"].is_string());
    assert_eq!(body["resource"], format!("{}/", emu.https_url()));
    let (status, _, _) = get(
        &c,
        &cluster_url(&emu),
        body["access_token"].as_str().expect("t"),
    )
    .await;
    assert_eq!(status, 200);

    assert!(emu
        .requests()
        .iter()
        .filter(|r| r.scheme == "http")
        .all(|r| r.header("authorization").is_none()));
}

#[tokio::test]
async fn no_identity_configured() {
    let emu = start();
    let c = client(&emu);
    let r = c
        .get(format!(
            "{}?api-version=2018-02-01&resource=x",
            emu.identity_endpoint()
        ))
        .header("Metadata", "true")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error_description"], "Identity not found");
}

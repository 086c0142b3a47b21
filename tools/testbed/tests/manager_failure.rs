//! A manager that dies at start-up: the error carries its log, nothing is left behind.
//! (Own test binary: it sets TESTBED_SYSTEMD for the whole process.)

mod common;

use std::fs;

use testbed::{Testbed, TestbedError, TestbedOptions};

#[test]
fn manager_that_exits_is_reported_with_its_log() {
    let base = std::env::temp_dir().join(format!("testbed-test-{}-mgr", std::process::id()));
    fs::create_dir_all(&base).unwrap();
    let fake = base.join("fake-systemd");
    fs::write(
        &fake,
        "#!/bin/sh\necho \"fake systemd: refusing ($*)\"\nexit 3\n",
    )
    .unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::env::set_var("TESTBED_SYSTEMD", &fake);

    let dir = base.join("tb");
    let err = Testbed::start(TestbedOptions {
        dir: Some(dir.clone()),
        ..common::scripted()
    })
    .err()
    .expect("start must fail");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, TestbedError::ManagerNotReady { .. }), "{msg}");
    assert!(msg.contains("exit status: 3"), "{msg}");
    assert!(msg.contains("fake systemd: refusing (--user)"), "{msg}");
    assert!(!dir.exists());
    fs::remove_dir_all(&base).unwrap();
}

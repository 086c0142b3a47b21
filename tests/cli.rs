//! aio-prep run as an operator runs it, against a host root, without systemd: exit codes,
//! JSON shape, refusals and bad input leaving the host untouched.

mod common;

use common::{Host, AGENT_UNIT, ARC, DEFAULT_ISSUER};

#[test]
fn help_version_completions_and_man() {
    let h = Host::new();
    let r = h.run(&["--help"]);
    assert_eq!(r.code, 0);
    for cmd in [
        "detect",
        "plan",
        "apply",
        "status",
        "rollback",
        "config",
        "completions",
        "man",
    ] {
        assert!(r.stdout.contains(cmd), "help lacks {cmd}");
    }
    assert!(h
        .run(&["completions", "bash"])
        .stdout
        .contains("complete -F _aio__prep"));
    assert!(h
        .run(&["completions", "zsh"])
        .stdout
        .contains("#compdef aio-prep"));
    assert!(h
        .run(&["completions", "fish"])
        .stdout
        .contains("complete -c aio-prep"));
    assert!(
        h.run(&["man"]).stdout.starts_with(".ie"),
        "man page is roff"
    );
    assert_eq!(h.run(&["no-such-command"]).code, 2);
}

#[test]
fn detect_on_an_empty_host_is_unknown_with_evidence() {
    let h = Host::new();
    let r = h.run(&["--output", "json", "detect"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["schema"], 1);
    assert_eq!(j["flavor"]["name"], "unknown");
    assert!(!j["flavor"]["evidence"]
        .as_array()
        .expect("evidence")
        .is_empty());
}

#[test]
fn detect_reads_the_unit_file_and_k3s_config_file_env() {
    let h = Host::k3s_server(None);
    h.write(
        "/etc/systemd/system/k3s.service",
        "[Service]\nEnvironment=K3S_CONFIG_FILE=/etc/k3s/alt.yaml\nExecStart=/usr/local/bin/k3s server --token supersecret\n",
    );
    let r = h.run(&["--output", "json", "detect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["flavor"]["name"], "k3s");
    assert_eq!(j["flavor"]["role"], "server");
    assert_eq!(j["flavor"]["config_file"], "/etc/k3s/alt.yaml");
    assert_eq!(j["flavor"]["unit"], "k3s.service");
    assert!(
        !r.stdout.contains("supersecret"),
        "token leaked into the report"
    );
}

#[test]
fn plan_shows_a_diff_exits_3_and_changes_nothing() {
    let h = Host::k3s_server(Some(
        "# operator comment\nwrite-kubeconfig-mode: \"0644\"\n",
    ));
    let before = h.snapshot();
    let r = h.run(&["--issuer-url", ARC, "plan"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("+  - service-account-issuer={ARC}")),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains(&format!("+  - service-account-issuer={DEFAULT_ISSUER}")));
    assert!(r
        .stdout
        .contains("+  - service-account-max-token-expiration=24h"));
    assert_eq!(h.snapshot(), before);
}

#[test]
fn apply_without_restart_writes_keeps_comments_backs_up_and_is_idempotent() {
    let original = "# operator comment\nwrite-kubeconfig-mode: \"0644\"   # keep\nkube-apiserver-arg:\n  - audit-log-maxage=30 # why\ntls-san: [a.example]\n";
    let h = Host::k3s_server(Some(original));
    h.write(
        "/etc/aio-prep/config.toml",
        &format!("[issuer]\nurl = \"{ARC}\"\n[k3s]\nrestart = false\n"),
    );
    let r = h.run(&["--output", "json", "apply"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "changed");
    assert_eq!(j["restarted"], false);
    assert_eq!(j["issuer"]["source"], "offline");
    let restart = j["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "restart")
        .expect("restart step");
    assert_eq!(restart["status"], "skipped");
    let new = h.read("/etc/rancher/k3s/config.yaml");
    assert_eq!(
        new,
        format!("# operator comment\nwrite-kubeconfig-mode: \"0644\"   # keep\nkube-apiserver-arg:\n  - service-account-issuer={ARC}\n  - service-account-issuer={DEFAULT_ISSUER}\n  - service-account-max-token-expiration=24h\n  - audit-log-maxage=30 # why\ntls-san: [a.example]\n")
    );
    let backups: Vec<_> = std::fs::read_dir(h.path("/var/lib/aio-prep/backups"))
        .expect("backups")
        .collect();
    assert_eq!(backups.len(), 1);
    let backup = backups[0].as_ref().expect("entry").path();
    assert_eq!(std::fs::read_to_string(backup).expect("read"), original);
    // Second run: nothing to do.
    let snap = h.snapshot();
    let r = h.run(&["--output", "json", "apply"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "ok");
    assert_eq!(h.snapshot(), snap);
    // And plan agrees: exit 0.
    assert_eq!(h.run(&["plan"]).code, 0);
}

#[test]
fn agent_node_is_not_applicable_and_untouched() {
    let h = Host::new();
    h.write("/etc/systemd/system/k3s-agent.service", AGENT_UNIT);
    h.write(
        "/etc/rancher/k3s/config.yaml",
        "server: https://10.0.0.1:6443\n",
    );
    let before = h.snapshot();
    let r = h.run(&["--issuer-url", ARC, "--output", "json", "apply"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "not-applicable");
    assert_eq!(r.json()["flavor"]["role"], "agent");
    assert_eq!(h.snapshot(), before);
}

#[test]
fn disable_apiserver_server_is_not_applicable() {
    let h = Host::k3s_server(Some("disable-apiserver: true\n"));
    let r = h.run(&["--issuer-url", ARC, "--output", "json", "apply"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "not-applicable");
}

/// Every refusal: the exit code, one error line naming what and where, host untouched.
#[test]
fn refusals_leave_the_host_untouched() {
    struct Case {
        name: &'static str,
        config: &'static str,
        extra: &'static [(&'static str, &'static str)],
        args: &'static [&'static str],
        code: i32,
        says: &'static str,
    }
    let cases = [
        Case {
            name: "malformed yaml",
            config: "kube-apiserver-arg: [a\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "config.yaml:",
        },
        Case {
            name: "tab indentation",
            config: "kube-apiserver-arg:\n\t- a=b\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "config.yaml:",
        },
        Case {
            name: "args as a map",
            config: "kube-apiserver-arg:\n  a: b\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "config.yaml:2: kube-apiserver-arg: expected a list of strings",
        },
        Case {
            name: "number item",
            config: "kube-apiserver-arg:\n  - 42\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "config.yaml:2: kube-apiserver-arg: item \"42\"",
        },
        Case {
            name: "alias",
            config: "a: &x b\nkube-apiserver-arg: [*x]\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "anchors",
        },
        Case {
            name: "not a mapping",
            config: "- a\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "expected a mapping",
        },
        Case {
            name: "later dropin replaces list",
            config: "kube-apiserver-arg: [a=1]\n",
            extra: &[(
                "/etc/rancher/k3s/config.yaml.d/50-x.yaml",
                "kube-apiserver-arg: [b=2]\n",
            )],
            args: &[],
            code: 4,
            says: "50-x.yaml:1",
        },
        Case {
            name: "issuer in another file",
            config: "a: 1\n",
            extra: &[(
                "/etc/rancher/k3s/config.yaml.d/50-x.yaml",
                "kube-apiserver-arg+: [service-account-issuer=https://x]\n",
            )],
            args: &[],
            code: 4,
            says: "is set here too",
        },
        Case {
            name: "execstart args",
            config: "a: 1\n",
            extra: &[(
                "/etc/systemd/system/k3s.service",
                "[Service]\nExecStart=/usr/local/bin/k3s server --kube-apiserver-arg=x=1\n",
            )],
            args: &[],
            code: 4,
            says: "--kube-apiserver-arg",
        },
        Case {
            name: "non-https issuer",
            config: "a: 1\n",
            extra: &[],
            args: &["--issuer-url", "http://x.example/"],
            code: 2,
            says: "issuer.url: issuer URL must start with https://",
        },
        Case {
            name: "issuer with newline",
            config: "a: 1\n",
            extra: &[],
            args: &["--issuer-url", "https://x.example/\nevil: 1"],
            code: 2,
            says: "control character",
        },
        Case {
            name: "bad max expiration",
            config: "a: 1\n",
            extra: &[(
                "/etc/aio-prep/config.toml",
                "[k3s]\nmax_token_expiration = \"30m\"\n",
            )],
            args: &[],
            code: 2,
            says: "config.toml:2: k3s.max_token_expiration",
        },
        Case {
            name: "unknown config key",
            config: "a: 1\n",
            extra: &[(
                "/etc/aio-prep/config.toml",
                "[k3s]\ntarget = \"config\"\ncolour = \"blue\"\n",
            )],
            args: &[],
            code: 2,
            says: "config.toml:3: unknown key `k3s.colour`",
        },
        Case {
            name: "bad toml",
            config: "a: 1\n",
            extra: &[("/etc/aio-prep/config.toml", "[k3s\n")],
            args: &[],
            code: 2,
            says: "config.toml:1: invalid TOML",
        },
        Case {
            name: "bom",
            config: "\u{feff}a: 1\n",
            extra: &[],
            args: &[],
            code: 2,
            says: "byte-order mark",
        },
    ];
    for c in cases {
        let h = Host::k3s_server(Some(c.config));
        for (p, t) in c.extra {
            h.write(p, t);
        }
        let before = h.snapshot();
        let mut args: Vec<&str> = if c.args.is_empty() {
            vec!["--issuer-url", ARC]
        } else {
            c.args.to_vec()
        };
        args.push("apply");
        let r = h.run(&args);
        assert_eq!(
            r.code, c.code,
            "{}: stdout {} stderr {}",
            c.name, r.stdout, r.stderr
        );
        let line = r.error_line();
        assert!(
            line.contains(c.says),
            "{}: error line {line:?} lacks {:?}",
            c.name,
            c.says
        );
        assert_eq!(h.snapshot(), before, "{}: host changed", c.name);
        let j = h
            .run(&[&args[..args.len() - 1], &["--output", "json", "apply"]].concat())
            .json();
        assert_eq!(j["outcome"], "failed", "{}", c.name);
        assert!(
            j["error"]["message"]
                .as_str()
                .expect("message")
                .contains(c.says),
            "{}",
            c.name
        );
    }
}

#[test]
fn file_guards_refuse_symlinks_out_huge_files_and_directories() {
    let h = Host::k3s_server(None);
    let outside = tempfile::tempdir().expect("tmp");
    std::fs::write(outside.path().join("x.yaml"), "a: 1\n").expect("write");
    std::fs::create_dir_all(h.path("/etc/rancher/k3s")).expect("mkdir");
    std::os::unix::fs::symlink(
        outside.path().join("x.yaml"),
        h.path("/etc/rancher/k3s/config.yaml"),
    )
    .expect("symlink");
    let r = h.run(&["--issuer-url", ARC, "apply"]);
    assert_eq!(r.code, 2);
    assert!(r.error_line().contains("outside"), "{}", r.stderr);

    let h = Host::k3s_server(Some(&format!("a: \"{}\"\n", "x".repeat(1024 * 1024))));
    let r = h.run(&["--issuer-url", ARC, "apply"]);
    assert_eq!(r.code, 2);
    assert!(r.error_line().contains("over 1 MiB"), "{}", r.stderr);

    let h = Host::k3s_server(None);
    std::fs::create_dir_all(h.path("/etc/rancher/k3s/config.yaml")).expect("mkdir");
    let r = h.run(&["--issuer-url", ARC, "apply"]);
    assert_eq!(r.code, 2);
    assert!(
        r.error_line().contains("not a regular file"),
        "{}",
        r.stderr
    );
}

#[test]
fn cloud_mode_without_cluster_coordinates_is_a_usage_error() {
    let h = Host::k3s_server(Some("a: 1\n"));
    let before = h.snapshot();
    let r = h.run(&["apply"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.error_line()
            .contains("cannot tell which Arc cluster this is"),
        "{}",
        r.stderr
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn held_lock_exits_8_after_the_timeout() {
    let h = Host::k3s_server(Some("a: 1\n"));
    std::fs::create_dir_all(h.path("/run/aio-prep")).expect("mkdir");
    let f = std::fs::File::create(h.path("/run/aio-prep/lock")).expect("lock file");
    f.lock().expect("lock");
    let before = h.snapshot();
    let r = h.run(&["--issuer-url", ARC, "--lock-timeout", "200ms", "apply"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert!(r.error_line().contains("another aio-prep run"));
    assert_eq!(h.snapshot(), before);
}

#[test]
fn dropin_target_owns_its_file() {
    let h = Host::k3s_server(Some("kube-apiserver-arg: [audit-log-maxage=30]\n"));
    let r = h.run_env(
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[
            ("AIO_PREP_K3S_TARGET", "dropin"),
            ("AIO_PREP_K3S_RESTART", "false"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        h.read("/etc/rancher/k3s/config.yaml"),
        "kube-apiserver-arg: [audit-log-maxage=30]\n"
    );
    let dropin = h.read("/etc/rancher/k3s/config.yaml.d/90-aio-prep.yaml");
    assert!(
        dropin.contains(&format!(
            "kube-apiserver-arg+:\n  - service-account-issuer={ARC}\n"
        )),
        "{dropin}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.path("/etc/rancher/k3s/config.yaml.d/90-aio-prep.yaml"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn config_set_and_show() {
    let h = Host::new();
    h.write(
        "/etc/aio-prep/config.toml",
        "# fleet defaults\n[k3s]\n# why: docs\ntarget = \"config\"\n",
    );
    let r = h.run(&["config", "set", "k3s.target", "dropin"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        h.read("/etc/aio-prep/config.toml"),
        "# fleet defaults\n[k3s]\n# why: docs\ntarget = \"dropin\"\n"
    );
    let r = h.run(&["config", "set", "k3s.restart_timeout", "soon"]);
    assert_eq!(r.code, 2);
    assert!(r.error_line().contains("k3s.restart_timeout"));
    let r = h.run_env(
        &["config", "show"],
        &[("AIO_PREP_K3S_MAX_TOKEN_EXPIRATION", "12h")],
    );
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("target = \"dropin\"  # "), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("max_token_expiration = \"12h\"  # AIO_PREP_K3S_MAX_TOKEN_EXPIRATION"),
        "{}",
        r.stdout
    );
}

/// docs/configuration.md and the key registry are one truth.
#[test]
fn configuration_reference_lists_every_key() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("doc");
    for spec in aio_prep::config::KEYS {
        let row = format!(
            "| `{}` | `{}` |",
            spec.name,
            aio_prep::config::env_name(spec.name)
        );
        assert!(
            doc.contains(&row),
            "docs/configuration.md lacks {}",
            spec.name
        );
    }
}

#[test]
fn uppercase_dropin_suffix_counts_as_k3s_reads_it() {
    let h = Host::k3s_server(Some("kube-apiserver-arg: [a=1]\n"));
    h.write(
        "/etc/rancher/k3s/config.yaml.d/50-SITE.YAML",
        "kube-apiserver-arg: [b=2]\n",
    );
    let r = h.run(&["--issuer-url", ARC, "apply"]);
    assert_eq!(
        r.code, 4,
        "a later plain list in 50-SITE.YAML replaces ours: {}",
        r.stderr
    );
    assert!(r.error_line().contains("50-SITE.YAML:1"), "{}", r.stderr);
}

#[test]
fn aks_edge_essentials_k3s_variant_edits_its_own_config_file() {
    let h = Host::new();
    h.write(
        "/etc/systemd/system/k3s.service",
        "[Service]\nExecStart=/usr/local/bin/k3s server --config /var/.eflow/config/k3s/k3s-config.yml\n",
    );
    h.write(
        "/var/.eflow/config/k3s/k3s-config.yml",
        "# eflow\ncluster-init: true\n",
    );
    let r = h.run_env(
        &["--issuer-url", ARC, "--output", "json", "apply"],
        &[("AIO_PREP_K3S_RESTART", "false")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["flavor"]["name"], "aks-edge-essentials");
    assert_eq!(
        j["flavor"]["config_file"],
        "/var/.eflow/config/k3s/k3s-config.yml"
    );
    assert!(h
        .read("/var/.eflow/config/k3s/k3s-config.yml")
        .starts_with("# eflow\ncluster-init: true\nkube-apiserver-arg:\n"));
    assert!(!h.path("/etc/rancher/k3s/config.yaml").exists());
}

#[test]
fn aks_edge_essentials_kubeadm_variant_is_refused_with_guidance() {
    let h = Host::new();
    h.write(
        "/var/.eflow/config/k8s/kubeadm.yaml",
        "kind: ClusterConfiguration\n",
    );
    h.write("/etc/kubernetes/admin.conf", "apiVersion: v1\n");
    let before = h.snapshot();
    let r = h.run(&["--issuer-url", ARC, "apply"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.error_line().contains("kubeadm"), "{}", r.stderr);
    assert_eq!(h.snapshot(), before);
}

#[test]
fn owner_and_mode_survive_the_rewrite() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let h = Host::k3s_server(Some("node-name: a\n"));
    let p = h.path("/etc/rancher/k3s/config.yaml");
    std::os::unix::fs::chown(&p, Some(1234), Some(2345)).expect("chown (tests run as root)");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let r = h.run_env(
        &["--issuer-url", ARC, "apply"],
        &[("AIO_PREP_K3S_RESTART", "false")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = std::fs::metadata(&p).expect("meta");
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o7777),
        (1234, 2345, 0o640)
    );
    assert!(h.read("/etc/rancher/k3s/config.yaml").contains(ARC));
}

#[test]
fn symlink_inside_the_directory_is_kept_and_its_target_written() {
    let h = Host::k3s_server(None);
    h.write("/etc/rancher/k3s/site-config.yaml", "node-name: a\n");
    std::os::unix::fs::symlink("site-config.yaml", h.path("/etc/rancher/k3s/config.yaml"))
        .expect("symlink");
    let r = h.run_env(
        &["--issuer-url", ARC, "apply"],
        &[("AIO_PREP_K3S_RESTART", "false")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let link = std::fs::symlink_metadata(h.path("/etc/rancher/k3s/config.yaml")).expect("meta");
    assert!(
        link.file_type().is_symlink(),
        "the operator's symlink stays a symlink"
    );
    assert!(h.read("/etc/rancher/k3s/site-config.yaml").contains(ARC));
}

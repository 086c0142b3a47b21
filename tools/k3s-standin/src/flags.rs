//! `k3s server|agent` flag parsing (urfave/cli v1 on Go's `flag` package):
//! config-file flags first, then the command line.
//!
//! * `-name`, `--name`, `-name=value`, `--name value`; bools take no separate
//!   value; an undefined flag is `flag provided but not defined: -name`.
//! * Config keys: on a server, keys k3s does not define are skipped with a
//!   warning (k3s strips them), so only the keys the stand-in interprets
//!   matter. On an agent k3s strips nothing: a server-only key such as
//!   `kube-apiserver-arg` makes `k3s agent` exit.
//! * A repeatable flag given on the command line replaces the whole list from
//!   the config files (k3s docs: "the CLI arguments will overwrite all values
//!   in the list"); other flags simply take the last value.

use crate::gostr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Agent,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub kube_apiserver_args: Vec<String>,
    pub cluster_domain: String,
    pub https_listen_port: i64,
    pub disable_apiserver: bool,
    pub write_kubeconfig_mode: Option<String>,
    pub token: Option<String>,
    pub server: Option<String>,
}

/// Environment variables k3s binds to these flags (urfave `EnvVar`).
#[derive(Debug, Default, Clone)]
pub struct FlagEnv {
    pub token: Option<String>,
    pub url: Option<String>,
    pub kubeconfig_mode: Option<String>,
}

impl FlagEnv {
    pub fn from_process() -> Self {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        FlagEnv {
            token: get("K3S_TOKEN"),
            url: get("K3S_URL"),
            kubeconfig_mode: get("K3S_KUBECONFIG_MODE"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Bool,
    Int,
    List,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Id {
    Config,
    KubeApiserverArg,
    ClusterDomain,
    HttpsListenPort,
    DisableApiserver,
    WriteKubeconfigMode,
    Token,
    Server,
}

struct Def {
    names: &'static [&'static str],
    id: Id,
    kind: Kind,
    server_only: bool,
}

const DEFS: &[Def] = &[
    Def {
        names: &["config", "c"],
        id: Id::Config,
        kind: Kind::Str,
        server_only: false,
    },
    Def {
        names: &["kube-apiserver-arg"],
        id: Id::KubeApiserverArg,
        kind: Kind::List,
        server_only: true,
    },
    Def {
        names: &["cluster-domain"],
        id: Id::ClusterDomain,
        kind: Kind::Str,
        server_only: true,
    },
    Def {
        names: &["https-listen-port"],
        id: Id::HttpsListenPort,
        kind: Kind::Int,
        server_only: true,
    },
    Def {
        names: &["disable-apiserver"],
        id: Id::DisableApiserver,
        kind: Kind::Bool,
        server_only: true,
    },
    Def {
        names: &["write-kubeconfig-mode"],
        id: Id::WriteKubeconfigMode,
        kind: Kind::Str,
        server_only: true,
    },
    Def {
        names: &["token", "t"],
        id: Id::Token,
        kind: Kind::Str,
        server_only: false,
    },
    Def {
        names: &["server", "s"],
        id: Id::Server,
        kind: Kind::Str,
        server_only: false,
    },
];

/// Other `k3s server` flags that `k3s agent` does not define: in a config file
/// read by an agent they are fatal, as in k3s.
const OTHER_SERVER_ONLY: &[&str] = &[
    "advertise-address",
    "advertise-port",
    "agent-token",
    "agent-token-file",
    "apiserver-bind-address",
    "apiserver-port",
    "bind-address",
    "cluster-cidr",
    "cluster-dns",
    "cluster-init",
    "cluster-reset",
    "cluster-reset-restore-path",
    "datastore-cafile",
    "datastore-certfile",
    "datastore-endpoint",
    "datastore-keyfile",
    "default-local-storage-path",
    "disable",
    "disable-cloud-controller",
    "disable-controller-manager",
    "disable-etcd",
    "disable-helm-controller",
    "disable-kube-proxy",
    "disable-network-policy",
    "disable-scheduler",
    "egress-selector-mode",
    "embedded-registry",
    "etcd-arg",
    "etcd-disable-snapshots",
    "etcd-expose-metrics",
    "etcd-s3",
    "etcd-s3-access-key",
    "etcd-s3-bucket",
    "etcd-s3-endpoint",
    "etcd-s3-endpoint-ca",
    "etcd-s3-folder",
    "etcd-s3-region",
    "etcd-s3-secret-key",
    "etcd-s3-skip-ssl-verify",
    "etcd-snapshot-compress",
    "etcd-snapshot-dir",
    "etcd-snapshot-name",
    "etcd-snapshot-retention",
    "etcd-snapshot-schedule-cron",
    "flannel-backend",
    "flannel-external-ip",
    "flannel-ipv6-masq",
    "helm-job-image",
    "kine-tls",
    "kube-cloud-controller-manager-arg",
    "kube-controller-manager-arg",
    "kube-scheduler-arg",
    "secrets-encryption",
    "service-cidr",
    "service-node-port-range",
    "servicelb-namespace",
    "supervisor-metrics",
    "supervisor-port",
    "system-default-registry",
    "tls-san",
    "tls-san-security",
    "write-kubeconfig",
    "write-kubeconfig-group",
];

/// Config keys the stand-in interprets (their values must be scalars).
pub fn is_interpreted(key: &str) -> bool {
    DEFS.iter().any(|d| d.names.contains(&key))
}

fn lookup(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.names.contains(&name))
}

fn not_defined(name: &str) -> String {
    format!("flag provided but not defined: -{name}")
}

#[derive(Default)]
struct Acc {
    config_list: Vec<String>,
    cli_list: Vec<String>,
    cluster_domain: Option<String>,
    port: Option<i64>,
    disable_apiserver: bool,
    kubeconfig_mode: Option<String>,
    token: Option<String>,
    server: Option<String>,
}

impl Acc {
    fn set(&mut self, def: &Def, name: &str, value: &str, from_cli: bool) -> Result<(), String> {
        match def.id {
            Id::Config => {}
            Id::KubeApiserverArg if from_cli => self.cli_list.push(value.to_string()),
            Id::KubeApiserverArg => self.config_list.push(value.to_string()),
            Id::ClusterDomain => self.cluster_domain = Some(value.to_string()),
            Id::HttpsListenPort => {
                let port = gostr::parse_int(value, 0).ok_or_else(|| {
                    format!(
                        "invalid value {} for flag -{name}: parse error",
                        gostr::quote(value)
                    )
                })?;
                self.port = Some(port);
            }
            Id::DisableApiserver => {
                self.disable_apiserver = gostr::parse_bool(value).ok_or_else(|| {
                    format!(
                        "invalid boolean value {} for -{name}: parse error",
                        gostr::quote(value)
                    )
                })?;
            }
            Id::WriteKubeconfigMode => self.kubeconfig_mode = Some(value.to_string()),
            Id::Token => self.token = Some(value.to_string()),
            Id::Server => self.server = Some(value.to_string()),
        }
        Ok(())
    }
}

/// Parses config-file flags (`--key=value`, from [`crate::config::flatten`])
/// followed by command-line flags.
pub fn parse(
    role: Role,
    config_args: &[String],
    cli_args: &[String],
    env: &FlagEnv,
) -> Result<Settings, String> {
    let mut acc = Acc {
        token: env.token.clone(),
        server: env.url.clone(),
        kubeconfig_mode: env.kubeconfig_mode.clone(),
        ..Acc::default()
    };

    for arg in config_args {
        // Go's flag package, which parses these too: a key that itself starts with `-` or
        // `=` (`--cluster-domain:` in the file becomes `----cluster-domain=...`) is bad syntax.
        let body = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .unwrap_or(arg);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, value) = body.split_once('=').unwrap_or((body, ""));
        match lookup(name) {
            Some(def) if def.server_only && role == Role::Agent => return Err(not_defined(name)),
            Some(def) => acc.set(def, name, value, false)?,
            None if role == Role::Agent && OTHER_SERVER_ONLY.contains(&name) => {
                return Err(not_defined(name))
            }
            // Either a k3s flag the stand-in does not model, or a key k3s
            // would strip with a warning: neither changes what it serves.
            None => {}
        }
    }

    let mut rest = cli_args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            if let Some(extra) = rest.next() {
                return Err(format!("unexpected argument {}", gostr::quote(extra)));
            }
            break;
        }
        let dashes = if arg.starts_with("--") {
            2
        } else if arg.starts_with('-') {
            1
        } else {
            0
        };
        if dashes == 0 || arg.len() == 1 {
            return Err(format!("unexpected argument {}", gostr::quote(arg)));
        }
        let body = &arg[dashes..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let def = lookup(name).ok_or_else(|| not_defined(name))?;
        if def.server_only && role == Role::Agent {
            return Err(not_defined(name));
        }
        let value = match (inline, def.kind) {
            (Some(v), _) => v.to_string(),
            (None, Kind::Bool) => "true".to_string(),
            (None, Kind::Str | Kind::Int | Kind::List) => rest
                .next()
                .cloned()
                .ok_or_else(|| format!("flag needs an argument: -{name}"))?,
        };
        acc.set(def, name, &value, true)?;
    }

    Ok(Settings {
        kube_apiserver_args: if acc.cli_list.is_empty() {
            acc.config_list
        } else {
            acc.cli_list
        },
        cluster_domain: acc
            .cluster_domain
            .unwrap_or_else(|| "cluster.local".to_string()),
        https_listen_port: acc.port.unwrap_or(6443),
        disable_apiserver: acc.disable_apiserver,
        write_kubeconfig_mode: acc.kubeconfig_mode,
        token: acc.token,
        server: acc.server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn server(config: &[&str], cli: &[&str]) -> Result<Settings, String> {
        parse(Role::Server, &v(config), &v(cli), &FlagEnv::default())
    }

    #[test]
    fn defaults() {
        let s = server(&[], &[]).expect("ok");
        assert_eq!(s.cluster_domain, "cluster.local");
        assert_eq!(s.https_listen_port, 6443);
        assert!(!s.disable_apiserver);
        assert!(s.kube_apiserver_args.is_empty());
    }

    #[test]
    fn config_keys_starting_with_a_dash_are_bad_flag_syntax() {
        // `--cluster-domain: x` in a config file becomes `----cluster-domain=x`.
        let e = server(&["----cluster-domain=x"], &[]).expect_err("bad syntax");
        assert_eq!(e, "bad flag syntax: ----cluster-domain=x");
        assert!(server(&["--=x"], &[]).is_err());
        assert!(server(&["-c=b", "--cluster-domain=y"], &[]).is_ok());
    }

    #[test]
    fn both_value_forms_and_single_dash() {
        let s = server(
            &[],
            &[
                "--cluster-domain",
                "a.example",
                "-https-listen-port=7443",
                "--disable-apiserver",
            ],
        )
        .expect("ok");
        assert_eq!(s.cluster_domain, "a.example");
        assert_eq!(s.https_listen_port, 7443);
        assert!(s.disable_apiserver);
    }

    #[test]
    fn cli_list_replaces_config_list() {
        let s = server(
            &["--kube-apiserver-arg=a=1", "--kube-apiserver-arg=b=2"],
            &[],
        )
        .expect("ok");
        assert_eq!(s.kube_apiserver_args, v(&["a=1", "b=2"]));
        let s = server(
            &["--kube-apiserver-arg=a=1"],
            &["--kube-apiserver-arg", "c=3"],
        )
        .expect("ok");
        assert_eq!(s.kube_apiserver_args, v(&["c=3"]));
    }

    #[test]
    fn cli_scalar_overrides_config() {
        let s = server(
            &["--cluster-domain=from.config"],
            &["--cluster-domain=from.cli"],
        )
        .expect("ok");
        assert_eq!(s.cluster_domain, "from.cli");
    }

    #[test]
    fn unknown_cli_flag_is_refused_like_urfave() {
        assert_eq!(
            server(&[], &["--nope"]),
            Err("flag provided but not defined: -nope".into())
        );
        assert_eq!(
            server(&[], &["-x=1"]),
            Err("flag provided but not defined: -x".into())
        );
        assert!(server(&[], &["---x"]).is_err());
        assert!(server(&[], &["positional"]).is_err());
        assert_eq!(
            server(&[], &["--token"]),
            Err("flag needs an argument: -token".into())
        );
    }

    #[test]
    fn unknown_config_keys_are_skipped_on_a_server() {
        let s = server(&["--node-label=a=b", "--tls-san=x"], &[]).expect("ok");
        assert_eq!(s, server(&[], &[]).expect("ok"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(server(&["--https-listen-port=abc"], &[]).is_err());
        assert!(server(&["--disable-apiserver=maybe"], &[]).is_err());
        let s = server(&["--disable-apiserver=false"], &[]).expect("ok");
        assert!(!s.disable_apiserver);
    }

    #[test]
    fn agent_refuses_server_only_keys() {
        let env = FlagEnv::default();
        let agent = |config: &[&str], cli: &[&str]| parse(Role::Agent, &v(config), &v(cli), &env);
        assert_eq!(
            agent(&["--kube-apiserver-arg=a=1"], &[]),
            Err("flag provided but not defined: -kube-apiserver-arg".into())
        );
        assert!(agent(&["--cluster-init=true"], &[]).is_err());
        assert!(agent(&["--kube-controller-manager-arg=x=y"], &[]).is_err());
        assert!(agent(&[], &["--cluster-domain", "x"]).is_err());
        let ok = agent(
            &["--node-label=a=b"],
            &["--server", "https://s:6443", "-t", "tok"],
        )
        .expect("ok");
        assert_eq!(ok.server.as_deref(), Some("https://s:6443"));
        assert_eq!(ok.token.as_deref(), Some("tok"));
    }

    #[test]
    fn env_is_the_default_and_flags_override_it() {
        let env = FlagEnv {
            token: Some("env".into()),
            url: None,
            kubeconfig_mode: Some("0640".into()),
        };
        let s = parse(Role::Server, &[], &v(&["--token=cli"]), &env).expect("ok");
        assert_eq!(s.token.as_deref(), Some("cli"));
        assert_eq!(s.write_kubeconfig_mode.as_deref(), Some("0640"));
    }
}

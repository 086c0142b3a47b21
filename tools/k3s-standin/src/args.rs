//! The kube-apiserver command line k3s builds: its defaults
//! (pkg/daemons/control/server.go) merged with `kube-apiserver-arg` values by
//! the rules of k3s's `util.GetArgs` (pkg/util/args.go):
//!
//! * `name=v` drops k3s's default for `name` and adds `v` after any values
//!   given earlier for `name`;
//! * `name+=v` keeps the default (once, first) then earlier values, then `v`;
//! * `name-=v` puts `v` first, then the default, then earlier values — so
//!   repeated `-=` values end up in reverse order;
//! * a value with no `=` means `true`; names are sorted, values of one name
//!   keep the order above.

use std::collections::BTreeMap;

use crate::flags::Settings;

/// Where k3s keeps the files its kube-apiserver flags name (host paths).
const SERVER_DIR: &str = "/var/lib/rancher/k3s/server";

/// k3s's default kube-apiserver flags for these settings.
pub fn apiserver_defaults(settings: &Settings) -> BTreeMap<String, String> {
    let tls = |file: &str| format!("{SERVER_DIR}/tls/{file}");
    let domain = &settings.cluster_domain;
    let port = settings.https_listen_port;
    let secure_port = if port != 0 { port + 1 } else { 6444 };
    let extra = &settings.kube_apiserver_args;

    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("advertise-port", port.to_string());
    put("allow-privileged", "true".into());
    if arg_value("authentication-config", extra).is_empty() {
        put("anonymous-auth", "false".into());
    }
    put(
        "api-audiences",
        format!("https://kubernetes.default.svc.{domain},k3s"),
    );
    if arg_value("authorization-config", extra).is_empty() {
        put("authorization-mode", "Node,RBAC".into());
    }
    put("bind-address", "127.0.0.1".into());
    put("cert-dir", tls("temporary-certs"));
    put("client-ca-file", tls("client-ca.crt"));
    put(
        "egress-selector-config-file",
        format!("{SERVER_DIR}/etc/egress-selector-config.yaml"),
    );
    put("enable-admission-plugins", "NodeRestriction".into());
    put("enable-aggregator-routing", "true".into());
    put("enable-bootstrap-token-auth", "true".into());
    put("etcd-servers", "unix://kine.sock".into());
    put("kubelet-certificate-authority", tls("server-ca.crt"));
    put(
        "kubelet-client-certificate",
        tls("client-kube-apiserver.crt"),
    );
    put("kubelet-client-key", tls("client-kube-apiserver.key"));
    put(
        "kubelet-preferred-address-types",
        "InternalIP,ExternalIP,Hostname".into(),
    );
    put("profiling", "false".into());
    put("proxy-client-cert-file", tls("client-auth-proxy.crt"));
    put("proxy-client-key-file", tls("client-auth-proxy.key"));
    put("requestheader-allowed-names", "system:auth-proxy".into());
    put("requestheader-client-ca-file", tls("request-header-ca.crt"));
    put(
        "requestheader-extra-headers-prefix",
        "X-Remote-Extra-".into(),
    );
    put("requestheader-group-headers", "X-Remote-Group".into());
    put("requestheader-username-headers", "X-Remote-User".into());
    put("secure-port", secure_port.to_string());
    put(
        "service-account-issuer",
        format!("https://kubernetes.default.svc.{domain}"),
    );
    put("service-account-key-file", tls("service.key"));
    put(
        "service-account-signing-key-file",
        tls("service.current.key"),
    );
    put("service-cluster-ip-range", "10.43.0.0/16".into());
    put("service-node-port-range", "30000-32767".into());
    put("storage-backend", "etcd3".into());
    put("tls-cert-file", tls("serving-kube-apiserver.crt"));
    put("tls-private-key-file", tls("serving-kube-apiserver.key"));
    m
}

/// k3s's `util.ArgValue`: the value of the first `name=...` in the list
/// (exact name, no `+`/`-` suffix), or empty.
pub fn arg_value(name: &str, extra: &[String]) -> String {
    extra
        .iter()
        .find_map(|raw| {
            let raw = raw.strip_prefix("--").unwrap_or(raw);
            let (n, v) = raw.split_once('=').unwrap_or((raw, ""));
            (n == name).then(|| v.to_string())
        })
        .unwrap_or_default()
}

/// k3s's `util.GetArgs`: defaults merged with `extra`, as `--name=value` flags.
pub fn get_args(mut defaults: BTreeMap<String, String>, extra: &[String]) -> Vec<String> {
    let mut merged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for raw in extra {
        let raw = raw.strip_prefix("--").unwrap_or(raw);
        let (name, value) = match raw.split_once('=') {
            Some((n, v)) => (n, v.to_string()),
            None => (raw, "true".to_string()),
        };
        let key = name.trim_end_matches(['-', '+']).to_string();
        // The default is used by the first mention only; later mentions see
        // it among the earlier values (if it was kept).
        let default = defaults.remove(&key);
        let earlier = merged.remove(&key).unwrap_or_default();
        let values: Vec<String> = if name.ends_with('+') {
            default.into_iter().chain(earlier).chain([value]).collect()
        } else if name.ends_with('-') {
            [value].into_iter().chain(default).chain(earlier).collect()
        } else {
            earlier.into_iter().chain([value]).collect()
        };
        merged.insert(key, values);
    }
    for (key, value) in defaults {
        merged.insert(key, vec![value]);
    }
    merged
        .into_iter()
        .flat_map(|(key, values)| {
            let key = key.strip_prefix("--").unwrap_or(&key).to_string();
            values.into_iter().map(move |v| format!("--{key}={v}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    // The cases below are k3s's own GetArgs table (pkg/util/args_test.go),
    // then the service-account-issuer cases aio-prep depends on.

    #[test]
    fn plain_values_replace_defaults_and_output_is_sorted() {
        let d = map(&[("aaa", "A"), ("bbb", "B"), ("ccc", "C"), ("ddd", "d")]);
        assert_eq!(
            get_args(d.clone(), &v(&["bbb=BB", "ddd=DD", "iii=II"])),
            v(&["--aaa=A", "--bbb=BB", "--ccc=C", "--ddd=DD", "--iii=II"])
        );
        assert_eq!(
            get_args(d, &v(&["--bbb=BB", "--ddd=DD", "--iii=II"])),
            v(&["--aaa=A", "--bbb=BB", "--ccc=C", "--ddd=DD", "--iii=II"])
        );
    }

    #[test]
    fn repeated_plain_values_keep_their_order() {
        let d = map(&[("aaa", "A"), ("bbb", "B")]);
        assert_eq!(
            get_args(d, &v(&["--ccc=C", "--bbb=DD", "--bbb=AA"])),
            v(&["--aaa=A", "--bbb=DD", "--bbb=AA", "--ccc=C"])
        );
    }

    #[test]
    fn minus_prepends_and_plus_appends_to_the_default() {
        let d = map(&[("aaa", "A"), ("bbb", "B")]);
        assert_eq!(
            get_args(d.clone(), &v(&["--ccc=C", "--bbb-=DD"])),
            v(&["--aaa=A", "--bbb=DD", "--bbb=B", "--ccc=C"])
        );
        assert_eq!(
            get_args(d, &v(&["--ccc=C", "--bbb+=DD"])),
            v(&["--aaa=A", "--bbb=B", "--bbb=DD", "--ccc=C"])
        );
    }

    #[test]
    fn repeated_plus_and_minus() {
        let d = map(&[("x", "D")]);
        assert_eq!(
            get_args(d.clone(), &v(&["x+=1", "x+=2"])),
            v(&["--x=D", "--x=1", "--x=2"])
        );
        // -= puts each new value in front of everything so far.
        assert_eq!(
            get_args(d.clone(), &v(&["x-=1", "x-=2"])),
            v(&["--x=2", "--x=1", "--x=D"])
        );
        // Plain after += keeps what += kept, default included.
        assert_eq!(
            get_args(d.clone(), &v(&["x+=1", "x=2"])),
            v(&["--x=D", "--x=1", "--x=2"])
        );
        // += after plain: the default is already gone.
        assert_eq!(
            get_args(d.clone(), &v(&["x=1", "x+=2"])),
            v(&["--x=1", "--x=2"])
        );
        assert_eq!(
            get_args(d, &v(&["x-=1", "x+=2"])),
            v(&["--x=1", "--x=D", "--x=2"])
        );
    }

    #[test]
    fn bare_name_means_true() {
        assert_eq!(get_args(map(&[]), &v(&["--flag"])), v(&["--flag=true"]));
    }

    #[test]
    fn issuer_rotation_shapes() {
        let issuer = |extra: &[&str]| -> Vec<String> {
            get_args(
                map(&[(
                    "service-account-issuer",
                    "https://kubernetes.default.svc.cluster.local",
                )]),
                &v(extra),
            )
        };
        assert_eq!(
            issuer(&[
                "service-account-issuer=https://new",
                "service-account-issuer=https://kubernetes.default.svc.cluster.local"
            ]),
            v(&[
                "--service-account-issuer=https://new",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local"
            ])
        );
        assert_eq!(
            issuer(&["service-account-issuer-=https://new"]),
            v(&[
                "--service-account-issuer=https://new",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local"
            ])
        );
        assert_eq!(
            issuer(&["service-account-issuer+=https://new"]),
            v(&[
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-account-issuer=https://new"
            ])
        );
    }

    #[test]
    fn defaults_follow_cluster_domain_and_port() {
        let s = Settings {
            kube_apiserver_args: vec![],
            cluster_domain: "corp.example".into(),
            https_listen_port: 7443,
            disable_apiserver: false,
            write_kubeconfig_mode: None,
            token: None,
            server: None,
        };
        let d = apiserver_defaults(&s);
        assert_eq!(
            d["service-account-issuer"],
            "https://kubernetes.default.svc.corp.example"
        );
        assert_eq!(
            d["api-audiences"],
            "https://kubernetes.default.svc.corp.example,k3s"
        );
        assert_eq!(d["secure-port"], "7444");
        assert!(d.contains_key("service-account-key-file"));
        assert!(d.contains_key("service-account-signing-key-file"));
        let s = Settings {
            kube_apiserver_args: v(&["authorization-config=/x"]),
            ..s
        };
        assert!(!apiserver_defaults(&s).contains_key("authorization-mode"));
    }

    #[test]
    fn arg_value_takes_the_first_exact_match() {
        let extra = v(&["a+=1", "--a=2", "a=3"]);
        assert_eq!(arg_value("a", &extra), "2");
        assert_eq!(arg_value("b", &extra), "");
    }
}

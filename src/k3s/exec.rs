//! The k3s flags that matter to aio-prep, read from a unit's ExecStart argv, and the
//! systemd-style command line splitting used when the unit is read from a file.

/// Flags from `k3s server|agent ...` that change where config comes from or what the API
/// server gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct K3sFlags {
    /// `server`, `agent`, or another subcommand.
    pub subcommand: Option<String>,
    pub config: Option<String>,
    pub kube_apiserver_args: Vec<String>,
    pub cluster_domain: Option<String>,
    pub disable_apiserver: bool,
}

/// Parses k3s's argv (argv[0] is the binary).
pub fn parse_k3s_argv(argv: &[String]) -> K3sFlags {
    let mut flags = K3sFlags::default();
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].as_str();
        i += 1;
        if !arg.starts_with('-') {
            if flags.subcommand.is_none() {
                flags.subcommand = Some(arg.to_string());
            }
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg, None),
        };
        // k3s's config loader knows only `--config` and `-c` and takes the first one;
        // other flags are matched with one or two dashes, as urfave/cli does.
        let name = match flag {
            "--config" | "-c" => "config",
            f if f.starts_with("--") => &f[2..],
            f => &f[1..],
        };
        let mut take_value = |inline: Option<String>| -> Option<String> {
            inline.or_else(|| {
                let v = argv.get(i).cloned();
                i += 1;
                v
            })
        };
        match name {
            "config" => {
                let v = take_value(inline);
                if flags.config.is_none() {
                    flags.config = v;
                }
            }
            "kube-apiserver-arg" => flags.kube_apiserver_args.extend(take_value(inline)),
            "cluster-domain" => flags.cluster_domain = take_value(inline),
            "disable-apiserver" => {
                flags.disable_apiserver = inline.as_deref().is_none_or(go_bool_true)
            }
            _ => {}
        }
    }
    flags
}

/// Go's `strconv.ParseBool` true values (urfave/cli parses boolean flags with it).
pub fn go_bool_true(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Splits a systemd `ExecStart=` value into argv (quotes, backslash escapes; the leading
/// `-@:+!` prefixes dropped). Line continuations must already be joined.
pub fn split_exec_line(line: &str) -> Vec<String> {
    let line = line.trim_start_matches(['-', '@', ':', '+', '!']);
    let mut argv = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    argv.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        argv.push(cur);
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn reads_server_flags() {
        let f = parse_k3s_argv(&v(&[
            "/usr/local/bin/k3s",
            "server",
            "--config=/var/.eflow/config/k3s/k3s-config.yml",
            "--kube-apiserver-arg",
            "a=b",
            "--cluster-domain",
            "edge.local",
        ]));
        assert_eq!(f.subcommand.as_deref(), Some("server"));
        assert_eq!(
            f.config.as_deref(),
            Some("/var/.eflow/config/k3s/k3s-config.yml")
        );
        assert_eq!(f.kube_apiserver_args, ["a=b"]);
        assert_eq!(f.cluster_domain.as_deref(), Some("edge.local"));
        assert!(!f.disable_apiserver);
        let f = parse_k3s_argv(&v(&[
            "k3s",
            "server",
            "-c",
            "/x.yaml",
            "--disable-apiserver",
        ]));
        assert_eq!(f.config.as_deref(), Some("/x.yaml"));
        assert!(f.disable_apiserver);
        assert_eq!(
            parse_k3s_argv(&v(&["k3s", "agent"])).subcommand.as_deref(),
            Some("agent")
        );
    }

    #[test]
    fn splits_like_systemd() {
        assert_eq!(
            split_exec_line("/usr/local/bin/k3s server '--disable' 'traefik' \"--node-label=a b\""),
            [
                "/usr/local/bin/k3s",
                "server",
                "--disable",
                "traefik",
                "--node-label=a b"
            ]
        );
        assert_eq!(split_exec_line("-/bin/x a\\ b"), ["/bin/x", "a b"]);
    }
}

//! k3s's `GetArgs` (`pkg/util/args.go`): how user args combine with k3s's defaults for a
//! component. `name+=v` appends after the default, `name-=v` prepends before it, plain
//! `name=v` drops the default; repeated names keep their order; output sorted by name.

use std::collections::BTreeMap;

/// Returns `(name, value)` pairs, sorted by name, values of one name in order.
pub fn get_args(defaults: &BTreeMap<String, String>, extra: &[String]) -> Vec<(String, String)> {
    let mut initial = defaults.clone();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for raw in extra {
        let raw = raw.strip_prefix("--").unwrap_or(raw);
        let (arg, value) = match raw.split_once('=') {
            Some((a, v)) => (a, v.to_string()),
            None => (raw, "true".to_string()),
        };
        let name = arg.trim_end_matches(['+', '-']).to_string();
        let initial_value = initial.remove(&name);
        let existing = multi.remove(&name).unwrap_or_default();
        let mut values = Vec::with_capacity(existing.len() + 2);
        if arg.ends_with('+') {
            values.extend(initial_value);
            values.extend(existing);
            values.push(value);
        } else if arg.ends_with('-') {
            values.push(value);
            values.extend(initial_value);
            values.extend(existing);
        } else {
            values.extend(existing);
            values.push(value);
        }
        multi.insert(name, values);
    }
    for (name, value) in initial {
        multi.insert(name, vec![value]);
    }
    multi
        .into_iter()
        .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
        .collect()
}

/// Values for one arg name, in order.
pub fn values_of<'a>(args: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    args.iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The arg name an item like `service-account-issuer+=x` or `--foo` sets (`+`/`-` trimmed).
pub fn arg_name(item: &str) -> &str {
    let item = item.strip_prefix("--").unwrap_or(item);
    let name = item.split_once('=').map_or(item, |(n, _)| n);
    name.trim_end_matches(['+', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "service-account-issuer".to_string(),
                "https://kubernetes.default.svc.cluster.local".to_string(),
            ),
            ("secure-port".to_string(), "6444".to_string()),
        ])
    }

    fn issuers(extra: &[&str]) -> Vec<String> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        values_of(&get_args(&defaults(), &extra), "service-account-issuer")
            .into_iter()
            .map(String::from)
            .collect()
    }

    const DEF: &str = "https://kubernetes.default.svc.cluster.local";

    #[test]
    fn no_user_args_gives_the_default() {
        assert_eq!(issuers(&[]), [DEF]);
    }

    #[test]
    fn plain_value_drops_the_default() {
        assert_eq!(
            issuers(&["service-account-issuer=https://a"]),
            ["https://a"]
        );
    }

    #[test]
    fn plus_appends_after_the_default_minus_prepends() {
        assert_eq!(
            issuers(&["service-account-issuer+=https://a"]),
            [DEF, "https://a"]
        );
        assert_eq!(
            issuers(&["service-account-issuer-=https://a"]),
            ["https://a", DEF]
        );
    }

    #[test]
    fn repeated_values_keep_their_order() {
        assert_eq!(
            issuers(&[
                "service-account-issuer=https://a",
                "service-account-issuer=https://b"
            ]),
            ["https://a", "https://b"]
        );
        assert_eq!(
            issuers(&[
                "service-account-issuer=https://a",
                "service-account-issuer+=https://b"
            ]),
            ["https://a", "https://b"]
        );
        // `-=` after an existing value: the new value goes first, then the (consumed)
        // default (none left), then the existing values — k3s's own order.
        assert_eq!(
            issuers(&[
                "service-account-issuer=https://a",
                "service-account-issuer-=https://b"
            ]),
            ["https://b", "https://a"]
        );
    }

    #[test]
    fn output_is_sorted_by_name_and_flag_without_value_is_true() {
        let args = get_args(&defaults(), &["--zeta".to_string(), "alpha=1".to_string()]);
        let names: Vec<&str> = args.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["alpha", "secure-port", "service-account-issuer", "zeta"]
        );
        assert_eq!(args[3].1, "true");
    }

    #[test]
    fn arg_name_trims_suffixes() {
        assert_eq!(
            arg_name("service-account-issuer+=x"),
            "service-account-issuer"
        );
        assert_eq!(
            arg_name("--service-account-issuer-=x"),
            "service-account-issuer"
        );
        assert_eq!(arg_name("flag"), "flag");
    }
}

//! k3s's config file rules (pkg/configfilearg), implemented independently:
//!
//! * which file: `K3S_CONFIG_FILE` (non-empty) wins, else `--config FILE`,
//!   `--config=FILE`, `-c FILE` or `-c=FILE` on the command line, else
//!   `/etc/rancher/k3s/config.yaml`;
//! * then every `<file>.d/*.yaml|*.yml` (suffix case-insensitive, directories
//!   skipped) in byte order of file name; the main file may be missing when
//!   drop-ins exist;
//! * every top-level entry of every file, in order: `key+:` appends to the
//!   value so far (a scalar counts as a one-element list), a plain key
//!   replaces it — also within one file, where a repeated key silently
//!   replaces the earlier one;
//! * the result becomes `--key=value` flags (one per list item), keys in
//!   order of first appearance, placed before the command-line flags.

use std::path::PathBuf;

use crate::paths::{self, Root};
use crate::yaml::{self, Value};

/// The config file k3s would read, as a host path.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub path: String,
    /// Named by `K3S_CONFIG_FILE` or `--config`, rather than the default.
    pub explicit: bool,
}

pub fn select(env_config_file: Option<&str>, args: &[String]) -> Selection {
    if let Some(env) = env_config_file.filter(|v| !v.is_empty()) {
        return Selection {
            path: env.to_string(),
            explicit: true,
        };
    }
    for (i, arg) in args.iter().enumerate() {
        for flag in ["--config", "-c"] {
            if arg == flag {
                // A trailing `--config` with no value: k3s leaves it to the
                // flag parser to complain, and reads no file.
                return Selection {
                    path: args.get(i + 1).cloned().unwrap_or_default(),
                    explicit: true,
                };
            }
            if let Some(value) = arg.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Selection {
                    path: value.to_string(),
                    explicit: true,
                };
            }
        }
    }
    Selection {
        path: paths::DEFAULT_CONFIG.to_string(),
        explicit: false,
    }
}

/// The merged config: files read (host paths, in order) and the entries.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Loaded {
    pub files: Vec<String>,
    pub entries: Vec<(String, Value)>,
}

pub fn load(root: &Root, selection: &Selection) -> Result<Loaded, String> {
    if selection.path.is_empty() {
        return Ok(Loaded::default());
    }
    if selection.path.starts_with("http://") || selection.path.starts_with("https://") {
        return Err(format!(
            "config file {}: remote config locations are not supported by the stand-in",
            selection.path
        ));
    }
    let mut files = Vec::new();
    let main = root.resolve(&selection.path);
    match std::fs::metadata(&main) {
        Ok(_) => files.push((selection.path.clone(), main)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("config file {}: {e}", selection.path)),
    }
    files.extend(dropins(root, &selection.path)?);
    if files.is_empty() {
        return if selection.explicit {
            Err(format!(
                "config file {} does not exist (and {}.d/ has no drop-ins)",
                selection.path, selection.path
            ))
        } else {
            Ok(Loaded::default())
        };
    }

    let mut loaded = Loaded::default();
    for (host_path, real_path) in files {
        let text =
            std::fs::read(&real_path).map_err(|e| format!("config file {host_path}: {e}"))?;
        let text = String::from_utf8(text)
            .map_err(|_| format!("config file {host_path}: yaml: invalid UTF-8"))?;
        let mapping =
            yaml::parse_mapping(&text).map_err(|e| format!("config file {host_path}: {e}"))?;
        merge_into(&mut loaded.entries, mapping);
        loaded.files.push(host_path);
    }
    Ok(loaded)
}

/// `<file>.d/*.yaml|*.yml`, byte order of name, directories skipped.
fn dropins(root: &Root, host_path: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let host_dir = format!("{host_path}.d");
    let dir = root.resolve(&host_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("config drop-in directory {host_dir}: {e}")),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("config drop-in directory {host_dir}: {e}"))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| format!("config drop-in directory {host_dir}: {e}"))?
            .is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        let lower = name.to_ascii_lowercase();
        if is_dir || !(lower.ends_with(".yaml") || lower.ends_with(".yml")) {
            continue;
        }
        found.push((name, entry.path()));
    }
    found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(found
        .into_iter()
        .map(|(name, path)| (format!("{host_dir}/{name}"), path))
        .collect())
}

/// Applies one file's entries to the values accumulated so far.
pub fn merge_into(acc: &mut Vec<(String, Value)>, mapping: Vec<(Value, Value)>) {
    for (key, value) in mapping {
        let key = yaml::to_go_string(&key);
        let (name, append) = match key.strip_suffix('+') {
            Some(name) => (name.to_string(), true),
            None => (key, false),
        };
        match acc.iter_mut().find(|(k, _)| *k == name) {
            Some((_, old)) if append => {
                let mut items = as_list(std::mem::replace(old, Value::Null));
                items.extend(as_list(value));
                *old = Value::Seq(items);
            }
            Some((_, old)) => *old = value,
            None => acc.push((name, value)),
        }
    }
}

/// How k3s widens a value before appending to it: a string is one item, a
/// list is its items, anything else is its text (none when empty).
fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Str(_) => vec![v],
        Value::Seq(items) => items,
        other => {
            let text = yaml::to_go_string(&other);
            if text.is_empty() {
                Vec::new()
            } else {
                vec![Value::Str(text)]
            }
        }
    }
}

/// Refuses a value the stand-in cannot take as a flag: a mapping, or a list
/// holding anything but scalars. Only keys the stand-in interprets are checked.
pub fn require_scalars(
    entries: &[(String, Value)],
    interpreted: impl Fn(&str) -> bool,
) -> Result<(), String> {
    for (key, value) in entries {
        if !interpreted(key) {
            continue;
        }
        let bad = match value {
            Value::Map(_) => Some("a mapping"),
            Value::Seq(items) if !items.iter().all(Value::is_scalar) => {
                Some("a list holding a list or mapping")
            }
            _ => None,
        };
        if let Some(what) = bad {
            return Err(format!(
                "config key {key:?} is {what}; it must be a string or a list of strings"
            ));
        }
    }
    Ok(())
}

/// The config as flags, placed before the command-line flags.
pub fn flatten(entries: &[(String, Value)]) -> Vec<String> {
    let mut args = Vec::new();
    for (key, value) in entries {
        let dashes = if key.len() == 1 { "-" } else { "--" };
        match value {
            Value::Seq(items) => {
                for item in items {
                    args.push(format!("{dashes}{key}={}", yaml::to_go_string(item)));
                }
            }
            other => args.push(format!("{dashes}{key}={}", yaml::to_go_string(other))),
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(files: &[&str]) -> Vec<String> {
        let mut acc = Vec::new();
        for f in files {
            merge_into(&mut acc, yaml::parse_mapping(f).expect("valid yaml"));
        }
        flatten(&acc)
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection_order_env_then_flag_then_default() {
        let cli = args(&["--config", "/x.yaml"]);
        assert_eq!(select(Some("/env.yaml"), &cli).path, "/env.yaml");
        assert_eq!(select(Some(""), &cli).path, "/x.yaml");
        assert_eq!(select(None, &args(&["-c=/y.yaml"])).path, "/y.yaml");
        assert_eq!(select(None, &args(&["--config=/z.yaml"])).path, "/z.yaml");
        assert_eq!(select(None, &args(&["-c", "/w.yaml"])).path, "/w.yaml");
        let d = select(None, &args(&["--token", "t"]));
        assert_eq!(d.path, paths::DEFAULT_CONFIG);
        assert!(!d.explicit);
        // Go's flag package would take -config too, but k3s's loader does not.
        assert_eq!(
            select(None, &args(&["-config", "/v.yaml"])).path,
            paths::DEFAULT_CONFIG
        );
    }

    #[test]
    fn scalars_and_lists_become_flags() {
        // k3s's own parser test data (testdata/data.yaml).
        let out = merged(&[
            "foo-bar: baz\na-slice:\n- 1\n- \"2\"\n- \"\"\n- three\nisempty:\nc: b\nislast: true\n",
        ]);
        assert_eq!(
            out,
            args(&[
                "--foo-bar=baz",
                "--a-slice=1",
                "--a-slice=2",
                "--a-slice=",
                "--a-slice=three",
                "--isempty=",
                "-c=b",
                "--islast=true",
            ])
        );
    }

    #[test]
    fn later_file_plain_key_replaces() {
        let out = merged(&[
            "kube-apiserver-arg:\n- a=1\n- b=2\n",
            "kube-apiserver-arg:\n- c=3\n",
        ]);
        assert_eq!(out, args(&["--kube-apiserver-arg=c=3"]));
    }

    #[test]
    fn plus_key_appends_across_files() {
        let out = merged(&[
            "kube-apiserver-arg:\n- a=1\n",
            "kube-apiserver-arg+:\n- b=2\n",
            "kube-apiserver-arg+: c=3\n",
        ]);
        assert_eq!(
            out,
            args(&[
                "--kube-apiserver-arg=a=1",
                "--kube-apiserver-arg=b=2",
                "--kube-apiserver-arg=c=3",
            ])
        );
    }

    #[test]
    fn scalar_counts_as_one_element_list_when_appended_to() {
        let out = merged(&["node-label: a=1\n", "node-label+: [b=2]\n"]);
        assert_eq!(out, args(&["--node-label=a=1", "--node-label=b=2"]));
    }

    #[test]
    fn plus_key_without_earlier_value_is_just_the_value() {
        let out = merged(&["tls-san+: [a, b]\n"]);
        assert_eq!(out, args(&["--tls-san=a", "--tls-san=b"]));
    }

    #[test]
    fn repeated_key_in_one_file_replaces_silently() {
        let out = merged(&["kube-apiserver-arg: [a=1]\nkube-apiserver-arg: [b=2]\n"]);
        assert_eq!(out, args(&["--kube-apiserver-arg=b=2"]));
    }

    #[test]
    fn key_order_is_first_appearance() {
        let out = merged(&["aa: 1\nbb: 2\n", "aa: 3\n"]);
        assert_eq!(out, args(&["--aa=3", "--bb=2"]));
    }

    #[test]
    fn values_are_trimmed_and_yaml_1_1_typed() {
        let out = merged(&["write-kubeconfig-mode: 0644\ndisable-apiserver: yes\nxx: ' sp '\n"]);
        assert_eq!(
            out,
            args(&[
                "--write-kubeconfig-mode=420",
                "--disable-apiserver=true",
                "--xx=sp"
            ])
        );
    }

    #[test]
    fn non_scalar_values_of_interpreted_keys_are_refused() {
        let mut acc = Vec::new();
        merge_into(
            &mut acc,
            yaml::parse_mapping("kube-apiserver-arg: {a: b}\nother: {a: b}\n").expect("yaml"),
        );
        assert!(require_scalars(&acc, |k| k == "kube-apiserver-arg").is_err());
        assert!(require_scalars(&acc, |k| k == "nothing").is_ok());
        let mut acc = Vec::new();
        merge_into(
            &mut acc,
            yaml::parse_mapping("kube-apiserver-arg: [[a]]\n").expect("yaml"),
        );
        assert!(require_scalars(&acc, |k| k == "kube-apiserver-arg").is_err());
    }

    fn temp_root(tag: &str) -> (PathBuf, Root) {
        let dir =
            std::env::temp_dir().join(format!("k3s-standin-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc/rancher/k3s/config.yaml.d/sub.yaml")).expect("mkdir");
        (dir.clone(), Root::new(dir))
    }

    fn write(dir: &std::path::Path, rel: &str, text: &str) {
        std::fs::write(dir.join(rel), text).expect("write");
    }

    #[test]
    fn dropins_in_byte_order_with_suffix_filter() {
        let (dir, root) = temp_root("dropins");
        let d = "etc/rancher/k3s/config.yaml.d";
        write(&dir, "etc/rancher/k3s/config.yaml", "aa: main\n");
        write(&dir, &format!("{d}/b.yml"), "aa+: b\n");
        write(&dir, &format!("{d}/B.YAML"), "aa+: B\n");
        write(&dir, &format!("{d}/a.yaml"), "aa+: a\n");
        write(&dir, &format!("{d}/c.txt"), "aa: nope\n");
        let loaded = load(&root, &select(None, &[])).expect("loads");
        assert_eq!(
            loaded.files,
            vec![
                "/etc/rancher/k3s/config.yaml",
                "/etc/rancher/k3s/config.yaml.d/B.YAML",
                "/etc/rancher/k3s/config.yaml.d/a.yaml",
                "/etc/rancher/k3s/config.yaml.d/b.yml",
            ]
        );
        assert_eq!(
            flatten(&loaded.entries),
            args(&["--aa=main", "--aa=B", "--aa=a", "--aa=b"])
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_files() {
        let (dir, root) = temp_root("missing");
        std::fs::remove_dir_all(dir.join("etc/rancher/k3s/config.yaml.d")).expect("rm");
        assert_eq!(
            load(&root, &select(None, &[])).expect("ok"),
            Loaded::default()
        );
        let err = load(&root, &select(None, &args(&["-c", "/etc/nope.yaml"])))
            .expect_err("explicit file must exist");
        assert!(err.contains("/etc/nope.yaml"), "{err}");
        write(&dir, "etc/rancher/k3s/config.yaml", "- not a mapping\n");
        let err = load(&root, &select(None, &[])).expect_err("must refuse");
        assert!(err.contains("/etc/rancher/k3s/config.yaml"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn dropins_alone_are_read_when_main_file_is_missing() {
        let (dir, root) = temp_root("dropins-only");
        write(&dir, "etc/rancher/k3s/config.yaml.d/10.yaml", "a: 1\n");
        let loaded = load(&root, &select(None, &[])).expect("loads");
        assert_eq!(loaded.files, vec!["/etc/rancher/k3s/config.yaml.d/10.yaml"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! k3s's config-file merge (`pkg/configfilearg/parser.go`): files in order; a plain key
//! replaces the earlier value, `key+:` appends to it; a scalar counts as a one-element
//! list; in one file a repeated key replaces the earlier one (it is the same rule).

use std::collections::BTreeMap;

use super::sources::Sources;
use super::K3sError;
use crate::yaml::{is_non_string_plain, Node, NodeKind};

/// Where a value came from: index into `Sources::files` and the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub text: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A scalar (k3s passes it as one flag value).
    Scalar(Item),
    /// A list, or a scalar that was appended to.
    List(Vec<Item>),
    /// A mapping: k3s has no such option; kept only to report it.
    Map(Origin),
    /// A YAML null (`key:` with nothing after it, `~`). k3s passes it as `--key=` (an
    /// empty value, e.g. `cluster-domain:` makes the domain empty), but appending to it
    /// with `key+:` appends to nothing.
    Null(Origin),
}

impl Value {
    /// The value as k3s's `toSlice` sees it.
    pub fn items(&self) -> Vec<Item> {
        match self {
            Value::Scalar(i) => vec![i.clone()],
            Value::List(items) => items.clone(),
            Value::Map(_) | Value::Null(_) => Vec::new(),
        }
    }

    /// The last scalar, for single-valued options like `cluster-domain`.
    pub fn last_text(&self) -> Option<&str> {
        match self {
            Value::Scalar(i) => Some(&i.text),
            Value::List(items) => items.last().map(|i| i.text.as_str()),
            Value::Map(_) => None,
            Value::Null(_) => Some(""),
        }
    }
}

/// One top-level entry of one file.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub file: usize,
    pub key: String,
    pub append: bool,
    pub key_node: &'a Node,
    pub value: &'a Node,
}

/// Every top-level entry of every file, in the order k3s applies them.
pub fn entries(sources: &Sources) -> Result<Vec<Entry<'_>>, K3sError> {
    let mut out = Vec::new();
    for (file, source) in sources.files.iter().enumerate() {
        for (k, v) in source.doc.top_entries()? {
            let Some(raw) = k.as_scalar() else {
                return Err(K3sError::BadValue {
                    path: source.host_path.clone(),
                    line: k.line,
                    key: "?".into(),
                    message: "keys must be strings".into(),
                });
            };
            // k3s takes a key through wrangler's `convert.ToString`, which trims white space
            // (`"kube-apiserver-arg "` and a form feed before the key count), then strips `+`.
            let raw = raw.trim();
            // `cluster-domain=: x` becomes `--cluster-domain==x`: Go's flag parser reads the
            // option cluster-domain with the value `=x`. Refused for the options aio-prep reads.
            if let Some((name, _)) = raw.split_once('=') {
                if READ_KEYS.contains(&name) {
                    return Err(K3sError::BadValue {
                        path: source.host_path.clone(),
                        line: k.line,
                        key: raw.to_string(),
                        message: format!(
                            "k3s reads this key as `{name}` with the rest as its value; write `{name}: <value>`"
                        ),
                    });
                }
            }
            let (key, append) = match raw.strip_suffix('+') {
                Some(k) => (k.to_string(), true),
                None => (raw.to_string(), false),
            };
            out.push(Entry {
                file,
                key,
                append,
                key_node: k,
                value: v,
            });
        }
    }
    Ok(out)
}

/// The merged configuration: option name → value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub values: BTreeMap<String, Value>,
}

impl Merged {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }
}

/// Options aio-prep reads.
const READ_KEYS: &[&str] = &[
    super::APISERVER_ARG_KEY,
    "cluster-domain",
    "disable-apiserver",
];

/// Options whose values aio-prep reads as text; their items must be strings, as k3s means
/// them (a plain `cluster-domain: 0x10` is the number 16 to k3s's YAML parser).
const STRING_LIST_KEYS: &[&str] = &[super::APISERVER_ARG_KEY, "cluster-domain"];

pub fn merge(sources: &Sources) -> Result<Merged, K3sError> {
    let mut merged = Merged::default();
    for entry in entries(sources)? {
        let path = &sources.files[entry.file].host_path;
        let value = to_value(entry.file, entry.value, &entry.key, path)?;
        if STRING_LIST_KEYS.contains(&entry.key.as_str()) {
            check_string_items(entry.value, &entry.key, path)?;
        }
        let next = match (entry.append, merged.values.remove(&entry.key)) {
            (true, Some(old)) => {
                let mut items = old.items();
                items.extend(value.items());
                Value::List(items)
            }
            _ => value,
        };
        merged.values.insert(entry.key, next);
    }
    Ok(merged)
}

fn to_value(
    file: usize,
    node: &Node,
    key: &str,
    path: &std::path::Path,
) -> Result<Value, K3sError> {
    let origin = |n: &Node| Origin { file, line: n.line };
    Ok(match &node.kind {
        NodeKind::Scalar { value, .. } => {
            if node.is_null() {
                Value::Null(origin(node))
            } else {
                Value::Scalar(Item {
                    text: value.clone(),
                    origin: origin(node),
                })
            }
        }
        NodeKind::Seq { items, .. } => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match &item.kind {
                    NodeKind::Scalar { value, .. } => out.push(Item {
                        text: value.clone(),
                        origin: origin(item),
                    }),
                    _ => {
                        return Err(K3sError::BadValue {
                            path: path.to_path_buf(),
                            line: item.line,
                            key: key.to_string(),
                            message: format!(
                                "list items must be strings, found a {}",
                                item.type_name()
                            ),
                        })
                    }
                }
            }
            Value::List(out)
        }
        NodeKind::Map { .. } => Value::Map(origin(node)),
    })
}

fn check_string_items(node: &Node, key: &str, path: &std::path::Path) -> Result<(), K3sError> {
    let bad = |n: &Node, message: String| K3sError::BadValue {
        path: path.to_path_buf(),
        line: n.line,
        key: key.to_string(),
        message,
    };
    match &node.kind {
        NodeKind::Map { .. } => Err(bad(node, "expected a list of strings, found a map".into())),
        NodeKind::Seq { items, .. } => {
            for item in items {
                if is_non_string_plain(item) {
                    return Err(bad(
                        item,
                        format!(
                            "item {:?} is not a string (YAML reads it as a number, bool or null); quote it",
                            item.as_scalar().unwrap_or_default()
                        ),
                    ));
                }
            }
            Ok(())
        }
        NodeKind::Scalar { .. } if node.is_null() => Ok(()),
        NodeKind::Scalar { value, .. } if is_non_string_plain(node) => Err(bad(
            node,
            format!("{value:?} is not a string (YAML reads it as a number or bool); quote it"),
        )),
        NodeKind::Scalar { .. } => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::k3s::sources::Source;
    use std::path::PathBuf;

    pub(crate) fn sources(files: &[(&str, &str)]) -> Sources {
        let files = files
            .iter()
            .map(|(p, t)| {
                let file = crate::hostfile::HostFile {
                    path: PathBuf::from(p),
                    real_path: PathBuf::from(p),
                    text: t.to_string(),
                    mode: 0o600,
                    uid: 0,
                    gid: 0,
                };
                Source::parse(PathBuf::from(p), Some(file)).expect("parse")
            })
            .collect();
        Sources { files }
    }

    fn texts(m: &Merged, key: &str) -> Vec<String> {
        m.get(key)
            .map(|v| v.items().into_iter().map(|i| i.text).collect())
            .unwrap_or_default()
    }

    #[test]
    fn later_plain_key_replaces_and_plus_appends() {
        let s = sources(&[
            ("/c.yaml", "kube-apiserver-arg: [a, b]\nnode-label: [x]\n"),
            (
                "/c.yaml.d/10.yaml",
                "kube-apiserver-arg+: c\nnode-label: [y]\n",
            ),
            ("/c.yaml.d/20.yaml", "kube-apiserver-arg+: [d]\n"),
        ]);
        let m = merge(&s).expect("merge");
        assert_eq!(texts(&m, "kube-apiserver-arg"), ["a", "b", "c", "d"]);
        assert_eq!(texts(&m, "node-label"), ["y"]);
    }

    #[test]
    fn repeated_key_in_one_file_replaces() {
        let s = sources(&[(
            "/c.yaml",
            "kube-apiserver-arg: [a]\nkube-apiserver-arg: [b]\n",
        )]);
        assert_eq!(
            texts(&merge(&s).expect("merge"), "kube-apiserver-arg"),
            ["b"]
        );
    }

    #[test]
    fn plus_within_one_file_appends_to_earlier_entry() {
        let s = sources(&[(
            "/c.yaml",
            "kube-apiserver-arg: a\nkube-apiserver-arg+: [b]\n",
        )]);
        assert_eq!(
            texts(&merge(&s).expect("merge"), "kube-apiserver-arg"),
            ["a", "b"]
        );
    }

    #[test]
    fn null_is_an_empty_value_and_appends_to_nothing() {
        // k3s turns `key:` into `--key=`: `cluster-domain:` is an empty domain, not the
        // default one. `[]` passes no flag at all.
        let s = sources(&[("/c.yaml", "cluster-domain:\ntls-san: []\n")]);
        let m = merge(&s).expect("merge");
        assert_eq!(m.get("cluster-domain").and_then(Value::last_text), Some(""));
        assert_eq!(m.get("tls-san").and_then(Value::last_text), None);
        let s = sources(&[(
            "/c.yaml",
            "kube-apiserver-arg: ~\nkube-apiserver-arg+: [a]\n",
        )]);
        assert_eq!(
            texts(&merge(&s).expect("merge"), "kube-apiserver-arg"),
            ["a"]
        );
    }

    #[test]
    fn keys_are_trimmed_as_k3s_does() {
        // Found by cargo-fuzz against the stand-in: a form feed (not YAML white space, so
        // part of the plain key) or spaces inside a quoted key are trimmed by k3s.
        let s = sources(&[(
            "/c.yaml",
            "kube-apiserver-arg: [a]\n\u{c}kube-apiserver-arg: [b]\n\" kube-apiserver-arg+ \": [c]\n",
        )]);
        assert_eq!(
            texts(&merge(&s).expect("merge"), "kube-apiserver-arg"),
            ["b", "c"]
        );
    }

    #[test]
    fn key_with_an_equals_sign_for_an_option_aio_prep_reads_is_refused() {
        // Found by cargo-fuzz against the stand-in: k3s would set cluster-domain to `=x`.
        let s = sources(&[("/c.yaml", "node-name: a\ncluster-domain=: x\n")]);
        let e = merge(&s).expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("/c.yaml:2: cluster-domain=: k3s reads this key as `cluster-domain`"),
            "{e}"
        );
        let s = sources(&[("/c.yaml", "other=: x\n")]);
        assert!(
            merge(&s).is_ok(),
            "options aio-prep does not read are k3s's business"
        );
    }

    #[test]
    fn scalar_counts_as_one_element_list() {
        let s = sources(&[("/c.yaml", "kube-apiserver-arg: \"x=1\"\n")]);
        assert_eq!(
            texts(&merge(&s).expect("merge"), "kube-apiserver-arg"),
            ["x=1"]
        );
    }

    #[test]
    fn rejects_maps_and_numbers_in_apiserver_args() {
        let s = sources(&[("/c.yaml", "kube-apiserver-arg:\n  a: b\n")]);
        let e = merge(&s).expect_err("map");
        assert_eq!(
            e.to_string(),
            "/c.yaml:2: kube-apiserver-arg: expected a list of strings, found a map"
        );
        let s = sources(&[("/c.yaml", "x: 1\nkube-apiserver-arg:\n  - ok=1\n  - 5\n")]);
        let e = merge(&s).expect_err("number");
        assert!(
            e.to_string()
                .starts_with("/c.yaml:4: kube-apiserver-arg: item \"5\""),
            "{e}"
        );
        let s = sources(&[("/c.yaml", "kube-apiserver-arg:\n  - [a]\n")]);
        assert!(merge(&s).is_err());
    }
}

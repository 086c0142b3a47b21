//! Properties of the YAML edit and the k3s merge model, on generated k3s configs (every
//! list shape, quoting style, indentation, comment placement, duplicate and `+` keys,
//! drop-ins, CRLF, no final newline) and on arbitrary text:
//!
//! * nothing panics, whatever the input;
//! * apply twice == apply once: planning again on the result changes nothing;
//! * every byte outside the edited `kube-apiserver-arg` entry is unchanged, and the list's
//!   other items keep their values and order;
//! * after the edit the intended issuer is first, the previous one second, the lifetime cap
//!   set — according to aio-prep's model AND to the k3s stand-in's independent
//!   implementation (`tools/k3s-standin`: yaml.v2 decoding, k3s's merge, `GetArgs`,
//!   kube-apiserver's start-up checks), which must also accept the result;
//! * before the edit both models agree on the issuers and the lifetime cap.
//!
//! Cases: `PROPTEST_CASES` (default 256 here; CI uses the default).

mod oracle;

use aio_prep::k3s::exec::K3sFlags;
use aio_prep::k3s::intent::Intent;
use aio_prep::k3s::plan::{plan, Target};
use aio_prep::k3s::DROPIN_NAME;
use oracle::{sources_of, DROPIN_DIR, MAIN};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

// ---------------------------------------------------------------------------------------
// Generators

/// Issuer URLs the SPEC allows: https, no whitespace or control characters, ≤ 2048 bytes —
/// with `#`, quotes, backslashes, YAML indicators and non-ASCII, which the edit must quote.
fn issuer() -> impl Strategy<Value = String> {
    let host = prop::sample::select(vec![
        "eastus.oic.prod-arc.azure.com",
        "issuer.example",
        "x.example:8443",
        "kubernetes.default.svc.cluster.local",
    ]);
    let seg = prop::collection::vec(
        prop::sample::select(vec![
            "t",
            "c",
            "00000000-0000-0000-0000-000000000000",
            "#frag",
            "'q'",
            "\"dq\"",
            "a\\b",
            ":x",
            "-y",
            "[a]",
            "{b}",
            "&a",
            "*a",
            "!t",
            "|",
            ">",
            "%41",
            "@",
            "ü",
            "日本",
            "é#",
            "a,b",
            "?x=1",
            "~",
        ]),
        0..4,
    );
    (host, seg, any::<bool>()).prop_map(|(h, segs, slash)| {
        let mut u = format!("https://{h}");
        for s in segs {
            u.push('/');
            u.push_str(s);
        }
        if slash {
            u.push('/');
        }
        u
    })
}

fn duration() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["1h", "24h", "12h30m", "4294967296s", "90m", "8760h"])
        .prop_map(String::from)
}

/// A `kube-apiserver-arg` item value.
fn arg_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "audit-log-maxage=30",
            "audit-log-path=/var/log/k3s-audit.log",
            "enable-admission-plugins=NodeRestriction,PodSecurity",
            "feature-gates=A=true,B=false",
            "v=2",
            "--tls-min-version=VersionTLS12",
            "anonymous-auth",
            "oidc-username-claim=email",
            "a: b",
            "#not-a-comment",
            "weird='q' \"dq\" \\ ü",
            "api-audiences=https://kubernetes.default.svc,k3s",
        ]).prop_map(String::from),
        2 => (prop::sample::select(vec!["", "+", "-"]), any::<bool>(), issuer())
            .prop_map(|(op, dashes, url)| format!(
                "{}service-account-issuer{op}={url}",
                if dashes { "--" } else { "" }
            )),
        1 => duration().prop_map(|d| format!("service-account-max-token-expiration={d}")),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Quote {
    Plain,
    Single,
    Double,
}

/// Renders a scalar in a style that reads back as exactly `v`.
fn quoted(v: &str, q: Quote) -> String {
    let plain_ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "=._/:,+@~-".contains(c))
        && !v.starts_with(['-', ':', ',', '@', '~', '?'])
        && !v.contains(": ")
        && !v.ends_with(':');
    match q {
        Quote::Plain if plain_ok => v.to_string(),
        Quote::Single | Quote::Plain => format!("'{}'", v.replace('\'', "''")),
        Quote::Double => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

fn quote() -> impl Strategy<Value = Quote> {
    prop_oneof![Just(Quote::Plain), Just(Quote::Single), Just(Quote::Double)]
}

fn comment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => prop::sample::select(vec!["  # why", " # ü: x", "\t# tab", " #"]).prop_map(String::from),
    ]
}

#[derive(Debug, Clone)]
enum Shape {
    Block {
        indent: usize,
        items: Vec<(String, Quote, String, bool)>,
    },
    Flow(Vec<(String, Quote)>, String),
    Scalar(String, Quote, String),
    Empty(String),
}

fn shape() -> impl Strategy<Value = Shape> {
    let item = (arg_value(), quote(), comment(), prop::bool::weighted(0.15));
    prop_oneof![
        5 => (prop::sample::select(vec![0usize, 2, 4]), prop::collection::vec(item, 1..7))
            .prop_map(|(indent, items)| Shape::Block { indent, items }),
        2 => (prop::collection::vec((arg_value(), quote()), 0..5), comment())
            .prop_map(|(i, c)| Shape::Flow(i, c)),
        1 => (arg_value(), quote(), comment()).prop_map(|(v, q, c)| Shape::Scalar(v, q, c)),
        1 => comment().prop_map(Shape::Empty),
    ]
}

fn render_list(key: &str, shape: &Shape) -> String {
    let mut out = String::new();
    match shape {
        Shape::Block { indent, items } => {
            out.push_str(&format!("{key}:\n"));
            let pad = " ".repeat(*indent);
            for (v, q, c, extra) in items {
                if *extra {
                    out.push_str(&format!("{pad}# between items\n"));
                }
                let folded_ok = matches!(q, Quote::Plain)
                    && !v.contains('#')
                    && !v.contains(": ")
                    && !v.starts_with(' ');
                if *extra && folded_ok {
                    // A block scalar item: the edit must remove or keep it whole.
                    out.push_str(&format!("{pad}- >-\n{pad}  {v}\n"));
                } else {
                    out.push_str(&format!("{pad}- {}{c}\n", quoted(v, *q)));
                }
            }
        }
        Shape::Flow(items, c) => {
            let inner: Vec<String> = items.iter().map(|(v, q)| quoted(v, *q)).collect();
            out.push_str(&format!("{key}: [{}]{c}\n", inner.join(", ")));
        }
        Shape::Scalar(v, q, c) => out.push_str(&format!("{key}: {}{c}\n", quoted(v, *q))),
        Shape::Empty(c) => out.push_str(&format!("{key}:{c}\n")),
    }
    out
}

fn other_entry() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "node-name: edge-01\n",
        "# operator comment: keep me\n",
        "\n",
        "write-kubeconfig-mode: \"0644\"\n",
        "tls-san:\n  - edge-01.example # san\n  - 10.0.0.1\n",
        "node-label: [a=b, \"c=d\"]\n",
        "cluster-domain: edge.local\n",
        "token: K10-secret::server:abc\n",
        "etcd-s3-config:\n  bucket: backups\n  region: ''\n",
        "disable:\n- traefik\n- servicelb\n",
        "kubelet-arg: |\n  max-pods=200\n",
        "\"quoted-key\": v\n",
    ])
    .prop_map(String::from)
}

/// One config file: other entries with 0–3 `kube-apiserver-arg`/`+` entries among them.
#[derive(Debug, Clone)]
struct FileSpec {
    text: String,
}

fn file_text(max_lists: usize) -> impl Strategy<Value = FileSpec> {
    let list = (
        prop::sample::select(vec![
            "kube-apiserver-arg",
            "kube-apiserver-arg+",
            "\"kube-apiserver-arg\"",
        ]),
        shape(),
    )
        .prop_map(|(k, s)| render_list(k, &s));
    (
        prop::collection::vec(other_entry(), 0..5),
        prop::collection::vec(list, 0..=max_lists),
        any::<u64>(),
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(others, lists, seed, final_nl, crlf, doc_start)| {
            let mut parts = others;
            // Interleave the lists among the other entries, deterministically from `seed`.
            for (i, l) in lists.into_iter().enumerate() {
                let at = ((seed >> (i * 8)) as usize) % (parts.len() + 1);
                parts.insert(at, l);
            }
            let mut text = String::new();
            if doc_start {
                text.push_str("---\n");
            }
            text.push_str(&parts.concat());
            if !final_nl && text.ends_with('\n') {
                text.pop();
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            FileSpec { text }
        })
}

#[derive(Debug, Clone)]
struct Scenario {
    main: Option<String>,
    dropins: Vec<(String, String)>,
    intent: Intent,
    target: Target,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let dropin = (
        prop::sample::select(vec![
            "10-site.yaml",
            "50-SITE.YML",
            "20-x.yml",
            "99-last.yaml",
        ]),
        prop_oneof![
            3 => prop::sample::select(vec![
                "tls-san+: [b.example]\n",
                "node-label+:\n  - site=1\n",
                "kube-apiserver-arg+:\n  - v=4\n",
                "kube-apiserver-arg+: [audit-log-maxbackup=3]\n",
                "# empty\n",
            ]).prop_map(String::from),
            1 => file_text(1).prop_map(|f| f.text),
        ],
    );
    (
        prop::option::weighted(0.9, file_text(3).prop_map(|f| f.text)),
        prop::collection::vec(dropin, 0..3),
        issuer(),
        any::<bool>(),
        duration(),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.2, (issuer(), any::<bool>(), duration())),
    )
        .prop_map(
            |(main, mut dropins, issuer, keep, max, dropin_target, own)| {
                dropins.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                dropins.dedup_by(|a, b| a.0 == b.0);
                let target = if dropin_target {
                    Target::Dropin
                } else {
                    Target::Config
                };
                // Sometimes the aio-prep drop-in is already there from an earlier run.
                if let (Target::Dropin, Some((i, k, m))) = (target, own) {
                    let mut items = vec![format!("service-account-issuer={i}")];
                    if k {
                        items.push(
                            "service-account-issuer=https://kubernetes.default.svc.cluster.local"
                                .into(),
                        );
                    }
                    items.push(format!("service-account-max-token-expiration={m}"));
                    dropins.push((DROPIN_NAME, aio_prep::k3s::edit::render_dropin(&items)));
                    dropins.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    dropins.dedup_by(|a, b| a.0 == b.0);
                }
                Scenario {
                    main: main.map(|t| t.to_string()),
                    dropins: dropins
                        .into_iter()
                        .map(|(n, t)| (n.to_string(), t))
                        .collect(),
                    intent: Intent {
                        issuer,
                        keep_previous_issuer: keep,
                        max_token_expiration: max,
                    },
                    target,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------
// The properties (shared with the fuzz target)

/// (host path, text) of every file k3s reads, main file first (`None`: missing).
fn files_of(s: &Scenario) -> Vec<(String, Option<String>)> {
    let mut files = vec![(MAIN.to_string(), s.main.clone())];
    for (name, text) in &s.dropins {
        files.push((format!("{DROPIN_DIR}/{name}"), Some(text.clone())));
    }
    files
}

fn check(s: &Scenario) -> Result<(), TestCaseError> {
    oracle::check(&files_of(s), &s.intent, s.target, true).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn edit_properties_hold(s in scenario()) {
        check(&s)?;
    }

    /// Arbitrary text, and generated configs with random bytes spliced in: parse, merge,
    /// plan and diff never panic.
    #[test]
    fn nothing_panics_on_any_text(
        base in file_text(3),
        junk in ".{0,12}",
        at in any::<prop::sample::Index>(),
        raw in any::<String>(),
        issuer in issuer(),
    ) {
        let mut mutated = base.text.clone();
        let i = at.index(mutated.len() + 1);
        let i = (0..=i).rev().find(|i| mutated.is_char_boundary(*i)).unwrap_or(0);
        mutated.insert_str(i, &junk);
        for text in [mutated, raw] {
            let files = vec![(MAIN.to_string(), Some(text.clone()))];
            if let Ok(sources) = sources_of(&files) {
                let intent = Intent { issuer: issuer.clone(), keep_previous_issuer: true, max_token_expiration: "24h".into() };
                for target in [Target::Config, Target::Dropin] {
                    if let Ok(hp) = plan(&sources, &K3sFlags::default(), &intent, target) {
                        if let Some(new) = &hp.new_text {
                            let _ = aio_prep::diff::unified("a", "b", hp.old_text.as_deref().unwrap_or(""), new);
                        }
                    }
                }
            }
            let _ = k3s_standin::yaml::parse_mapping(&text);
        }
    }
}

/// Hand-picked shapes the generator reaches only rarely, run every time.
#[test]
fn known_tricky_configs() {
    let issuer = "https://x.example/t/#frag'\"\\ü/".to_string();
    for main in [
        "kube-apiserver-arg:\n- >-\n  service-account-issuer=https://old\n- a=1\n",
        "kube-apiserver-arg: # c\n  - a=1\n",
        "kube-apiserver-arg:\r\n  - service-account-issuer=https://old\r\n  - a=1",
        "kube-apiserver-arg: []\n",
        "kube-apiserver-arg: ~\n",
        "kube-apiserver-arg: 'a=1' # c\nx: 1",
        "kube-apiserver-arg:\n  - service-account-issuer=https://old\n",
        "kube-apiserver-arg:\n  - service-account-issuer=https://old",
        "\"kube-apiserver-arg\":\n  - a=1\n",
        "kube-apiserver-arg+: [a=1]\nkube-apiserver-arg: [b=2]\n",
    ] {
        for keep in [true, false] {
            let s = Scenario {
                main: Some(main.into()),
                dropins: Vec::new(),
                intent: Intent {
                    issuer: issuer.clone(),
                    keep_previous_issuer: keep,
                    max_token_expiration: "24h".into(),
                },
                target: Target::Config,
            };
            check(&s).unwrap_or_else(|e| panic!("{main:?}: {e}"));
            let files = files_of(&s);
            plan(
                &sources_of(&files).expect("parses"),
                &K3sFlags::default(),
                &s.intent,
                s.target,
            )
            .unwrap_or_else(|e| panic!("{main:?} refused: {e}"));
        }
    }
}

//! The YAML edit and the k3s merge model under libFuzzer: the input's first byte picks the
//! intent (target, keep-previous, issuer, lifetime), the rest is the config file and up to
//! two drop-ins separated by NUL bytes. Every property of `tests/oracle` is checked — no
//! panic, a second plan changes nothing, bytes outside the edited list unchanged, the
//! intended issuer first — against aio-prep's model and the k3s stand-in's.
#![no_main]

use aio_prep::k3s::intent::Intent;
use aio_prep::k3s::plan::Target;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/oracle/mod.rs"]
mod oracle;

const ISSUERS: [&str; 8] = [
    "https://eastus.oic.prod-arc.azure.com/00000000-0000-0000-0000-000000000000/11111111-2222-3333-4444-555555555555/",
    "https://kubernetes.default.svc.cluster.local",
    "https://x.example/t#frag",
    "https://x.example/'q'/\"dq\"/",
    "https://x.example/ü/日本/",
    "https://x.example/a\\b/:x/",
    "https://x.example:8443/-y/[a]/{b}/&a/*a/!t/|/>/",
    "https://kubernetes.default.svc.edge.local",
];
const LIFETIMES: [&str; 4] = ["24h", "1h", "12h30m", "4294967296s"];

fuzz_target!(|data: &[u8]| {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let main = parts.next().map(String::from).filter(|_| opts & 0x80 == 0);
    let mut files = vec![(oracle::MAIN.to_string(), main)];
    for (name, t) in ["10-a.yaml", "50-B.YML"].iter().zip(parts) {
        files.push((format!("{}/{name}", oracle::DROPIN_DIR), Some(t.to_string())));
    }
    let intent = Intent {
        issuer: ISSUERS[usize::from(opts >> 2) & 7].to_string(),
        keep_previous_issuer: opts & 2 == 0,
        max_token_expiration: LIFETIMES[usize::from(opts >> 5) & 3].to_string(),
    };
    let target = if opts & 1 == 1 {
        Target::Dropin
    } else {
        Target::Config
    };
    for (_, t) in &files {
        if let Some(t) = t {
            let _ = k3s_standin::yaml::parse_mapping(t);
        }
    }
    if let Err(e) = oracle::check(&files, &intent, target, false) {
        panic!("{e}\nfiles: {files:?}\nintent: {intent:?}, target {target:?}");
    }
});

//! The properties of the edit, shared by `tests/props.rs` (proptest) and the cargo-fuzz
//! target in `fuzz/` (`#[path]`-included there): given the files k3s reads and an intent,
//! plan the change and check it against aio-prep's own model and the k3s stand-in's
//! independent one. Returns the first broken property.
#![allow(dead_code)]

use std::path::PathBuf;

use aio_prep::hostfile::HostFile;
use aio_prep::k3s::exec::K3sFlags;
use aio_prep::k3s::intent::Intent;
use aio_prep::k3s::plan::{plan, Target};
use aio_prep::k3s::sources::{Source, Sources};
use aio_prep::k3s::APISERVER_ARG_KEY;
use aio_prep::yaml::Document;

pub const MAIN: &str = "/etc/rancher/k3s/config.yaml";
pub const DROPIN_DIR: &str = "/etc/rancher/k3s/config.yaml.d";

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
    ($cond:expr) => {
        if !$cond {
            return Err(format!("{} is false", stringify!($cond)));
        }
    };
}

macro_rules! ensure_eq {
    ($a:expr, $b:expr, $($msg:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("{}: {:?} != {:?}", format!($($msg)+), a, b));
        }
    }};
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("{} != {}: {:?} != {:?}", stringify!($a), stringify!($b), a, b));
        }
    }};
}

pub fn host_file(path: &str, text: &str) -> HostFile {
    HostFile {
        path: PathBuf::from(path),
        real_path: PathBuf::from(path),
        text: text.to_string(),
        mode: 0o600,
        uid: 0,
        gid: 0,
    }
}

pub fn sources_of(files: &[(String, Option<String>)]) -> Result<Sources, String> {
    let mut out = Vec::new();
    for (p, t) in files {
        let file = t.as_deref().map(|t| host_file(p, t));
        out.push(Source::parse(PathBuf::from(p), file).map_err(|e| e.to_string())?);
    }
    Ok(Sources { files: out })
}

/// The stand-in's view: kube-apiserver's args, from its own yaml.v2 decoding, k3s merge,
/// flag parsing and `GetArgs`.
pub fn standin_args(files: &[(String, Option<String>)]) -> Result<Vec<String>, String> {
    use k3s_standin::{args, config, flags, yaml};
    let mut acc = Vec::new();
    for (_, text) in files {
        if let Some(text) = text {
            config::merge_into(&mut acc, yaml::parse_mapping(text)?);
        }
    }
    config::require_scalars(&acc, flags::is_interpreted)?;
    let settings = flags::parse(
        flags::Role::Server,
        &config::flatten(&acc),
        &[],
        &flags::FlagEnv::default(),
    )?;
    Ok(args::get_args(
        args::apiserver_defaults(&settings),
        &settings.kube_apiserver_args,
    ))
}

pub fn values<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    let prefix = format!("--{name}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(prefix.as_str()))
        .collect()
}

/// Byte range of the entry the edit may touch: the last plain `kube-apiserver-arg`, else
/// the first `kube-apiserver-arg+` (lines from the key to the end of its value).
pub fn edited_range(text: &str) -> Option<(usize, usize)> {
    let doc = Document::parse(std::path::Path::new(MAIN), text).ok()?;
    let entries = doc.top_entries().ok()?;
    let key = |k: &aio_prep::yaml::Node| k.as_scalar().unwrap_or("").trim().to_string();
    let target = entries
        .iter()
        .rev()
        .find(|(k, _)| key(k) == APISERVER_ARG_KEY)
        .or_else(|| {
            entries
                .iter()
                .find(|(k, _)| key(k) == format!("{APISERVER_ARG_KEY}+"))
        })?;
    let (k, v) = target;
    let start = doc.line_start(k.line, text.len());
    let mut end = doc.line_start(v.end_line.max(k.line) + 1, text.len());
    // A block scalar's span runs over trailing blank space up to the next token; that
    // space belongs to the value.
    if v.end > end && text[end..v.end].trim().is_empty() {
        end = v.end;
    }
    Some((start, end))
}

pub fn list_items(text: &str) -> Vec<String> {
    let Ok(doc) = Document::parse(std::path::Path::new(MAIN), text) else {
        return Vec::new();
    };
    let Ok(entries) = doc.top_entries() else {
        return Vec::new();
    };
    let key = |k: &aio_prep::yaml::Node| k.as_scalar().unwrap_or("").trim().to_string();
    let Some((_, v)) = entries
        .iter()
        .rev()
        .find(|(k, _)| key(k) == APISERVER_ARG_KEY)
        .or_else(|| {
            entries
                .iter()
                .find(|(k, _)| key(k) == format!("{APISERVER_ARG_KEY}+"))
        })
    else {
        return Vec::new();
    };
    match &v.kind {
        aio_prep::yaml::NodeKind::Seq { items, .. } => items
            .iter()
            .filter_map(|n| n.as_scalar())
            .map(String::from)
            .collect(),
        aio_prep::yaml::NodeKind::Scalar { value, .. } if !v.is_null() => vec![value.clone()],
        _ => Vec::new(),
    }
}

/// Checks every property for one scenario; `Err` describes the first one broken.
/// `strict`: the stand-in must accept the result and kube-apiserver's checks must pass
/// (generated inputs); otherwise only when they accepted the input (fuzzed inputs).
pub fn check(
    files: &[(String, Option<String>)],
    intent: &Intent,
    target: Target,
    strict: bool,
) -> Result<(), String> {
    let files = files.to_vec();
    let Ok(sources) = sources_of(&files) else {
        return Ok(()); // refused input: the corpus and the no-panic property cover it
    };
    let flags = K3sFlags::default();
    let before_model =
        aio_prep::k3s::merge::merge(&sources).map(|m| aio_prep::k3s::intent::effective(&m, &flags));

    // Both models agree on what kube-apiserver runs with now.
    let standin_before = standin_args(&files);
    let validated_before = standin_before
        .as_ref()
        .is_ok_and(|a| k3s_standin::validate::check(a).is_ok());
    if let (Ok(ours), Ok(theirs)) = (&before_model, &standin_before) {
        ensure_eq!(
            &ours.issuers,
            &values(theirs, "service-account-issuer"),
            "issuers before the edit differ between aio-prep and the stand-in"
        );
        ensure_eq!(
            ours.max_token_expiration.as_deref(),
            values(theirs, "service-account-max-token-expiration")
                .last()
                .copied(),
            "max token expiration before the edit differs"
        );
    }

    let Ok(hp) = plan(&sources, &flags, intent, target) else {
        return Ok(()); // refused (exit 2/4) — allowed; refusals are checked by the corpus
    };
    ensure_eq!(hp.after.issuers.first(), Some(&intent.issuer));
    ensure_eq!(
        hp.after.max_token_expiration.as_deref(),
        Some(intent.max_token_expiration.as_str())
    );
    ensure!(hp.desired.is_met_by(&hp.after));
    if intent.keep_previous_issuer {
        let before = before_model.as_ref().expect("plan merged it");
        let previous = match before.issuers.first() {
            Some(f) if *f == intent.issuer => before.issuers.get(1),
            f => f,
        };
        if let Some(p) = previous.filter(|p| **p != intent.issuer) {
            ensure_eq!(
                hp.after.issuers.get(1),
                Some(p),
                "previous issuer not second"
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    ensure!(
        hp.after.issuers.iter().all(|i| seen.insert(i)),
        "an issuer twice: {:?}",
        hp.after.issuers
    );

    let Some(new) = hp.new_text.clone() else {
        return Ok(());
    };
    let new = &new;
    let target_host = hp.target_path.display().to_string();
    let mut after_files = files.clone();
    match after_files.iter_mut().find(|(p, _)| *p == target_host) {
        Some(f) => f.1 = Some(new.clone()),
        None => {
            after_files.push((target_host.clone(), Some(new.clone())));
            after_files[1..].sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
    }

    // Bytes outside the edited entry are unchanged; the list's other items stay in order.
    if target == Target::Config {
        let old = hp.old_text.clone().unwrap_or_default();
        match edited_range(&old) {
            Some((start, end)) => {
                ensure_eq!(
                    &new[..start.min(new.len())],
                    &old[..start],
                    "bytes before the list changed"
                );
                ensure!(
                    new.ends_with(&old[end..]),
                    "bytes after the list changed:\n{old:?}\n{new:?}"
                );
            }
            None => ensure!(
                new.starts_with(&old),
                "text before the appended list changed"
            ),
        }
        let kept = |t: &str| -> Vec<String> {
            list_items(t)
                .into_iter()
                .filter(|i| !aio_prep::k3s::edit::is_managed(i))
                .collect()
        };
        ensure_eq!(kept(&old), kept(new), "other items changed");
        let bare_lf = |t: &str| t.replace("\r\n", "").contains('\n');
        if old.contains("\r\n") && !bare_lf(&old) {
            ensure!(!bare_lf(new), "a CRLF file got LF lines: {new:?}");
        }
    } else {
        ensure_eq!(
            files[0].1.as_deref(),
            after_files[0].1.as_deref(),
            "the dropin target touched the config file"
        );
    }

    // Apply twice == apply once.
    let after_sources = sources_of(&after_files)?;
    let again = plan(&after_sources, &flags, intent, target)
        .map_err(|e| format!("second plan refused the result: {e}"))?;
    ensure!(
        again.new_text.is_none(),
        "second plan changes the file again:\n{new}\n---\n{:?}",
        again.new_text
    );

    // The stand-in reads the result the same way and kube-apiserver's checks pass.
    if !strict && standin_before.is_err() {
        return Ok(());
    }
    let theirs = standin_args(&after_files)
        .map_err(|e| format!("the stand-in refuses the result: {e}\n{new}"))?;
    ensure_eq!(
        &values(&theirs, "service-account-issuer"),
        &hp.after.issuers,
        "the stand-in sees other issuers:\n{}",
        new
    );
    ensure_eq!(
        values(&theirs, "service-account-max-token-expiration")
            .last()
            .copied(),
        Some(intent.max_token_expiration.as_str())
    );
    if strict || validated_before {
        k3s_standin::validate::check(&theirs)
            .map_err(|e| format!("kube-apiserver would refuse: {e}\n{new}"))?;
    }
    Ok(())
}

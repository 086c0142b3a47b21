//! The host half of a plan: from the files k3s reads, the unit's flags and the intent, the
//! new bytes of one file, checked by re-merging them the way k3s will (SPEC §2).

use std::path::{Path, PathBuf};

use super::args::arg_name;
use super::edit::{self, is_managed};
use super::exec::K3sFlags;
use super::intent::{desired, effective, Desired, Effective, Intent};
use super::merge::{self, Merged};
use super::sources::{dropin_dir, Sources};
use super::{K3sError, APISERVER_ARG_KEY, DROPIN_NAME, ISSUER_ARG, MAX_EXPIRATION_ARG};

/// Where aio-prep writes (`[k3s] target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The `kube-apiserver-arg` list of the effective config file, edited in place.
    Config,
    /// `<config file>.d/90-aio-prep.yaml`, owned by aio-prep.
    Dropin,
}

/// The planned change to one file (or the finding that none is needed).
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// Host path of the file aio-prep writes.
    pub target_path: PathBuf,
    /// Its current contents (`None`: it does not exist yet).
    pub old_text: Option<String>,
    /// Its new contents, when a change is needed.
    pub new_text: Option<String>,
    pub before: Effective,
    pub after: Effective,
    pub desired: Desired,
}

impl HostPlan {
    pub fn changes_file(&self) -> bool {
        self.new_text.is_some()
    }
}

pub fn plan(
    sources: &Sources,
    flags: &K3sFlags,
    intent: &Intent,
    target: Target,
) -> Result<HostPlan, K3sError> {
    if !flags.kube_apiserver_args.is_empty() {
        return Err(K3sError::Impossible(
            "the k3s unit's ExecStart passes --kube-apiserver-arg, which replaces every kube-apiserver-arg from config files; move those args into config.yaml and run again".into(),
        ));
    }
    let merged = merge::merge(sources)?;
    let before = effective(&merged, flags);
    let want = desired(&before, intent);
    let main_path = sources.files[0].host_path.clone();
    let target_path = match target {
        Target::Config => main_path.clone(),
        Target::Dropin => dropin_dir(&main_path).join(DROPIN_NAME),
    };
    let target_index = sources.index_of(&target_path);
    let old_text =
        target_index.and_then(|i| sources.files[i].file.as_ref().map(|f| f.text.clone()));
    if want.is_met_by(&before) {
        return Ok(HostPlan {
            target_path,
            old_text,
            new_text: None,
            after: before.clone(),
            before,
            desired: want,
        });
    }
    check_no_managed_args_elsewhere(sources, &merged, target_index)?;
    let items = want.items();
    let new_text = match (target, target_index) {
        (Target::Config, Some(i)) => {
            let source = &sources.files[i];
            edit::rewrite(source.text(), &source.doc, &items).map_err(|e| K3sError::BadValue {
                path: target_path.clone(),
                line: e.line,
                key: APISERVER_ARG_KEY.into(),
                message: e.message,
            })?
        }
        (Target::Config, None) => {
            edit::rewrite("", &crate::yaml::Document::parse(&target_path, "")?, &items)
                .map_err(|e| K3sError::Impossible(e.to_string()))?
        }
        (Target::Dropin, _) => edit::render_dropin(&items),
    };
    // aio-prep reads no file over 1 MiB: a result past it would make every later run refuse.
    if new_text.len() as u64 > crate::hostfile::MAX_FILE_BYTES {
        return Err(K3sError::Impossible(format!(
            "{}: with the issuer args it would be {} bytes, over the 1 MiB aio-prep reads back (it is {} bytes now); make room, or use [k3s] target = \"dropin\"",
            target_path.display(),
            new_text.len(),
            old_text.as_ref().map_or(0, String::len)
        )));
    }
    let after_sources = sources.with_replaced(&target_path, &new_text)?;
    let after_merged = merge::merge(&after_sources)?;
    let after = effective(&after_merged, flags);
    if !want.is_met_by(&after) {
        return Err(K3sError::Impossible(explain_unmet(
            &after_sources,
            &want,
            &after,
            &target_path,
        )));
    }
    verify_untouched(sources, &after_sources, &target_path)?;
    Ok(HostPlan {
        target_path,
        old_text,
        new_text: Some(new_text),
        before,
        after,
        desired: want,
    })
}

/// Managed args set in a file aio-prep does not write would fight with ours.
fn check_no_managed_args_elsewhere(
    sources: &Sources,
    merged: &Merged,
    target: Option<usize>,
) -> Result<(), K3sError> {
    let Some(value) = merged.get(APISERVER_ARG_KEY) else {
        return Ok(());
    };
    for item in value.items() {
        if is_managed(&item.text) && Some(item.origin.file) != target {
            let path = &sources.files[item.origin.file].host_path;
            return Err(K3sError::Impossible(format!(
                "{}:{}: {} is set here too; aio-prep manages it only in {} (remove it there, or choose [k3s] target to match)",
                path.display(),
                item.origin.line,
                arg_name(&item.text),
                target
                    .map(|i| sources.files[i].host_path.display().to_string())
                    .unwrap_or_else(|| "its own file".into()),
            )));
        }
    }
    Ok(())
}

fn explain_unmet(sources: &Sources, want: &Desired, after: &Effective, target: &Path) -> String {
    // A later file with a plain `kube-apiserver-arg:` replaces the list we wrote.
    if let Ok(entries) = merge::entries(sources) {
        let target_index = sources.index_of(target).unwrap_or(0);
        if let Some(e) = entries
            .iter()
            .rev()
            .find(|e| e.key == APISERVER_ARG_KEY && !e.append && e.file > target_index)
        {
            return format!(
                "{}:{}: a plain `{APISERVER_ARG_KEY}:` here replaces the list aio-prep writes in {}; make it `{APISERVER_ARG_KEY}+:` or move its args",
                sources.files[e.file].host_path.display(),
                e.key_node.line,
                target.display()
            );
        }
    }
    format!(
        "after the edit kube-apiserver would run with {ISSUER_ARG}={:?} and {MAX_EXPIRATION_ARG}={:?}, not the intended {:?} and {:?}",
        after.issuers, after.max_token_expiration, want.issuers, want.max_token_expiration
    )
}

/// Parses the result back: every option other than the managed list items must be exactly
/// what it was, in every file.
fn verify_untouched(before: &Sources, after: &Sources, target: &Path) -> Result<(), K3sError> {
    let strip = |sources: &Sources| -> Result<Vec<(String, Vec<String>)>, K3sError> {
        let mut out = Vec::new();
        for entry in merge::entries(sources)? {
            let node = entry.value;
            let texts: Vec<String> = match &node.kind {
                crate::yaml::NodeKind::Seq { items, .. } => items
                    .iter()
                    .filter_map(|n| n.as_scalar())
                    .filter(|s| !(entry.key == APISERVER_ARG_KEY && is_managed(s)))
                    .map(String::from)
                    .collect(),
                crate::yaml::NodeKind::Scalar { value, .. } if entry.key == APISERVER_ARG_KEY => {
                    if is_managed(value) || node.is_null() {
                        Vec::new()
                    } else {
                        vec![value.clone()]
                    }
                }
                crate::yaml::NodeKind::Scalar { value, .. } => vec![value.clone()],
                crate::yaml::NodeKind::Map { .. } => vec![format!("<map at line {}>", node.line)],
            };
            let file = &sources.files[entry.file].host_path;
            let k = format!(
                "{}\u{0}{}{}",
                file.display(),
                entry.key,
                if entry.append { "+" } else { "" }
            );
            // An empty list written fresh by aio-prep has no counterpart before.
            if !(entry.key == APISERVER_ARG_KEY && texts.is_empty()) {
                out.push((k, texts));
            }
        }
        Ok(out)
    };
    let b = strip(before)?;
    let a = strip(after)?;
    if a != b {
        return Err(K3sError::EditNotVerified {
            path: target.to_path_buf(),
            message: "options other than the managed args would change".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostfile::HostFile;
    use crate::k3s::sources::Source;

    const ARC: &str = "https://eastus.oic.prod-arc.azure.com/t/c/";
    const DEF: &str = "https://kubernetes.default.svc.cluster.local";

    fn sources(files: &[(&str, Option<&str>)]) -> Sources {
        Sources {
            files: files
                .iter()
                .map(|(p, t)| {
                    let file = t.map(|t| HostFile {
                        path: PathBuf::from(p),
                        real_path: PathBuf::from(p),
                        text: t.to_string(),
                        mode: 0o600,
                        uid: 0,
                        gid: 0,
                    });
                    Source::parse(PathBuf::from(p), file).expect("parse")
                })
                .collect(),
        }
    }

    fn intent() -> Intent {
        Intent {
            issuer: ARC.into(),
            keep_previous_issuer: true,
            max_token_expiration: "24h".into(),
        }
    }

    const MAIN: &str = "/etc/rancher/k3s/config.yaml";

    #[test]
    fn config_target_edits_in_place_then_is_idempotent() {
        let s = sources(&[(MAIN, Some("# mine\nnode-name: a\n"))]);
        let p = plan(&s, &K3sFlags::default(), &intent(), Target::Config).expect("plan");
        let new = p.new_text.clone().expect("changes");
        assert!(
            new.starts_with("# mine\nnode-name: a\nkube-apiserver-arg:\n"),
            "{new}"
        );
        assert_eq!(p.after.issuers, [ARC, DEF]);
        assert_eq!(p.after.max_token_expiration.as_deref(), Some("24h"));
        let s2 = sources(&[(MAIN, Some(&new))]);
        let p2 = plan(&s2, &K3sFlags::default(), &intent(), Target::Config).expect("plan");
        assert!(!p2.changes_file());
    }

    #[test]
    fn missing_config_file_is_created() {
        let s = sources(&[(MAIN, None)]);
        let p = plan(&s, &K3sFlags::default(), &intent(), Target::Config).expect("plan");
        assert!(p.old_text.is_none());
        assert!(p
            .new_text
            .expect("new")
            .starts_with("kube-apiserver-arg:\n"));
    }

    #[test]
    fn dropin_target_writes_its_own_file() {
        let s = sources(&[(MAIN, Some("kube-apiserver-arg: [a=1]\n"))]);
        let p = plan(&s, &K3sFlags::default(), &intent(), Target::Dropin).expect("plan");
        assert_eq!(
            p.target_path,
            PathBuf::from("/etc/rancher/k3s/config.yaml.d/90-aio-prep.yaml")
        );
        assert!(p.new_text.expect("new").contains("kube-apiserver-arg+:\n"));
        assert_eq!(p.after.issuers, [ARC, DEF]);
    }

    #[test]
    fn later_plain_dropin_makes_intent_impossible() {
        let s = sources(&[
            (MAIN, Some("kube-apiserver-arg: [a=1]\n")),
            (
                "/etc/rancher/k3s/config.yaml.d/50-x.yaml",
                Some("kube-apiserver-arg: [b=2]\n"),
            ),
        ]);
        let e = plan(&s, &K3sFlags::default(), &intent(), Target::Config).expect_err("impossible");
        assert!(matches!(e, K3sError::Impossible(_)));
        assert!(e.to_string().contains("50-x.yaml:1"), "{e}");
    }

    #[test]
    fn issuer_in_another_file_is_refused() {
        let s = sources(&[
            (MAIN, Some("node-name: a\n")),
            (
                "/etc/rancher/k3s/config.yaml.d/50-x.yaml",
                Some("kube-apiserver-arg+: [service-account-issuer=https://o]\n"),
            ),
        ]);
        let e = plan(&s, &K3sFlags::default(), &intent(), Target::Config).expect_err("refused");
        assert!(
            e.to_string()
                .contains("50-x.yaml:1: service-account-issuer is set here too"),
            "{e}"
        );
    }

    #[test]
    fn execstart_apiserver_args_are_refused() {
        let s = sources(&[(MAIN, None)]);
        let flags = K3sFlags {
            kube_apiserver_args: vec!["x=1".into()],
            ..K3sFlags::default()
        };
        assert!(matches!(
            plan(&s, &flags, &intent(), Target::Config),
            Err(K3sError::Impossible(_))
        ));
    }

    #[test]
    fn previous_custom_issuer_stays_second() {
        let s = sources(&[(
            MAIN,
            Some("kube-apiserver-arg:\n  - service-account-issuer=https://old\n"),
        )]);
        let p = plan(&s, &K3sFlags::default(), &intent(), Target::Config).expect("plan");
        assert_eq!(p.after.issuers, [ARC, "https://old"]);
    }
}

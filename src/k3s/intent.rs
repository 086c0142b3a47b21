//! What kube-apiserver gets from the merged config, and what aio-prep wants it to get.

use std::collections::BTreeMap;

use super::args::{get_args, values_of};
use super::exec::K3sFlags;
use super::merge::Merged;
use super::{default_issuer, APISERVER_ARG_KEY, ISSUER_ARG, MAX_EXPIRATION_ARG};

/// The service-account settings kube-apiserver runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Every `service-account-issuer`, in order; the first signs tokens.
    pub issuers: Vec<String>,
    /// The last `service-account-max-token-expiration` (the flag is single-valued).
    pub max_token_expiration: Option<String>,
    pub cluster_domain: String,
    /// All kube-apiserver args after k3s's `GetArgs`.
    pub apiserver_args: Vec<(String, String)>,
}

pub fn effective(merged: &Merged, flags: &K3sFlags) -> Effective {
    let cluster_domain = flags
        .cluster_domain
        .clone()
        .or_else(|| {
            merged
                .get("cluster-domain")
                .and_then(|v| v.last_text())
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "cluster.local".to_string());
    let user_args: Vec<String> = if flags.kube_apiserver_args.is_empty() {
        merged
            .get(APISERVER_ARG_KEY)
            .map(|v| {
                v.items()
                    .into_iter()
                    .map(|i| i.text.trim().to_string())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        flags.kube_apiserver_args.clone()
    };
    let defaults = BTreeMap::from([(ISSUER_ARG.to_string(), default_issuer(&cluster_domain))]);
    let apiserver_args = get_args(&defaults, &user_args);
    let issuers = values_of(&apiserver_args, ISSUER_ARG)
        .into_iter()
        .map(String::from)
        .collect();
    let max_token_expiration = values_of(&apiserver_args, MAX_EXPIRATION_ARG)
        .last()
        .map(|s| s.to_string());
    Effective {
        issuers,
        max_token_expiration,
        cluster_domain,
        apiserver_args,
    }
}

/// What aio-prep was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub issuer: String,
    pub keep_previous_issuer: bool,
    pub max_token_expiration: String,
}

/// The service-account settings aio-prep wants in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub issuers: Vec<String>,
    pub max_token_expiration: String,
}

impl Desired {
    pub fn is_met_by(&self, e: &Effective) -> bool {
        e.issuers == self.issuers
            && e.max_token_expiration.as_deref() == Some(self.max_token_expiration.as_str())
    }

    /// The list items that express this state as plain `name=value` args.
    pub fn items(&self) -> Vec<String> {
        let mut items: Vec<String> = self
            .issuers
            .iter()
            .map(|i| format!("{ISSUER_ARG}={i}"))
            .collect();
        items.push(format!(
            "{MAX_EXPIRATION_ARG}={}",
            self.max_token_expiration
        ));
        items
    }
}

/// Desired issuers: ours first; then the previous signing issuer (the one first before
/// us, or the one right after us once we are first) unless the operator said not to keep
/// it; then every other issuer already accepted. Never the same URL twice.
///
/// Whether the previous signer is dropped is decided when ours becomes first: once ours
/// signs, nothing is removed. The issuer right after ours cannot be told apart from
/// another accepted one, and dropping it on every run would remove one accepted issuer per
/// apply (and restart k3s each time) instead of converging.
pub fn desired(current: &Effective, intent: &Intent) -> Desired {
    let ours = intent.issuer.as_str();
    let ours_signs = current.issuers.first().is_some_and(|f| f == ours);
    let previous = if ours_signs {
        current.issuers.get(1)
    } else {
        current.issuers.first()
    };
    let mut issuers = vec![ours.to_string()];
    if intent.keep_previous_issuer || ours_signs {
        if let Some(p) = previous.filter(|p| *p != ours) {
            issuers.push(p.clone());
        }
    }
    for i in &current.issuers {
        if Some(i) == previous || i == ours || issuers.contains(i) {
            continue;
        }
        issuers.push(i.clone());
    }
    Desired {
        issuers,
        max_token_expiration: intent.max_token_expiration.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEF: &str = "https://kubernetes.default.svc.cluster.local";
    const ARC: &str = "https://eastus.oic.prod-arc.azure.com/t/c/";

    fn eff(issuers: &[&str]) -> Effective {
        Effective {
            issuers: issuers.iter().map(|s| s.to_string()).collect(),
            max_token_expiration: None,
            cluster_domain: "cluster.local".into(),
            apiserver_args: Vec::new(),
        }
    }

    fn intent(keep: bool) -> Intent {
        Intent {
            issuer: ARC.into(),
            keep_previous_issuer: keep,
            max_token_expiration: "24h".into(),
        }
    }

    #[test]
    fn fresh_cluster_keeps_the_default_as_second() {
        assert_eq!(desired(&eff(&[DEF]), &intent(true)).issuers, [ARC, DEF]);
        assert_eq!(desired(&eff(&[DEF]), &intent(false)).issuers, [ARC]);
    }

    #[test]
    fn converged_state_is_a_fixed_point() {
        let d = desired(&eff(&[ARC, DEF]), &intent(true));
        assert_eq!(d.issuers, [ARC, DEF]);
        assert_eq!(desired(&eff(&[ARC]), &intent(false)).issuers, [ARC]);
    }

    #[test]
    fn rotation_keeps_the_old_signer_second_and_others_after() {
        let d = desired(&eff(&["https://old", DEF]), &intent(true));
        assert_eq!(d.issuers, [ARC, "https://old", DEF]);
        assert_eq!(
            desired(&eff(&[ARC, "https://old", DEF]), &intent(true)).issuers,
            d.issuers
        );
    }

    #[test]
    fn never_the_same_url_twice() {
        let d = desired(&eff(&["https://old", ARC]), &intent(true));
        assert_eq!(d.issuers, [ARC, "https://old"]);
        // A list kube-apiserver refuses (ours twice) is repaired, not taken as converged.
        for keep in [true, false] {
            assert_eq!(desired(&eff(&[ARC, ARC]), &intent(keep)).issuers, [ARC]);
        }
    }

    #[test]
    fn keep_false_drops_the_previous_signer_at_rotation_and_then_converges() {
        // At rotation the previous signer goes; other accepted issuers stay.
        let first = desired(&eff(&["https://old", DEF]), &intent(false));
        assert_eq!(first.issuers, [ARC, DEF]);
        // Once ours signs, nothing more is removed: a second apply is a no-op. (It used
        // to take the issuer after ours for the previous signer and drop it, one per run.)
        assert_eq!(
            desired(&eff(&[ARC, DEF]), &intent(false)).issuers,
            [ARC, DEF]
        );
        assert_eq!(
            desired(&eff(&[ARC, "https://old", DEF]), &intent(false)).issuers,
            [ARC, "https://old", DEF]
        );
    }

    #[test]
    fn values_are_trimmed_as_k3s_does() {
        let s = crate::k3s::merge::tests::sources(&[("/c.yaml", "kube-apiserver-arg: [\" service-account-issuer=https://x \"]\ncluster-domain: \" edge \"\n")]);
        let m = crate::k3s::merge::merge(&s).expect("merge");
        assert_eq!(effective(&m, &K3sFlags::default()).issuers, ["https://x"]);
        let s = crate::k3s::merge::tests::sources(&[("/c.yaml", "cluster-domain: \" edge \"\n")]);
        let m = crate::k3s::merge::merge(&s).expect("merge");
        assert_eq!(
            effective(&m, &K3sFlags::default()).issuers,
            ["https://kubernetes.default.svc.edge"]
        );
    }

    #[test]
    fn empty_cluster_domain_is_empty_as_k3s_passes_it() {
        // Found by fuzzing against the stand-in: `cluster-domain:` (null) is `--cluster-domain=`
        // to k3s, so its default issuer is `https://kubernetes.default.svc.`, which must be
        // the previous issuer aio-prep keeps.
        let s = crate::k3s::merge::tests::sources(&[("/c.yaml", "cluster-domain:\n")]);
        let m = crate::k3s::merge::merge(&s).expect("merge");
        assert_eq!(
            effective(&m, &K3sFlags::default()).issuers,
            ["https://kubernetes.default.svc."]
        );
    }

    #[test]
    fn effective_uses_cluster_domain_and_execstart_replaces_config() {
        let merged = Merged::default();
        let flags = K3sFlags {
            cluster_domain: Some("edge.local".into()),
            ..K3sFlags::default()
        };
        assert_eq!(
            effective(&merged, &flags).issuers,
            ["https://kubernetes.default.svc.edge.local"]
        );
        let flags = K3sFlags {
            kube_apiserver_args: vec!["service-account-issuer=https://x".into()],
            ..K3sFlags::default()
        };
        assert_eq!(effective(&merged, &flags).issuers, ["https://x"]);
    }
}

//! Long-running operations behind `Azure-AsyncOperation`, following ARM's
//! async API reference: the PUT answers with a non-terminal
//! `provisioningState` and the new properties already visible; the operation
//! resource answers 200 with `status: InProgress` for the cluster's
//! `lro_polls_before_done` polls (reads of the resource count as polls too,
//! for clients without the header), then `Succeeded`, `Failed` or `Canceled`
//! (the last two with an `error` object, and the resource's changes reverted).
//! After success the agents report `Updating` for the configured number of
//! reads, then `Succeeded`.

use serde_json::{json, Map, Value};

use crate::cluster::AgentState;
use crate::faults::FaultKind;
use crate::state::{ClusterKey, State};
use crate::util::{guid, now_secs, rfc3339};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed { code: String, message: String },
    Canceled,
}

/// The cluster as it was before the PUT, for reverting a failed operation.
#[derive(Debug, Clone)]
pub struct Previous {
    pub writable: Map<String, Value>,
    pub tags: Map<String, Value>,
    pub identity_type: String,
    pub oidc_enabled: bool,
    pub wi_enabled: bool,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub subscription: String,
    /// Normalised location (as in the operation URL).
    pub location: String,
    pub cluster: ClusterKey,
    pub polls: u32,
    pub polls_before_done: u32,
    pub outcome: Outcome,
    pub agent_never_settles: bool,
    pub done: bool,
    pub start_time: u64,
    pub end_time: Option<u64>,
    pub previous: Previous,
}

impl Operation {
    pub fn new(
        subscription: &str,
        location: &str,
        cluster: ClusterKey,
        polls_before_done: u32,
        faults: &[FaultKind],
        previous: Previous,
    ) -> Self {
        let mut outcome = Outcome::Succeeded;
        let mut agent_never_settles = false;
        for f in faults {
            match f {
                FaultKind::LroFailed { code, message } => {
                    outcome = Outcome::Failed {
                        code: code.clone(),
                        message: message.clone(),
                    }
                }
                FaultKind::LroCanceled => outcome = Outcome::Canceled,
                FaultKind::AgentNeverSettles => agent_never_settles = true,
                _ => {}
            }
        }
        Operation {
            id: guid(),
            subscription: subscription.to_string(),
            location: location.to_string(),
            cluster,
            polls: 0,
            polls_before_done,
            outcome,
            agent_never_settles,
            done: false,
            start_time: now_secs(),
            end_time: None,
            previous,
        }
    }

    /// `/subscriptions/{sub}/providers/Microsoft.Kubernetes/locations/{loc}/operationStatuses/{id}`
    pub fn path(&self) -> String {
        format!(
            "/subscriptions/{}/providers/Microsoft.Kubernetes/locations/{}/operationStatuses/{}",
            self.subscription, self.location, self.id
        )
    }

    pub fn status_text(&self) -> &'static str {
        if !self.done {
            return "InProgress";
        }
        match self.outcome {
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed { .. } => "Failed",
            Outcome::Canceled => "Canceled",
        }
    }

    /// The operation resource body.
    pub fn render(&self) -> Value {
        let mut body = json!({
            "id": self.path(),
            "name": self.id,
            "status": self.status_text(),
            "startTime": rfc3339(self.start_time),
        });
        if let Some(end) = self.end_time {
            body["endTime"] = json!(rfc3339(end));
            body["percentComplete"] = json!(100.0);
        }
        if self.done {
            match &self.outcome {
                Outcome::Succeeded => {}
                Outcome::Failed { code, message } => {
                    body["error"] = json!({"code": code, "message": message});
                }
                Outcome::Canceled => {
                    body["error"] = json!({
                        "code": "OperationCanceled",
                        "message": "The operation was canceled.",
                    });
                }
            }
        }
        body
    }
}

/// One poll of operation `id` (an operation-status GET, or a resource GET
/// while it runs). Finishes it once its in-progress polls are used up.
pub fn poll(state: &mut State, id: &str) {
    let Some(op) = state.operations.get_mut(id) else {
        return;
    };
    if op.done {
        return;
    }
    op.polls += 1;
    if op.polls > op.polls_before_done {
        finish(state, id);
    }
}

fn finish(state: &mut State, id: &str) {
    let Some(op) = state.operations.get_mut(id) else {
        return;
    };
    op.done = true;
    op.end_time = Some(now_secs());
    let op = op.clone();
    let Some(cluster) = state.clusters.get_mut(&op.cluster) else {
        return;
    };
    cluster.pending_operation = None;
    cluster.modified_at = now_secs();
    match op.outcome {
        Outcome::Succeeded => {
            cluster.provisioning_state = "Succeeded".to_string();
            cluster.issuer_url = cluster
                .oidc_enabled
                .then(|| cluster.issuer_url_when_enabled.clone());
            cluster.agent = if op.agent_never_settles {
                AgentState::NeverSettles
            } else if cluster.agent_reads_before_settled == 0 {
                AgentState::Settled
            } else {
                AgentState::Updating {
                    reads_left: cluster.agent_reads_before_settled,
                }
            };
        }
        Outcome::Failed { .. } | Outcome::Canceled => {
            cluster.provisioning_state = if op.outcome == Outcome::Canceled {
                "Canceled".to_string()
            } else {
                "Failed".to_string()
            };
            let prev = op.previous;
            cluster.writable = prev.writable;
            cluster.tags = prev.tags;
            cluster.identity_type = prev.identity_type;
            cluster.oidc_enabled = prev.oidc_enabled;
            cluster.wi_enabled = prev.wi_enabled;
            cluster.agent = AgentState::Settled;
        }
    }
}

/// A read of the cluster: advances its running operation, or its agents.
pub fn on_resource_read(state: &mut State, key: &ClusterKey) {
    let pending = state
        .clusters
        .get(key)
        .and_then(|c| c.pending_operation.clone());
    match pending {
        Some(op) => poll(state, &op),
        None => {
            if let Some(c) = state.clusters.get_mut(key) {
                c.agent_read_step();
            }
        }
    }
}

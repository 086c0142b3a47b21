//! Fault injection. A fault applies to the next `times` requests that match
//! its [`Matcher`] *and* are the kind of request the fault acts on:
//!
//! | kind | consumed by |
//! |---|---|
//! | `Status`, `CloseConnection`, `Delay` | any matching request, on either listener, before it is handled |
//! | `LroFailed`, `LroCanceled`, `AgentNeverSettles` | a matching ARM `PUT` that starts a long-running operation |
//! | `DiscoveryUnreachable` | a matching OIDC discovery (or JWKS) `GET` |
//!
//! So `Fault { matcher: Matcher::any(), kind: LroFailed{..}, times: 1 }` fails
//! the next PUT's operation even if GETs come first. Faults are tried in the
//! order they were injected; one request consumes at most one request-level
//! fault.

use std::time::Duration;

use hyper::Method;

/// Which requests a fault applies to. `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub method: Option<Method>,
    /// Substring of the request's path *and query* (so `api-version=2018-02-01`
    /// tells VM IMDS from Arc HIMDS, which share a path).
    pub path_contains: Option<String>,
}

impl Matcher {
    pub fn any() -> Self {
        Matcher::default()
    }

    pub fn path(path_contains: impl Into<String>) -> Self {
        Matcher {
            method: None,
            path_contains: Some(path_contains.into()),
        }
    }

    pub fn method_path(method: Method, path_contains: impl Into<String>) -> Self {
        Matcher {
            method: Some(method),
            path_contains: Some(path_contains.into()),
        }
    }

    pub fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path_and_query.contains(p))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status instead of handling the request. ARM requests
    /// get an ARM error body (`arm_error`, or a default code for the status)
    /// and the usual `x-ms-*` headers; other endpoints an OAuth-style body.
    Status {
        code: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u32>,
        /// `(code, message)` for the ARM error body.
        arm_error: Option<(String, String)>,
    },
    /// Read the request, then close the connection without any response.
    CloseConnection,
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// The operation started by the matching PUT ends `Failed` with this error
    /// (after its usual `InProgress` polls); the resource's changes are reverted.
    LroFailed { code: String, message: String },
    /// The operation started by the matching PUT ends `Canceled`.
    LroCanceled,
    /// After the matching PUT's operation succeeds, `arcAgentProfile.agentState`
    /// stays `Updating` for good.
    AgentNeverSettles,
    /// OIDC discovery closes the connection instead of answering.
    DiscoveryUnreachable,
}

impl FaultKind {
    /// A plain status fault: `FaultKind::status(503)`.
    pub fn status(code: u16) -> Self {
        FaultKind::Status {
            code,
            retry_after: None,
            arm_error: None,
        }
    }

    /// A status fault with `Retry-After`: `FaultKind::throttled(429, 2)`.
    pub fn throttled(code: u16, retry_after: u32) -> Self {
        FaultKind::Status {
            code,
            retry_after: Some(retry_after),
            arm_error: None,
        }
    }

    /// A status fault with an ARM error body.
    pub fn arm_error(code: u16, error_code: &str, message: &str) -> Self {
        FaultKind::Status {
            code,
            retry_after: None,
            arm_error: Some((error_code.to_string(), message.to_string())),
        }
    }

    pub(crate) fn is_request_level(&self) -> bool {
        matches!(
            self,
            FaultKind::Status { .. } | FaultKind::CloseConnection | FaultKind::Delay(_)
        )
    }

    pub(crate) fn is_lro_level(&self) -> bool {
        matches!(
            self,
            FaultKind::LroFailed { .. } | FaultKind::LroCanceled | FaultKind::AgentNeverSettles
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub matcher: Matcher,
    pub kind: FaultKind,
    /// How many matching requests it applies to.
    pub times: u32,
}

impl Fault {
    pub fn new(matcher: Matcher, kind: FaultKind, times: u32) -> Self {
        Fault {
            matcher,
            kind,
            times,
        }
    }
}

/// The injected faults still armed.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Vec<Fault>,
}

impl Faults {
    pub fn inject(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.armed.push(fault);
        }
    }

    /// Consumes one use of the first armed fault that matches the request and
    /// whose kind satisfies `wanted`.
    pub fn take(
        &mut self,
        method: &Method,
        path_and_query: &str,
        wanted: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let index = self
            .armed
            .iter()
            .position(|f| wanted(&f.kind) && f.matcher.matches(method, path_and_query))?;
        let fault = &mut self.armed[index];
        let kind = fault.kind.clone();
        fault.times -= 1;
        if fault.times == 0 {
            self.armed.remove(index);
        }
        Some(kind)
    }

    /// Like [`Faults::take`], but consumes every matching fault (one use each).
    pub fn take_all(
        &mut self,
        method: &Method,
        path_and_query: &str,
        wanted: impl Fn(&FaultKind) -> bool,
    ) -> Vec<FaultKind> {
        let mut taken = Vec::new();
        let mut skip = Vec::new();
        for (i, f) in self.armed.iter().enumerate() {
            if wanted(&f.kind)
                && f.matcher.matches(method, path_and_query)
                && !taken.iter().any(|k: &FaultKind| same_variant(k, &f.kind))
            {
                taken.push(f.kind.clone());
                skip.push(i);
            }
        }
        for &i in skip.iter().rev() {
            self.armed[i].times -= 1;
            if self.armed[i].times == 0 {
                self.armed.remove(i);
            }
        }
        taken
    }

    pub fn pending(&self) -> usize {
        self.armed.len()
    }
}

fn same_variant(a: &FaultKind, b: &FaultKind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_to_the_next_n_matching_requests() {
        let mut f = Faults::default();
        f.inject(Fault::new(
            Matcher::method_path(Method::GET, "/subscriptions/"),
            FaultKind::status(503),
            2,
        ));
        let req = |f: &mut Faults, m: Method, p: &str| f.take(&m, p, FaultKind::is_request_level);
        assert_eq!(req(&mut f, Method::PUT, "/subscriptions/x"), None);
        assert_eq!(req(&mut f, Method::GET, "/other"), None);
        assert!(req(&mut f, Method::GET, "/subscriptions/x").is_some());
        assert!(req(&mut f, Method::GET, "/subscriptions/y").is_some());
        assert_eq!(req(&mut f, Method::GET, "/subscriptions/z"), None);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn lro_faults_are_not_consumed_by_request_level_lookups() {
        let mut f = Faults::default();
        f.inject(Fault::new(Matcher::any(), FaultKind::LroCanceled, 1));
        assert_eq!(
            f.take(&Method::GET, "/x", FaultKind::is_request_level),
            None
        );
        let taken = f.take_all(&Method::PUT, "/x", FaultKind::is_lro_level);
        assert_eq!(taken, vec![FaultKind::LroCanceled]);
        assert_eq!(f.pending(), 0);
    }
}

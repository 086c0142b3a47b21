//! A small ARM client: GET and PUT of one resource, polling of long-running operations.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::auth::AccessToken;
use super::http::{retry_after, Http, Response};
use super::{arm_error, AzureError};

/// `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Kubernetes/connectedClusters/{n}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl ClusterId {
    pub fn path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Kubernetes/connectedClusters/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

pub struct Arm<'a> {
    pub http: &'a Http,
    pub endpoint: &'a str,
    pub token: &'a AccessToken,
    pub api_version: &'a str,
    /// Sent as `x-ms-correlation-request-id` on every call of this run.
    pub correlation_id: &'a str,
}

impl Arm<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}?api-version={}", self.endpoint, self.api_version)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Response, AzureError> {
        let what = format!("{method} {}", url.split('?').next().unwrap_or(url));
        let resp = self
            .http
            .send(&what, |c| {
                let mut req = c
                    .request(method.clone(), url)
                    .bearer_auth(self.token.token.expose())
                    .header("x-ms-correlation-request-id", self.correlation_id);
                if let Some(b) = body {
                    req = req.json(b);
                }
                req
            })
            .await?;
        if !(200..300).contains(&resp.status) {
            return Err(arm_error(&what, &resp));
        }
        Ok(resp)
    }

    pub async fn get(&self, path: &str) -> Result<Value, AzureError> {
        let resp = self
            .call(reqwest::Method::GET, &self.url(path), None)
            .await?;
        resp.json().ok_or_else(|| AzureError::Transport {
            what: format!("GET {path}"),
            message: "response is not JSON".into(),
        })
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Response, AzureError> {
        self.call(reqwest::Method::PUT, &self.url(path), Some(body))
            .await
    }

    /// Polls an `Azure-AsyncOperation` URL until `Succeeded`, `Failed` or `Canceled`.
    /// The URL must be on the ARM endpoint: our token goes nowhere else.
    pub async fn wait_operation(
        &self,
        url: &str,
        first_wait: Option<Duration>,
        deadline: Instant,
        poll: Duration,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), AzureError> {
        if !url.starts_with(&format!("{}/", self.endpoint)) {
            return Err(AzureError::Transport {
                what: "Azure-AsyncOperation".into(),
                message: format!("operation URL {url:?} is not on the ARM endpoint {}; refusing to send the token there", self.endpoint),
            });
        }
        let mut wait = first_wait.unwrap_or(poll);
        loop {
            if Instant::now() + wait > deadline {
                return Err(AzureError::Timeout {
                    what: "the connected cluster update".into(),
                    after: deadline.saturating_duration_since(Instant::now()) + wait,
                });
            }
            tokio::time::sleep(wait).await;
            let resp = self.call(reqwest::Method::GET, url, None).await?;
            let body = resp.json().unwrap_or(Value::Null);
            let status = body
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            progress(&status);
            match status.as_str() {
                "Succeeded" => return Ok(()),
                "Failed" | "Canceled" => {
                    let err = body.get("error");
                    let f = |k: &str| {
                        err.and_then(|e| e.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or("-")
                            .to_string()
                    };
                    return Err(AzureError::Operation {
                        status,
                        code: f("code"),
                        message: f("message"),
                    });
                }
                _ => {
                    wait = retry_after(&resp.headers)
                        .unwrap_or(poll)
                        .min(Duration::from_secs(60))
                }
            }
        }
    }
}

//! The HTTP client for Azure: rustls with the system roots plus `SSL_CERT_FILE` and
//! `[azure] ca_file`, proxies from the environment, connect and request timeouts set
//! separately, and retries (408/429/500/502/503/504 and connection errors; `Retry-After`
//! first, else bounded exponential backoff with jitter) under an overall deadline.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::AzureError;

pub const RETRYABLE: &[u16] = &[408, 429, 500, 502, 503, 504];

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max_backoff: Duration,
    /// Overall deadline for one logical call, retries included.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (0-based): the server's `Retry-After` when it
    /// gave one (capped by `max_backoff`), else base·2^attempt with ±50 % jitter.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_backoff);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        let jitter = (random_u64() % 1000) as f64 / 1000.0; // 0..1
        exp.mul_f64(0.5 + jitter)
    }
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// `Retry-After` (seconds or an HTTP date) or Azure's `retry-after-ms` / `x-ms-retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_to_unix(v)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → seconds since the epoch.
fn httpdate_to_unix(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as i64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]).ok()
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub ca_files: Vec<PathBuf>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_files: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// A response read whole (ARM and token bodies are small).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Http {
    client: reqwest::Client,
    /// For the machine's own identity endpoints (HIMDS, IMDS): never through a proxy,
    /// short timeouts.
    local: reqwest::Client,
    policy: RetryPolicy,
}

fn load_pem(path: &Path) -> Result<Vec<reqwest::Certificate>, AzureError> {
    let bytes = std::fs::read(path)
        .map_err(|e| AzureError::Config(format!("cannot read CA file {}: {e}", path.display())))?;
    reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        AzureError::Config(format!(
            "CA file {} is not PEM certificates: {e}",
            path.display()
        ))
    })
}

impl Http {
    pub fn new(opts: &HttpOptions) -> Result<Http, AzureError> {
        let mut extra = Vec::new();
        for f in &opts.ca_files {
            extra.extend(load_pem(f)?);
        }
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(opts.connect_timeout)
                .timeout(opts.request_timeout)
                .user_agent(concat!("aio-prep/", env!("CARGO_PKG_VERSION")))
        };
        let with_system_roots = if extra.is_empty() {
            builder().build()
        } else {
            builder().tls_certs_merge(extra.clone()).build()
        };
        // A minimal host may have no system CA bundle: the operator's ca_file alone is
        // then the trust store. With neither, say what to install.
        let client = match with_system_roots {
            Ok(c) => c,
            Err(e) if !extra.is_empty() => {
                tracing::debug!("system roots unavailable ({}); trusting [azure] ca_file only", chain(&e));
                builder()
                    .tls_certs_only(extra)
                    .build()
                    .map_err(|e| AzureError::Config(format!("cannot build the HTTPS client: {}", chain(&e))))?
            }
            Err(e) => {
                return Err(AzureError::Config(format!(
                    "cannot build the HTTPS client: {} (install the ca-certificates package, or set [azure] ca_file)",
                    chain(&e)
                )))
            }
        };
        // HIMDS and IMDS are plain HTTP on this machine: no TLS roots needed.
        let local = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(10))
            .tls_certs_only(Vec::new())
            .build()
            .map_err(|e| {
                AzureError::Config(format!("cannot build the local HTTP client: {}", chain(&e)))
            })?;
        Ok(Http {
            client,
            local,
            policy: opts.retry.clone(),
        })
    }

    /// Like [`Http::send`], on the local identity-endpoint client.
    pub async fn send_local(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, AzureError> {
        self.send_with(&self.local, what, build).await
    }

    /// One attempt on the local client (is an identity endpoint there at all?).
    pub async fn probe_local(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, String> {
        let resp = build(&self.local).send().await.map_err(|e| chain(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| chain(&e))?.to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (called again for each attempt), retrying what is
    /// retryable. `what` names the call in errors (never a URL with secrets: we have none).
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, AzureError> {
        self.send_with(&self.client, what, build).await
    }

    async fn send_with(
        &self,
        client: &reqwest::Client,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, AzureError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let (wait, failure) = match build(client).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    log_ids(what, status, &headers);
                    match resp.bytes().await {
                        Ok(body) => {
                            let response = Response {
                                status,
                                headers,
                                body: body.to_vec(),
                            };
                            if !RETRYABLE.contains(&status) {
                                return Ok(response);
                            }
                            (
                                retry_after(&response.headers),
                                super::arm_error(what, &response),
                            )
                        }
                        Err(e) => (
                            None,
                            AzureError::Transport {
                                what: what.to_string(),
                                message: chain(&e),
                            },
                        ),
                    }
                }
                Err(e) => (
                    None,
                    AzureError::Transport {
                        what: what.to_string(),
                        message: chain(&e),
                    },
                ),
            };
            self.retry_or(attempt, started, wait, failure, what).await?;
            attempt += 1;
        }
    }

    /// Sleeps before the next attempt, or returns the failure when out of attempts/time.
    async fn retry_or(
        &self,
        attempt: u32,
        started: Instant,
        wait: Option<Duration>,
        failure: AzureError,
        what: &str,
    ) -> Result<(), AzureError> {
        if attempt + 1 >= self.policy.max_attempts {
            return Err(failure);
        }
        let delay = self.policy.delay(attempt, wait);
        if started.elapsed() + delay > self.policy.deadline {
            return Err(failure);
        }
        tracing::info!(
            "{what}: {failure}; retrying in {}",
            crate::duration::human(delay)
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

fn log_ids(what: &str, status: u16, headers: &HeaderMap) {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    tracing::debug!(
        status,
        request_id = %get("x-ms-request-id"),
        correlation_id = %get("x-ms-correlation-request-id"),
        "{what}"
    );
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy::default();
        for attempt in 0..20 {
            let d = p.delay(attempt, None);
            assert!(d <= p.max_backoff.mul_f64(1.5), "{d:?}");
            assert!(d >= p.base.mul_f64(0.5).min(p.max_backoff), "{d:?}");
        }
        assert_eq!(
            p.delay(3, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(999))), p.max_backoff);
    }
}

//! HTTP to Juniper CSO: Keystone v3 login, the token, retries.
//!
//! - Login: `POST {url}/v3/auth/tokens` with the password method scoped to the tenant's
//!   project; the token comes back in the `X-Subject-Token` header and goes out as
//!   `X-Auth-Token`. It is cached and shared by all switches.
//! - A 401 on a call means the token expired (or was revoked): the token is renewed ONCE
//!   and the call repeated; a second 401 is an authentication failure, not something to
//!   loop on. Concurrent callers holding the same dead token renew it only once.
//! - 5xx, timeouts and connection errors are retried `max_retries` times with exponential
//!   backoff (half fixed, half random), then reported. Other 4xx are final.
//! - Writes that start work in CSO (apply, deploy) go through [`CsoClient::call_once`]: no
//!   retry, since a request that timed out or got a 5xx may still have been accepted, and a
//!   second deploy POST would start a second deploy job. Their failure is
//!   [`CsoError::into_backend_write`]: `Uncertain`, for the engine to retry the whole batch.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::backend::BackendError;
use crate::config::{CsoConfig, Secret};

const TOKEN_HEADER: &str = "x-subject-token";
const AUTH_HEADER: &str = "x-auth-token";
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsoError {
    #[error("CSO refused the login of user \"{user}\" for tenant \"{tenant}\" (HTTP {status})")]
    Login {
        user: String,
        tenant: String,
        status: u16,
    },
    #[error("CSO rejected a freshly renewed token for {what} (HTTP {status})")]
    TokenRejected { what: String, status: u16 },
    #[error("CSO answered {what} with HTTP {status} after {attempts} attempts")]
    Server {
        what: String,
        status: u16,
        attempts: u32,
    },
    #[error("CSO did not answer {what} in time ({attempts} attempts)")]
    Timeout { what: String, attempts: u32 },
    #[error("CSO unreachable for {what} ({attempts} attempts): {detail}")]
    Http {
        what: String,
        detail: String,
        attempts: u32,
    },
    #[error("CSO refused {what} (HTTP {status}): {detail}")]
    Refused {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("unexpected CSO answer to {what}: {detail}")]
    Decode { what: String, detail: String },
}

impl CsoError {
    /// For a read, or a write whose failure means it was not applied.
    pub fn into_backend(self) -> BackendError {
        let text = self.to_string();
        match self {
            CsoError::Login { .. } | CsoError::TokenRejected { .. } => BackendError::Auth(text),
            CsoError::Refused { status: 403, .. } => BackendError::Auth(text),
            CsoError::Refused { status: 404, .. } => BackendError::NotFound(text),
            CsoError::Refused { .. } => BackendError::Rejected(text),
            CsoError::Server { .. } | CsoError::Timeout { .. } | CsoError::Http { .. } => {
                BackendError::Unreachable(text)
            }
            CsoError::Decode { .. } => BackendError::Other(text),
        }
    }

    /// For a write whose request may have reached CSO before the answer was lost, or that
    /// a failing server may have acted on before answering 5xx.
    pub fn into_backend_write(self) -> BackendError {
        match self {
            CsoError::Timeout { .. } | CsoError::Http { .. } | CsoError::Server { .. } => {
                BackendError::Uncertain(self.to_string())
            }
            other => other.into_backend(),
        }
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Value),
    /// 401 with the token that was sent.
    Unauthorized(u16),
    Retry(CsoError),
    Fail(CsoError),
}

pub struct CsoClient {
    http: reqwest::Client,
    base: String,
    username: String,
    password: Secret,
    tenant: String,
    token: Mutex<Option<String>>,
    max_retries: u32,
    backoff_base: Duration,
    /// Per request, connection included.
    timeout: Duration,
}

impl CsoClient {
    pub fn new(cfg: &CsoConfig) -> Result<CsoClient, BackendError> {
        let base = cfg.url.trim_end_matches('/').to_string();
        Url::parse(&base)
            .map_err(|e| BackendError::Other(format!("backend.cso.url {:?}: {e}", cfg.url)))?;
        let password = cfg
            .password
            .clone()
            .ok_or_else(|| BackendError::Auth("backend.cso.password is not set".into()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("mesa/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Other(format!("CSO HTTP client: {e}")))?;
        Ok(CsoClient {
            http,
            base,
            username: cfg.username.clone(),
            password,
            tenant: cfg.tenant.clone(),
            token: Mutex::new(None),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn set_retries(&mut self, max_retries: u32, backoff_base: Duration) {
        self.max_retries = max_retries;
        self.backoff_base = backoff_base;
    }

    /// One API call, retried on 5xx, timeouts and connection errors: for reads and other
    /// requests safe to repeat. `path` is relative to `backend.cso.url`. An empty body
    /// answers `null`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, CsoError> {
        self.send(method, path, query, body, true).await
    }

    /// One API call sent once, for writes not safe to repeat. Only a 401 is repeated (after
    /// renewing the token): CSO refused that request, so it did nothing.
    pub async fn call_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, CsoError> {
        self.send(method, path, query, body, false).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        retry: bool,
    ) -> Result<Value, CsoError> {
        let what = format!("{method} {path}");
        let mut renewed = false;
        let mut attempt = 0u32;
        loop {
            let token = self.token().await?;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .timeout(self.timeout)
                .header(AUTH_HEADER, token.as_str());
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match attempt_once(request, &what, attempt).await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(e) => return Err(e),
                Attempt::Unauthorized(status) if renewed => {
                    tracing::error!(call = %what, "CSO rejected a renewed token");
                    return Err(CsoError::TokenRejected { what, status });
                }
                Attempt::Unauthorized(_) => {
                    tracing::info!(call = %what, "CSO token expired; renewing it once");
                    self.forget(&token).await;
                    renewed = true;
                    continue;
                }
                Attempt::Retry(e) => e,
            };
            if !retry || attempt >= self.max_retries {
                return Err(failure);
            }
            let wait = self.backoff(attempt);
            tracing::warn!(call = %what, error = %failure, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "CSO call failed, retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The cached token, after logging in when there is none.
    async fn token(&self) -> Result<String, CsoError> {
        // Held across the login: callers arriving meanwhile wait for its token.
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let token = self.login().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Drops `token` unless someone already replaced it with a newer one.
    async fn forget(&self, token: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_deref() == Some(token) {
            *cached = None;
        }
    }

    async fn login(&self) -> Result<String, CsoError> {
        let what = "POST /v3/auth/tokens".to_string();
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.username,
                "domain": {"id": "default"},
                "password": self.password.expose(),
            }}},
            "scope": {"project": {"domain": {"id": "default"}, "name": self.tenant}},
        }});
        let mut attempt = 0u32;
        loop {
            let request = self
                .http
                .post(format!("{}/v3/auth/tokens", self.base))
                .timeout(self.timeout)
                .json(&body);
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let token = response
                        .headers()
                        .get(TOKEN_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .filter(|t| !t.is_empty())
                        .map(str::to_string);
                    return token.ok_or(CsoError::Decode {
                        what,
                        detail: "no X-Subject-Token header in the login answer".into(),
                    });
                }
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ) =>
                {
                    tracing::error!(user = %self.username, tenant = %self.tenant, "CSO refused the login");
                    return Err(CsoError::Login {
                        user: self.username.clone(),
                        tenant: self.tenant.clone(),
                        status: response.status().as_u16(),
                    });
                }
                Ok(response) => match classify(response, &what, attempt).await {
                    Attempt::Retry(e) => e,
                    Attempt::Fail(e) => return Err(e),
                    Attempt::Done(_) | Attempt::Unauthorized(_) => {
                        return Err(CsoError::Decode {
                            what,
                            detail: "unexpected login answer".into(),
                        })
                    }
                },
                Err(e) => transport_error(e, &what, attempt),
            };
            if attempt >= self.max_retries {
                return Err(failure);
            }
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::delay(self.backoff_base, attempt, MAX_BACKOFF)
    }
}

async fn attempt_once(request: reqwest::RequestBuilder, what: &str, attempt: u32) -> Attempt {
    match request.send().await {
        Ok(response) => classify(response, what, attempt).await,
        Err(e) => Attempt::Retry(transport_error(e, what, attempt)),
    }
}

async fn classify(response: reqwest::Response, what: &str, attempt: u32) -> Attempt {
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        return match response.bytes().await {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Attempt::Done(Value::Null),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(value) => Attempt::Done(value),
                Err(e) => Attempt::Fail(CsoError::Decode {
                    what: what.to_string(),
                    detail: e.to_string(),
                }),
            },
            Err(e) => Attempt::Retry(transport_error(e, what, attempt)),
        };
    }
    match code {
        401 => Attempt::Unauthorized(code),
        500..=599 => Attempt::Retry(CsoError::Server {
            what: what.to_string(),
            status: code,
            attempts: attempt + 1,
        }),
        _ => {
            let text = response.text().await.unwrap_or_default();
            Attempt::Fail(CsoError::Refused {
                what: what.to_string(),
                status: code,
                detail: error_detail(&text),
            })
        }
    }
}

fn transport_error(e: reqwest::Error, what: &str, attempt: u32) -> CsoError {
    if e.is_timeout() {
        CsoError::Timeout {
            what: what.to_string(),
            attempts: attempt + 1,
        }
    } else {
        CsoError::Http {
            what: what.to_string(),
            detail: e.without_url().to_string(),
            attempts: attempt + 1,
        }
    }
}

/// Keystone and CSO errors read `{"error": {"message": ...}}`; keep it short either way.
fn error_detail(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    message
        .unwrap_or_else(|| text.to_string())
        .chars()
        .take(200)
        .collect()
}

//! Delivery: one task per destination, fed by its own bounded queue, so a slow or dead chat
//! service only ever delays its own messages. Each message is POSTed with a timeout and retried
//! with backoff on 429 (honouring `Retry-After`), 5xx, timeouts and connection errors, up to a
//! bound; then it is given up, counted and logged.
//!
//! Nothing logged here may carry the webhook URL or a token: reqwest errors are stripped of
//! their URL, and every logged reason is also scrubbed of the destination's secrets.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::message::{Message, RELAY_LABEL};
use super::{gchat, mattermost, slack, teams, webex, NotifyError, NotifyOptions};
use crate::config::{NotifyKind, Secret};
use crate::metrics::Metrics;

/// Where one `[[notify]]` entry posts, and how.
pub(crate) struct Target {
    /// `notify[2] (slack)`: how logs and errors name the destination (never by URL).
    pub name: String,
    /// The entry's configured `name`, if any (relay errors are counted per target).
    pub target: Option<String>,
    pub kind: NotifyKind,
    /// The URL POSTed to (for a Webex bot, the Messages API URL).
    pub url: Secret,
    /// Webex bot token, sent as `Authorization: Bearer`.
    pub token: Option<Secret>,
    pub room_id: Option<String>,
}

impl Target {
    fn body(&self, msg: &Message) -> Value {
        match self.kind {
            NotifyKind::Slack => slack::payload(msg),
            NotifyKind::Teams => teams::payload(msg),
            NotifyKind::Gchat => gchat::payload(msg),
            NotifyKind::Webex => webex::payload(msg, self.room_id.as_deref()),
            NotifyKind::Mattermost => mattermost::payload(msg),
        }
    }

    /// Replaces every secret of this destination (URL, its path and query, token) in `text`.
    fn redact(&self, text: &str) -> String {
        let mut secrets = vec![self.url.expose().to_string()];
        if let Ok(url) = reqwest::Url::parse(self.url.expose()) {
            let mut tail = url.path().to_string();
            if let Some(query) = url.query() {
                secrets.push(query.to_string());
                tail.push('?');
                tail.push_str(query);
            }
            secrets.push(tail);
            secrets.push(url.path().to_string());
        }
        if let Some(token) = &self.token {
            secrets.push(token.expose().to_string());
        }
        // Longest first, so a URL is replaced whole before its path is.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

/// What the delivery tasks share with the [`super::Notifications`] handle.
pub(crate) struct Shared {
    pub client: reqwest::Client,
    pub options: NotifyOptions,
    pub metrics: Metrics,
    /// Messages queued or in flight, for `flush`.
    pub pending: watch::Sender<usize>,
}

/// Starts the delivery task of one destination and returns its queue.
pub(crate) fn spawn(
    target: Target,
    shared: Arc<Shared>,
    runtime: &tokio::runtime::Handle,
) -> mpsc::Sender<Arc<Message>> {
    let (tx, rx) = mpsc::channel(shared.options.queue_capacity.max(1));
    runtime.spawn(run(target, shared, rx));
    tx
}

async fn run(target: Target, shared: Arc<Shared>, mut rx: mpsc::Receiver<Arc<Message>>) {
    let kind = super::kind_label(target.kind);
    while let Some(msg) = rx.recv().await {
        let result = deliver(&target, &shared, &msg).await;
        match result {
            Ok(attempts) => {
                shared.metrics.notification(kind, "ok");
                tracing::debug!(destination = %target.name, event_id = %msg.event_id, attempts, "notification delivered");
            }
            Err(e) => {
                shared.metrics.notification(kind, "failed");
                if let (Some(name), true) = (&target.target, msg.outcome_label == RELAY_LABEL) {
                    shared.metrics.relay().target_error(name);
                }
                tracing::error!(
                    destination = %target.name,
                    event_id = %msg.event_id,
                    error = %target.redact(&e.to_string()),
                    "notification failed; giving up"
                );
            }
        }
        shared.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Why one attempt did not deliver.
enum Failure {
    /// Worth another try, after `wait` if the receiver said how long.
    Transient {
        reason: String,
        wait: Option<Duration>,
    },
    Permanent(String),
}

/// Tries until delivered, a permanent refusal, or `max_attempts`; returns the attempts used.
async fn deliver(target: &Target, shared: &Shared, msg: &Message) -> Result<u32, NotifyError> {
    let options = &shared.options;
    let body = target.body(msg);
    let kind = super::kind_label(target.kind);
    let max_attempts = options.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match attempt_once(target, &shared.client, &body).await {
            Ok(()) => return Ok(attempt),
            Err(Failure::Permanent(reason)) => {
                return Err(NotifyError::Refused {
                    attempts: attempt,
                    reason,
                })
            }
            Err(Failure::Transient { reason, wait }) => {
                if attempt >= max_attempts {
                    return Err(NotifyError::GaveUp {
                        attempts: attempt,
                        reason,
                    });
                }
                let backoff = options
                    .initial_backoff
                    .saturating_mul(2u32.saturating_pow(attempt - 1))
                    .min(options.max_backoff);
                let wait = wait
                    .map(|w| w.min(options.max_retry_after))
                    .unwrap_or(backoff);
                shared.metrics.notification(kind, "retry");
                tracing::warn!(
                    destination = %target.name,
                    event_id = %msg.event_id,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    reason = %target.redact(&reason),
                    "notification not delivered; will retry"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

async fn attempt_once(
    target: &Target,
    client: &reqwest::Client,
    body: &Value,
) -> Result<(), Failure> {
    let mut request = client.post(target.url.expose()).json(body);
    if let Some(token) = &target.token {
        request = request.bearer_auth(token.expose());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            let reason = describe(&e);
            return Err(if e.is_builder() {
                Failure::Permanent(reason)
            } else {
                Failure::Transient { reason, wait: None }
            });
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.unwrap_or_default();
    let excerpt: String = super::escape::one_line(&text).chars().take(200).collect();
    let reason = format!("HTTP {status}: {excerpt}");
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Err(Failure::Transient {
            reason,
            wait: retry_after,
        })
    } else {
        Err(Failure::Permanent(reason))
    }
}

/// A reqwest error with its causes, without the URL (which holds the webhook secret).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut out = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_url_path_query_and_token() {
        let target = Target {
            name: "notify[0] (webex)".into(),
            target: None,
            kind: NotifyKind::Webex,
            url: Secret::new("https://chat.example/v1/spaces/AAA/messages?key=KEY123&token=TOK456"),
            token: Some(Secret::new("bot-token-789")),
            room_id: None,
        };
        let text =
            "posting to https://chat.example/v1/spaces/AAA/messages?key=KEY123&token=TOK456 \
                    or /v1/spaces/AAA/messages?key=KEY123&token=TOK456 with bot-token-789";
        let redacted = target.redact(text);
        for secret in ["KEY123", "TOK456", "bot-token-789", "spaces/AAA"] {
            assert!(!redacted.contains(secret), "{redacted}");
        }
    }
}

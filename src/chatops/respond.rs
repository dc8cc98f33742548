//! Answers that come later than the request: Slack wants a slash command acknowledged within
//! 3 s, so a command still running after `chatops.slack.ack_within` is acknowledged with a
//! short "working on it" and its answer goes to the command's `response_url`. Slack takes at
//! most 5 posts per `response_url` within 30 minutes; [`ResponseUrls`] keeps mesa inside
//! that and says so in the log when it cannot answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use super::{run, Actor, Reply};
use crate::http::AppState;

/// Slack's limits on one `response_url`.
pub const MAX_POSTS: u32 = 5;
pub const VALID_FOR: Duration = Duration::from_secs(30 * 60);

/// What the slash command's HTTP (or Socket Mode) answer carries while the work goes on.
pub const WORKING: &str = "⏳ mesa is working on it; the answer follows here.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    #[error("response_url used {MAX_POSTS} times already (Slack's limit)")]
    Exhausted,
    #[error("response_url older than 30 minutes")]
    Expired,
    #[error("response_url refused the answer")]
    Refused,
}

#[derive(Clone, Default)]
pub struct ResponseUrls {
    /// url → (first seen, posts made). Entries older than [`VALID_FOR`] are dropped.
    used: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl ResponseUrls {
    /// Counts one post to `url`; Err when Slack would refuse it.
    fn take(&self, url: &str) -> Result<(), RespondError> {
        let Ok(mut used) = self.used.lock() else {
            return Err(RespondError::Refused);
        };
        used.retain(|_, (first, _)| first.elapsed() < VALID_FOR);
        let (first, posts) = used.entry(url.to_string()).or_insert((Instant::now(), 0));
        if first.elapsed() >= VALID_FOR {
            return Err(RespondError::Expired);
        }
        if *posts >= MAX_POSTS {
            return Err(RespondError::Exhausted);
        }
        *posts += 1;
        Ok(())
    }

    /// Posts `body` to `url`, within Slack's limits.
    pub async fn post(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(), RespondError> {
        self.take(url)?;
        match http.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                tracing::warn!(status = %r.status(), "response_url refused the answer");
                Err(RespondError::Refused)
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "answer to response_url failed");
                Err(RespondError::Refused)
            }
        }
    }
}

/// Runs a slash command; the reply when it is ready `within` (the platform's `ack_within`),
/// else None: the reply is posted to `response_url` once ready (without one, it is awaited).
pub async fn in_time(
    state: &AppState,
    actor: Actor,
    text: String,
    response_url: Option<String>,
    within: Duration,
) -> Option<Reply> {
    // Its own task: it goes on after the acknowledgement (a JoinHandle is Unpin, so the
    // timeout below can poll it and hand it on).
    let mut worker = {
        let state = state.clone();
        tokio::spawn(async move { run::handle(&state, &actor, &text).await })
    };
    let Some(url) = response_url.filter(|u| !u.is_empty()) else {
        return worker.await.ok();
    };
    // Zero: always acknowledge first (a team that prefers the answer as its own message).
    let in_time = if within.is_zero() {
        None
    } else {
        tokio::time::timeout(within, &mut worker).await.ok()
    };
    match in_time {
        Some(done) => done.ok(),
        None => {
            let chatops = state.chatops.clone();
            tokio::spawn(async move {
                let reply = match worker.await {
                    Ok(reply) => reply,
                    Err(e) => Reply::ephemeral(format!("mesa could not answer: {e}")),
                };
                let mut body = reply.to_json();
                body["replace_original"] = serde_json::Value::Bool(false);
                if let Err(e) = chatops.responses.post(&chatops.http, &url, &body).await {
                    tracing::warn!(error = %e, "late answer to a slash command not delivered");
                }
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_posts_per_response_url() {
        let urls = ResponseUrls::default();
        for _ in 0..MAX_POSTS {
            assert_eq!(urls.take("https://hooks.slack.com/commands/1/2"), Ok(()));
        }
        assert_eq!(
            urls.take("https://hooks.slack.com/commands/1/2"),
            Err(RespondError::Exhausted)
        );
        assert_eq!(urls.take("https://hooks.slack.com/commands/1/3"), Ok(()));
    }
}

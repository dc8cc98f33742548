//! Slack Socket Mode: `/mesa` without a public URL. mesa asks Slack for a WebSocket URL
//! (`POST apps.connections.open` with the app-level token, `chatops.slack.app_token`), opens
//! it and receives envelopes `{envelope_id, type, payload}`: `slash_commands` (the same
//! fields a slash command POST has) and `interactive` (the Confirm / Cancel presses). Each is
//! acknowledged by sending `{"envelope_id"}` back within 3 s; a slash command's answer rides
//! on the acknowledgement as its `payload` (or goes to `response_url` when the command takes
//! longer, as over HTTP). There is no signature: only Slack holds the URL the app-level token
//! opened, so the connection itself is the trust. Commands, roles and the audit are those of
//! the HTTP endpoints.
//!
//! Slack greets each connection with `hello`, and announces its end with `disconnect`
//! (`refresh_requested` every few hours, `warning`, `link_disabled`): mesa opens a new
//! connection then, and after any loss, with backoff.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::respond::{self, WORKING};
use super::slack::{Interaction, SlashCommand};
use super::Reply;
use crate::config::Secret;
use crate::http::AppState;

/// Backoff between connections: from this, doubling, up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("apps.connections.open: {0}")]
    Open(String),
    #[error("apps.connections.open refused: {0}")]
    Refused(String),
    #[error("WebSocket: {0}")]
    Socket(String),
}

/// One frame from Slack.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    envelope_id: Option<String>,
    #[serde(default)]
    payload: serde_json::Value,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Opened {
    ok: bool,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// Slack asked for a new connection (`disconnect`): open one at once.
    Refresh(String),
    Lost(String),
}

/// Starts Socket Mode when `chatops.slack.app_token` is set; runs until aborted.
pub fn spawn(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let token = state.config.chatops.slack.app_token.clone()?;
    // The TLS provider of the WebSocket client (as the Mist stream does).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Some(tokio::spawn(run(state, token)))
}

async fn run(state: AppState, token: Secret) {
    let mut failures = 0u32;
    loop {
        let ended = match open(&state, &token).await {
            Ok(url) => session(&state, &url, &mut failures).await,
            Err(e) => Ended::Lost(e.to_string()),
        };
        match ended {
            Ended::Refresh(reason) => {
                tracing::info!(reason, "Slack Socket Mode: new connection asked for");
            }
            Ended::Lost(why) => {
                failures = failures.saturating_add(1);
                let wait = crate::backoff::delay(RECONNECT_MIN, failures, RECONNECT_MAX);
                tracing::warn!(error = %why, retry_in = ?wait, "Slack Socket Mode connection lost");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// `apps.connections.open`: a fresh WebSocket URL for this app.
async fn open(state: &AppState, token: &Secret) -> Result<String, SocketError> {
    let url = format!(
        "{}/apps.connections.open",
        state.config.chatops.slack.api_url.trim_end_matches('/')
    );
    let response = state
        .chatops
        .http
        .post(&url)
        .bearer_auth(token.expose())
        .timeout(HANDSHAKE_TIMEOUT)
        .send()
        .await
        .map_err(|e| SocketError::Open(e.without_url().to_string()))?;
    let status = response.status();
    let opened: Opened = response
        .json()
        .await
        .map_err(|e| SocketError::Open(format!("HTTP {status}: {}", e.without_url())))?;
    match (opened.ok, opened.url) {
        (true, Some(url)) => Ok(url),
        _ => Err(SocketError::Refused(
            opened.error.unwrap_or_else(|| format!("HTTP {status}")),
        )),
    }
}

async fn session(state: &AppState, url: &str, failures: &mut u32) -> Ended {
    let connected =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(url)).await;
    let ws = match connected {
        Err(_) => return Ended::Lost("handshake timed out".into()),
        Ok(Err(e)) => return Ended::Lost(SocketError::Socket(e.to_string()).to_string()),
        Ok(Ok((ws, _))) => ws,
    };
    let (mut sink, mut frames) = ws.split();
    // Acks come from the envelope tasks; the socket is written here only.
    let (acks, mut outgoing) = mpsc::unbounded_channel::<serde_json::Value>();
    loop {
        tokio::select! {
            Some(ack) = outgoing.recv() => {
                if let Err(e) = sink.send(Message::text(ack.to_string())).await {
                    return Ended::Lost(format!("ack not sent: {e}"));
                }
            }
            frame = frames.next() => match frame {
                None => return Ended::Lost("Slack closed the connection".into()),
                Some(Err(e)) => return Ended::Lost(e.to_string()),
                Some(Ok(Message::Close(_))) => return Ended::Lost("Slack closed the connection".into()),
                Some(Ok(Message::Text(text))) => {
                    let frame = match serde_json::from_str::<Frame>(text.as_str()) {
                        Ok(frame) => frame,
                        Err(e) => {
                            tracing::warn!(error = %e, "Slack Socket Mode frame not understood; ignored");
                            continue;
                        }
                    };
                    match frame.kind.as_str() {
                        "hello" => {
                            *failures = 0;
                            tracing::info!("Slack Socket Mode connected");
                        }
                        "disconnect" => {
                            let reason = frame.reason.unwrap_or_else(|| "unknown".into());
                            let _ = sink.close().await;
                            if reason == "link_disabled" {
                                // Socket Mode was turned off in the app's settings.
                                return Ended::Lost("Socket Mode disabled for this Slack app (link_disabled)".into());
                            }
                            return Ended::Refresh(reason);
                        }
                        _ => envelope(state, frame, acks.clone()),
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Handles one envelope in its own task, so a slow command does not hold up the others.
fn envelope(state: &AppState, frame: Frame, acks: mpsc::UnboundedSender<serde_json::Value>) {
    let Some(id) = frame.envelope_id else {
        tracing::debug!(
            kind = frame.kind,
            "Slack Socket Mode frame without envelope ignored"
        );
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        let ack = |payload: Option<serde_json::Value>| {
            let mut ack = serde_json::json!({ "envelope_id": id });
            if let Some(payload) = payload {
                ack["payload"] = payload;
            }
            let _ = acks.send(ack);
        };
        match frame.kind.as_str() {
            "slash_commands" => {
                let command: SlashCommand = match serde_json::from_value(frame.payload) {
                    Ok(command) => command,
                    Err(e) => {
                        tracing::warn!(error = %e, "Socket Mode slash command not understood");
                        return ack(None);
                    }
                };
                let actor = command.actor();
                let reply = respond::in_time(
                    &state,
                    actor,
                    command.text,
                    command.response_url,
                    state.config.chatops.slack.ack_within.get(),
                )
                .await;
                let reply = reply.unwrap_or_else(|| Reply::ephemeral(WORKING));
                ack(Some(reply.to_json()));
            }
            "interactive" => {
                ack(None);
                let Some(key) = super::slack::seal_key(&state.config.chatops).cloned() else {
                    return;
                };
                match serde_json::from_value::<Interaction>(frame.payload) {
                    Ok(interaction) => {
                        if let Err(e) = super::slack::pressed(&state, &key, interaction).await {
                            tracing::warn!(reason = %e, "Socket Mode button press refused");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "Socket Mode interaction not understood"),
                }
            }
            // Events API and others: mesa subscribes to none; acknowledged so Slack does not
            // send them again.
            _ => ack(None),
        }
    });
}

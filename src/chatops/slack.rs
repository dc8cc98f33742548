//! Slack slash commands (`POST /chatops/slack/commands`). Every request is signed with the
//! app's signing secret: `X-Slack-Signature` = `v0=` + hex HMAC-SHA256 of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`. mesa checks it in constant time, refuses a
//! timestamp more than 5 minutes from now and a signature it has already seen (401), then
//! answers within Slack's 3 s from the store.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::replay::WINDOW;
use super::{Actor, Platform, Reply};
use crate::http::AppState;
use crate::ingest::{error, rejected_body};

pub const SIGNATURE: &str = "x-slack-signature";
pub const TIMESTAMP: &str = "x-slack-request-timestamp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlackAuthError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp")]
    Missing,
    #[error("request timestamp more than 5 minutes from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
    #[error("request already received")]
    Replayed,
}

impl SlackAuthError {
    pub fn label(self) -> &'static str {
        match self {
            SlackAuthError::Missing => "missing-signature",
            SlackAuthError::Stale => "stale-timestamp",
            SlackAuthError::Mismatch => "bad-signature",
            SlackAuthError::Replayed => "replayed",
        }
    }
}

/// `v0=<hex>` for `body` sent at `timestamp` (tests, and the Socket Mode fake).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks the signature headers against the raw body, at `now` (epoch seconds).
pub fn verify(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), SlackAuthError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) = (header(TIMESTAMP), header(SIGNATURE)) else {
        return Err(SlackAuthError::Missing);
    };
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SlackAuthError::Stale)?;
    if now.abs_diff(sent) > WINDOW.as_secs() {
        return Err(SlackAuthError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h.trim()).ok())
        .ok_or(SlackAuthError::Mismatch)?;
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret)
        .map_err(|_| SlackAuthError::Mismatch)?;
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SlackAuthError::Mismatch)
}

/// The fields of a slash command mesa uses (Slack sends more).
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    #[serde(default)]
    pub response_url: Option<String>,
}

impl SlashCommand {
    pub fn actor(&self) -> Actor {
        Actor {
            platform: Platform::Slack,
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone().filter(|n| !n.is_empty()),
            places: places([&self.team_id, &self.channel_id, &self.enterprise_id]),
        }
    }
}

/// The non-empty ids among `ids`.
pub fn places<const N: usize>(ids: [&Option<String>; N]) -> Vec<String> {
    ids.into_iter()
        .flatten()
        .filter(|id| !id.is_empty())
        .cloned()
        .collect()
}

pub async fn commands(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(secret) = &state.config.chatops.slack.signing_secret else {
        return error(
            StatusCode::NOT_FOUND,
            "Slack commands are off (chatops.slack.signing_secret)",
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return rejected_body(rejection),
    };
    if let Some(refused) = authenticate(&state, secret.expose(), &headers, &body) {
        return refused;
    }
    let command: SlashCommand = match serde_urlencoded::from_bytes(&body) {
        Ok(command) => command,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a slash command: {e}")),
    };
    let actor = command.actor();
    let within = state.config.chatops.slack.ack_within.get();
    match super::respond::in_time(&state, actor, command.text, command.response_url, within).await {
        Some(reply) => Json(reply.to_json()).into_response(),
        None => Json(Reply::ephemeral(super::respond::WORKING).to_json()).into_response(),
    }
}

/// Signature, timestamp window and replay; the 401 answer when one fails (None: accepted).
fn authenticate(
    state: &AppState,
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let now = crate::clock::now().timestamp();
    let checked = verify(secret.as_bytes(), headers, body, now).and_then(|()| {
        let signature = headers
            .get(SIGNATURE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if state.chatops.replay.first_time(signature) {
            Ok(())
        } else {
            Err(SlackAuthError::Replayed)
        }
    });
    checked.err().map(|e| {
        state
            .metrics
            .chatops_command(Platform::Slack.as_str(), "-", e.label());
        tracing::warn!(reason = e.label(), "Slack request refused");
        error(StatusCode::UNAUTHORIZED, e.to_string())
    })
}

/// The fields of a `block_actions` interaction mesa uses.
#[derive(Debug, Deserialize)]
pub struct Interaction {
    pub user: InteractionUser,
    #[serde(default)]
    pub team: Option<Place>,
    #[serde(default)]
    pub channel: Option<Place>,
    #[serde(default)]
    pub enterprise: Option<Place>,
    #[serde(default)]
    pub actions: Vec<InteractionAction>,
    pub response_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct InteractionUser {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
}

/// A team, channel or org of an interaction (`{"id": ...}`; Slack sends `null` for none).
#[derive(Debug, Deserialize)]
pub struct Place {
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct InteractionAction {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// `POST /chatops/slack/interactions`: the Confirm / Cancel buttons. Acknowledged at once;
/// the change runs afterwards and its outcome goes to the interaction's `response_url`.
pub async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(secret) = state.config.chatops.slack.signing_secret.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "Slack commands are off (chatops.slack.signing_secret)",
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return rejected_body(rejection),
    };
    if let Some(refused) = authenticate(&state, secret.expose(), &headers, &body) {
        return refused;
    }
    let form: std::collections::HashMap<String, String> =
        serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(interaction) = form
        .get("payload")
        .and_then(|p| serde_json::from_str::<Interaction>(p).ok())
    else {
        return error(StatusCode::BAD_REQUEST, "not a Slack interaction payload");
    };
    match pressed(&state, &secret, interaction).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(refused) => error(StatusCode::UNAUTHORIZED, refused.to_string()),
    }
}

/// Why a button press was refused (401 over HTTP, a log line over Socket Mode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PressRefused {
    #[error("this button was shown to someone else")]
    OtherUser,
    #[error("{0}")]
    Seal(#[from] super::confirm::ConfirmError),
}

/// The key of the Slack Confirm buttons' seal: the signing secret, or the app-level token
/// when mesa is reached over Socket Mode only.
pub fn seal_key(config: &crate::config::ChatopsConfig) -> Option<&crate::config::Secret> {
    config
        .slack
        .signing_secret
        .as_ref()
        .or(config.slack.app_token.as_ref())
}

/// A Confirm / Cancel press, once the request is known to come from Slack (signature over
/// HTTP, the app-level token's connection over Socket Mode). The change runs afterwards; its
/// outcome goes to the interaction's `response_url`.
pub async fn pressed(
    state: &AppState,
    secret: &crate::config::Secret,
    interaction: Interaction,
) -> Result<(), PressRefused> {
    let place = |p: &Option<Place>| p.as_ref().and_then(|p| p.id.clone());
    let actor = Actor {
        platform: Platform::Slack,
        user_id: interaction.user.id.clone(),
        user_name: interaction.user.username.clone().filter(|n| !n.is_empty()),
        places: places([
            &place(&interaction.team),
            &place(&interaction.channel),
            &place(&interaction.enterprise),
        ]),
    };
    let Some(action) = interaction.actions.first() else {
        return Ok(());
    };
    let respond = |reply: serde_json::Value| {
        let (chatops, url) = (state.chatops.clone(), interaction.response_url.clone());
        async move {
            let Some(url) = url else { return };
            // A failure is logged by `post`; the change itself is in the audit either way.
            let _ = chatops.responses.post(&chatops.http, &url, &reply).await;
        }
    };
    if action.action_id == "mesa_cancel" {
        tokio::spawn(respond(serde_json::json!({
            "replace_original": true,
            "text": format!("Cancelled by {}; nothing changed.", actor.label()),
        })));
        return Ok(());
    }
    let now = crate::clock::now().timestamp();
    let sealed = action.value.as_deref().unwrap_or_default();
    let pending = match super::confirm::open(secret.expose().as_bytes(), sealed, now) {
        Ok(pending) if pending.user_id == actor.user_id => pending,
        Ok(_) => {
            state
                .metrics
                .chatops_command("slack", "confirm", "other-user");
            tracing::warn!(actor = %actor.label(), "Confirm pressed by someone it was not shown to");
            return Err(PressRefused::OtherUser);
        }
        Err(e) => {
            state
                .metrics
                .chatops_command("slack", "confirm", "tampered");
            tracing::warn!(actor = %actor.label(), reason = %e, "Confirm refused");
            return Err(e.into());
        }
    };
    let command = match pending.profile {
        crate::model::Profile::Ap => "apply",
        crate::model::Profile::Secured => "revert",
    };
    // The role is checked again: it may have been taken away since the button was shown.
    let role = super::roles::resolve(&state.chatops, &state.config.chatops, &actor).await;
    if role < Some(super::roles::Role::Admin) {
        state.metrics.chatops_command("slack", command, "refused");
        tokio::spawn(respond(serde_json::json!({
            "replace_original": true,
            "text": format!("`{command}` needs the admin role"),
        })));
        return Ok(());
    }
    let engine = state.chatops.engine.clone();
    let metrics = state.metrics.clone();
    let (chatops, url) = (state.chatops.clone(), interaction.response_url.clone());
    tokio::spawn(async move {
        let decision = engine
            .manual_change(
                &pending.switch,
                &pending.port,
                pending.profile,
                &actor.label(),
            )
            .await;
        metrics.chatops_command("slack", command, "done");
        tracing::info!(actor = %actor.label(), command, outcome = %decision.outcome.summary(), "chat command");
        let text = format!(
            "{} asked to {command} `{} {}`: {}",
            actor.label(),
            pending.switch,
            pending.port,
            decision.outcome.summary()
        );
        if let Some(url) = url {
            let reply = serde_json::json!({
                "response_type": "in_channel",
                "replace_original": true,
                "text": text,
            });
            let _ = chatops.responses.post(&chatops.http, &url, &reply).await;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example from Slack's "Verifying requests from Slack" guide.
    #[test]
    fn slack_documented_example() {
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        assert_eq!(
            sign(secret, "1531420618", body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}

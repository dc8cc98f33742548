//! Mattermost slash commands (`POST /chatops/mattermost/commands`). Mattermost sends the
//! command's token as `Authorization: Token <token>` and as the form field `token`; mesa
//! compares it in constant time with `chatops.mattermost.command_token` (401 otherwise).
//! A command still running after `chatops.mattermost.ack_within` is acknowledged with
//! "working on it" and answered through the command's `response_url`.
//! Button presses (`POST /chatops/mattermost/actions`) are not signed by Mattermost: the
//! button's `context` carries mesa's own seal ([`super::confirm`], key
//! `chatops.mattermost.action_secret`), checked along with the presser.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{Actor, Platform, Reply};
use crate::http::AppState;
use crate::ingest::{error, rejected_body, same_secret};

#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    #[serde(default)]
    pub token: Option<String>,
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
    pub response_url: Option<String>,
}

pub async fn commands(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(expected) = &state.config.chatops.mattermost.command_token else {
        return error(
            StatusCode::NOT_FOUND,
            "Mattermost commands are off (chatops.mattermost.command_token)",
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return rejected_body(rejection),
    };
    let command: Option<SlashCommand> = serde_urlencoded::from_bytes(&body).ok();
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "));
    let given = from_header.or(command.as_ref().and_then(|c| c.token.as_deref()));
    if !given.is_some_and(|t| same_secret(t.trim(), expected.expose())) {
        state
            .metrics
            .chatops_command(Platform::Mattermost.as_str(), "-", "bad-token");
        tracing::warn!("Mattermost command refused: token missing or wrong");
        return error(StatusCode::UNAUTHORIZED, "command token missing or wrong");
    }
    let Some(command) = command else {
        return error(StatusCode::BAD_REQUEST, "not a slash command");
    };
    let actor = Actor {
        platform: Platform::Mattermost,
        places: super::slack::places([&command.team_id, &command.channel_id]),
        user_id: command.user_id,
        user_name: command.user_name.filter(|n| !n.is_empty()),
    };
    let within = state.config.chatops.mattermost.ack_within.get();
    match super::respond::in_time(&state, actor, command.text, command.response_url, within).await {
        Some(reply) => Json(reply.to_json()).into_response(),
        None => Json(Reply::ephemeral(super::respond::WORKING).to_json()).into_response(),
    }
}

/// The body Mattermost posts when a message button is pressed (fields mesa uses).
#[derive(Debug, Deserialize)]
pub struct ActionPress {
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub context: serde_json::Value,
}

fn update(text: String) -> Response {
    Json(serde_json::json!({ "update": { "message": text, "props": { "attachments": [] } } }))
        .into_response()
}

pub async fn actions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(secret) = state.config.chatops.mattermost.action_secret.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "Mattermost buttons are off (chatops.mattermost.action_secret)",
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return rejected_body(rejection),
    };
    let Ok(press) = serde_json::from_slice::<ActionPress>(&body) else {
        return error(StatusCode::BAD_REQUEST, "not a Mattermost action");
    };
    let actor = Actor {
        platform: Platform::Mattermost,
        user_id: press.user_id.clone(),
        user_name: press.user_name.clone().filter(|n| !n.is_empty()),
        // Mattermost does not sign a press: its team and channel fields are not evidence.
        places: Vec::new(),
    };
    if press.context["cancel"] == serde_json::Value::Bool(true) {
        return update(format!("Cancelled by {}; nothing changed.", actor.label()));
    }
    let sealed = press.context["sealed"].as_str().unwrap_or_default();
    let now = crate::clock::now().timestamp();
    let pending = match super::confirm::open(secret.expose().as_bytes(), sealed, now) {
        Ok(pending) if pending.user_id == actor.user_id => pending,
        Ok(_) => {
            state
                .metrics
                .chatops_command("mattermost", "confirm", "other-user");
            return error(
                StatusCode::UNAUTHORIZED,
                "this button was shown to someone else",
            );
        }
        Err(e) => {
            state
                .metrics
                .chatops_command("mattermost", "confirm", "tampered");
            tracing::warn!(actor = %actor.label(), reason = %e, "Confirm refused");
            return error(StatusCode::UNAUTHORIZED, e.to_string());
        }
    };
    let command = match pending.profile {
        crate::model::Profile::Ap => "apply",
        crate::model::Profile::Secured => "revert",
    };
    let role = super::roles::resolve(&state.chatops, &state.config.chatops, &actor).await;
    if role < Some(super::roles::Role::Admin) {
        state
            .metrics
            .chatops_command("mattermost", command, "refused");
        return update(format!("`{command}` needs the admin role"));
    }
    let decision = state
        .chatops
        .engine
        .manual_change(
            &pending.switch,
            &pending.port,
            pending.profile,
            &actor.label(),
        )
        .await;
    state.metrics.chatops_command("mattermost", command, "done");
    update(format!(
        "{} asked to {command} `{} {}`: {}",
        actor.label(),
        pending.switch,
        pending.port,
        decision.outcome.summary()
    ))
}

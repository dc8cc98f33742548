//! Mattermost slash commands (`POST /chatops/mattermost/commands`). Mattermost sends the
//! command's token as `Authorization: Token <token>` and as the form field `token`; mesa
//! compares it in constant time with `chatops.mattermost.command_token` (401 otherwise).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{run, Actor, Platform};
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
        user_id: command.user_id,
        user_name: command.user_name.filter(|n| !n.is_empty()),
    };
    let reply = run::handle(&state, &actor, &command.text).await;
    Json(reply.to_json()).into_response()
}

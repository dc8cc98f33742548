//! `POST server.webhook_path`: Mist device-events. Order of checks: size (413, enforced by
//! the body limit before this runs), signature (401), shape of the body as a whole (400),
//! then each event on its own (unusable ones skipped and counted, the rest kept), durable
//! journal append (503 if the store cannot take it, so the sender retries) and 200 with
//! the counts and the reason of every skipped event. Every verified body, whatever its
//! topic, is also offered to the `[[relay]]` rules (`crate::relay`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error;
use super::payload::{self, PayloadError};
use super::signature::{self, HEADER_SHA1, HEADER_V2};
use crate::http::AppState;

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &state.metrics;
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return super::rejected_body(rejection),
    };
    if let Some(secret) = &state.config.mist.webhook_secret {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Err(e) = signature::verify(
            secret.expose().as_bytes(),
            &body,
            header(HEADER_V2),
            header(HEADER_SHA1),
            state.config.mist.accept_sha1,
        ) {
            metrics.event_rejected("signature");
            tracing::warn!(reason = %e, "webhook refused: bad signature");
            return error(StatusCode::UNAUTHORIZED, e.to_string());
        }
    }
    let parsed = match payload::parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            metrics.event_rejected(match e {
                PayloadError::NotJson(_) => "not-json",
                PayloadError::NotWebhook(_) => "not-webhook",
            });
            tracing::warn!(reason = %e, "webhook refused: bad body");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    for ignored in &parsed.ignored {
        metrics.event_ignored(ignored.label());
    }
    for skipped in &parsed.skipped {
        metrics.event_skipped(skipped.reason.label());
        tracing::warn!(reason = %skipped, "webhook event skipped; the others of the body are kept");
    }
    let skipped: Vec<String> = parsed.skipped.iter().map(|s| s.to_string()).collect();
    let ids: Vec<String> = parsed.events.iter().map(|e| e.id.clone()).collect();
    let journaled = state.journal.accept(parsed.events).await;
    // After the journal has the AP events, and never waiting: the relay's queue is bounded
    // and a full one drops (counted) rather than slowing provisioning.
    state.relay.offer_body(&body);
    match journaled {
        Ok(accepted) => {
            if accepted.new > 0 {
                tracing::info!(events = ?ids, new = accepted.new, duplicates = accepted.duplicates, "webhook accepted");
            }
            (
                StatusCode::OK,
                Json(json!({
                    "accepted": accepted.new,
                    "duplicates": accepted.duplicates,
                    "ignored": parsed.ignored.len(),
                    "skipped": skipped,
                })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook not journaled");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal unavailable, retry later",
            )
        }
    }
}

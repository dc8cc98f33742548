//! `POST external.path`: a NAC system (or any script) names a switch port directly, as the
//! seed's MESA allowed: `{"switch_mac", "switch_port", "type"}` with `X-ClientApiKey`. The
//! event then runs through the same journal, guards and backend as a Mist webhook.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{error, same_secret};
use crate::http::AppState;
use crate::model::{ApEvent, EventKind, InterfaceName, KnownPort, Mac, Source};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Trigger {
    switch_mac: String,
    switch_port: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    ap_mac: Option<String>,
    #[serde(default)]
    ap_name: Option<String>,
}

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
    let expected = state
        .config
        .external
        .api_key
        .as_ref()
        .map(|k| k.expose().to_string());
    let given = headers.get("x-clientapikey").and_then(|v| v.to_str().ok());
    match (expected, given) {
        (Some(expected), Some(given)) if same_secret(given, &expected) => {}
        _ => {
            metrics.event_rejected("api-key");
            return error(StatusCode::UNAUTHORIZED, "missing or wrong X-ClientApiKey");
        }
    }
    let trigger: Trigger = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => {
            metrics.event_rejected("bad-external");
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"switch_mac\", \"switch_port\", \"type\"}}: {e}"),
            );
        }
    };
    let kind = match trigger.kind.as_str() {
        "AP_CONNECTED" | "connected" | "connect" => EventKind::ApConnected,
        "AP_DISCONNECTED" | "disconnected" | "disconnect" => EventKind::ApDisconnected,
        other => {
            metrics.event_rejected("bad-external");
            return error(
                StatusCode::BAD_REQUEST,
                format!("type {other:?}: expected AP_CONNECTED or AP_DISCONNECTED"),
            );
        }
    };
    let parsed = (|| {
        let switch_mac = Mac::parse(&trigger.switch_mac).map_err(|e| format!("switch_mac: {e}"))?;
        let port =
            InterfaceName::parse(&trigger.switch_port).map_err(|e| format!("switch_port: {e}"))?;
        let ap_mac = trigger
            .ap_mac
            .as_deref()
            .map(Mac::parse)
            .transpose()
            .map_err(|e| format!("ap_mac: {e}"))?;
        Ok::<_, String>((switch_mac, port, ap_mac))
    })();
    let (switch_mac, port, ap_mac) = match parsed {
        Ok(p) => p,
        Err(reason) => {
            metrics.event_rejected("bad-external");
            return error(StatusCode::BAD_REQUEST, reason);
        }
    };
    let now = crate::clock::now();
    let event = ApEvent {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        // Without an AP the event is about the port alone (its own lane and flap count);
        // the switch MAC stands in where the audit wants a device.
        ap_mac: ap_mac.clone().unwrap_or_else(|| switch_mac.clone()),
        ap_name: trigger.ap_name,
        org_id: state
            .config
            .external
            .org_id
            .clone()
            .or_else(|| state.config.mist.org_id.clone()),
        site_id: String::new(),
        site_name: None,
        timestamp: now.into(),
        source: Source::External,
        received_at: now,
        known_port: Some(KnownPort {
            switch_mac: Some(switch_mac),
            port: port.to_string(),
            port_only: ap_mac.is_none(),
            recorded: None,
        }),
    };
    let id = event.id.clone();
    match state.journal.accept(vec![event]).await {
        Ok(accepted) => (
            StatusCode::OK,
            Json(json!({"accepted": accepted.new, "event_id": id})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "external trigger not journaled");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal unavailable, retry later",
            )
        }
    }
}

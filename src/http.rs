//! The HTTP face of mesa: the ingest routes, health and readiness, Prometheus metrics, and a
//! small read-only JSON API over the store. Plain HTTP, or HTTPS with rustls when
//! `server.tls_cert` / `server.tls_key` are set (the certificate is re-read on SIGHUP).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::config::Config;
use crate::ingest::{self, error, same_secret};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::readiness;
use crate::store::Store;

/// Webhook bodies above this are refused with 413 before they are read whole.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub journal: Journal,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub chatops: crate::chatops::ChatOps,
    pub relay: crate::relay::Relay,
    /// Sessions of the status page (`/ui/`).
    pub ui: crate::ui::Sessions,
}

pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/ports", get(ports))
        .route("/api/v1/events", get(events))
        .route("/api/v1/holds", get(holds));
    // `ingest.mode = "stream"`: Mist is not meant to POST here; a stray POST gets a 404.
    if state.config.ingest.mode.uses_webhook() {
        app = app.route(
            &state.config.server.webhook_path,
            post(ingest::webhook::receive),
        );
    }
    app = crate::chatops::routes(app);
    // The status page: `/` and `/ui/...`.
    app = crate::ui::routes(app);
    if state.config.external.enabled {
        app = app.route(&state.config.external.path, post(ingest::external::receive));
    }
    app.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(state)
}

/// 200 `ready` when provisioning can work; 200 `{"status":"degraded","reasons":[...]}` when
/// it works with something missing; 503 `{"status":"not-ready","reasons":[...]}` when no event
/// can succeed (store unusable, no Mist token). Reasons read `key: why`.
async fn readyz(State(state): State<AppState>) -> Response {
    let gaps = readiness::gaps(&state.config);
    let mut reasons: Vec<String> = gaps.iter().map(|g| g.to_string()).collect();
    let mut blocked = readiness::blocked(&gaps);
    if let Err(e) = state.store.ping().await {
        reasons.insert(0, format!("store unusable: {e}"));
        blocked = true;
    }
    if state.config.ingest.mode.uses_stream() {
        // Stream only: no event arrives while it is down. Both: the webhook still delivers.
        let only_source = state.config.ingest.mode == crate::config::IngestMode::Stream;
        let stream = state.metrics.stream();
        let down = match stream.connections() {
            None => Some("ingest.stream: Mist stream site list not read yet".to_string()),
            Some((open, needed)) if open < needed => Some(format!(
                "ingest.stream: {open} of {needed} Mist stream connections open"
            )),
            Some(_) => None,
        };
        if let Some(reason) = down {
            reasons.push(reason);
            blocked |= only_source;
        }
    }
    let (status, label) = match (blocked, reasons.is_empty()) {
        (false, true) => return (StatusCode::OK, "ready").into_response(),
        (false, false) => (StatusCode::OK, "degraded"),
        (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "not-ready"),
    };
    (
        status,
        Json(serde_json::json!({ "status": label, "reasons": reasons })),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.config.server.api_token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given, token.expose()))
}

async fn ports(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "bearer token required");
    }
    match state.store.ports().await {
        Ok(ports) => Json(ports).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    limit: Option<u32>,
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "bearer token required");
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    match state.store.recent_decisions(limit).await {
        Ok(decisions) => Json(decisions).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Maintenance holds in force now.
async fn holds(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "bearer token required");
    }
    match crate::maintenance::all_active(state.store.as_ref()).await {
        Ok(holds) => Json(holds).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS certificate or key unusable: {0}")]
    Tls(std::io::Error),
    #[error("server stopped: {0}")]
    Io(std::io::Error),
}

/// Serves until the process ends. `bound` receives the real address (port 0 in tests).
pub async fn serve(
    state: AppState,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), ServeError> {
    let addr: SocketAddr = state
        .config
        .server
        .listen
        .parse()
        .map_err(|_| ServeError::Bind {
            addr: ([0, 0, 0, 0], 0).into(),
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener.set_nonblocking(true).map_err(ServeError::Io)?;
    let local = listener.local_addr().map_err(ServeError::Io)?;
    let tls = match (&state.config.server.tls_cert, &state.config.server.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => None,
    };
    let app = router(state).into_make_service();
    if let Some(tx) = bound {
        let _ = tx.send(local);
    }
    match tls {
        None => {
            tracing::info!(%local, "listening (http)");
            let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Io)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(stop_requested())
                .await
                .map_err(ServeError::Io)
        }
        Some((cert, key)) => {
            // reqwest and axum-server pull in both rustls crypto backends; without a choice
            // rustls refuses to build a config. Already installed is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(ServeError::Tls)?;
            spawn_reload_on_sighup(rustls.clone(), cert, key);
            tracing::info!(%local, "listening (https)");
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                stop_requested().await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener, rustls)
                .handle(handle)
                .serve(app)
                .await
                .map_err(ServeError::Io)
        }
    }
}

/// SIGTERM (`docker stop`) or Ctrl-C: stop taking webhooks and let answers in flight finish.
/// The engine is drained after this (`App::drain`).
async fn stop_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("stop requested: no new webhooks; draining in-flight decisions");
}

/// Certificates are renewed (ACME, internal CA) without restarting mesa: `kill -HUP`.
fn spawn_reload_on_sighup(
    rustls: axum_server::tls_rustls::RustlsConfig,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
) {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            match rustls.reload_from_pem_file(&cert, &key).await {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate reload failed; keeping the old one")
                }
            }
        }
    });
}

//! Ingest from the Mist WebSocket stream (`ingest.mode = "stream"` or `"both"`): mesa dials
//! out to `wss://api-ws.<cloud>/api-ws/v1/stream` with the API token, so it needs no public
//! URL, certificate or inbound firewall opening.
//!
//! - [`subscription`]: the endpoint, the sites (configured, else the org's), channels spread
//!   over connections within `channels_per_connection`;
//! - [`connection`]: one WebSocket each, subscribe, ping, reconnect with backoff and jitter;
//! - [`message`]: frames and AP stats decoded (`data` as a JSON string or an object,
//!   partial messages);
//! - [`tracker`] and [`hub`]: new LLDP ports become `AP_CONNECTED`, silence confirmed by REST
//!   becomes `AP_DISCONNECTED`, both through the journal, engine and guards like a webhook;
//! - [`catchup`]: a reconcile of the sites whose connection had a gap;
//! - [`metrics`]: `mesa_stream_*`, and the connection state `/readyz` reports.

pub mod catchup;
pub mod connection;
pub mod hub;
pub mod message;
pub mod metrics;
pub mod subscription;
pub mod tracker;

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub use metrics::StreamMetrics;

use crate::app::App;
use connection::{Link, Timing};
use hub::Hub;

/// First wait after the site list could not be read (doubling, up to five minutes).
const SITES_RETRY: Duration = Duration::from_secs(5);

/// Starts the stream: the hub, one connection per group of channels, and (sites from the
/// org) a periodic re-read of the site list. Aborting the handle stops all of it.
pub fn spawn(app: App) -> JoinHandle<()> {
    tokio::spawn(supervise(app))
}

async fn supervise(app: App) {
    let Some(mist) = app.mist.clone() else {
        tracing::error!(
            "ingest.mode uses the stream but mist.api_token is not set: stream not started"
        );
        return;
    };
    let url = match subscription::endpoint(&app.config) {
        Ok(url) => url,
        Err(e) => {
            tracing::error!(error = %e, "Mist stream URL: stream not started");
            return;
        }
    };
    let token = app
        .config
        .mist
        .api_token
        .as_ref()
        .map(|t| HeaderValue::from_str(&format!("Token {}", t.expose())));
    let Some(Ok(mut auth)) = token else {
        tracing::error!("mist.api_token is not a valid HTTP header value: stream not started");
        return;
    };
    auth.set_sensitive(true);
    // wss:// goes through rustls; mesa's crypto provider is ring (already installed is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = &app.config.ingest.stream;
    let metrics = app.metrics.stream().clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    tasks.spawn(Hub::new(app.clone(), tx.clone(), rx).run());

    let ignored = &app.config.mist.ignored_sites;
    let mut watched: BTreeSet<String> = BTreeSet::new();
    let mut connections = 0;
    let mut failures = 0;
    loop {
        let sites = match subscription::sites(&app.config, &mist).await {
            Ok(sites) => sites,
            Err(e) => {
                let wait = crate::backoff::delay(SITES_RETRY, failures, Duration::from_secs(300));
                failures += 1;
                tracing::warn!(error = %e, "Mist stream: cannot read the org's sites; trying again in {}", humantime::format_duration(wait));
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        failures = 0;
        let new: Vec<String> = sites
            .into_iter()
            .filter(|s| !ignored.contains(s) && !watched.contains(s))
            .collect();
        for channels in subscription::plan(&new, cfg.channels_per_connection) {
            tasks.spawn(
                Link {
                    id: connections,
                    url: url.clone(),
                    auth: auth.clone(),
                    channels,
                    timing: Timing::from_config(cfg),
                    hub: tx.clone(),
                    metrics: metrics.clone(),
                }
                .run(),
            );
            connections += 1;
        }
        if !new.is_empty() {
            tracing::info!(
                url = %url,
                new_sites = new.len(),
                sites = watched.len() + new.len(),
                connections,
                "Mist stream: subscribing"
            );
        }
        watched.extend(new);
        metrics.planned(connections);
        if !subscription::refreshes(&app.config) {
            // The tasks run until this task is aborted, which drops them with the set.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(cfg.site_refresh.get()).await;
    }
}

//! The relay: every Mist webhook topic (`alarms`, `audits`, `device-updowns`,
//! `device-events` of every device type, `mxedge-events`, any other read generically) passed
//! on to chat by `[[relay]]` rules. It runs beside provisioning and never in its way: the
//! webhook handler hands each verified body over a bounded queue with `try_send` (full:
//! dropped and counted), after the journal has the AP events, and the relay's one task reads
//! it; nothing here touches the journal.
//!
//! - [`config`]: the `[[relay]]` keys and their validation;
//! - [`event`]: webhook bodies of any topic → [`RelayEvent`] (unknown fields kept);
//! - [`rule`]: matching on topic, type globs, severity, site, device type;
//! - [`dedupe`], [`group`], [`limit`]: duplicates once, storms as one summary, a cap per rule;
//! - [`render`]: the platform-neutral message (the notify layer renders each platform);
//! - [`worker`]: the task tying them together;
//! - [`sample`]: `mesa relay test --rule NAME`;
//! - [`metrics`]: the `mesa_relay_*` counters.

pub mod config;
pub mod dedupe;
pub mod event;
pub mod group;
pub mod limit;
pub mod metrics;
pub mod render;
pub mod rule;
pub mod sample;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use config::{validate, RelayRuleConfig};
pub use event::RelayEvent;
pub use metrics::RelayMetrics;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::Notifications;

/// The handle the webhook handler offers events to. Cheap to clone; does nothing without
/// `[[relay]]` rules.
#[derive(Clone, Default)]
pub struct Relay {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: mpsc::Sender<worker::Body>,
    flushes: mpsc::UnboundedSender<oneshot::Sender<()>>,
    metrics: RelayMetrics,
}

impl Relay {
    /// Starts the relay task when rules exist; needs a running tokio runtime.
    pub fn start(config: &Config, notify: Notifications, metrics: &Metrics) -> Relay {
        if config.relay.is_empty() {
            return Relay::default();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("relay disabled: started outside a tokio runtime");
            return Relay::default();
        };
        let rules: Vec<rule::Rule> = config.relay.iter().map(rule::Rule::from_config).collect();
        let (queue, bodies) = mpsc::channel(config.ingest.relay_queue.max(1));
        let (flushes, flush_rx) = mpsc::unbounded_channel();
        let relay_metrics = metrics.relay().clone();
        let worker = worker::Worker {
            limits: rules
                .iter()
                .map(|r| limit::RateLimit::new(r.max_per_minute))
                .collect(),
            held: vec![Vec::new(); rules.len()],
            rules,
            seen: dedupe::Seen::new(config.ingest.relay_dedupe.get()),
            groups: group::Groups::default(),
            notify,
            metrics: relay_metrics.clone(),
            portal: crate::notify::message::dashboard_base(&config.mist.api_url),
        };
        runtime.spawn(worker.run(bodies, flush_rx));
        Relay {
            inner: Some(Arc::new(Inner {
                queue,
                flushes,
                metrics: relay_metrics,
            })),
        }
    }

    /// Queues a verified webhook body for the rules; never blocks and never parses (the
    /// worker reads it, off the request path). A full queue drops the body, counted.
    pub fn offer_body(&self, body: &axum::body::Bytes) {
        let Some(inner) = &self.inner else { return };
        if inner
            .queue
            .try_send((body.clone(), crate::clock::now()))
            .is_err()
        {
            inner.metrics.queue_dropped();
            tracing::warn!(
                "relay queue full (ingest.relay_queue): a webhook body is not relayed; provisioning unaffected"
            );
        }
    }

    /// Sends what groups still hold (shutdown), waiting at most `timeout`.
    pub async fn flush(&self, timeout: Duration) {
        let Some(inner) = &self.inner else { return };
        let (done, wait) = oneshot::channel();
        if inner.flushes.send(done).is_ok() {
            let _ = tokio::time::timeout(timeout, wait).await;
        }
    }

    pub fn is_active(&self) -> bool {
        self.inner.is_some()
    }
}

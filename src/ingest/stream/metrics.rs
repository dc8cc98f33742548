//! The stream's numbers: connections and channels up (also what `/readyz` reports), messages
//! by kind, reconnects, seconds without a connection (the gaps a catch-up covers), silence
//! checks and catch-ups.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

#[derive(Clone, Default)]
pub struct StreamMetrics {
    connections_planned: Gauge,
    connections_up: Gauge,
    channels_up: Gauge,
    messages: Family<Labels, Counter>,
    reconnects: Counter,
    gap_seconds: Counter<f64, AtomicU64>,
    silence_checks: Family<Labels, Counter>,
    catchups: Counter,
    /// False until the site list was read once: "no connection planned" means "not yet".
    sites_known: Arc<AtomicBool>,
}

impl StreamMetrics {
    /// Registers the stream families under `mesa_stream_*`.
    pub fn register(registry: &mut Registry) -> StreamMetrics {
        let m = StreamMetrics::default();
        let r = registry.sub_registry_with_prefix("stream");
        r.register(
            "connections_planned",
            "WebSocket connections the site list needs",
            m.connections_planned.clone(),
        );
        r.register(
            "connections",
            "WebSocket connections open to the Mist stream",
            m.connections_up.clone(),
        );
        r.register(
            "channels",
            "Stream channels subscribed",
            m.channels_up.clone(),
        );
        r.register(
            "messages",
            "Stream frames received, by kind",
            m.messages.clone(),
        );
        r.register(
            "reconnects",
            "Stream connections re-opened after a loss or a refused handshake",
            m.reconnects.clone(),
        );
        r.register(
            "gap_seconds",
            "Seconds between a lost stream connection and its return",
            m.gap_seconds.clone(),
        );
        r.register(
            "silence_checks",
            "Silent APs checked by REST, by result",
            m.silence_checks.clone(),
        );
        r.register(
            "catchups",
            "Reconciles run to catch up after a stream gap",
            m.catchups.clone(),
        );
        m
    }

    pub fn planned(&self, connections: usize) {
        self.connections_planned
            .set(i64::try_from(connections).unwrap_or(i64::MAX));
        self.sites_known.store(true, Ordering::SeqCst);
    }

    pub fn connection_up(&self) {
        self.connections_up.inc();
    }

    pub fn connection_down(&self) {
        self.connections_up.dec();
    }

    pub fn channel_up(&self) {
        self.channels_up.inc();
    }

    pub fn channels_down(&self, n: usize) {
        self.channels_up
            .dec_by(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn message(&self, kind: &str) {
        self.messages
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .inc();
    }

    pub fn reconnect(&self) {
        self.reconnects.inc();
    }

    pub fn gap(&self, seconds: f64) {
        self.gap_seconds.inc_by(seconds);
    }

    pub fn silence_check(&self, result: &str) {
        self.silence_checks
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc();
    }

    pub fn catchup(&self) {
        self.catchups.inc();
    }

    /// `(open, needed)` connections; `None` before the site list was read.
    pub fn connections(&self) -> Option<(i64, i64)> {
        self.sites_known
            .load(Ordering::SeqCst)
            .then(|| (self.connections_up.get(), self.connections_planned.get()))
    }

    pub fn channels(&self) -> i64 {
        self.channels_up.get()
    }

    pub fn reconnects_total(&self) -> u64 {
        self.reconnects.get()
    }

    pub fn gap_seconds_total(&self) -> f64 {
        self.gap_seconds.get()
    }
}

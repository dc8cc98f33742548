//! The relay's numbers under `mesa_relay_*`: per rule matched, sent, grouped and dropped
//! (with the reason); events received by topic, dropped at the queue, duplicates; delivery
//! errors per named target.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[derive(Clone, Default)]
pub struct RelayMetrics {
    received: Family<Labels, Counter>,
    queue_dropped: Counter,
    duplicates: Counter,
    matched: Family<Labels, Counter>,
    sent: Family<Labels, Counter>,
    grouped: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
    target_errors: Family<Labels, Counter>,
}

impl RelayMetrics {
    pub fn register(registry: &mut Registry) -> RelayMetrics {
        let m = RelayMetrics::default();
        let r = registry.sub_registry_with_prefix("relay");
        r.register(
            "received",
            "Webhook events read by the relay, by topic",
            m.received.clone(),
        );
        r.register(
            "queue_dropped",
            "Webhook bodies not relayed because the relay queue was full",
            m.queue_dropped.clone(),
        );
        r.register(
            "duplicates",
            "Events delivered again (org + site webhooks) and relayed once",
            m.duplicates.clone(),
        );
        r.register("matched", "Events matched, by rule", m.matched.clone());
        r.register(
            "sent",
            "Messages handed to a chat target, by rule",
            m.sent.clone(),
        );
        r.register(
            "grouped",
            "Events folded into a summary message, by rule",
            m.grouped.clone(),
        );
        r.register(
            "dropped",
            "Messages or events not sent, by rule and reason (rate-limit overflow, group-full, target-queue-full)",
            m.dropped.clone(),
        );
        r.register(
            "target_errors",
            "Relay messages a chat target refused or never answered, by target",
            m.target_errors.clone(),
        );
        m
    }

    pub fn received(&self, topic: &str) {
        self.received
            .get_or_create(&labels(&[("topic", topic)]))
            .inc();
    }

    pub fn queue_dropped(&self) {
        self.queue_dropped.inc();
    }

    pub fn queue_dropped_total(&self) -> u64 {
        self.queue_dropped.get()
    }

    pub fn duplicate(&self) {
        self.duplicates.inc();
    }

    pub fn matched(&self, rule: &str) {
        self.matched.get_or_create(&labels(&[("rule", rule)])).inc();
    }

    pub fn sent(&self, rule: &str) {
        self.sent.get_or_create(&labels(&[("rule", rule)])).inc();
    }

    pub fn grouped(&self, rule: &str, events: u64) {
        self.grouped
            .get_or_create(&labels(&[("rule", rule)]))
            .inc_by(events);
    }

    pub fn dropped(&self, rule: &str, reason: &str) {
        self.dropped
            .get_or_create(&labels(&[("rule", rule), ("reason", reason)]))
            .inc();
    }

    pub fn dropped_n(&self, rule: &str, reason: &str, events: u64) {
        self.dropped
            .get_or_create(&labels(&[("rule", rule), ("reason", reason)]))
            .inc_by(events);
    }

    pub fn target_error(&self, target: &str) {
        self.target_errors
            .get_or_create(&labels(&[("target", target)]))
            .inc();
    }

    /// Errors of one target so far (`mesa relay test` reports them).
    pub fn target_errors(&self, target: &str) -> u64 {
        self.target_errors
            .get_or_create(&labels(&[("target", target)]))
            .get()
    }
}

//! Prometheus counters for everything a person would graph or alert on. One [`Metrics`] per
//! running mesa, cloned into every stage; `/metrics` renders it in the text format.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::mist::budget::Budget;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    events_received: Family<Labels, Counter>,
    events_ignored: Family<Labels, Counter>,
    events_rejected: Family<Labels, Counter>,
    events_duplicate: Counter,
    events_skipped: Family<Labels, Counter>,
    events_parked: Counter,
    store_pruned: Family<Labels, Counter>,
    decisions: Family<Labels, Counter>,
    guard_verdicts: Family<Labels, Counter>,
    mist_api_calls: Family<Labels, Counter>,
    backend_batches: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
    pipeline_seconds: Histogram,
    mist_budget: Arc<Budget>,
    mist_api_calls_last_hour: Gauge,
    mist_api_budget_remaining: Gauge,
    mist_api_budget_per_hour: Gauge,
    stream: crate::ingest::stream::StreamMetrics,
    chatops_commands: Family<Labels, Counter>,
    relay: crate::relay::RelayMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mesa");
        let events_received = Family::<Labels, Counter>::default();
        let events_ignored = Family::<Labels, Counter>::default();
        let events_rejected = Family::<Labels, Counter>::default();
        let events_duplicate = Counter::default();
        let decisions = Family::<Labels, Counter>::default();
        let guard_verdicts = Family::<Labels, Counter>::default();
        let mist_api_calls = Family::<Labels, Counter>::default();
        let backend_batches = Family::<Labels, Counter>::default();
        let notifications = Family::<Labels, Counter>::default();
        let pipeline_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let events_skipped = Family::<Labels, Counter>::default();
        let events_parked = Counter::default();
        registry.register(
            "events_parked",
            "Events parked as failed after journal.max_attempts unfinished runs",
            events_parked.clone(),
        );
        let store_pruned = Family::<Labels, Counter>::default();
        registry.register(
            "store_pruned_rows",
            "Rows removed by the store.retention prune, by table",
            store_pruned.clone(),
        );
        registry.register(
            "events_skipped",
            "Unusable events skipped in otherwise accepted webhook bodies, by reason",
            events_skipped.clone(),
        );
        registry.register(
            "events_received",
            "AP events accepted, by type",
            events_received.clone(),
        );
        registry.register(
            "events_ignored",
            "Webhook events ignored, by reason",
            events_ignored.clone(),
        );
        registry.register(
            "events_rejected",
            "Requests rejected, by reason",
            events_rejected.clone(),
        );
        registry.register(
            "events_duplicate",
            "Duplicate deliveries dropped",
            events_duplicate.clone(),
        );
        registry.register("decisions", "Decisions, by outcome", decisions.clone());
        registry.register(
            "guard_verdicts",
            "Guard verdicts, by guard and verdict",
            guard_verdicts.clone(),
        );
        registry.register(
            "mist_api_calls",
            "Mist API calls, by endpoint and status",
            mist_api_calls.clone(),
        );
        registry.register(
            "backend_batches",
            "Switch change batches, by backend and result",
            backend_batches.clone(),
        );
        registry.register(
            "notifications",
            "Chat notifications, by kind and result",
            notifications.clone(),
        );
        registry.register(
            "pipeline_seconds",
            "Time from event accepted to decision recorded",
            pipeline_seconds.clone(),
        );
        let mist_api_calls_last_hour = Gauge::default();
        let mist_api_budget_remaining = Gauge::default();
        let mist_api_budget_per_hour = Gauge::default();
        registry.register(
            "mist_api_calls_last_hour",
            "Mist API calls sent in the last hour (the token's budget is hourly)",
            mist_api_calls_last_hour.clone(),
        );
        registry.register(
            "mist_api_budget_remaining",
            "Mist API calls left in the hour's budget (0 while Mist answers 429)",
            mist_api_budget_remaining.clone(),
        );
        registry.register(
            "mist_api_budget_per_hour",
            "Mist API calls allowed per hour (mist.hourly_budget)",
            mist_api_budget_per_hour.clone(),
        );
        let stream = crate::ingest::stream::StreamMetrics::register(&mut registry);
        let chatops_commands = Family::<Labels, Counter>::default();
        registry.register(
            "chatops_commands",
            "Chat commands, by platform, command and result (done, refused, unauthenticated)",
            chatops_commands.clone(),
        );
        let relay = crate::relay::RelayMetrics::register(&mut registry);
        Metrics {
            inner: Arc::new(Inner {
                relay,
                chatops_commands,
                registry,
                events_received,
                events_ignored,
                events_rejected,
                events_duplicate,
                decisions,
                guard_verdicts,
                mist_api_calls,
                backend_batches,
                notifications,
                pipeline_seconds,
                events_skipped,
                events_parked,
                store_pruned,
                mist_budget: Arc::new(Budget::default()),
                mist_api_calls_last_hour,
                mist_api_budget_remaining,
                mist_api_budget_per_hour,
                stream,
            }),
        }
    }

    pub fn event_received(&self, kind: &str) {
        self.inner
            .events_received
            .get_or_create(&labels(&[("type", kind)]))
            .inc();
    }

    pub fn event_ignored(&self, reason: &str) {
        self.inner
            .events_ignored
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    pub fn event_rejected(&self, reason: &str) {
        self.inner
            .events_rejected
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    pub fn event_duplicate(&self) {
        self.inner.events_duplicate.inc();
    }

    pub fn decision(&self, outcome: &str, seconds: f64) {
        self.inner
            .decisions
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
        self.inner.pipeline_seconds.observe(seconds);
    }

    pub fn guard_verdict(&self, guard: &str, proceed: bool) {
        let verdict = if proceed { "proceed" } else { "hold" };
        self.inner
            .guard_verdicts
            .get_or_create(&labels(&[("guard", guard), ("verdict", verdict)]))
            .inc();
    }

    pub fn mist_api_call(&self, endpoint: &str, status: &str) {
        self.inner
            .mist_api_calls
            .get_or_create(&labels(&[("endpoint", endpoint), ("status", status)]))
            .inc();
    }

    /// Total Mist API calls so far (benchmarks and tests count calls per event with it).
    pub fn mist_api_calls_total(&self) -> u64 {
        let text = self.render();
        text.lines()
            .filter(|l| l.starts_with("mesa_mist_api_calls_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    pub fn backend_batch(&self, backend: &str, result: &str) {
        self.inner
            .backend_batches
            .get_or_create(&labels(&[("backend", backend), ("result", result)]))
            .inc();
    }

    pub fn notification(&self, kind: &str, result: &str) {
        self.inner
            .notifications
            .get_or_create(&labels(&[("kind", kind), ("result", result)]))
            .inc();
    }

    pub fn event_skipped(&self, reason: &str) {
        self.inner
            .events_skipped
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    pub fn event_parked(&self) {
        self.inner.events_parked.inc();
    }

    pub fn store_pruned(&self, table: &str, rows: u64) {
        self.inner
            .store_pruned
            .get_or_create(&labels(&[("table", table)]))
            .inc_by(rows);
    }

    /// The hourly Mist call budget every Mist client using these metrics spends from.
    pub fn mist_budget(&self) -> Arc<Budget> {
        self.inner.mist_budget.clone()
    }

    /// The Mist WebSocket stream's numbers (`mesa_stream_*`).
    pub fn stream(&self) -> &crate::ingest::stream::StreamMetrics {
        &self.inner.stream
    }

    /// The `[[relay]]` numbers (`mesa_relay_*`).
    pub fn relay(&self) -> &crate::relay::RelayMetrics {
        &self.inner.relay
    }

    /// Prometheus text exposition format.
    pub fn chatops_command(&self, platform: &str, command: &str, result: &str) {
        self.inner
            .chatops_commands
            .get_or_create(&labels(&[
                ("platform", platform),
                ("command", command),
                ("result", result),
            ]))
            .inc();
    }

    pub fn render(&self) -> String {
        // The hour slides without calls too: read the budget at scrape time.
        let budget = &self.inner.mist_budget;
        let gauge = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.inner.mist_api_calls_last_hour, budget.used());
        gauge(&self.inner.mist_api_budget_remaining, budget.remaining());
        gauge(
            &self.inner.mist_api_budget_per_hour,
            u64::from(budget.per_hour()),
        );
        let mut out = String::new();
        if encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }
}

//! Announces decisions in chat. The engine calls [`Notifications::publish`], which never
//! blocks and never fails: delivery happens on its own task with its own retries.
//!
//! - [`message`]: one platform-neutral [`Message`] per [`Decision`] (outcome, reason and
//!   numbers, site, switch, ports, AP, backend, diff, Mist dashboard link);
//! - [`route`]: which `[[notify]]` entries get a decision (severity, outcomes, sites);
//! - [`queue`]: one delivery task and bounded queue per entry, timeouts, retries;
//! - [`slack`], [`teams`], [`gchat`], [`webex`], [`mattermost`]: each platform's payload;
//! - [`escape`]: escaping user text for each dialect;
//! - [`feed`]: every published decision, broadcast in-process (the status page's live view).

pub mod escape;
pub mod feed;
pub mod gchat;
pub mod mattermost;
pub mod message;
mod queue;
pub mod route;
pub mod slack;
pub mod teams;
pub mod webex;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::{NotifyConfig, NotifyKind, Secret};
use crate::metrics::Metrics;
use crate::model::Decision;

pub use message::Message;
pub use route::Route;

/// Why a notification was not delivered (logged and counted, never returned to the engine).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotifyError {
    #[error("refused after {attempts} attempt(s): {reason}")]
    Refused { attempts: u32, reason: String },
    #[error("gave up after {attempts} attempt(s): {reason}")]
    GaveUp { attempts: u32, reason: String },
}

/// Why [`Notifications::send_to`] could not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no started [[notify]] entry has this name")]
    UnknownTarget,
    #[error("the target's queue is full")]
    QueueFull,
    #[error("the target's delivery task stopped")]
    Stopped,
}

/// Delivery tuning; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Messages waiting per destination; beyond it new ones are dropped (and counted).
    pub queue_capacity: usize,
    /// Whole request, connect to end of response body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per message, the first included.
    pub max_attempts: u32,
    /// Wait after the first failure, doubled each time up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Cap on a receiver's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            queue_capacity: 1_000,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// The engine's handle on every configured destination. Cheap to clone; delivery tasks stop
/// once every clone is dropped and their queues are drained.
#[derive(Clone, Default)]
pub struct Notifications {
    inner: Option<Arc<Inner>>,
    /// Every published decision, for in-process listeners (the status page).
    feed: feed::DecisionFeed,
}

struct Inner {
    dashboard: Option<String>,
    destinations: Vec<Destination>,
    shared: Arc<queue::Shared>,
}

struct Destination {
    name: String,
    /// The entry's `name`, by which `[[relay]]` rules send to it.
    target: Option<String>,
    /// Whether decisions and notices go here (`decisions = false`: relay messages only).
    decisions: bool,
    kind: NotifyKind,
    route: Route,
    queue: mpsc::Sender<Arc<Message>>,
}

impl Notifications {
    /// No destinations: `publish` does nothing.
    pub fn none() -> Notifications {
        Notifications::default()
    }

    /// Starts one delivery task per entry; needs a running tokio runtime (without one, or with
    /// no usable entry, this logs why and returns [`Notifications::none`]). `mist_api_url` gives
    /// the dashboard for AP links (api.eu.mist.com → manage.eu.mist.com).
    pub fn new(entries: &[NotifyConfig], mist_api_url: &str, metrics: Metrics) -> Notifications {
        Notifications::with_options(entries, mist_api_url, metrics, NotifyOptions::default())
    }

    pub fn with_options(
        entries: &[NotifyConfig],
        mist_api_url: &str,
        metrics: Metrics,
        options: NotifyOptions,
    ) -> Notifications {
        if entries.is_empty() {
            return Notifications::none();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("notifications disabled: started outside a tokio runtime");
            return Notifications::none();
        };
        let client = match reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("mesa/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e.without_url(), "notifications disabled: cannot build HTTP client");
                return Notifications::none();
            }
        };
        let (pending, _) = watch::channel(0usize);
        let shared = Arc::new(queue::Shared {
            client,
            options,
            metrics,
            pending,
        });
        let mut destinations = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let name = format!("notify[{i}] ({})", kind_label(entry.kind));
            let Some(target) = target(&name, entry) else {
                continue;
            };
            destinations.push(Destination {
                name,
                target: entry.name.clone(),
                decisions: entry.decisions,
                kind: entry.kind,
                route: Route::from_config(entry),
                queue: queue::spawn(target, shared.clone(), &runtime),
            });
        }
        if destinations.is_empty() {
            return Notifications::none();
        }
        Notifications {
            inner: Some(Arc::new(Inner {
                dashboard: message::dashboard_base(mist_api_url),
                destinations,
                shared,
            })),
            feed: feed::DecisionFeed::default(),
        }
    }

    /// Decisions as they are published, for listeners in this process.
    pub fn feed(&self) -> &feed::DecisionFeed {
        &self.feed
    }

    /// Queues the decision for every destination whose route accepts it. Never blocks, never
    /// fails, callable from sync and async code; a full queue drops the message (counted as
    /// `dropped` and logged).
    pub fn publish(&self, decision: &Decision) {
        self.feed.send(decision);
        let Some(inner) = &self.inner else { return };
        let mut msg: Option<Arc<Message>> = None;
        for dest in inner
            .destinations
            .iter()
            .filter(|d| d.decisions && d.route.accepts(decision))
        {
            let msg = msg
                .get_or_insert_with(|| {
                    Arc::new(Message::from_decision(decision, inner.dashboard.as_deref()))
                })
                .clone();
            inner.shared.pending.send_modify(|n| *n += 1);
            if let Err(e) = dest.queue.try_send(msg) {
                inner
                    .shared
                    .pending
                    .send_modify(|n| *n = n.saturating_sub(1));
                inner
                    .shared
                    .metrics
                    .notification(kind_label(dest.kind), "dropped");
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "delivery task stopped",
                };
                tracing::warn!(
                    destination = %dest.name,
                    event_id = %decision.event.id,
                    "notification dropped: {why}"
                );
            }
        }
    }

    /// Queues a notice about mesa itself ([`Message::notice`]) for every destination whose
    /// route accepts its severity and label. Never blocks, never fails.
    pub fn publish_notice(&self, notice: Message) {
        let (severity, label) = (notice.severity, notice.outcome_label);
        self.queue_where(notice, |route| route.accepts_notice(severity, label));
    }

    /// Queues a message that is not a decision (a maintenance hold set, released or
    /// expired) for every destination whose site filter accepts `site_id`; severity and
    /// outcome filters apply to decisions only. Never blocks, like [`Notifications::publish`].
    pub fn announce(&self, site_id: &str, headline: String, detail: String) {
        let message = Message::announcement(site_id, headline, detail);
        self.queue_where(message, |route| route.accepts_site(site_id));
    }

    /// Queues `message` for the destinations whose route `accepts` it; a full queue drops it
    /// for that destination (counted), never blocking the caller.
    fn queue_where(&self, message: Message, accepts: impl Fn(&Route) -> bool) {
        let Some(inner) = &self.inner else { return };
        let message = Arc::new(message);
        for dest in inner
            .destinations
            .iter()
            .filter(|d| d.decisions && accepts(&d.route))
        {
            inner.shared.pending.send_modify(|n| *n += 1);
            if dest.queue.try_send(message.clone()).is_err() {
                inner
                    .shared
                    .pending
                    .send_modify(|n| *n = n.saturating_sub(1));
                inner
                    .shared
                    .metrics
                    .notification(kind_label(dest.kind), "dropped");
                tracing::warn!(destination = %dest.name, "notice dropped: {}", message.headline);
            }
        }
    }

    /// Queues `message` for the entry named `target` (its `name`), whatever its route says:
    /// the `[[relay]]` rule already chose it. Never blocks.
    pub fn send_to(&self, target: &str, message: Arc<Message>) -> Result<(), SendError> {
        let Some(inner) = &self.inner else {
            return Err(SendError::UnknownTarget);
        };
        let Some(dest) = inner
            .destinations
            .iter()
            .find(|d| d.target.as_deref() == Some(target))
        else {
            return Err(SendError::UnknownTarget);
        };
        inner.shared.pending.send_modify(|n| *n += 1);
        match dest.queue.try_send(message) {
            Ok(()) => Ok(()),
            Err(e) => {
                inner
                    .shared
                    .pending
                    .send_modify(|n| *n = n.saturating_sub(1));
                inner
                    .shared
                    .metrics
                    .notification(kind_label(dest.kind), "dropped");
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => SendError::QueueFull,
                    mpsc::error::TrySendError::Closed(_) => SendError::Stopped,
                })
            }
        }
    }

    /// Waits until every queued message is delivered or given up, at most `timeout`. True when
    /// nothing is left (`mesa replay` and tests call it before exiting / asserting).
    pub async fn flush(&self, timeout: Duration) -> bool {
        let Some(inner) = &self.inner else {
            return true;
        };
        let mut rx = inner.shared.pending.subscribe();
        let drained = tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await;
        matches!(drained, Ok(Ok(_)))
    }

    /// Number of destinations that were started.
    pub fn destinations(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.destinations.len())
    }
}

/// The label used in metrics and logs.
pub fn kind_label(kind: NotifyKind) -> &'static str {
    match kind {
        NotifyKind::Slack => "slack",
        NotifyKind::Teams => "teams",
        NotifyKind::Gchat => "gchat",
        NotifyKind::Webex => "webex",
        NotifyKind::Mattermost => "mattermost",
    }
}

/// Resolves where an entry posts; None (logged, without the URL) when it cannot work.
fn target(name: &str, entry: &NotifyConfig) -> Option<queue::Target> {
    if reqwest::Url::parse(entry.url.expose()).is_err() {
        tracing::error!(destination = %name, "notification destination skipped: url is not a valid URL");
        return None;
    }
    let bot = entry.kind == NotifyKind::Webex && (entry.token.is_some() || entry.room_id.is_some());
    if !bot {
        return Some(queue::Target {
            name: name.to_string(),
            target: entry.name.clone(),
            kind: entry.kind,
            url: entry.url.clone(),
            token: None,
            room_id: None,
        });
    }
    let (Some(token), Some(room_id)) = (&entry.token, &entry.room_id) else {
        tracing::error!(
            destination = %name,
            "notification destination skipped: a Webex bot needs both token and room_id"
        );
        return None;
    };
    Some(queue::Target {
        name: name.to_string(),
        target: entry.name.clone(),
        kind: entry.kind,
        url: Secret::new(webex::messages_url(entry.url.expose())),
        token: Some(token.clone()),
        room_id: Some(room_id.clone()),
    })
}

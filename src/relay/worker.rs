//! The relay task: takes events off the bounded queue, drops duplicates, matches every rule,
//! holds events in groups until their window closes, and hands each message to the rule's
//! targets through the notify layer (which queues, retries and counts per target).

use crate::clock::Instant;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::dedupe::Seen;
use super::event::RelayEvent;
use super::group::{Added, Groups};
use super::limit::RateLimit;
use super::render;
use super::rule::Rule;
use super::RelayMetrics;
use crate::notify::{Notifications, SendError};

/// Events one rule's rate limit holds at most; more are dropped (counted).
const MAX_HELD: usize = super::group::MAX_PER_GROUP;

/// An event with when its body arrived.
pub type Incoming = (RelayEvent, DateTime<Utc>);

/// A verified webhook body as the handler queued it (reading it is the worker's job, off
/// the request path), with when it arrived.
pub type Body = (axum::body::Bytes, DateTime<Utc>);

pub struct Worker {
    pub rules: Vec<Rule>,
    pub limits: Vec<RateLimit>,
    /// Per rule, the events its rate limit held back, sent as one summary at the next free
    /// place.
    pub held: Vec<Vec<Incoming>>,
    pub seen: Seen,
    pub groups: Groups,
    pub notify: Notifications,
    pub metrics: RelayMetrics,
    /// `https://manage.<cloud>` for device links, None when it cannot be derived.
    pub portal: Option<String>,
}

impl Worker {
    pub async fn run(
        mut self,
        mut bodies: mpsc::Receiver<Body>,
        mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    ) {
        loop {
            let next = self.next_wake();
            tokio::select! {
                body = bodies.recv() => match body {
                    Some((body, received)) => self.on_body(&body, received),
                    None => break,
                },
                Some(done) = flushes.recv() => {
                    // Shutdown: what is held goes out now rather than never.
                    while let Ok((body, received)) = bodies.try_recv() {
                        self.on_body(&body, received);
                    }
                    self.send_closed(None);
                    self.send_held(true);
                    let _ = done.send(());
                }
                _ = sleep_until(next), if next.is_some() => {
                    self.send_closed(Some(Instant::now()));
                    self.send_held(false);
                }
            }
        }
        self.send_closed(None);
        self.send_held(true);
    }

    /// The next group to close or held summary that may go.
    fn next_wake(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let held = (0..self.rules.len())
            .filter(|&i| !self.held[i].is_empty())
            .map(|i| self.limits[i].free_at(now).unwrap_or(now));
        held.chain(self.groups.next_close()).min()
    }

    /// Summaries of what rate limits held back, for each rule with a free place (every rule
    /// when `all`: shutdown).
    fn send_held(&mut self, all: bool) {
        let now = Instant::now();
        for i in 0..self.rules.len() {
            if self.held[i].is_empty() || !(all || self.limits[i].allow(now)) {
                continue;
            }
            let events = std::mem::take(&mut self.held[i]);
            let rule = &self.rules[i];
            self.metrics.grouped(&rule.name, events.len() as u64);
            let heading = render::Heading::RateLimited {
                rule: &rule.name,
                per_minute: rule.max_per_minute,
            };
            let message = render::summary(&events, heading, false);
            deliver(&self.notify, &self.metrics, rule, Arc::new(message));
        }
    }

    /// The handler already refused what is not a webhook body; nothing to read is nothing
    /// to relay.
    fn on_body(&mut self, body: &[u8], received: DateTime<Utc>) {
        let Ok(events) = super::event::parse_body(body) else {
            return;
        };
        for event in events {
            self.metrics.received(&event.topic);
            self.on_event(event, received);
        }
    }

    fn on_event(&mut self, event: RelayEvent, received: DateTime<Utc>) {
        let now = Instant::now();
        if !self.seen.first_time(event.dedupe_key(), now) {
            self.metrics.duplicate();
            tracing::debug!(topic = %event.topic, kind = %event.kind, "relay: duplicate delivery not relayed again");
            return;
        }
        let matching: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].matches(&event))
            .collect();
        for i in matching {
            let rule = &self.rules[i];
            self.metrics.matched(&rule.name);
            if rule.group_within.is_zero() {
                self.send(i, vec![(event.clone(), received)]);
                continue;
            }
            let closes = now + rule.group_within;
            if self.groups.add(i, event.clone(), received, closes) == Added::Full {
                self.metrics.dropped(&rule.name, "group-full");
            }
        }
    }

    fn send_closed(&mut self, now: Option<Instant>) {
        for (rule, events) in self.groups.take_closed(now) {
            self.send(rule, events);
        }
    }

    fn send(&mut self, i: usize, events: Vec<Incoming>) {
        let rule = &self.rules[i];
        if events.is_empty() {
            return;
        }
        if !self.held[i].is_empty() || !self.limits[i].allow(Instant::now()) {
            let room = MAX_HELD.saturating_sub(self.held[i].len());
            let over = events.len().saturating_sub(room);
            if over > 0 {
                self.metrics
                    .dropped_n(&rule.name, "rate-limit", over as u64);
            }
            if self.held[i].is_empty() {
                tracing::warn!(
                    rule = %rule.name,
                    max_per_minute = rule.max_per_minute,
                    "relay: rule over max_per_minute; its events are held for one summary"
                );
            }
            self.held[i].extend(events.into_iter().take(room));
            return;
        }
        let message = match events.as_slice() {
            [(event, received)] => render::single(event, self.portal.as_deref(), *received, false),
            many => {
                self.metrics.grouped(&rule.name, many.len() as u64);
                render::summary(many, render::Heading::Window(rule.group_within), false)
            }
        };
        deliver(&self.notify, &self.metrics, rule, Arc::new(message));
    }
}

/// Hands `message` to every target of `rule`; a full target queue drops it there (counted).
pub fn deliver(
    notify: &Notifications,
    metrics: &RelayMetrics,
    rule: &Rule,
    message: Arc<crate::notify::Message>,
) {
    for target in &rule.targets {
        match notify.send_to(target, message.clone()) {
            Ok(()) => metrics.sent(&rule.name),
            Err(e) => {
                let reason = match e {
                    SendError::QueueFull => "target-queue-full",
                    SendError::UnknownTarget => "target-not-started",
                    SendError::Stopped => "target-stopped",
                };
                metrics.dropped(&rule.name, reason);
                metrics.target_error(target);
                tracing::warn!(rule = %rule.name, target = %target, "relay: message not queued: {e}");
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

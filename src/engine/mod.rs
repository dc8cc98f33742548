//! The engine decides what happens to a port for each `ApEvent`: it finds the AP's switch
//! port ([`lookup`]), asks the [`guards`], plans the `PortChange`s ([`plan`]), hands them to
//! the backend (batched per switch) and records the `Decision` ([`decide`]).
//!
//! Holds are not final: [`holds`] schedules a re-check for each.
//!
//! Ordering: each AP has a lane; its events are handled one at a time, in arrival order. An
//! event that names a port but no AP (a NAC trigger) has the port as its lane instead. What
//! counts as newer is Mist's event time (arrival breaks ties): an event that happened before
//! one already journaled for its lane is stale, recorded without acting, and never
//! supersedes the newer one.
//! Different APs run concurrently; `engine.max_concurrent` bounds how many talk to Mist at
//! once. An event that is
//! waiting (lookup delay, disconnect delay, retry backoff) is superseded by a newer event of
//! the same AP: an AP that disconnects and comes back on the same port is never reverted.
//!
//! Stopping ([`Engine::drain`]): decisions already talking to Mist or a switch finish; events
//! that wait or have not started go back to the journal undecided and resume at the next
//! start. Neither counts as an attempt of the event (see [`crate::journal`]).

pub mod decide;
pub mod freshness;
pub mod guards;
pub mod holds;
pub mod lookup;
pub mod manual;
pub mod plan;
pub mod wait;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::backend::batch::Batcher;
use crate::backend::SwitchBackend;
use crate::config::Config;
use crate::engine::guards::flap::FlapGuard;
use crate::engine::guards::lldp::LldpGuard;
use crate::engine::guards::outage::OutageGuard;
use crate::engine::guards::ports::ProtectedPorts;
use crate::engine::holds::Holds;
use crate::engine::lookup::Locator;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::mist::MistClient;
use crate::model::{ApEvent, Decision, InterfaceName, Subject, SwitchRef};
use crate::notify::Notifications;
use crate::store::{Store, StoreError};

/// What the engine is built from.
pub struct EngineParts {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub backend: Arc<dyn SwitchBackend>,
    pub notify: Notifications,
    pub metrics: Metrics,
    /// Closes journal entries with their final decision.
    pub journal: Journal,
    /// None when no Mist API token is configured: lookups then fail with a clear reason.
    pub mist: Option<Arc<MistClient>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) batcher: Batcher,
    pub(crate) notify: Notifications,
    pub(crate) metrics: Metrics,
    pub(crate) journal: Journal,
    pub(crate) mist: Option<Arc<MistClient>>,
    pub(crate) locator: Option<Locator>,
    pub(crate) outage: Option<OutageGuard>,
    pub(crate) lldp: Option<LldpGuard>,
    pub(crate) protected: ProtectedPorts,
    pub(crate) flap: FlapGuard,
    pub(crate) holds: Holds,
    lanes: DashMap<Subject, Lane>,
    /// Keyed by switch key (MAC, else name) and port.
    port_locks: DashMap<(String, InterfaceName), Arc<tokio::sync::Mutex<()>>>,
    /// Events submitted whose decision is not recorded yet (handed back ones stay here).
    unfinished: DashMap<String, ()>,
    stopping: watch::Sender<bool>,
    seq: AtomicU64,
    permits: Semaphore,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// Which of two events of a lane is newer: event time (ms), then arrival.
pub(crate) type Order = (i64, u64);

struct Lane {
    tx: mpsc::UnboundedSender<(Order, ApEvent)>,
    /// The newest event submitted, as its [`Order`].
    newest: watch::Sender<Order>,
    pending: usize,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Engine {
        let config = parts.config;
        let mist = parts.mist;
        let batcher = Batcher::new(
            parts.backend,
            config.backend.batch_window.get(),
            parts.metrics.clone(),
        );
        let guards = &config.guards;
        let inner = Inner {
            locator: mist.as_ref().map(|m| Locator::new(m.clone(), &config.mist)),
            outage: mist
                .as_ref()
                .filter(|_| guards.outage.enabled)
                .map(|m| OutageGuard::new(m.clone(), &guards.outage)),
            lldp: mist
                .as_ref()
                .filter(|_| guards.lldp.enabled)
                .map(|m| LldpGuard::new(m.clone(), &guards.lldp)),
            protected: ProtectedPorts::new(&guards.protected_ports),
            flap: FlapGuard::new(&guards.flap),
            holds: Holds::new(guards),
            permits: Semaphore::new(config.engine.max_concurrent),
            mist,
            batcher,
            store: parts.store,
            notify: parts.notify,
            metrics: parts.metrics,
            journal: parts.journal,
            config,
            lanes: DashMap::new(),
            port_locks: DashMap::new(),
            unfinished: DashMap::new(),
            stopping: watch::channel(false).0,
            seq: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        };
        Engine {
            inner: Arc::new(inner),
        }
    }

    /// Feeds events handed over by the journal into their lanes.
    pub fn run(&self, mut events: mpsc::UnboundedReceiver<ApEvent>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                engine.submit(event);
            }
        })
    }

    /// Re-queues events accepted before a restart but never finished, oldest first. An
    /// event whose earlier runs all ended with mesa dying (`journal.max_attempts` of them) is
    /// parked as failed and announced instead: it must not take mesa down forever.
    pub async fn resume(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let max_attempts = inner.config.journal.max_attempts;
        let (poison, pending): (Vec<_>, Vec<_>) = inner
            .store
            .journal_pending()
            .await?
            .into_iter()
            .partition(|entry| entry.attempts >= max_attempts);
        for entry in &poison {
            let decision = crate::journal::parked(entry, max_attempts, self.backend_kind());
            tracing::error!(event_id = %entry.event.id, attempts = entry.attempts, "event parked as failed: its runs never finished");
            inner.store.journal_park(&decision).await?;
            inner.metrics.event_parked();
            inner.metrics.decision(decision.outcome.label(), 0.0);
            inner.notify.publish(&decision);
        }
        // Counted before the runs start: a run that takes mesa down is already on record.
        let ids: Vec<String> = pending.iter().map(|e| e.event.id.clone()).collect();
        inner.store.journal_resume(&ids).await?;
        let count = pending.len();
        for entry in pending {
            tracing::info!(event_id = %entry.event.id, attempts = entry.attempts, "resuming event from the journal");
            self.submit(entry.event);
        }
        Ok(count)
    }

    /// Queues an already journaled event behind the earlier events of its AP; a re-check of
    /// a hold (see [`holds`]) joins its lane only when it is due.
    pub fn submit(&self, event: ApEvent) {
        let next = self.inner.seq.load(Ordering::SeqCst);
        if let Some(wait) = self.inner.holds.defer(&event, next) {
            tracing::debug!(event_id = %event.id, ap = %event.ap_mac, in_s = wait.as_secs(), "re-check scheduled");
            let engine = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                engine.enqueue(event);
            });
            return;
        }
        self.enqueue(event);
    }

    fn enqueue(&self, event: ApEvent) {
        let inner = &self.inner;
        let seq = inner.seq.fetch_add(1, Ordering::SeqCst);
        inner.holds.note(&event, seq);
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        inner.unfinished.insert(event.id.clone(), ());
        let subject = event.subject();
        let mut event = event;
        // A lane whose task died (it should not) is replaced once rather than losing events.
        for _ in 0..2 {
            // The shard lock held by `entry` makes submit and lane retirement exclusive.
            let mut lane = inner.lanes.entry(subject.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let (newest, newest_rx) = watch::channel((i64::MIN, 0));
                tokio::spawn(run_lane(self.inner.clone(), subject.clone(), rx, newest_rx));
                Lane {
                    tx,
                    newest,
                    pending: 0,
                }
            });
            lane.pending += 1;
            let order = (event.timestamp.ordering(), seq);
            // Only a newer event ends a waiting one's wait: an older one queued behind it
            // (a late delivery, a reconcile reading from before) is stale when its turn comes.
            lane.newest.send_if_modified(|newest| {
                let newer = order > *newest;
                if newer {
                    *newest = order;
                }
                newer
            });
            match lane.tx.send((order, event)) {
                Ok(()) => return,
                Err(mpsc::error::SendError((_, returned))) => {
                    event = returned;
                    drop(lane);
                    inner.lanes.remove(&subject);
                }
            }
        }
        tracing::error!(subject = %subject, event_id = %event.id, "AP lane unavailable; the event stays in the journal for the next start");
        inner.event_done();
    }

    /// Handles one event right now, without lanes or waiting: `mesa replay`.
    pub async fn decide_now(&self, event: ApEvent) -> Decision {
        // Counts the Mist calls the decision took (`decision()` reads it).
        crate::mist::CallCount::new()
            .scope(decide::Run::new(&self.inner, event, (0, 0), None).finish())
            .await
    }

    /// Resolves when no event is queued or being handled.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Stops the engine for shutdown: waits end at once (their events are handed back),
    /// queued events are not started, decisions already under way get up to `grace` to
    /// finish. Events left undecided stay in the journal without counting as an attempt.
    pub async fn drain(&self, grace: std::time::Duration) -> Drained {
        let inner = &self.inner;
        inner.stopping.send_replace(true);
        let idle = tokio::time::timeout(grace, self.wait_idle()).await.is_ok();
        let ids: Vec<String> = inner.unfinished.iter().map(|e| e.key().clone()).collect();
        if let Err(e) = inner.store.journal_release(&ids).await {
            tracing::error!(error = %e, "handed-back events not released; each counts as one attempt");
        }
        Drained {
            idle,
            handed_back: ids.len(),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    pub fn backend_kind(&self) -> &'static str {
        self.inner.batcher.backend_kind()
    }

    /// Re-checks of held decisions scheduled since start.
    pub fn rechecks_scheduled(&self) -> u64 {
        self.inner.holds.scheduled()
    }
}

/// What [`Engine::drain`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Every decision under way finished (or was handed back) within the grace.
    pub idle: bool,
    /// Events left undecided in the journal; they resume at the next start.
    pub handed_back: usize,
}

async fn run_lane(
    inner: Arc<Inner>,
    subject: Subject,
    mut rx: mpsc::UnboundedReceiver<(Order, ApEvent)>,
    newest: watch::Receiver<Order>,
) {
    while let Some((order, event)) = rx.recv().await {
        let span = tracing::info_span!("event", event_id = %event.id, subject = %subject, kind = %event.kind);
        // Stopping: an event not started yet stays in the journal for the next start.
        if !*inner.stopping.borrow() {
            let id = event.id.clone();
            let decision = tracing::Instrument::instrument(
                crate::mist::CallCount::new()
                    .scope(decide::Run::new(&inner, event, order, Some(newest.clone())).finish()),
                span,
            )
            .await;
            if decision_recorded(&decision) {
                inner.unfinished.remove(&id);
            }
        }
        let retired = {
            if let Some(mut lane) = inner.lanes.get_mut(&subject) {
                lane.pending -= 1;
            }
            inner
                .lanes
                .remove_if(&subject, |_, lane| lane.pending == 0)
                .is_some()
        };
        inner.event_done();
        if retired {
            return;
        }
    }
}

/// A run handed back at stop returns its decision unrecorded, marked by the `stopping` guard.
fn decision_recorded(decision: &Decision) -> bool {
    !matches!(&decision.outcome, crate::model::Outcome::Skipped { guard, .. } if guard == "stopping")
}

impl Inner {
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    fn event_done(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// The lock that serialises decisions about one switch port.
    pub(crate) fn port_lock(
        &self,
        switch: &SwitchRef,
        port: &InterfaceName,
    ) -> Arc<tokio::sync::Mutex<()>> {
        self.port_locks
            .entry((switch.key(), port.clone()))
            .or_default()
            .clone()
    }

    /// Bounds how many APs talk to Mist at once (lookups, guard checks); waiting for a
    /// delay, a retry or the switch does not hold a permit.
    pub(crate) async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }
}

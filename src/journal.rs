//! The journal makes "accepted" mean "durable": an event is committed to the store before
//! its webhook gets a 200 and survives a crash. It is handed to the engine once per run of
//! mesa; an event whose final decision was not recorded before a crash runs again at the next
//! start (backends apply idempotently: the second run finds the change in place).
//!
//! Appends from concurrent requests are grouped into one transaction (group commit), so an
//! fsync per commit stays affordable under a burst. The same delivery twice (Mist sends one
//! per org- and site-level webhook) is recognised by its dedupe key, and the same change
//! reported twice (same AP and kind, event times within `journal.dedupe_window`, nothing
//! else in between) by its content; neither is handed on again.
//!
//! Poison events: each entry counts the runs that started and never finished nor were handed
//! back at a graceful stop, i.e. runs that ended with mesa dying. At `journal.max_attempts`
//! such runs the event is parked as failed ([`parked`]) instead of crashing mesa again.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::model::{ApEvent, Decision, Outcome};
use crate::store::{Appended, JournalEntry, Store, StoreError};

/// At most this many appends share one transaction.
const GROUP_MAX: usize = 256;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    pub new: usize,
    pub duplicates: usize,
}

/// What the writer task is asked to do; both kinds share its transactions.
enum Request {
    Append {
        events: Vec<ApEvent>,
        reply: oneshot::Sender<Result<Accepted, StoreError>>,
    },
    Finish {
        decision: Box<Decision>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Request>,
}

impl Journal {
    /// Starts the writer task. New events go to `dispatch` after they are durable.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Metrics,
        dispatch: mpsc::UnboundedSender<ApEvent>,
    ) -> Journal {
        let (tx, rx) = mpsc::channel(4 * GROUP_MAX);
        tokio::spawn(writer(store, metrics, dispatch, rx));
        Journal { tx }
    }

    /// Records the final decision of an event and closes its journal entry. Until this
    /// returns, a restart re-runs the event.
    pub async fn finish(&self, decision: Decision) -> Result<(), StoreError> {
        self.ask(|reply| Request::Finish {
            decision: Box::new(decision),
            reply,
        })
        .await
    }

    /// Returns once the events are committed (or known duplicates).
    pub async fn accept(&self, events: Vec<ApEvent>) -> Result<Accepted, StoreError> {
        if events.is_empty() {
            return Ok(Accepted::default());
        }
        self.ask(|reply| Request::Append { events, reply }).await
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let stopped = || StoreError::Task("journal writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.tx.send(request(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Waits for one request, then takes whatever else is already queued (up to a bound): the
/// requests that arrived while the previous transaction was running share the next one, so
/// a burst costs one fsync per group, not one per webhook or per decision.
async fn next_group(rx: &mut mpsc::Receiver<Request>) -> Option<Vec<Request>> {
    let first = rx.recv().await?;
    let mut group = vec![first];
    while group.len() < GROUP_MAX {
        match rx.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    Some(group)
}

async fn writer(
    store: Arc<dyn Store>,
    metrics: Metrics,
    dispatch: mpsc::UnboundedSender<ApEvent>,
    mut rx: mpsc::Receiver<Request>,
) {
    while let Some(group) = next_group(&mut rx).await {
        let mut events = Vec::new();
        let mut decisions = Vec::new();
        for request in &group {
            match request {
                Request::Append { events: e, .. } => events.extend(e.iter().cloned()),
                Request::Finish { decision, .. } => decisions.push(decision.as_ref().clone()),
            }
        }
        let results = match store.journal_write(&events, &decisions).await {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), decisions = decisions.len(), "journal write failed; webhook senders get 503");
                let message = e.to_string();
                for request in group {
                    match request {
                        Request::Append { reply, .. } => {
                            let _ = reply.send(Err(StoreError::Task(message.clone())));
                        }
                        Request::Finish { reply, .. } => {
                            let _ = reply.send(Err(StoreError::Task(message.clone())));
                        }
                    }
                }
                continue;
            }
        };
        let mut results = results.into_iter();
        for request in group {
            match request {
                Request::Append { events, reply } => {
                    let mut accepted = Accepted::default();
                    for event in events {
                        match results.next() {
                            Some(Appended::New) => {
                                accepted.new += 1;
                                metrics.event_received(event.kind.as_str());
                                // The engine only stops with the process; the event is in
                                // the journal and resumes on the next start either way.
                                let _ = dispatch.send(event);
                            }
                            // Durable and claimed by the instance on its AP's lane.
                            Some(Appended::Queued) => {
                                accepted.new += 1;
                                metrics.event_received(event.kind.as_str());
                            }
                            _ => {
                                accepted.duplicates += 1;
                                metrics.event_duplicate();
                            }
                        }
                    }
                    let _ = reply.send(Ok(accepted));
                }
                Request::Finish { reply, .. } => {
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }
}

/// The final decision of an event parked after `entry.attempts` runs that never finished.
pub fn parked(entry: &JournalEntry, max_attempts: u32, backend: &str) -> Decision {
    let error = format!(
        "parked, not run again: {} runs of this event never finished (mesa stopped \
         uncleanly each time: crash, kill or out of memory; journal.max_attempts = \
         {max_attempts}). See mesa's logs around those stops; `mesa replay` runs it by hand",
        entry.attempts
    );
    Decision {
        event: entry.event.clone(),
        lookups: vec![format!(
            "journal: {} unfinished runs, limit {max_attempts}",
            entry.attempts
        )],
        verdicts: Vec::new(),
        changes: Vec::new(),
        outcome: Outcome::Failed { error },
        diff: None,
        backend: backend.to_string(),
        decided_at: crate::clock::now(),
        duration_ms: 0,
        will_retry: false,
    }
}

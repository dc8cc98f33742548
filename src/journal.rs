//! The journal makes "accepted" mean "durable": an event is committed to the store before
//! its webhook gets a 200, survives a crash, and is handed to the engine exactly once.
//!
//! Appends from concurrent requests are grouped into one transaction (group commit), so an
//! fsync per commit stays affordable under a burst. The same delivery twice (Mist sends one
//! per org- and site-level webhook) is recognised by its dedupe key and not handed on again.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::model::{ApEvent, Decision};
use crate::store::{Appended, Store, StoreError};

/// At most this many appends share one transaction.
const GROUP_MAX: usize = 256;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    pub new: usize,
    pub duplicates: usize,
}

struct Append {
    events: Vec<ApEvent>,
    reply: oneshot::Sender<Result<Accepted, StoreError>>,
}

struct Finish {
    decision: Decision,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Append>,
    finish_tx: mpsc::Sender<Finish>,
}

impl Journal {
    /// Starts the writer task. New events go to `dispatch` after they are durable.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Metrics,
        dispatch: mpsc::UnboundedSender<ApEvent>,
    ) -> Journal {
        let (tx, rx) = mpsc::channel(4 * GROUP_MAX);
        let (finish_tx, finish_rx) = mpsc::channel(4 * GROUP_MAX);
        tokio::spawn(writer(store.clone(), metrics, dispatch, rx));
        tokio::spawn(finisher(store, finish_rx));
        Journal { tx, finish_tx }
    }

    /// Records the final decision of an event and closes its journal entry (grouped with
    /// other finishes into one transaction). Until this returns, a restart re-runs the event.
    pub async fn finish(&self, decision: Decision) -> Result<(), StoreError> {
        ask(&self.finish_tx, |reply| Finish { decision, reply }).await
    }

    /// Returns once the events are committed (or known duplicates).
    pub async fn accept(&self, events: Vec<ApEvent>) -> Result<Accepted, StoreError> {
        if events.is_empty() {
            return Ok(Accepted::default());
        }
        ask(&self.tx, |reply| Append { events, reply }).await
    }
}

/// Sends a request to a writer task and waits for its answer.
async fn ask<M, T>(
    tx: &mpsc::Sender<M>,
    request: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> M,
) -> Result<T, StoreError> {
    let stopped = || StoreError::Task("journal writer stopped".into());
    let (reply, answer) = oneshot::channel();
    tx.send(request(reply)).await.map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// Waits for one request, then takes whatever else is already queued (up to a bound): the
/// requests that arrived while the previous transaction was running share the next one.
async fn next_group<M>(rx: &mut mpsc::Receiver<M>) -> Option<Vec<M>> {
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
    mut rx: mpsc::Receiver<Append>,
) {
    while let Some(group) = next_group(&mut rx).await {
        let all: Vec<ApEvent> = group
            .iter()
            .flat_map(|a| a.events.iter().cloned())
            .collect();
        match store.journal_append(&all).await {
            Ok(results) => {
                let mut results = results.into_iter();
                for append in group {
                    let mut accepted = Accepted::default();
                    for event in append.events {
                        match results.next() {
                            Some(Appended::New) => {
                                accepted.new += 1;
                                metrics.event_received(event.kind.as_str());
                                // The engine only stops with the process; the event is in the
                                // journal and resumes on the next start either way.
                                let _ = dispatch.send(event);
                            }
                            _ => {
                                accepted.duplicates += 1;
                                metrics.event_duplicate();
                            }
                        }
                    }
                    let _ = append.reply.send(Ok(accepted));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = all.len(), "journal append failed; senders get 503");
                let message = e.to_string();
                for append in group {
                    let _ = append.reply.send(Err(StoreError::Task(message.clone())));
                }
            }
        }
    }
}

async fn finisher(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Finish>) {
    while let Some(group) = next_group(&mut rx).await {
        let decisions: Vec<Decision> = group.iter().map(|f| f.decision.clone()).collect();
        let result = store.finish_events(&decisions).await;
        let shared = result.map_err(|e| e.to_string());
        for finish in group {
            let _ = finish.reply.send(shared.clone().map_err(StoreError::Task));
        }
    }
}

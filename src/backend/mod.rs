//! Backends apply `PortChange`s to switches: NETCONF straight to Junos, Juniper CSO, Mist's
//! own port overrides, or `dry-run`. They all sit behind [`SwitchBackend`], so the engine,
//! the per-switch batching and the tests do not care which one is configured.
//!
//! A backend receives every change pending for one switch at once and applies them as one
//! unit (one session, one lock, one commit): all of them, or none.

pub mod batch;
pub mod cso;
pub mod dry_run;
pub mod mist;
pub mod netconf;

use async_trait::async_trait;
use serde::Serialize;

use crate::model::{InterfaceName, PortChange, SwitchRef};

/// What happened to one port of a batch that went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortResult {
    pub port: InterfaceName,
    /// False when the switch already had exactly this configuration (empty diff, no commit).
    pub changed: bool,
    /// The configuration diff for this port, as the switch reported it.
    pub diff: String,
}

/// Why a batch did not go through. The switch is left as it was in every case but
/// [`BackendError::Uncertain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("switch unreachable: {0}")]
    Unreachable(String),
    #[error("authentication refused: {0}")]
    Auth(String),
    #[error("host key refused: {0}")]
    HostKey(String),
    #[error("configuration locked: {0}")]
    Locked(String),
    #[error("configuration rejected by the switch: {0}")]
    Rejected(String),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("outcome unknown, switch state could not be confirmed: {0}")]
    Uncertain(String),
    #[error("template error: {0}")]
    Template(String),
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// The switch refused this content (so another change of the batch may still pass).
    pub fn is_about_the_change(&self) -> bool {
        matches!(
            self,
            BackendError::Rejected(_) | BackendError::Commit(_) | BackendError::Template(_)
        )
    }

    /// Worth trying again later: the cause is outside the change itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackendError::Unreachable(_)
                | BackendError::Locked(_)
                | BackendError::Uncertain(_)
                | BackendError::Other(_)
        )
    }
}

/// Refuses a batch that mixes switches: a backend applies one switch's changes as one unit,
/// and a stray change would land on the wrong device.
pub fn ensure_one_switch(switch: &SwitchRef, changes: &[PortChange]) -> Result<(), BackendError> {
    match changes.iter().find(|c| c.switch.name != switch.name) {
        Some(other) => Err(BackendError::Other(format!(
            "change for {} {} handed to the batch of {}",
            other.switch.name, other.port, switch.name
        ))),
        None => Ok(()),
    }
}

/// The seam between the engine and the switches.
#[async_trait]
pub trait SwitchBackend: Send + Sync + 'static {
    /// `netconf`, `cso`, `mist` or `dry-run`; shown in the audit and in messages.
    fn kind(&self) -> &'static str;

    /// Applies every change (all for `switch`) as one unit and reports per port, in order.
    async fn apply(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Vec<PortResult>, BackendError>;
}

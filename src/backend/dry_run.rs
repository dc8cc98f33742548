//! The `dry-run` backend: applies nothing, remembers what it would have applied. The default
//! backend, so a fresh install can watch decisions before it is trusted with switches.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{BackendError, PortResult, SwitchBackend};
use crate::model::{InterfaceName, PortChange, Profile, SwitchRef};

#[derive(Default)]
pub struct DryRun {
    /// Profile per (switch, port) as if every change had been applied.
    state: Mutex<HashMap<(String, InterfaceName), Profile>>,
    /// Every batch received, in order.
    batches: Mutex<Vec<Vec<PortChange>>>,
}

impl DryRun {
    pub fn new() -> DryRun {
        DryRun::default()
    }

    pub fn batches(&self) -> Vec<Vec<PortChange>> {
        self.batches.lock().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn profile(&self, switch: &str, port: &InterfaceName) -> Option<Profile> {
        let state = self.state.lock().ok()?;
        state.get(&(switch.to_string(), port.clone())).copied()
    }
}

#[async_trait]
impl SwitchBackend for DryRun {
    fn kind(&self) -> &'static str {
        "dry-run"
    }

    async fn apply(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Vec<PortResult>, BackendError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| BackendError::Other("dry-run state poisoned".into()))?;
        let results = changes
            .iter()
            .map(|change| {
                let key = (switch.name.clone(), change.port.clone());
                let previous = state.insert(key, change.profile);
                let changed = previous != Some(change.profile);
                PortResult {
                    port: change.port.clone(),
                    changed,
                    diff: if changed {
                        format!(
                            "[dry-run] {} {}: -> {} profile",
                            switch.name, change.port, change.profile
                        )
                    } else {
                        String::new()
                    },
                }
            })
            .collect();
        drop(state);
        if let Ok(mut batches) = self.batches.lock() {
            batches.push(changes.to_vec());
        }
        Ok(results)
    }
}

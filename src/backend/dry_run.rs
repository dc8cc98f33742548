//! The `dry-run` backend: applies nothing, remembers what it would have applied and shows the
//! Junos lines it would have sent. The default backend, so a fresh install can watch
//! decisions before it is trusted with switches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{BackendError, PortResult, SwitchBackend};
use crate::model::{InterfaceName, PortChange, Profile, SwitchRef};
use crate::templates::Templates;

#[derive(Default)]
pub struct DryRun {
    templates: Option<Arc<Templates>>,
    /// Profile per (switch, port) as if every change had been applied.
    state: Mutex<HashMap<(String, InterfaceName), Profile>>,
    /// Every batch received, in order.
    batches: Mutex<Vec<Vec<PortChange>>>,
}

impl DryRun {
    pub fn new() -> DryRun {
        DryRun::default()
    }

    /// Reports the rendered configuration lines as the diff.
    pub fn with_templates(templates: Arc<Templates>) -> DryRun {
        DryRun {
            templates: Some(templates),
            ..DryRun::default()
        }
    }

    pub fn batches(&self) -> Vec<Vec<PortChange>> {
        self.batches.lock().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn profile(&self, switch: &str, port: &InterfaceName) -> Option<Profile> {
        let state = self.state.lock().ok()?;
        state.get(&(switch.to_string(), port.clone())).copied()
    }

    fn would_send(&self, switch: &SwitchRef, change: &PortChange) -> Result<String, BackendError> {
        let header = format!(
            "[dry-run] {} {} -> {} profile",
            switch.name, change.port, change.profile
        );
        match &self.templates {
            None => Ok(header),
            Some(templates) => {
                let lines = templates
                    .render(change)
                    .map_err(|e| BackendError::Template(e.to_string()))?;
                Ok(format!("{header}\n{}", lines.join("\n")))
            }
        }
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
        // Render first: a change that could not be sent must not count as applied.
        let rendered = changes
            .iter()
            .map(|c| self.would_send(switch, c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| BackendError::Other("dry-run state poisoned".into()))?;
        let results = changes
            .iter()
            .zip(rendered)
            .map(|(change, diff)| {
                let key = (switch.name.clone(), change.port.clone());
                let previous = state.insert(key, change.profile);
                let changed = previous != Some(change.profile);
                PortResult {
                    port: change.port.clone(),
                    changed,
                    diff: if changed { diff } else { String::new() },
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

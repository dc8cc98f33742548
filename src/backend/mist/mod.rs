//! The `mist` backend: for switches Mist manages (Wired Assurance), a port becomes an AP
//! port by giving it a port usage in the switch's device configuration (`port_config`), the
//! way the Mist UI's port overrides do. Mist pushes the resulting Junos configuration itself.
//!
//! One batch for a switch is one `GET /api/v1/sites/{site_id}/devices/{device_id}` and at
//! most one `PUT` of the same path. Mist's PUT replaces each top-level key it is given, so
//! the PUT carries the whole `port_config` (every other port as it was) and nothing else:
//! sending the other top-level keys back could only revert an edit someone made between our
//! GET and PUT. Nothing to change, no PUT.
//!
//! Retries of single calls (429, 5xx) are the [`MistClient`]'s; whatever is still failing
//! maps onto [`BackendError`] so the engine retries transient failures and not the others.

pub mod port_config;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::backend::{BackendError, PortResult, SwitchBackend};
use crate::config::MistBackendConfig;
use crate::mist::types::device_id;
use crate::mist::{MistClient, MistError};
use crate::model::{PortChange, Profile, SwitchRef};

pub use port_config::{set_usage, PortEdit};

pub struct MistPortBackend {
    mist: Arc<MistClient>,
    ap_usage: String,
    secured_usage: String,
}

impl MistPortBackend {
    pub fn new(mist: Arc<MistClient>, cfg: &MistBackendConfig) -> MistPortBackend {
        MistPortBackend {
            mist,
            ap_usage: cfg.ap_usage.clone(),
            secured_usage: cfg.secured_usage.clone(),
        }
    }

    /// The port usage a profile stands for; empty means "no override".
    pub fn usage(&self, profile: Profile) -> &str {
        match profile {
            Profile::Ap => &self.ap_usage,
            Profile::Secured => &self.secured_usage,
        }
    }

    /// (site id, device id) of the switch: from its MAC when the lookup knew it, else by
    /// hostname on its site.
    async fn locate(&self, switch: &SwitchRef) -> Result<(String, String), BackendError> {
        if let Some(mac) = &switch.mac {
            return Ok((switch.site_id.clone(), device_id(mac)));
        }
        match self
            .mist
            .switch_by_hostname(&switch.site_id, &switch.name)
            .await
        {
            Ok(Some(info)) => Ok((info.site_id, info.device_id)),
            Ok(None) => Err(BackendError::NotFound(format!(
                "Mist: no switch named \"{}\" on site {}",
                switch.name, switch.site_id
            ))),
            Err(e) => Err(read_error(e, &format!("search switch \"{}\"", switch.name))),
        }
    }
}

#[async_trait]
impl SwitchBackend for MistPortBackend {
    fn kind(&self) -> &'static str {
        "mist"
    }

    async fn apply(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Vec<PortResult>, BackendError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        super::ensure_one_switch(switch, changes)?;
        let (site_id, device) = self.locate(switch).await?;
        let what = format!("switch \"{}\" ({device})", switch.name);
        let current = self
            .mist
            .get_device(&site_id, &device)
            .await
            .map_err(|e| read_error(e, &format!("read {what}")))?;
        let Value::Object(current) = current else {
            return Err(BackendError::Other(format!(
                "Mist: {what}: device is not a JSON object"
            )));
        };
        if let Some(kind) = current.get("type").and_then(Value::as_str) {
            if kind != "switch" {
                return Err(BackendError::Rejected(format!(
                    "Mist: {what} is a device of type \"{kind}\", not a switch"
                )));
            }
        }
        let mut ports = match current.get("port_config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(BackendError::Rejected(format!(
                    "Mist: {what}: port_config is not an object"
                )))
            }
        };
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            let edit = set_usage(&mut ports, &change.port, self.usage(change.profile))
                .map_err(|e| BackendError::Rejected(format!("Mist: {what}: {e}")))?;
            results.push(PortResult {
                port: change.port.clone(),
                changed: edit.changed,
                diff: edit.diff,
            });
        }
        if !results.iter().any(|r| r.changed) {
            tracing::info!(switch = %switch.name, ports = changes.len(), "mist: already in place");
            return Ok(results);
        }
        let mut body = Map::new();
        body.insert("port_config".into(), Value::Object(ports));
        tracing::info!(switch = %switch.name, %device, ports = changes.len(), "mist: updating port_config");
        self.mist
            .put_device(&site_id, &device, &Value::Object(body))
            .await
            .map_err(|e| write_error(e, &format!("update {what}")))?;
        Ok(results)
    }
}

/// A failed read: nothing was changed.
fn read_error(e: MistError, what: &str) -> BackendError {
    let text = format!("Mist: {what}: {e}");
    match e {
        MistError::TokenRejected(_) => BackendError::Auth(text),
        MistError::Refused { status: 404, .. } => BackendError::NotFound(text),
        MistError::Refused { .. } | MistError::NotConfigured(_) => BackendError::Rejected(text),
        MistError::Decode(_) => BackendError::Other(text),
        MistError::RateLimited { .. }
        | MistError::Server(_)
        | MistError::Timeout
        | MistError::Http(_) => BackendError::Unreachable(text),
    }
}

/// A failed PUT: a timeout or a lost connection may hide a PUT Mist did apply.
fn write_error(e: MistError, what: &str) -> BackendError {
    match e {
        MistError::Timeout | MistError::Http(_) => {
            BackendError::Uncertain(format!("Mist: {what}: {e}"))
        }
        other => read_error(other, what),
    }
}

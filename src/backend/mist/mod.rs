//! The `mist` backend: for switches Mist manages (Wired Assurance), a port becomes an AP
//! port by giving it a port usage in the switch's device configuration, the way the Mist UI's
//! port overrides do. Mist pushes the resulting Junos configuration itself.
//!
//! One batch for a switch is one `GET /api/v1/sites/{site_id}/devices/{device_id}` and at
//! most one `PUT` of the same path. The usage is written where it takes effect
//! ([`effective`]): `port_config`, or `local_port_config` when a helpdesk override is allowed
//! there (`no_local_overwrite: false`); a port handed to dynamic port rules (`dynamic_usage`)
//! is refused, because the rules would overwrite whatever mesa writes. Mist's PUT replaces
//! each top-level key it is given, so the PUT carries `type: "switch"` (required by
//! `device_switch`) and each edited map whole (every other port as it was), nothing else:
//! sending the other top-level keys back could only revert an edit someone made between our
//! GET and PUT. Nothing to change, no PUT. The PUT answers the device: each port must show
//! the intended usage in force there, or the batch fails instead of reporting success.
//!
//! Retries of single calls (429, 5xx) are the [`MistClient`]'s; whatever is still failing
//! maps onto [`BackendError`] so the engine retries transient failures and not the others.

pub mod effective;
pub mod port_config;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::backend::{BackendError, PortResult, SwitchBackend};
use crate::config::MistBackendConfig;
use crate::mist::types::device_id;
use crate::mist::{MistClient, MistError};
use crate::model::{PortChange, Profile, SwitchRef};

pub use effective::{effective, Effective};
pub use port_config::{set_usage, set_usage_in, PortEdit};

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
        let section = |key: &str| {
            effective::section(&current, key)
                .map_err(|e| BackendError::Rejected(format!("Mist: {what}: {e}")))
        };
        let mut ports = section("port_config")?;
        let mut local = section("local_port_config")?;
        let mut local_edited = false;
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            let usage = self.usage(change.profile);
            let before = effective(&ports, &local, &change.port);
            if let Some(dynamic) = &before.dynamic {
                return Err(BackendError::Rejected(format!(
                    "Mist: {what}: {} uses dynamic port configuration (dynamic_usage \"{dynamic}\" on {}): \
                     Mist's dynamic port rules assign its usage and would replace the one mesa writes; \
                     remove dynamic_usage from the port, or leave the port to the rules and out of mesa (guards.protected_ports)",
                    change.port,
                    before.describe()
                )));
            }
            let edit = if before.writes_local() {
                local_edited = true;
                let edit = set_usage_in("local_port_config", &mut local, &change.port, usage);
                if usage.is_empty() {
                    // No override at all: the port_config entry goes too.
                    edit.and_then(|local_edit| {
                        let pc = set_usage(&mut ports, &change.port, usage)?;
                        Ok(join(local_edit, pc))
                    })
                } else {
                    edit
                }
            } else {
                set_usage(&mut ports, &change.port, usage)
            }
            .map_err(|e| BackendError::Rejected(format!("Mist: {what}: {e}")))?;
            let after = effective(&ports, &local, &change.port);
            if !in_force(&after, usage) {
                return Err(BackendError::Rejected(format!(
                    "Mist: {what}: {}: after the edit {} would be in force, not usage \"{usage}\"",
                    change.port,
                    after.describe()
                )));
            }
            let mut diff = edit.diff;
            if let (true, Some(key)) = (edit.changed, &after.local_ignored) {
                diff.push_str(&format!(
                    "; local_port_config.{key} does not apply (no_local_overwrite)"
                ));
            }
            results.push(PortResult {
                port: change.port.clone(),
                changed: edit.changed,
                diff,
            });
        }
        if !results.iter().any(|r| r.changed) {
            tracing::info!(switch = %switch.name, ports = changes.len(), "mist: already in place");
            return Ok(results);
        }
        let mut body = Map::new();
        body.insert("type".into(), Value::String("switch".into()));
        body.insert("port_config".into(), Value::Object(ports));
        if local_edited {
            body.insert("local_port_config".into(), Value::Object(local));
        }
        tracing::info!(switch = %switch.name, %device, ports = changes.len(), "mist: updating port usage");
        let answer = self
            .mist
            .put_device(&site_id, &device, &Value::Object(body))
            .await
            .map_err(|e| write_error(e, &format!("update {what}")))?;
        self.check_answer(&what, &answer, changes)?;
        Ok(results)
    }
}

impl MistPortBackend {
    /// The PUT answers the device as Mist stored it: every port must have its usage in force.
    fn check_answer(
        &self,
        what: &str,
        answer: &Value,
        changes: &[PortChange],
    ) -> Result<(), BackendError> {
        let Value::Object(device) = answer else {
            return Err(BackendError::Uncertain(format!(
                "Mist: update {what}: the answer is not a device; the port usage could not be confirmed"
            )));
        };
        let ports = effective::section(device, "port_config").unwrap_or_default();
        let local = effective::section(device, "local_port_config").unwrap_or_default();
        for change in changes {
            let usage = self.usage(change.profile);
            let now = effective(&ports, &local, &change.port);
            if !in_force(&now, usage) {
                return Err(BackendError::Rejected(format!(
                    "Mist: update {what}: Mist accepted it but answers {} for {}, not usage \"{usage}\": the port did not change as asked",
                    now.describe(),
                    change.port
                )));
            }
        }
        Ok(())
    }
}

/// `usage` in force (empty: no device-level entry, the switch template applies).
fn in_force(now: &Effective, usage: &str) -> bool {
    if usage.is_empty() {
        now.usage.is_none() && !now.writes_local()
    } else {
        now.usage.as_deref() == Some(usage) && now.dynamic.is_none()
    }
}

fn join(a: PortEdit, b: PortEdit) -> PortEdit {
    let diff = [a.diff, b.diff]
        .into_iter()
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    PortEdit {
        changed: a.changed || b.changed,
        diff,
    }
}

/// A failed read: nothing was changed.
fn read_error(e: MistError, what: &str) -> BackendError {
    let text = format!("Mist: {what}: {e}");
    match e {
        MistError::TokenRejected(_) => BackendError::Auth(text),
        MistError::Refused { status: 404, .. } => BackendError::NotFound(text),
        MistError::Refused { .. } | MistError::NotConfigured(_) => BackendError::Rejected(text),
        MistError::Decode(_) | MistError::Setup(_) => BackendError::Other(text),
        MistError::RateLimited { .. }
        | MistError::Server { .. }
        | MistError::Timeout { .. }
        | MistError::Http { .. } => BackendError::Unreachable(text),
    }
}

/// A failed PUT: a timeout or a lost connection may hide a PUT Mist did apply.
fn write_error(e: MistError, what: &str) -> BackendError {
    match e {
        MistError::Timeout { .. } | MistError::Http { .. } => {
            BackendError::Uncertain(format!("Mist: {what}: {e}"))
        }
        other => read_error(other, what),
    }
}

//! The `cso` backend: Juniper Contrail Service Orchestration applies port profiles for us.
//! Per batch of changes for one switch:
//!
//! 1. resolve everything first: the device (`GET /data-view-central/device`, the one whose
//!    `fq_name` contains the switch name), the port profiles (`GET /tssm/port-profile`), the
//!    LAN segments of the device's site (`POST /topology-service/lan-segment/_filter` on
//!    `parent_uuid`), and what each port has now (`GET /tssm/port-config-association`).
//!    Anything missing fails the whole batch with [`BackendError::NotFound`] naming it,
//!    before a single write.
//! 2. ports already associated exactly so, and `deploy_status: "deployed"`, are reported
//!    `changed: false` (an association applied but never deployed is not in place; an answer
//!    without `deploy_status` never counts as in place, so such a CSO always gets the write);
//! 3. the others go in one `POST /tssm/apply-port-config-association`, then one
//!    `POST /tssm/deploy-port-config-association` pushes them to the switch.
//!
//! AP ports get `ap_profile.port_profile` with every LAN segment of the site and
//! `ap_profile.native_vlan` as native segment; secured ports get
//! `secured_profile.port_profile` with the `secured_profile.vlan` segment.
//!
//! Deploy starts a CSO job; mesa does not follow the job: a deploy CSO accepted is applied.
//!
//! The apply and deploy POSTs are sent once, never retried (a repeated deploy would start a
//! second job): a timeout or 5xx there is `Uncertain`. A batch can end half-done (apply
//! accepted, deploy failed); the engine's next attempt repairs it, since an association
//! applied but not deployed does not count as in place (step 2) and is written again.

pub mod client;
pub mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend::{BackendError, PortResult, SwitchBackend};
use crate::config::{CsoConfig, CsoProfile};
use crate::model::{PortChange, Profile, SwitchRef};

pub use client::{CsoClient, CsoError};
pub use wire::{Association, Device, Named, PortAssociation};

pub struct CsoBackend {
    client: CsoClient,
    ap: CsoProfile,
    secured: CsoProfile,
}

/// Everything the batch needs, read before any write.
struct Resolved {
    device: Device,
    profiles: Vec<Named>,
    segments: Vec<Named>,
    current: BTreeMap<String, Association>,
}

impl CsoBackend {
    /// Checks the URL and that a password is set; does not contact CSO yet.
    pub fn new(cfg: &CsoConfig) -> Result<CsoBackend, BackendError> {
        Ok(CsoBackend {
            client: CsoClient::new(cfg)?,
            ap: cfg.ap_profile.clone(),
            secured: cfg.secured_profile.clone(),
        })
    }

    /// Retries of one call on 5xx / timeouts, and the first backoff step (doubling).
    /// Default 3 retries from 500 ms.
    pub fn with_retries(mut self, max_retries: u32, backoff_base: Duration) -> CsoBackend {
        self.client.set_retries(max_retries, backoff_base);
        self
    }

    /// Per-request timeout (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> CsoBackend {
        self.client.set_timeout(timeout);
        self
    }

    fn profile(&self, profile: Profile) -> &CsoProfile {
        match profile {
            Profile::Ap => &self.ap,
            Profile::Secured => &self.secured,
        }
    }

    async fn resolve(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Resolved, BackendError> {
        let devices: Vec<Device> =
            wire::list(self.get("/data-view-central/device", &[]).await?, "device");
        let device = find_device(&devices, &switch.name).ok_or_else(|| {
            BackendError::NotFound(format!("CSO: no device named \"{}\"", switch.name))
        })?;
        let profiles: Vec<Named> =
            wire::list(self.get("/tssm/port-profile", &[]).await?, "port-profile");
        let needs_segments = changes.iter().any(|c| match c.profile {
            Profile::Ap => true,
            Profile::Secured => self.secured.vlan.is_some(),
        });
        let segments: Vec<Named> = if needs_segments {
            let site = device.site().ok_or_else(|| {
                BackendError::Rejected(format!(
                    "CSO: device \"{}\" has no parent_uuid (site)",
                    switch.name
                ))
            })?;
            let answer = self
                .client
                .call(
                    Method::POST,
                    "/topology-service/lan-segment/_filter",
                    &[],
                    Some(&json!({"query": {"parent_uuid": site}})),
                )
                .await
                .map_err(CsoError::into_backend)?;
            wire::list(answer, "lan-segment")
        } else {
            Vec::new()
        };
        let answer = self
            .get(
                "/tssm/port-config-association",
                &[("device_uuid", device.uuid.as_str())],
            )
            .await?;
        let current = wire::list::<Association>(answer, "port-config-association")
            .into_iter()
            .map(|a| (a.port_name.clone(), a))
            .collect();
        Ok(Resolved {
            device,
            profiles,
            segments,
            current,
        })
    }

    /// The association a change asks for, from resolved names.
    fn target(
        &self,
        change: &PortChange,
        resolved: &Resolved,
    ) -> Result<PortAssociation, BackendError> {
        let wanted = self.profile(change.profile);
        let profile = resolved
            .profiles
            .iter()
            .find(|p| p.is(&wanted.port_profile))
            .ok_or_else(|| {
                BackendError::NotFound(format!(
                    "CSO: no port profile named \"{}\"",
                    wanted.port_profile
                ))
            })?;
        let segment = |name: &str| {
            resolved
                .segments
                .iter()
                .find(|s| s.is(name))
                .map(|s| s.uuid.clone())
                .ok_or_else(|| {
                    BackendError::NotFound(format!(
                        "CSO: no LAN segment named \"{name}\" on the site of \"{}\"",
                        change.switch.name
                    ))
                })
        };
        let (lan_segment_uuids, native) = match change.profile {
            Profile::Ap => {
                let native = wanted.native_vlan.as_deref().map(segment).transpose()?;
                let mut all: Vec<String> =
                    resolved.segments.iter().map(|s| s.uuid.clone()).collect();
                all.sort();
                all.dedup();
                (all, native)
            }
            Profile::Secured => {
                let vlan = wanted.vlan.as_deref().map(segment).transpose()?;
                (vlan.into_iter().collect(), None)
            }
        };
        Ok(PortAssociation {
            port_name: change.port.as_str().to_string(),
            port_profile_uuid: profile.uuid.clone(),
            lan_segment_uuids,
            native_lan_segment_uuid: native,
        })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, BackendError> {
        self.client
            .call(Method::GET, path, query, None)
            .await
            .map_err(CsoError::into_backend)
    }
}

#[async_trait]
impl SwitchBackend for CsoBackend {
    fn kind(&self) -> &'static str {
        "cso"
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
        let resolved = self.resolve(switch, changes).await?;
        let targets = changes
            .iter()
            .map(|c| self.target(c, &resolved))
            .collect::<Result<Vec<_>, _>>()?;

        // Compared in order, so a port named twice in one batch ends as the last change says.
        let mut state = resolved.current.clone();
        let mut writes: BTreeMap<String, PortAssociation> = BTreeMap::new();
        let mut results = Vec::with_capacity(changes.len());
        for target in targets {
            let before = state.get(&target.port_name);
            let changed = !before.is_some_and(|b| target.matches(b));
            let diff = if changed {
                describe(before, &target, &resolved)
            } else {
                String::new()
            };
            results.push(PortResult {
                port: changes[results.len()].port.clone(),
                changed,
                diff,
            });
            state.insert(
                target.port_name.clone(),
                Association {
                    port_name: target.port_name.clone(),
                    port_profile_uuid: Some(target.port_profile_uuid.clone()),
                    lan_segment_uuids: target.lan_segment_uuids.clone(),
                    native_lan_segment_uuid: target.native_lan_segment_uuid.clone(),
                    deploy_status: Some("deployed".into()),
                },
            );
            if changed {
                writes.insert(target.port_name.clone(), target);
            } else {
                writes.remove(&target.port_name);
            }
        }
        if writes.is_empty() {
            tracing::info!(switch = %switch.name, ports = changes.len(), "cso: already in place");
            return Ok(results);
        }
        let device_uuid = resolved.device.uuid.as_str();
        let ports: Vec<&PortAssociation> = writes.values().collect();
        let port_names: Vec<&str> = ports.iter().map(|p| p.port_name.as_str()).collect();
        tracing::info!(switch = %switch.name, device = %device_uuid, ports = ?port_names, "cso: applying");
        self.client
            .call_once(
                Method::POST,
                "/tssm/apply-port-config-association",
                &[],
                Some(&json!({"input": {
                    "device_uuid": device_uuid,
                    "port_config_associations": ports,
                }})),
            )
            .await
            .map_err(CsoError::into_backend_write)?;
        self.client
            .call_once(
                Method::POST,
                "/tssm/deploy-port-config-association",
                &[],
                Some(&json!({"input": {"device_uuid": device_uuid, "port_names": port_names}})),
            )
            .await
            .map_err(CsoError::into_backend_write)?;
        Ok(results)
    }
}

/// The device for a switch name: its `fq_name` contains the name (or, for an FQDN, its first
/// label); a device whose last `fq_name` element is the name wins over one that only
/// contains it somewhere.
fn find_device(devices: &[Device], name: &str) -> Option<Device> {
    let by = |wanted: &str| {
        let named = |d: &&Device| d.fq_name.iter().any(|n| n.eq_ignore_ascii_case(wanted));
        let last = |d: &&Device| {
            d.fq_name
                .last()
                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
        };
        devices
            .iter()
            .filter(named)
            .find(last)
            .or_else(|| devices.iter().find(named))
            .cloned()
    };
    by(name).or_else(|| {
        name.split_once('.')
            .filter(|(short, _)| !short.is_empty())
            .and_then(|(short, _)| by(short))
    })
}

fn describe(before: Option<&Association>, target: &PortAssociation, resolved: &Resolved) -> String {
    let profile = |uuid: &str| {
        resolved
            .profiles
            .iter()
            .find(|p| p.uuid == uuid)
            .map(|p| p.label().to_string())
            .unwrap_or_else(|| uuid.to_string())
    };
    let segment = |uuid: &str| {
        resolved
            .segments
            .iter()
            .find(|s| s.uuid == uuid)
            .map(|s| s.label().to_string())
            .unwrap_or_else(|| uuid.to_string())
    };
    let was = match before.and_then(|b| b.port_profile_uuid.as_deref()) {
        Some(uuid) => {
            let pending = before
                .and_then(|b| b.deploy_status.as_deref())
                .is_some_and(|s| s != "deployed");
            format!(
                "\"{}\"{}",
                profile(uuid),
                if pending { " (not deployed)" } else { "" }
            )
        }
        None => "(none)".to_string(),
    };
    let mut names: Vec<String> = target
        .lan_segment_uuids
        .iter()
        .map(|u| segment(u))
        .collect();
    names.sort();
    let mut diff = format!(
        "cso {}: port profile {was} -> \"{}\", LAN segments [{}]",
        target.port_name,
        profile(&target.port_profile_uuid),
        names.join(", ")
    );
    if let Some(native) = &target.native_lan_segment_uuid {
        diff.push_str(&format!(", native {}", segment(native)));
    }
    diff
}

//! Planning: the `PortChange` for a decision, and what the store should remember once the
//! backend applied it.

use crate::model::{ApEvent, ApRef, InterfaceName, PortChange, Profile, SwitchRef};
use crate::store::{ApRecord, PortRecord};

pub fn change(
    event: &ApEvent,
    switch: &SwitchRef,
    port: &InterfaceName,
    profile: Profile,
    reason: impl Into<String>,
) -> PortChange {
    PortChange {
        switch: switch.clone(),
        port: port.clone(),
        profile,
        ap: ApRef {
            mac: event.ap_mac.clone(),
            name: event.ap_name.clone(),
        },
        site_name: event.site_name.clone(),
        reason: reason.into(),
    }
}

/// The port record after `change` went through: AP ports remember their AP; secured ports
/// stay managed (mesa owns them now) but belong to no AP.
pub fn port_record(change: &PortChange, event_id: &str) -> PortRecord {
    PortRecord {
        switch_name: change.switch.name.clone(),
        switch_mac: change.switch.mac.clone(),
        port: change.port.clone(),
        site_id: change.switch.site_id.clone(),
        profile: change.profile,
        managed: true,
        ap_mac: (change.profile == Profile::Ap).then(|| change.ap.mac.clone()),
        since: crate::clock::now(),
        event_id: Some(event_id.to_string()),
    }
}

pub fn ap_record(event: &ApEvent, switch: &SwitchRef, port: &InterfaceName) -> ApRecord {
    ApRecord {
        mac: event.ap_mac.clone(),
        name: event.ap_name.clone(),
        site_id: switch.site_id.clone(),
        switch_name: switch.name.clone(),
        switch_mac: switch.mac.clone(),
        port: port.clone(),
        last_event: event.kind.as_str().to_string(),
        last_seen: crate::clock::now(),
    }
}

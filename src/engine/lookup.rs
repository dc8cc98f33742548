//! Where is this AP plugged in, according to Mist now? The [`Locator`] asks Mist for the AP
//! (its site first, the whole org if it moved), waits for Mist to learn its LLDP neighbor,
//! and turns that neighbor into a switch and a validated Junos interface name. Each step is
//! written down in plain words for the audit trail and `mesa replay`.

use std::sync::Arc;
use std::time::Duration;

use crate::config::MistConfig;
use crate::mist::{DeviceSearchItem, MistClient, MistError};
use crate::model::{ApEvent, InterfaceName, SwitchRef};

/// What Mist says about the AP now: the site it is on and the switch port it sits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub site_id: String,
    pub ap_name: Option<String>,
    pub switch: SwitchRef,
    pub port: InterfaceName,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("AP not found in Mist (site or org)")]
    ApNotFound,
    #[error("Mist reports no LLDP neighbor for the AP after {attempts} lookups")]
    NoLldp { attempts: u32 },
    #[error("LLDP port is not a Junos interface name: {0}")]
    InvalidPort(String),
    #[error(transparent)]
    Mist(#[from] MistError),
}

pub struct Locator {
    mist: Arc<MistClient>,
    org_id: Option<String>,
    attempts: u32,
    backoff: Duration,
}

impl Locator {
    pub fn new(mist: Arc<MistClient>, cfg: &MistConfig) -> Locator {
        Locator {
            mist,
            org_id: cfg.org_id.clone(),
            attempts: cfg.lookup_attempts.max(1),
            backoff: cfg.lookup_backoff.get(),
        }
    }

    /// Site search; not found there (the AP moved) → org search (`event.org_id`, else
    /// `mist.org_id`) and carry on with the site it is on now. No LLDP data yet → look again
    /// every `mist.lookup_backoff`, `mist.lookup_attempts` lookups in all, then `NoLldp`.
    /// The initial `mist.lookup_delay` is the engine's to wait, so a newer event can
    /// supersede this one meanwhile.
    pub async fn locate(
        &self,
        event: &ApEvent,
        steps: &mut Vec<String>,
    ) -> Result<Lookup, LookupError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(found) = self.locate_once(event, steps).await? {
                return Ok(found);
            }
            if attempt >= self.attempts {
                return Err(self.give_up(attempt, steps));
            }
            steps.push(self.waiting(attempt));
            tokio::time::sleep(self.backoff).await;
        }
    }

    /// Lookups made before "no LLDP neighbor", and the wait between them.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The audit line for a lookup that found no LLDP neighbor yet.
    pub fn waiting(&self, attempt: u32) -> String {
        format!(
            "no LLDP neighbor known yet (lookup {attempt} of {}): retrying in {}",
            self.attempts,
            humantime::format_duration(self.backoff)
        )
    }

    /// The final word after `attempt` lookups without an LLDP neighbor.
    pub fn give_up(&self, attempt: u32, steps: &mut Vec<String>) -> LookupError {
        steps.push(format!(
            "no LLDP neighbor after {attempt} lookups: giving up"
        ));
        LookupError::NoLldp { attempts: attempt }
    }

    /// One lookup: `None` while Mist knows no LLDP neighbor for the AP yet. The engine
    /// waits between lookups itself, so a newer event of the AP can supersede the wait.
    pub async fn locate_once(
        &self,
        event: &ApEvent,
        steps: &mut Vec<String>,
    ) -> Result<Option<Lookup>, LookupError> {
        let org_id = event.org_id.as_deref().or(self.org_id.as_deref());
        let mut site_id = event.site_id.clone();
        let item = self.find(&mut site_id, org_id, event, steps).await?;
        if !item.has_lldp() {
            return Ok(None);
        }
        let system_name = item
            .lldp_system_name
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string();
        steps.push(format!(
            "LLDP: switch {system_name:?}, port_id {:?}, port_desc {:?}, mgmt {:?}",
            item.lldp_port_id.as_deref().unwrap_or(""),
            item.lldp_port_desc.as_deref().unwrap_or(""),
            item.lldp_mgmt_addr.as_deref().unwrap_or("")
        ));
        let port =
            match interface_from_lldp(item.lldp_port_id.as_deref(), item.lldp_port_desc.as_deref())
            {
                Ok(port) => port,
                Err(raw) => {
                    steps.push(format!("rejected: {raw}"));
                    return Err(LookupError::InvalidPort(raw));
                }
            };
        steps.push(format!("interface {port}"));

        let switch = self.mist.switch_by_hostname(&site_id, &system_name).await?;
        match &switch {
            Some(sw) => steps.push(format!(
                "switch {system_name:?} on site {site_id}: MAC {}, device {}",
                sw.mac, sw.device_id
            )),
            None => steps.push(format!(
                "switch {system_name:?} not found among the site's switches in Mist"
            )),
        }
        // Mist's own record of the switch first: the LLDP management address is what the AP
        // heard on the wire, and a device spliced in between could name itself there and
        // receive mesa's NETCONF login.
        let mgmt_addr = switch
            .as_ref()
            .and_then(|s| s.mgmt_ip.clone())
            .or_else(|| item.lldp_mgmt_addr.clone().filter(|a| !a.trim().is_empty()));
        Ok(Some(Lookup {
            ap_name: event
                .ap_name
                .clone()
                .or_else(|| item.name().map(str::to_string)),
            switch: SwitchRef {
                name: system_name,
                site_id: site_id.clone(),
                mac: switch.map(|s| s.mac),
                mgmt_addr,
            },
            site_id,
            port,
        }))
    }

    /// One lookup of the AP: on `site_id`, else across the org (updating `site_id` to where
    /// the AP is now).
    async fn find(
        &self,
        site_id: &mut String,
        org_id: Option<&str>,
        event: &ApEvent,
        steps: &mut Vec<String>,
    ) -> Result<DeviceSearchItem, LookupError> {
        let mac = &event.ap_mac;
        if site_id.is_empty() {
            // `site_id` is optional in Mist's device events: the org knows where the AP is.
            steps.push("the event names no site: searching the org".into());
        } else if let Some(item) = self.mist.find_ap_on_site(site_id, mac).await? {
            steps.push(format!("site {site_id}: found AP {mac}{}", describe(&item)));
            return Ok(item);
        } else {
            steps.push(format!("site {site_id}: AP {mac} not found"));
        }
        let Some(org_id) = org_id else {
            steps.push("no org id (event or mist.org_id) to search the org: AP not found".into());
            return Err(LookupError::ApNotFound);
        };
        let Some(item) = self.mist.find_ap_in_org(org_id, mac).await? else {
            steps.push(format!("org {org_id}: AP {mac} not found"));
            return Err(LookupError::ApNotFound);
        };
        match item.site_id.clone().filter(|s| !s.is_empty()) {
            Some(now_on) => {
                steps.push(format!(
                    "org {org_id}: AP {mac} is now on site {now_on}{}",
                    describe(&item)
                ));
                *site_id = now_on;
                Ok(item)
            }
            None => {
                steps.push(format!("org {org_id}: AP {mac} is not assigned to a site"));
                Err(LookupError::ApNotFound)
            }
        }
    }
}

fn describe(item: &DeviceSearchItem) -> String {
    match item.name() {
        Some(name) => format!(" ({name})"),
        None => String::new(),
    }
}

/// Interface name from LLDP. Junos may advertise an ifIndex (`526`) as port id and the name
/// in the description, or the name with its unit (`ge-0/0/12.0`): whichever of `port_id` /
/// `port_desc` is a Junos physical interface name wins, `port_id` first, unit stripped.
/// Neither → `Err` with both raw values, which the engine records as "rejected".
pub fn interface_from_lldp(
    port_id: Option<&str>,
    port_desc: Option<&str>,
) -> Result<InterfaceName, String> {
    let candidates = [port_id, port_desc];
    candidates
        .iter()
        .flatten()
        .map(|raw| raw.trim())
        .filter(|raw| !raw.is_empty())
        .find_map(|raw| InterfaceName::parse(raw).ok())
        .ok_or_else(|| {
            format!(
                "no Junos interface name in LLDP (port_id {:?}, port_desc {:?})",
                port_id.unwrap_or(""),
                port_desc.unwrap_or("")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lldp_port_names() {
        let ok = |id, desc| interface_from_lldp(id, desc).map(String::from);
        assert_eq!(ok(Some("ge-0/0/12"), None), Ok("ge-0/0/12".into()));
        assert_eq!(ok(Some("526"), Some("ge-0/0/12.0")), Ok("ge-0/0/12".into()));
        assert_eq!(
            ok(Some("ge-0/0/3.0"), Some("ge-0/0/3")),
            Ok("ge-0/0/3".into())
        );
        assert_eq!(ok(Some(""), Some(" mge-1/0/47 ")), Ok("mge-1/0/47".into()));
        assert!(ok(Some("526"), Some("AP uplink")).is_err());
        assert!(ok(Some("ge-0/0/1; delete"), None).is_err());
        assert!(ok(None, Some("ge-0/0/1\nset system root-authentication")).is_err());
        assert!(ok(None, None).is_err());
    }
}

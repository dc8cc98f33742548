//! Where is this AP plugged in, according to Mist now? The [`Locator`] looks as soon as the
//! event is journaled and keeps looking (1 s apart for half a minute, then 2 s, 4 s ... up
//! to `mist.lookup_backoff`, `mist.lookup_attempts` lookups in all) until Mist reports an LLDP
//! neighbor newer than the event, then turns it into a switch and a validated Junos interface
//! name. Each look reads the AP's site from a snapshot of its AP stats shared with every
//! other lookup of the site ([`crate::mist::snapshot`]); only an AP missing from it (moved,
//! new) costs a device search of its own. Each step is written down in plain words for the
//! audit trail and `mesa replay`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;

use crate::config::MistConfig;
use crate::mist::snapshot::ApSnapshot;
use crate::mist::{ApStat, DeviceSearchItem, MistClient, MistError};
use crate::model::{ApEvent, EventKind, InterfaceName, SwitchRef};

/// Wait between two lookups while Mist usually learns a neighbor (the first
/// [`QUICK_LOOKUPS`]); then it doubles up to `mist.lookup_backoff`.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// Lookups made [`FIRST_WAIT`] apart: with the gathering window, a neighbor Mist learns in
/// the first half minute is seen about 2 s later.
const QUICK_LOOKUPS: u32 = 15;
/// Lookups of this many sites within [`ORG_BUSY_WINDOW`] read the whole org instead.
const ORG_BUSY_SITES: usize = 4;
const ORG_BUSY_WINDOW: Duration = Duration::from_secs(10);
/// Above this many lookups under way, finished ones older than an hour are forgotten.
const SWEEP_ABOVE: usize = 10_000;

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

/// The AP's LLDP neighbor as one Mist answer (AP stats or device search) gave it.
#[derive(Debug, Clone, Default)]
struct Sighting {
    /// The site Mist has the AP on, when the answer says.
    site_id: Option<String>,
    name: Option<String>,
    system_name: Option<String>,
    port_id: Option<String>,
    port_desc: Option<String>,
    mgmt_addr: Option<String>,
}

impl Sighting {
    fn from_search(item: &DeviceSearchItem) -> Option<Sighting> {
        item.has_lldp().then(|| Sighting {
            site_id: None,
            name: item.name().map(str::to_string),
            system_name: item.lldp_system_name.clone(),
            port_id: item.lldp_port_id.clone(),
            port_desc: item.lldp_port_desc.clone(),
            mgmt_addr: item.lldp_mgmt_addr.clone(),
        })
    }

    fn from_stat(stat: &ApStat) -> Option<Sighting> {
        let lldp = stat.lldp_stat.as_ref()?;
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        (set(&lldp.system_name) && (set(&lldp.port_id) || set(&lldp.port_desc))).then(|| Sighting {
            site_id: stat.site_id.clone().filter(|s| !s.is_empty()),
            name: stat.name.clone().filter(|n| !n.is_empty()),
            system_name: lldp.system_name.clone(),
            port_id: lldp.port_id.clone(),
            port_desc: lldp.port_desc.clone(),
            mgmt_addr: lldp.mgmt_addr.clone(),
        })
    }
}

/// What the site's AP stats say about the AP.
enum FromStats {
    Found(Sighting),
    /// In the stats, but no LLDP neighbor newer than the event yet: look again later.
    NotYet,
    /// Not in the site's stats (moved, new, or no site named): ask the device search.
    Missing,
}

pub struct Locator {
    mist: Arc<MistClient>,
    org_id: Option<String>,
    attempts: u32,
    backoff: Duration,
    snapshot_ttl: chrono::Duration,
    /// `mist.org_gather` is not 0: busy hours read the whole org.
    org_wide: bool,
    /// Event id → start of the snapshot read its last look used: the next look of the same
    /// event needs a newer one.
    looked: DashMap<String, DateTime<Utc>>,
}

fn backoff_after(attempt: u32, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(QUICK_LOOKUPS).min(16);
    FIRST_WAIT.saturating_mul(1u32 << doublings).min(cap)
}

impl Locator {
    pub fn new(mist: Arc<MistClient>, cfg: &MistConfig) -> Locator {
        Locator {
            mist,
            org_id: cfg.org_id.clone(),
            attempts: cfg.lookup_attempts.max(1),
            backoff: cfg.lookup_backoff.get(),
            snapshot_ttl: chrono::Duration::from_std(cfg.snapshot_ttl.get())
                .unwrap_or(chrono::Duration::MAX),
            org_wide: !cfg.org_gather.get().is_zero(),
            looked: DashMap::new(),
        }
    }

    /// Site snapshot, else site search; not found there (the AP moved) → org search
    /// (`event.org_id`, else `mist.org_id`) and carry on with the site it is on now. No LLDP
    /// neighbor newer than the event yet → look again after [`Locator::backoff`],
    /// `mist.lookup_attempts` lookups in all, then `NoLldp`. The minimum wait
    /// `mist.lookup_delay` is the engine's to wait, so a newer event can supersede this one
    /// meanwhile.
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
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Lookups made before "no LLDP neighbor".
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait after lookup `attempt` (from 1) found nothing: 1 s for the first
    /// [`QUICK_LOOKUPS`] (each look also waits for the site's read to gather, so about one
    /// read every 2 s), then doubling, at most `mist.lookup_backoff`. Mist usually learns a
    /// neighbor within half a minute; when it has not, later lookups need not come as often.
    /// Looks of one site are shared, so a site costs the same however many APs wait.
    pub fn backoff(&self, attempt: u32) -> Duration {
        backoff_after(attempt, self.backoff)
    }

    /// How long an AP's lookups go on before "no LLDP neighbor" (`mist.lookup_delay`, the
    /// waits between lookups and one gathering window per look): the longest Mist may take
    /// to learn a neighbor and still have mesa find it without a hold's re-check.
    pub fn span(cfg: &MistConfig) -> Duration {
        let attempts = cfg.lookup_attempts.max(1);
        let waits: Duration = (1..attempts)
            .map(|a| backoff_after(a, cfg.lookup_backoff.get()))
            .sum();
        cfg.lookup_delay.get() + waits + cfg.lookup_gather.get().saturating_mul(attempts)
    }

    /// The audit line for a lookup that found no LLDP neighbor yet.
    pub fn waiting(&self, attempt: u32) -> String {
        format!(
            "no LLDP neighbor known yet (lookup {attempt} of {}): retrying in {}",
            self.attempts,
            humantime::format_duration(self.backoff(attempt))
        )
    }

    /// The final word after `attempt` lookups without an LLDP neighbor.
    pub fn give_up(&self, attempt: u32, steps: &mut Vec<String>) -> LookupError {
        steps.push(format!(
            "no LLDP neighbor after {attempt} lookups: giving up"
        ));
        LookupError::NoLldp { attempts: attempt }
    }

    /// One lookup: `None` while Mist knows no LLDP neighbor for the AP newer than the event.
    /// The engine waits between lookups itself, so a newer event of the AP can supersede the
    /// wait.
    pub async fn locate_once(
        &self,
        event: &ApEvent,
        steps: &mut Vec<String>,
    ) -> Result<Option<Lookup>, LookupError> {
        let org_id = event.org_id.as_deref().or(self.org_id.as_deref());
        let mut site_id = event.site_id.clone();
        let sighting = match self.in_site_stats(event, steps).await {
            Ok(FromStats::Found(sighting)) => {
                self.looked.remove(&event.id);
                if let Some(now_on) = sighting.site_id.clone().filter(|s| *s != site_id) {
                    steps.push(format!("AP {} is on site {now_on} now", event.ap_mac));
                    site_id = now_on;
                }
                sighting
            }
            Ok(FromStats::NotYet) => return Ok(None),
            Ok(FromStats::Missing) => {
                self.looked.remove(&event.id);
                let item = self.find(&mut site_id, org_id, event, steps).await?;
                match Sighting::from_search(&item) {
                    Some(sighting) => sighting,
                    None => return Ok(None),
                }
            }
            Err(e) => {
                self.looked.remove(&event.id);
                return Err(e.into());
            }
        };
        let system_name = sighting
            .system_name
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string();
        steps.push(format!(
            "LLDP: switch {system_name:?}, port_id {:?}, port_desc {:?}, mgmt {:?}",
            sighting.port_id.as_deref().unwrap_or(""),
            sighting.port_desc.as_deref().unwrap_or(""),
            sighting.mgmt_addr.as_deref().unwrap_or("")
        ));
        let port =
            match interface_from_lldp(sighting.port_id.as_deref(), sighting.port_desc.as_deref()) {
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
            .or_else(|| sighting.mgmt_addr.clone().filter(|a| !a.trim().is_empty()));
        Ok(Some(Lookup {
            ap_name: event.ap_name.clone().or_else(|| sighting.name.clone()),
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

    /// The AP in its site's AP stats, from a read shared with every lookup of the site
    /// waiting meanwhile.
    async fn in_site_stats(
        &self,
        event: &ApEvent,
        steps: &mut Vec<String>,
    ) -> Result<FromStats, MistError> {
        let site_id = event.site_id.as_str();
        if site_id.is_empty() {
            return Ok(FromStats::Missing);
        }
        let connect = event.kind != EventKind::ApDisconnected;
        // Only a read that started after the event arrived (and after this event's previous
        // look, and within `mist.snapshot_ttl` of now) answers: an older one may show the
        // port the AP left, and a disconnect reverts a port on what it says.
        let mut since = event
            .received_at
            .max(crate::clock::now() - self.snapshot_ttl);
        if let Some(previous) = self.looked.get(&event.id) {
            since = since.max(*previous + chrono::Duration::milliseconds(1));
        }
        let org_id = event.org_id.as_deref().or(self.org_id.as_deref());
        let busy = self.mist.busy_sites(site_id, ORG_BUSY_WINDOW);
        let (snapshot, scope) = match org_id.filter(|_| self.org_wide && busy >= ORG_BUSY_SITES) {
            Some(org) => (
                self.mist.org_aps_since(org, since).await?,
                format!("org {org} ({busy} sites looking up APs)"),
            ),
            None => (
                self.mist.site_aps_since(site_id, since).await?,
                format!("site {site_id}"),
            ),
        };
        self.remember(event, &snapshot);
        let Some(stat) = snapshot.ap(&event.ap_mac) else {
            steps.push(format!(
                "{scope}: AP {} not in the AP stats ({} APs read at {})",
                event.ap_mac,
                snapshot.len(),
                clock(snapshot.read_at)
            ));
            return Ok(FromStats::Missing);
        };
        let seen = format!(
            "{scope}: AP {}{} in the AP stats read at {} ({} APs)",
            event.ap_mac,
            stat.name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            clock(snapshot.read_at),
            snapshot.len()
        );
        steps.push(seen);
        let sighting = if connect {
            fresh_sighting(stat, event)
        } else {
            // Where the AP was last: Mist keeps a gone AP's last LLDP neighbor.
            Sighting::from_stat(stat).ok_or_else(|| "no LLDP neighbor in the AP stats".into())
        };
        match sighting {
            Ok(sighting) => Ok(FromStats::Found(sighting)),
            Err(why) => {
                steps.push(why);
                Ok(FromStats::NotYet)
            }
        }
    }

    fn remember(&self, event: &ApEvent, snapshot: &ApSnapshot) {
        if self.looked.len() > SWEEP_ABOVE {
            let old = crate::clock::now() - chrono::Duration::hours(1);
            self.looked.retain(|_, at| *at > old);
        }
        self.looked.insert(event.id.clone(), snapshot.read_at);
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

/// The AP's LLDP neighbor from its stats entry, if Mist heard from the AP at or after the
/// event (its `last_seen`, Mist's clock like the event's time): an older entry may still
/// show the port the AP left. Else why not, for the audit.
fn fresh_sighting(stat: &ApStat, event: &ApEvent) -> Result<Sighting, String> {
    if stat.is_disconnected() {
        return Err("Mist still shows the AP disconnected".into());
    }
    let event_at = event.timestamp.millis() as f64 / 1000.0;
    if let Some(seen) = stat.last_seen.filter(|seen| *seen < event_at) {
        return Err(format!(
            "Mist last heard from the AP at {}, before the event ({}): its LLDP data may \
             predate the connect",
            epoch_clock(seen),
            epoch_clock(event_at)
        ));
    }
    Sighting::from_stat(stat).ok_or_else(|| "no LLDP neighbor in the AP stats yet".to_string())
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S%.3f UTC").to_string()
}

fn epoch_clock(secs: f64) -> String {
    DateTime::from_timestamp_millis((secs * 1000.0) as i64)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| format!("{secs}"))
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

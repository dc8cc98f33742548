//! Direct evidence for the outage guard: what Mist shows about the port's switch and the
//! port itself. A switch that lost the cloud means the site (or its uplink) is out; a
//! connected switch reporting the port down or another neighbor means the AP was unplugged,
//! whatever share of the site's APs is down.

use std::sync::Arc;
use std::time::Duration;

use super::outage::{cache_key, Revert};
use crate::mist::cache::FlightCache;
use crate::mist::{MistClient, MistError, SwitchStat};

/// What the switch and the port show.
pub(super) enum Evidence {
    /// The switch is connected and the AP is not on the port: an unplug.
    Unplug(String),
    /// The switch itself lost the cloud: the site (or its uplink) is out.
    SwitchDown(String),
    /// Nothing that settles it (AP still the neighbor, switch or port unknown to Mist).
    None(String),
}

pub(super) struct SwitchEvidence {
    mist: Arc<MistClient>,
    /// How long a reading with a switch down is reused (the outage window).
    down_ttl: Duration,
    calm_ttl: Duration,
    reads: FlightCache<String, Arc<Vec<SwitchStat>>>,
}

impl SwitchEvidence {
    pub(super) fn new(mist: Arc<MistClient>, down_ttl: Duration) -> SwitchEvidence {
        SwitchEvidence {
            mist,
            down_ttl,
            calm_ttl: Duration::ZERO,
            reads: FlightCache::new(),
        }
    }

    pub(super) fn with_calm_ttl(mut self, ttl: Duration) -> SwitchEvidence {
        self.calm_ttl = ttl;
        self
    }

    /// Costs one switch stats read per site (shared; reused for the window when a switch is
    /// down, except by re-checks) and, for a connected switch, one port read.
    pub(super) async fn look(&self, revert: &Revert<'_>) -> Result<Evidence, MistError> {
        let site = revert.site_id;
        let switch = revert.switch;
        let mac = match &switch.mac {
            Some(mac) => mac.clone(),
            None => match self.mist.switch_by_hostname(site, &switch.name).await? {
                Some(info) => info.mac,
                None => {
                    return Ok(Evidence::None(format!(
                        "switch {} not in Mist",
                        switch.name
                    )))
                }
            },
        };
        let switches = self
            .reads
            .get_or_fetch(cache_key(site, revert.fresh), || async {
                let stats = self.mist.site_switch_stats(site).await?;
                // Like an outage reading: a switch that lost the cloud is news for every
                // event of the site, and they come in hundreds.
                let ttl = if stats.iter().any(|s| !s.is_connected()) && !revert.fresh {
                    self.down_ttl
                } else {
                    self.calm_ttl
                };
                Ok::<_, MistError>((Arc::new(stats), ttl))
            })
            .await?;
        let Some(stat) = switches.iter().find(|s| s.mac.as_ref() == Some(&mac)) else {
            return Ok(Evidence::None(format!(
                "no cloud status for switch {}",
                switch.name
            )));
        };
        if !stat.is_connected() {
            return Ok(Evidence::SwitchDown(format!(
                "switch {} is itself {} in Mist",
                switch.name,
                stat.status.as_deref().unwrap_or("not connected")
            )));
        }
        let port = revert.port;
        let Some(port_stat) = self.mist.port_stats(site, &mac, port).await? else {
            return Ok(Evidence::None(format!(
                "no stats for {} {port}",
                switch.name
            )));
        };
        let connected = format!("switch {} is connected to Mist and reports", switch.name);
        Ok(if !port_stat.up {
            Evidence::Unplug(format!("{connected} {port} down"))
        } else {
            match &port_stat.neighbor_mac {
                None => Evidence::Unplug(format!("{connected} {port} up without an LLDP neighbor")),
                Some(n) if n != revert.ap => {
                    Evidence::Unplug(format!("{connected} another LLDP neighbor on {port} ({n})"))
                }
                Some(_) => Evidence::None("AP still the LLDP neighbor of its port".into()),
            }
        })
    }
}

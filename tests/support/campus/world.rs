//! The campus as it really is during a simulated day: which AP is plugged into which switch
//! port, whether its link is up, whether the switch hears it by LLDP, whether it talks to the
//! cloud, and what Mist believes about all of that (status, `last_seen`, the AP's LLDP
//! neighbour, a switch's port stats, which freeze while its site is cut off).
//!
//! The world is the single source of truth: [`World::sync`] rewrites the fake Mist cloud from
//! it after every step, so every Mist answer mesa gets describes one consistent campus. The
//! recording backend ([`super::recorder`]) judges each port change against it at the moment
//! the change reaches the "switch".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mesa::clock::Instant;

use mesa::model::{InterfaceName, Mac, Profile, SwitchRef};
use mesa::sim::mist::{now, ApStatus, FakeAp, FakeMist, FakePort, FakeSwitch, Lldp};

use super::check::Invariant;

/// Ports every simulated switch has (`ge-0/0/0` .. `ge-0/0/23`).
pub const PORTS_PER_SWITCH: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId {
    pub switch: usize,
    pub index: usize,
}

impl PortId {
    pub fn name(&self) -> String {
        format!("ge-0/0/{}", self.index)
    }
}

#[derive(Debug, Clone)]
pub struct SiteSpec {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct SwitchSpec {
    pub mac: Mac,
    /// Mist's hostname (`last_hostname`).
    pub hostname: String,
    /// What the switch advertises by LLDP: the hostname or an FQDN of it.
    pub lldp_name: String,
    pub site: usize,
    /// False: a switch Mist does not manage (no device, no port stats); APs still name it
    /// by LLDP and mesa reaches it by name.
    pub in_mist: bool,
    /// LLDP `port_id` is an ifIndex and `port_desc` the name with its unit (EX does this).
    pub ifindex_ids: bool,
    pub ip: String,
}

#[derive(Debug, Clone)]
pub struct ApSpec {
    pub mac: Mac,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub sites: Vec<SiteSpec>,
    pub switches: Vec<SwitchSpec>,
    pub aps: Vec<ApSpec>,
}

impl Topology {
    /// The switch a `SwitchRef` from mesa means: by MAC when it has one, else by any name
    /// the switch goes by (Mist hostname, LLDP name, the LLDP name's first label).
    pub fn resolve_switch(&self, switch: &SwitchRef) -> Option<usize> {
        if let Some(mac) = &switch.mac {
            return self.switches.iter().position(|s| &s.mac == mac);
        }
        let name = switch.name.trim();
        self.switches.iter().position(|s| {
            s.hostname.eq_ignore_ascii_case(name)
                || s.lldp_name.eq_ignore_ascii_case(name)
                || s.lldp_name
                    .split('.')
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case(name))
        })
    }

    pub fn resolve_port(&self, switch: &SwitchRef, port: &InterfaceName) -> Option<PortId> {
        let switch = self.resolve_switch(switch)?;
        let index = port.as_str().strip_prefix("ge-0/0/")?.parse().ok()?;
        (index < PORTS_PER_SWITCH).then_some(PortId { switch, index })
    }

    pub fn site_of(&self, port: PortId) -> usize {
        self.switches[port.switch].site
    }

    fn lldp(&self, port: PortId) -> Lldp {
        let sw = &self.switches[port.switch];
        let (port_id, port_desc) = if sw.ifindex_ids {
            (
                format!("{}", 501 + port.index),
                format!("{}.0", port.name()),
            )
        } else {
            (port.name(), port.name())
        };
        Lldp {
            system_name: sw.lldp_name.clone(),
            port_id,
            port_desc,
            mgmt_addr: Some(sw.ip.clone()),
        }
    }
}

/// Whether an AP is inside a PoE flap episode, where its link really drops and a revert is
/// not a mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flap {
    Off,
    On,
}

#[derive(Debug, Clone)]
pub struct ApLive {
    /// The port the AP is physically plugged into.
    pub at: Option<PortId>,
    pub link: bool,
    /// The switch hears the AP by LLDP.
    pub neighbor: bool,
    /// The AP talks to the cloud right now (Mist may not have noticed a silence yet).
    pub talking: bool,
    /// Mist's status.
    pub cloud: bool,
    /// Epoch seconds the AP was last heard (while silent).
    pub silent_since: f64,
    /// The LLDP neighbour Mist reports for the AP (stale while it is away).
    pub mist_lldp: Option<PortId>,
    /// The site Mist has the AP assigned to.
    pub site: usize,
    pub present_since: Instant,
    pub flap: Flap,
}

/// An AP leaving a port (unplugged or carried elsewhere) and the signals Mist sent about it.
#[derive(Debug, Clone)]
pub struct Departure {
    pub ap: usize,
    pub port: PortId,
    pub left_at: Instant,
    pub disconnect_sent: Option<Instant>,
    pub connect_sent: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct OutageWindow {
    pub site: usize,
    pub start: Instant,
    pub end: Option<Instant>,
}

/// One port change as it reached the (recording) backend.
#[derive(Debug, Clone)]
pub struct Apply {
    pub at: Instant,
    pub port: Option<PortId>,
    pub profile: Profile,
    pub ap: Mac,
    pub reason: String,
}

pub struct World {
    pub topo: Topology,
    pub aps: Vec<ApLive>,
    pub switch_up: Vec<bool>,
    pub outages: Vec<OutageWindow>,
    pub departures: Vec<Departure>,
    /// Profile per port as the recording backend holds it.
    pub profiles: BTreeMap<PortId, Profile>,
    pub applies: Vec<Apply>,
    /// Found while the day ran (at apply time).
    pub violations: Vec<(Invariant, String)>,
    pub start: Instant,
    /// When the fake Mist answered a programmed 429 or 5xx: mesa cannot judge a revert
    /// without Mist, so deadlines move by the time Mist refused it.
    pub refusals: Vec<Instant>,
    /// Every AP Mist declared disconnected: (ap, its site then, since when it was silent in
    /// simulated seconds: the `last_seen` Mist counts drops by).
    pub cloud_downs: Vec<(usize, usize, f64)>,
    /// PoE flaps per AP: (ap, start, end). mesa holds a flapping AP's events until it is
    /// stable, its move to another port included.
    pub flaps: Vec<(usize, Instant, Option<Instant>)>,
}

/// Simulated seconds as a duration of the day's (virtual) clock: a simulated second is a
/// second of mesa's clock.
pub fn sim_secs(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.max(0.0))
}

impl World {
    pub fn new(topo: Topology, start: Instant) -> World {
        let aps = (0..topo.aps.len())
            .map(|_| ApLive {
                at: None,
                link: false,
                neighbor: false,
                talking: false,
                cloud: false,
                silent_since: now() - 86_400.0 * 3.0,
                mist_lldp: None,
                site: 0,
                present_since: start,
                flap: Flap::Off,
            })
            .collect();
        World {
            switch_up: vec![true; topo.switches.len()],
            topo,
            aps,
            outages: Vec::new(),
            departures: Vec::new(),
            profiles: BTreeMap::new(),
            applies: Vec::new(),
            violations: Vec::new(),
            start,
            refusals: Vec::new(),
            cloud_downs: Vec::new(),
            flaps: Vec::new(),
        }
    }

    /// Simulated seconds between `from` and `to` in which Mist was refusing calls, counting
    /// after each refusal `recovery` simulated seconds (how long mesa's rate-limit gate may
    /// stay closed after the last 429 before it probes again).
    pub fn refused(&self, from: Instant, to: Instant, recovery: f64) -> f64 {
        let recovery = sim_secs(recovery);
        let mut total = Duration::ZERO;
        let mut covered_until = from;
        for &at in &self.refusals {
            let start = at.max(covered_until);
            let end = (at + recovery).min(to);
            if end > start {
                total += end - start;
                covered_until = end;
            }
        }
        total.as_secs_f64()
    }

    /// The last time Mist refused a call between `from` and `to`.
    pub fn last_refusal(&self, from: Instant, to: Instant) -> Option<Instant> {
        self.refusals
            .iter()
            .copied()
            .filter(|&at| at >= from && at <= to)
            .max()
    }

    /// Simulated seconds of an epoch time on mesa's clock (Mist's `last_seen`).
    pub fn sim_of_epoch(&self, epoch: f64) -> f64 {
        epoch - now() + self.sim(Instant::now())
    }

    pub fn at_sim(&self, secs: f64) -> Instant {
        self.start + sim_secs(secs)
    }

    /// Simulated seconds since the day began.
    pub fn sim(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    pub fn ap_on(&self, port: PortId) -> Option<usize> {
        self.aps.iter().position(|a| a.at == Some(port))
    }

    /// When the outage `site` is in at `at` began.
    pub fn outage_started(&self, site: usize, at: Instant) -> Option<Instant> {
        self.outages
            .iter()
            .find(|o| o.site == site && o.start <= at && o.end.is_none_or(|e| at <= e))
            .map(|o| o.start)
    }

    /// When an AP last left `port`.
    pub fn last_left(&self, port: PortId) -> Option<Instant> {
        self.departures
            .iter()
            .filter(|d| d.port == port)
            .map(|d| d.left_at)
            .max()
    }

    pub fn plug(&mut self, ap: usize, port: PortId, at: Instant) {
        let live = &mut self.aps[ap];
        live.at = Some(port);
        live.link = true;
        live.neighbor = false;
        live.present_since = at;
    }

    pub fn unplug(&mut self, ap: usize, at: Instant) {
        let live = &mut self.aps[ap];
        if let Some(port) = live.at.take() {
            self.departures.push(Departure {
                ap,
                port,
                left_at: at,
                disconnect_sent: None,
                connect_sent: None,
            });
        }
        live.link = false;
        live.neighbor = false;
        if live.talking {
            live.talking = false;
            live.silent_since = now();
        }
    }

    pub fn link(&mut self, ap: usize, up: bool) {
        let live = &mut self.aps[ap];
        live.link = up && live.at.is_some();
        if !up {
            live.neighbor = false;
            if live.talking {
                live.talking = false;
                live.silent_since = now();
            }
        }
    }

    pub fn silent(&mut self, ap: usize) {
        let live = &mut self.aps[ap];
        if live.talking {
            live.talking = false;
            live.silent_since = now();
        }
    }

    /// Mist declares the AP disconnected (the AP_DISCONNECTED it sends goes with this).
    pub fn cloud_down(&mut self, ap: usize, at: Instant) {
        self.aps[ap].cloud = false;
        let silent_since = self.sim_of_epoch(self.aps[ap].silent_since);
        self.cloud_downs.push((ap, self.aps[ap].site, silent_since));
        let here = self.aps[ap].at;
        if let Some(d) = self
            .departures
            .iter_mut()
            .rev()
            .find(|d| d.ap == ap && Some(d.port) != here && d.disconnect_sent.is_none())
        {
            d.disconnect_sent = Some(at);
        }
    }

    /// The AP is back in the cloud; `fresh` (it booted) means Mist has no LLDP for it until
    /// the AP reports one.
    pub fn cloud_up(&mut self, ap: usize, fresh: bool, at: Instant) {
        let live = &mut self.aps[ap];
        live.cloud = true;
        live.talking = true;
        if fresh {
            live.mist_lldp = None;
        }
        let here = live.at;
        if let Some(d) = self
            .departures
            .iter_mut()
            .rev()
            .find(|d| d.ap == ap && Some(d.port) != here && d.connect_sent.is_none())
        {
            d.connect_sent = Some(at);
        }
    }

    /// Rewrites the fake Mist cloud from the world: AP stats and search results, switches
    /// (only those Mist manages) and their port stats, frozen while the switch is cut off.
    pub fn sync(&self, fake: &FakeMist) {
        let t = now();
        let mut ports: BTreeMap<usize, BTreeMap<String, FakePort>> = BTreeMap::new();
        for (s, _) in self.topo.switches.iter().enumerate() {
            let entry = ports.entry(s).or_default();
            for index in 0..PORTS_PER_SWITCH {
                entry.insert(PortId { switch: s, index }.name(), FakePort::default());
            }
        }
        for (i, live) in self.aps.iter().enumerate() {
            let Some(port) = live.at else { continue };
            let spec = &self.topo.aps[i];
            let heard = live.link && live.neighbor;
            ports.entry(port.switch).or_default().insert(
                port.name(),
                FakePort {
                    up: live.link,
                    neighbor_mac: heard.then(|| spec.mac.clone()),
                    neighbor_system_name: heard.then(|| spec.name.clone()),
                    neighbor_port_desc: heard.then(|| "eth0".to_string()),
                },
            );
        }
        let mut state = fake.state();
        for (i, live) in self.aps.iter().enumerate() {
            let spec = &self.topo.aps[i];
            let ap = FakeAp {
                mac: spec.mac.clone(),
                name: spec.name.clone(),
                site_id: self.topo.sites[live.site].id.clone(),
                status: if live.cloud {
                    ApStatus::Connected
                } else {
                    ApStatus::Disconnected
                },
                last_seen: if live.talking { t } else { live.silent_since },
                lldp: live.mist_lldp.map(|p| self.topo.lldp(p)),
                lldp_hidden_for: 0,
                silent: !live.talking,
            };
            state.aps.insert(spec.mac.clone(), ap);
        }
        for (s, spec) in self.topo.switches.iter().enumerate() {
            if !spec.in_mist {
                continue;
            }
            if self.switch_up[s] {
                state.switches_down.remove(&spec.mac);
            } else {
                state.switches_down.entry(spec.mac.clone()).or_insert(t);
                if state.switches.contains_key(&spec.mac) {
                    // Mist keeps the last port stats a cut-off switch reported.
                    continue;
                }
            }
            let switch = FakeSwitch {
                mac: spec.mac.clone(),
                hostname: spec.hostname.clone(),
                site_id: self.topo.sites[spec.site].id.clone(),
                ip: spec.ip.clone(),
                ports: ports.remove(&s).unwrap_or_default(),
            };
            state.switches.insert(spec.mac.clone(), switch);
        }
    }
}

/// Ports of `switch` no AP was ever planned on (a swap on one port is not simulated).
pub fn free_ports(used: &BTreeSet<PortId>, switch: usize) -> impl Iterator<Item = PortId> + '_ {
    (0..PORTS_PER_SWITCH)
        .map(move |index| PortId { switch, index })
        .filter(move |p| !used.contains(p))
}

//! One campus day from a seed: the topology (sites, switches that Mist may or may not manage,
//! LLDP names that may be FQDNs, APs) and a timeline of what happens to it, in simulated
//! seconds. Times and waits follow what Mist and APs really do:
//!
//! - morning: every AP boots; Mist learns its LLDP neighbour 5–50 s after it connects
//!   (sometimes 150–300 s, longer than mesa's lookups wait);
//! - unplug: link down at once; Mist declares the AP disconnected 30–60 s later, and
//!   sometimes sends `AP_DISCONNECTED_LONG` minutes after;
//! - reboot (sometimes announced by `AP_RESTART_BY_USER`): link down a moment, link up
//!   *before* LLDP (the AP is still booting), back in the cloud after 60–150 s;
//! - move within a switch, across switches, across sites: unplugged, carried for 30–300 s,
//!   boots on its new port;
//! - PoE flap: 3–5 boot loops on the same port, then it settles;
//! - site WAN outage: every AP of the site (and its switches) loses the cloud at once; Mist
//!   declares the APs disconnected one by one over 30–180 s; back after 5–15 min;
//! - a small site loses three of its six APs for real within two minutes (renovation);
//! - a new AP installed on a free port;
//! - deliveries: some twice (org- and site-level webhooks), some with an odd event beside
//!   the good ones (an unassigned AP without `site_id`, a switch event), several events per
//!   body during an outage;
//! - Mist answering 429, 502 or slowly for a while.
//!
//! Generation is pure (no clock, no I/O), so a seed always describes the same day.

use std::collections::{BTreeMap, BTreeSet};

use mesa::config::Config;
use mesa::model::Mac;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::world::{free_ports, ApSpec, PortId, SiteSpec, SwitchSpec, Topology};

/// Events of one kind for one AP are at least this far apart (simulated seconds): Mist stamps
/// events to the second, and a duplicate is recognised by its content within a window.
pub const MIN_SAME_KIND_GAP: f64 = 80.0;

/// The waits of mesa's default configuration, in simulated seconds (a simulated second is
/// one second of mesa's defaults).
#[derive(Debug, Clone)]
pub struct Params {
    pub disconnect_delay: f64,
    pub recheck_after: f64,
    pub rate_limit_wait: f64,
    pub holds_recheck_after: f64,
    pub lookup_delay: f64,
    /// `lookup_delay` plus every lookup retry.
    pub lookup_total: f64,
    pub flap_within: f64,
    /// `guards.outage.window`: drops of a site this close count together.
    pub outage_window: f64,
    pub reconcile_interval: Option<f64>,
    /// `guards.lldp.on_unknown = "hold"` (once it exists): a port the LLDP guard cannot see
    /// (its switch is not in Mist) is held on purpose, so its unplugs are not expected to be
    /// secured.
    pub unknown_port_holds: bool,
    /// A calm campus: none of issue #13's hard cases (no odd events beside good ones, no LLDP
    /// learnt late, reboots too short for Mist to declare a disconnect, no PoE flaps, nothing
    /// on the small site but outages, outages only where Mist sees every switch). The engine
    /// of today must hold every invariant there: the harness's own baseline.
    pub calm: bool,
}

impl Params {
    pub fn from_defaults() -> Params {
        let c = Config::default();
        let s = |d: mesa::config::Duration| d.get().as_secs_f64();
        Params {
            disconnect_delay: s(c.guards.disconnect_delay),
            recheck_after: s(c.guards.lldp.recheck_after),
            rate_limit_wait: s(c.mist.rate_limit_wait),
            holds_recheck_after: s(c.guards.holds.recheck_after),
            lookup_delay: s(c.mist.lookup_delay),
            lookup_total: mesa::engine::lookup::Locator::span(&c.mist).as_secs_f64(),
            flap_within: s(c.guards.flap.within),
            outage_window: s(c.guards.outage.window),
            reconcile_interval: c.reconcile.enabled.then(|| s(c.reconcile.interval)),
            unknown_port_holds: toml::Value::try_from(&c).ok().is_some_and(|tree| {
                tree.get("guards")
                    .and_then(|g| g.get("lldp"))
                    .and_then(|l| l.get("on_unknown"))
                    .and_then(|v| v.as_str())
                    == Some("hold")
            }),
            calm: false,
        }
    }

    /// How long after the last incident the day goes on, so that every hold mesa may have
    /// made can end and be re-checked.
    pub fn tail(&self) -> f64 {
        self.flap_within
            + self.recheck_after
            + self.disconnect_delay
            + self.lookup_total
            + self.reconcile_interval.unwrap_or(0.0)
            + 120.0
    }

    /// After Mist's last refusal, how long until mesa calls again: its rate-limit gate
    /// doubles `rate_limit_wait` up to 8 times it, and an engine retry after a 5xx waits
    /// about as long.
    pub fn mist_recovery(&self) -> f64 {
        8.0 * self.rate_limit_wait
    }

    /// The stated bound: an unplugged AP's port is secured within `disconnect_delay` plus
    /// this after Mist's `AP_DISCONNECTED` (the LLDP guard's second look, or its wait for a
    /// port it cannot see; the site read again after it; a short wait for a site's drop to
    /// settle; Mist being slow). Checks add to it the time Mist refused calls
    /// ([`Params::mist_recovery`] after each refusal), a PoE flap of the AP on its next port
    /// ([`Params::flap_hold_bound`]) and the time a starved runtime stood still.
    pub fn secure_bound(&self) -> f64 {
        self.recheck_after + 3.0 * self.disconnect_delay + 60.0
    }

    /// After a PoE flap ends, until its held events were re-checked and acted on: the
    /// window must pass (a re-check at `flap_within` may find it not quite quiet yet and
    /// look once more), then the usual bound.
    pub fn flap_hold_bound(&self) -> f64 {
        2.0 * self.flap_within + self.secure_bound()
    }

    /// After a site's WAN cut ends, until a revert it held was re-checked and acted on: the
    /// hold's re-checks come `guards.holds.recheck_after` apart, doubling.
    pub fn outage_hold_bound(&self) -> f64 {
        3.0 * self.holds_recheck_after + self.secure_bound()
    }

    /// How long after a PoE flap settles its in-flight decisions may still land.
    pub fn flap_settle(&self) -> f64 {
        self.disconnect_delay + self.recheck_after + 60.0
    }
}

/// Something the sender adds to a body next to the real events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Odd {
    /// `AP_CONNECTED` of an AP claimed in the org but assigned to no site: no `site_id`.
    UnassignedAp,
    /// `SW_CONFIGURED` of a switch.
    SwitchEvent,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Delivered again this many simulated seconds later (org- and site-level webhooks).
    pub dup_after: Option<f64>,
    pub odd: Option<Odd>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    RateLimit(u32),
    ServerErrors(u32),
    /// Every Mist answer takes this long (simulated seconds); 0 ends it.
    Latency(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Plug {
        ap: usize,
        port: PortId,
    },
    Unplug {
        ap: usize,
    },
    Link {
        ap: usize,
        up: bool,
    },
    /// The switch hears the AP by LLDP.
    Neighbor {
        ap: usize,
    },
    /// Mist learns the AP's LLDP neighbour.
    MistLearns {
        ap: usize,
    },
    /// The APs stop talking to the cloud (WAN cut).
    Silent {
        aps: Vec<usize>,
    },
    /// Mist declares the APs disconnected and sends `AP_DISCONNECTED` (one body).
    CloudDown {
        aps: Vec<usize>,
        delivery: Delivery,
    },
    /// The APs are back in the cloud; Mist sends `kind` (one body).
    CloudUp {
        aps: Vec<usize>,
        kind: &'static str,
        fresh: bool,
        delivery: Delivery,
    },
    Reassign {
        ap: usize,
        site: usize,
    },
    SwitchCloud {
        site: usize,
        up: bool,
    },
    Outage {
        site: usize,
        on: bool,
    },
    Flapping {
        ap: usize,
        on: bool,
    },
    /// An event mesa does not act on today (`AP_RESTART_BY_USER`, `AP_DISCONNECTED_LONG`).
    Notice {
        ap: usize,
        kind: &'static str,
        delivery: Delivery,
    },
    Fault(Fault),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: f64,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub struct Day {
    pub seed: u64,
    pub topo: Topology,
    pub steps: Vec<Step>,
    /// When the day ends (the last incident plus [`Params::tail`]).
    pub end: f64,
    pub incidents: BTreeMap<&'static str, usize>,
}

struct Gen<'a> {
    rng: StdRng,
    p: &'a Params,
    topo: Topology,
    steps: Vec<Step>,
    ap_at: Vec<Option<PortId>>,
    ap_free: Vec<f64>,
    used: BTreeSet<PortId>,
    /// Per site: windows no other incident may touch (outages).
    busy: Vec<Vec<(f64, f64)>>,
    /// Per site: when the last incident there is over (an outage starts only after it: a
    /// real unplug just before a WAN cut is rightly secured, inside the outage window).
    quiet_at: Vec<f64>,
    incidents: BTreeMap<&'static str, usize>,
    multi_unplug_done: bool,
}

pub fn generate(seed: u64, p: &Params) -> Day {
    let mut rng = StdRng::seed_from_u64(seed);
    let (topo, placed) = topology(&mut rng);
    let n_aps = topo.aps.len();
    let mut g = Gen {
        rng,
        p,
        steps: Vec::new(),
        ap_at: vec![None; n_aps],
        ap_free: vec![0.0; n_aps],
        used: BTreeSet::new(),
        busy: vec![Vec::new(); topo.sites.len()],
        quiet_at: vec![0.0; topo.sites.len()],
        incidents: BTreeMap::new(),
        multi_unplug_done: false,
        topo,
    };
    g.morning(&placed);
    let window = 1200.0;
    let n = g.rng.gen_range(10..=16);
    let mut starts: Vec<f64> = (0..n)
        .map(|_| g.rng.gen_range(200.0..200.0 + window))
        .collect();
    starts.sort_by(f64::total_cmp);
    for t in starts {
        let roll = g.rng.gen_range(0..100);
        let done = match roll {
            0..=13 => g.unplug_one(t),
            14..=23 => g.install(t),
            24..=39 => g.reboot(t),
            40..=61 => g.move_ap(t),
            62..=75 if !p.calm => g.flap(t),
            76..=89 => g.outage(t),
            90.. if !p.calm => g.multi_unplug(t),
            _ => false,
        };
        if !done {
            *g.incidents.entry("skipped (nothing idle)").or_default() += 1;
        }
    }
    for _ in 0..g.rng.gen_range(4..=8) {
        let t = g.rng.gen_range(100.0..200.0 + window);
        match g.rng.gen_range(0..10) {
            0..=4 => {
                let n = g.rng.gen_range(1..=5);
                g.push(t, Action::Fault(Fault::RateLimit(n)));
                *g.incidents.entry("mist 429 burst").or_default() += 1;
            }
            5..=7 => {
                let latency = g.rng.gen_range(0.5..4.0);
                let lasts = g.rng.gen_range(30.0..120.0);
                g.push(t, Action::Fault(Fault::Latency(latency)));
                g.push(t + lasts, Action::Fault(Fault::Latency(0.0)));
                *g.incidents.entry("mist slow").or_default() += 1;
            }
            _ => {
                let n = g.rng.gen_range(1..=3);
                g.push(t, Action::Fault(Fault::ServerErrors(n)));
                *g.incidents.entry("mist 502 burst").or_default() += 1;
            }
        }
    }
    let mut steps = g.steps;
    steps.sort_by(|a, b| a.at.total_cmp(&b.at));
    let last = steps.last().map(|s| s.at).unwrap_or(0.0);
    Day {
        seed,
        topo: g.topo,
        steps,
        end: last + p.tail(),
        incidents: g.incidents,
    }
}

/// The campus and where each AP starts (spares nowhere).
fn topology(rng: &mut StdRng) -> (Topology, Vec<Option<PortId>>) {
    let n_sites = rng.gen_range(2..=3);
    let mut sites = Vec::new();
    let mut switches = Vec::new();
    let mut aps = Vec::new();
    let mut placed = Vec::new();
    for s in 0..n_sites {
        let code = ["hq", "lab", "annex"][s];
        sites.push(SiteSpec {
            id: format!("5171e000-0000-4000-8000-{:012x}", s + 1),
            name: code.to_uppercase(),
        });
        // Site 0 is the small one: one switch, six APs.
        let n_switches = if s == 0 { 1 } else { rng.gen_range(1..=3) };
        for k in 0..n_switches {
            let idx = switches.len();
            let hostname = format!("{code}-sw{}", k + 1);
            let lldp_name = if rng.gen_bool(0.5) {
                format!("{hostname}.campus.example")
            } else {
                hostname.clone()
            };
            switches.push(SwitchSpec {
                mac: mac("d420b0", idx),
                hostname,
                lldp_name,
                site: s,
                // The small site's switch is in Mist: its port stats are the direct evidence
                // that tells three real unplugs from an outage.
                in_mist: s == 0 || rng.gen_bool(0.75),
                ifindex_ids: rng.gen_bool(0.3),
                ip: format!("10.{}.0.{}", s + 1, 10 + k),
            });
            let n_aps = if s == 0 { 6 } else { rng.gen_range(4..=9) };
            for index in 0..n_aps {
                let i = aps.len();
                aps.push(ApSpec {
                    mac: mac("5c5b35", i),
                    name: format!("ap-{code}-{i:02}"),
                });
                placed.push(Some(PortId { switch: idx, index }));
            }
        }
    }
    // Spares in the org, for new installs.
    for _ in 0..3 {
        let i = aps.len();
        aps.push(ApSpec {
            mac: mac("5c5b35", i),
            name: format!("ap-spare-{i:02}"),
        });
        placed.push(None);
    }
    let topo = Topology {
        sites,
        switches,
        aps,
    };
    (topo, placed)
}

fn mac(prefix: &str, i: usize) -> Mac {
    Mac::parse(&format!("{prefix}{i:06x}")).unwrap_or_else(|e| panic!("simulated MAC: {e}"))
}

impl Gen<'_> {
    fn push(&mut self, at: f64, action: Action) {
        self.steps.push(Step { at, action });
    }

    fn count(&mut self, what: &'static str) {
        *self.incidents.entry(what).or_default() += 1;
    }

    fn delivery(&mut self) -> Delivery {
        let dup_after = self
            .rng
            .gen_bool(0.25)
            .then(|| self.rng.gen_range(0.2..3.0));
        let odd = (!self.p.calm && self.rng.gen_bool(0.12)).then(|| {
            if self.rng.gen_bool(0.5) {
                Odd::UnassignedAp
            } else {
                Odd::SwitchEvent
            }
        });
        Delivery { dup_after, odd }
    }

    /// Mist's delay in declaring a silent AP disconnected.
    fn detection(&mut self) -> f64 {
        self.rng.gen_range(30.0..60.0)
    }

    /// From an AP's reconnect to Mist reporting its LLDP neighbour.
    fn learn(&mut self) -> f64 {
        if !self.p.calm && self.rng.gen_bool(0.05) {
            self.rng.gen_range(150.0..300.0)
        } else {
            self.rng.gen_range(5.0..50.0)
        }
    }

    fn site_free(&self, site: usize, from: f64, to: f64) -> bool {
        self.busy[site]
            .iter()
            .all(|&(s, e)| to + 300.0 < s || from > e + 300.0)
    }

    /// The incident on `site` is over at `until`.
    fn touch(&mut self, site: usize, until: f64) {
        self.quiet_at[site] = self.quiet_at[site].max(until);
    }

    fn site_of_ap(&self, ap: usize) -> Option<usize> {
        self.ap_at[ap].map(|p| self.topo.switches[p.switch].site)
    }

    /// A plugged AP with nothing going on at `t`, on a site free around it.
    fn idle_ap(&mut self, t: f64, site: Option<usize>) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.ap_at.len())
            .filter(|&i| {
                self.ap_free[i] <= t
                    && self.site_of_ap(i).is_some_and(|s| {
                        site.is_none_or(|w| w == s)
                            && self.site_free(s, t, t + 600.0)
                            && !(self.p.calm && s == 0)
                    })
            })
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.gen_range(0..candidates.len())])
    }

    fn free_port_on(&mut self, switch: usize) -> Option<PortId> {
        free_ports(&self.used, switch).next()
    }

    /// An AP boots on `port` at `t`: link at once, LLDP and cloud once booted. Returns when
    /// Mist knows its LLDP neighbour.
    fn boot_on(&mut self, ap: usize, port: PortId, t: f64, kind: &'static str) -> f64 {
        self.used.insert(port);
        self.ap_at[ap] = Some(port);
        self.push(t, Action::Plug { ap, port });
        let boot = self.rng.gen_range(60.0..90.0);
        self.push(t + boot, Action::Neighbor { ap });
        let up = t + boot + self.rng.gen_range(10.0..20.0);
        let delivery = self.delivery();
        self.push(
            up,
            Action::CloudUp {
                aps: vec![ap],
                kind,
                fresh: true,
                delivery,
            },
        );
        let learned = up + self.learn();
        self.push(learned, Action::MistLearns { ap });
        learned
    }

    fn morning(&mut self, placed: &[Option<PortId>]) {
        let mut ups: Vec<(f64, usize)> = Vec::new();
        for (ap, port) in placed.iter().enumerate() {
            match *port {
                Some(port) => {
                    let site = self.topo.switches[port.switch].site;
                    self.used.insert(port);
                    self.ap_at[ap] = Some(port);
                    self.push(0.0, Action::Reassign { ap, site });
                    self.push(0.0, Action::Plug { ap, port });
                    self.push(3.0, Action::Neighbor { ap });
                    ups.push((self.rng.gen_range(5.0..120.0), ap));
                }
                None => {
                    let site = ap % self.topo.sites.len();
                    self.push(0.0, Action::Reassign { ap, site });
                }
            }
        }
        ups.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut i = 0;
        while i < ups.len() {
            let size = self.rng.gen_range(1..=3).min(ups.len() - i);
            let group: Vec<usize> = ups[i..i + size].iter().map(|u| u.1).collect();
            let at = ups[i].0;
            let delivery = self.delivery();
            self.push(
                at,
                Action::CloudUp {
                    aps: group.clone(),
                    kind: "AP_CONNECTED",
                    fresh: true,
                    delivery,
                },
            );
            for ap in group {
                let learned = at + self.learn();
                self.push(learned, Action::MistLearns { ap });
                self.ap_free[ap] = (learned + 120.0).max(200.0);
            }
            i += size;
        }
        self.count("morning boot");
    }

    /// Unplugged for good (taken down, stored as a spare).
    fn unplug_one(&mut self, t: f64) -> bool {
        let Some(ap) = self.idle_ap(t, None) else {
            return false;
        };
        self.unplug(ap, t);
        self.count("unplug");
        true
    }

    fn unplug(&mut self, ap: usize, t: f64) {
        if let Some(site) = self.site_of_ap(ap) {
            self.touch(site, t + 400.0);
        }
        self.ap_at[ap] = None;
        self.push(t, Action::Unplug { ap });
        let down = t + self.detection();
        let delivery = self.delivery();
        self.push(
            down,
            Action::CloudDown {
                aps: vec![ap],
                delivery,
            },
        );
        if self.rng.gen_bool(0.3) {
            let later = down + self.rng.gen_range(150.0..300.0);
            let delivery = self.delivery();
            self.push(
                later,
                Action::Notice {
                    ap,
                    kind: "AP_DISCONNECTED_LONG",
                    delivery,
                },
            );
        }
        self.ap_free[ap] = down + 400.0;
    }

    /// A spare AP installed on a free port.
    fn install(&mut self, t: f64) -> bool {
        let spares: Vec<usize> = (0..self.ap_at.len())
            .filter(|&i| self.ap_at[i].is_none() && self.ap_free[i] <= t)
            .collect();
        if spares.is_empty() {
            return false;
        }
        let ap = spares[self.rng.gen_range(0..spares.len())];
        let switch = self.rng.gen_range(0..self.topo.switches.len());
        let site = self.topo.switches[switch].site;
        if !self.site_free(site, t, t + 400.0) || (self.p.calm && site == 0) {
            return false;
        }
        let Some(port) = self.free_port_on(switch) else {
            return false;
        };
        self.push(t, Action::Reassign { ap, site });
        let learned = self.boot_on(ap, port, t, "AP_CONNECTED");
        self.ap_free[ap] = learned + 150.0;
        self.touch(site, learned + 150.0);
        self.count("new AP installed");
        true
    }

    /// Reboot on the same port: link up before LLDP.
    fn reboot(&mut self, t: f64) -> bool {
        let Some(ap) = self.idle_ap(t, None) else {
            return false;
        };
        if self.rng.gen_bool(0.4) {
            let delivery = self.delivery();
            self.push(
                t,
                Action::Notice {
                    ap,
                    kind: "AP_RESTART_BY_USER",
                    delivery,
                },
            );
        }
        self.push(t + 1.0, Action::Link { ap, up: false });
        let link_up = t + 1.0 + self.rng.gen_range(3.0..9.0);
        self.push(link_up, Action::Link { ap, up: true });
        let booted = if self.p.calm {
            t + self.rng.gen_range(20.0..28.0)
        } else {
            t + self.rng.gen_range(60.0..150.0)
        };
        self.push(booted, Action::Neighbor { ap });
        let up = if self.p.calm {
            booted + self.rng.gen_range(1.0..3.0)
        } else {
            booted + self.rng.gen_range(5.0..20.0)
        };
        let down = t + 1.0 + self.detection();
        if down < up {
            let delivery = self.delivery();
            self.push(
                down,
                Action::CloudDown {
                    aps: vec![ap],
                    delivery,
                },
            );
        }
        let delivery = self.delivery();
        self.push(
            up,
            Action::CloudUp {
                aps: vec![ap],
                kind: "AP_RESTARTED",
                fresh: true,
                delivery,
            },
        );
        let learned = up + self.learn();
        self.push(learned, Action::MistLearns { ap });
        self.ap_free[ap] = learned + 150.0;
        if let Some(site) = self.site_of_ap(ap) {
            self.touch(site, learned + 400.0);
        }
        self.count("reboot");
        true
    }

    /// Carried to a free port on the same switch, another switch, or another site.
    fn move_ap(&mut self, t: f64) -> bool {
        let Some(ap) = self.idle_ap(t, None) else {
            return false;
        };
        let Some(from) = self.ap_at[ap] else {
            return false;
        };
        let from_site = self.topo.switches[from.switch].site;
        let roll = self.rng.gen_range(0..10);
        let candidates: Vec<usize> = (0..self.topo.switches.len())
            .filter(|&s| {
                let site = self.topo.switches[s].site;
                match roll {
                    0..=3 => s == from.switch,
                    4..=7 => s != from.switch && site == from_site,
                    _ => site != from_site,
                }
            })
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let switch = candidates[self.rng.gen_range(0..candidates.len())];
        let site = self.topo.switches[switch].site;
        let carried = self.rng.gen_range(30.0..300.0);
        if !self.site_free(site, t, t + carried + 400.0) || (self.p.calm && site == 0) {
            return false;
        }
        let Some(port) = self.free_port_on(switch) else {
            return false;
        };
        self.push(t, Action::Unplug { ap });
        let down = t + self.detection();
        let delivery = self.delivery();
        self.push(
            down,
            Action::CloudDown {
                aps: vec![ap],
                delivery,
            },
        );
        if site != from_site {
            self.push(t + carried, Action::Reassign { ap, site });
        }
        let kind = if self.rng.gen_bool(0.5) {
            "AP_CONNECTED"
        } else {
            "AP_RESTARTED"
        };
        let learned = self.boot_on(ap, port, t + carried, kind);
        self.ap_free[ap] = learned + 150.0;
        self.touch(from_site, learned + 400.0);
        self.touch(site, learned + 400.0);
        self.count(match roll {
            0..=3 => "move within a switch",
            4..=7 => "move across switches",
            _ => "move across sites",
        });
        true
    }

    /// PoE boot loop on the same port, then stable.
    fn flap(&mut self, t: f64) -> bool {
        let Some(ap) = self.idle_ap(t, None) else {
            return false;
        };
        self.push(t, Action::Flapping { ap, on: true });
        let cycles = self.rng.gen_range(3..=5);
        let mut c = t;
        let mut last_up = t;
        for _ in 0..cycles {
            self.push(c, Action::Link { ap, up: false });
            let link_up = c + self.rng.gen_range(3.0..8.0);
            self.push(link_up, Action::Link { ap, up: true });
            let down = c + self.detection();
            let delivery = self.delivery();
            self.push(
                down,
                Action::CloudDown {
                    aps: vec![ap],
                    delivery,
                },
            );
            let heard = c + self.rng.gen_range(55.0..70.0);
            self.push(heard, Action::Neighbor { ap });
            let up = heard + self.rng.gen_range(5.0..15.0);
            let delivery = self.delivery();
            self.push(
                up,
                Action::CloudUp {
                    aps: vec![ap],
                    kind: "AP_RESTARTED",
                    fresh: true,
                    delivery,
                },
            );
            let learned = up + self.rng.gen_range(5.0..40.0);
            self.push(learned, Action::MistLearns { ap });
            last_up = up;
            c = up + self.rng.gen_range(50.0..80.0);
        }
        let settle = self.p.flap_settle();
        self.push(last_up + settle, Action::Flapping { ap, on: false });
        self.ap_free[ap] = last_up + 200.0;
        if let Some(site) = self.site_of_ap(ap) {
            self.touch(site, last_up + settle + 300.0);
        }
        self.count("PoE flap that settles");
        true
    }

    /// Site WAN cut: silence at once, Mist notices AP by AP over 30-180 s.
    fn outage(&mut self, t0: f64) -> bool {
        let site = self.rng.gen_range(0..self.topo.sites.len());
        let aps: Vec<usize> = (0..self.ap_at.len())
            .filter(|&i| self.site_of_ap(i) == Some(site))
            .collect();
        let all_in_mist = self
            .topo
            .switches
            .iter()
            .filter(|sw| sw.site == site)
            .all(|sw| sw.in_mist);
        if aps.len() < 3
            || (self.p.calm && !all_in_mist)
            || self.quiet_at[site] > t0
            || aps.iter().any(|&i| self.ap_free[i] > t0 - 60.0)
            || !self.site_free(site, t0, t0 + 1200.0)
        {
            return false;
        }
        self.push(t0, Action::Outage { site, on: true });
        self.push(t0, Action::Silent { aps: aps.clone() });
        let switches_noticed = t0 + self.rng.gen_range(30.0..60.0);
        self.push(switches_noticed, Action::SwitchCloud { site, up: false });
        let spread = self.rng.gen_range(30.0..180.0);
        let mut downs: Vec<(f64, usize)> = aps
            .iter()
            .map(|&ap| (t0 + 30.0 + self.rng.gen_range(0.0..spread), ap))
            .collect();
        downs.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.grouped(&downs, |g, at, group| {
            let delivery = g.delivery();
            g.push(
                at,
                Action::CloudDown {
                    aps: group,
                    delivery,
                },
            );
        });
        let restore = t0 + self.rng.gen_range(300.0..900.0);
        self.push(restore, Action::SwitchCloud { site, up: true });
        let mut ups: Vec<(f64, usize)> = aps
            .iter()
            .map(|&ap| (restore + self.rng.gen_range(5.0..60.0), ap))
            .collect();
        ups.sort_by(|a, b| a.0.total_cmp(&b.0));
        let back = ups.last().map(|u| u.0).unwrap_or(restore);
        self.grouped(&ups, |g, at, group| {
            let delivery = g.delivery();
            g.push(
                at,
                Action::CloudUp {
                    aps: group,
                    kind: "AP_CONNECTED",
                    fresh: false,
                    delivery,
                },
            );
        });
        self.push(back + 5.0, Action::Outage { site, on: false });
        self.busy[site].push((t0, back + 5.0));
        for ap in aps {
            self.ap_free[ap] = back + 200.0;
        }
        self.count("site WAN outage");
        true
    }

    /// Events close together go in one body (up to four), as Mist aggregates them.
    fn grouped(
        &mut self,
        timed: &[(f64, usize)],
        mut emit: impl FnMut(&mut Self, f64, Vec<usize>),
    ) {
        let mut i = 0;
        while i < timed.len() {
            let start = timed[i].0;
            let mut group = vec![timed[i].1];
            let mut j = i + 1;
            while j < timed.len() && group.len() < 4 && timed[j].0 - start < 2.0 {
                group.push(timed[j].1);
                j += 1;
            }
            emit(self, start, group);
            i = j;
        }
    }

    /// Three of the small site's six APs really unplugged within two minutes.
    fn multi_unplug(&mut self, t: f64) -> bool {
        if self.multi_unplug_done {
            return false;
        }
        let site = 0;
        let mut idle: Vec<usize> = (0..self.ap_at.len())
            .filter(|&i| self.site_of_ap(i) == Some(site) && self.ap_free[i] <= t)
            .collect();
        if idle.len() < 3 || !self.site_free(site, t, t + 600.0) {
            return false;
        }
        self.multi_unplug_done = true;
        for _ in 0..3 {
            let ap = idle.remove(self.rng.gen_range(0..idle.len()));
            let at = t + self.rng.gen_range(0.0..120.0);
            self.unplug(ap, at);
        }
        self.count("3 of 6 APs of a small site unplugged");
        true
    }
}

/// Per AP, the times of each event kind Mist sends about it (for the consistency checks).
pub fn sent_events(day: &Day) -> BTreeMap<(usize, &'static str), Vec<f64>> {
    let mut sent: BTreeMap<(usize, &'static str), Vec<f64>> = BTreeMap::new();
    for step in &day.steps {
        match &step.action {
            Action::CloudDown { aps, .. } => {
                for &ap in aps {
                    sent.entry((ap, "AP_DISCONNECTED"))
                        .or_default()
                        .push(step.at);
                }
            }
            Action::CloudUp { aps, kind, .. } => {
                for &ap in aps {
                    sent.entry((ap, *kind)).or_default().push(step.at);
                }
            }
            Action::Notice { ap, kind, .. } => {
                sent.entry((*ap, *kind)).or_default().push(step.at);
            }
            _ => {}
        }
    }
    sent
}

//! The comparison at the heart of a reconcile: what Mist reports now (AP status, `last_seen`,
//! LLDP neighbor) against what the store remembers (where each AP was, which ports mesa made
//! AP ports), and, per AP, the one event that brings the ports in line.
//!
//! Pure: the caller gathers a [`Snapshot`], [`plan`] returns the [`Plan`]. Rules:
//! - a connected AP whose LLDP port is not recorded as an AP port → `AP_CONNECTED`
//!   (the port gets the AP profile);
//! - a connected AP the store remembers on another port, which mesa made an AP port for it →
//!   `AP_RESTARTED` (the engine's restart flow secures the old port and sets the new one);
//! - a managed AP port whose AP has been disconnected for at least `revert_after` →
//!   `AP_DISCONNECTED` (the engine's outage and LLDP guards still decide);
//! - an AP with an event still in the journal is left to that event, and ports that would
//!   never converge (protected ports, ignored sites) are only mentioned.
//!
//! A switch is its MAC: the AP's LLDP `chassis_id` where it is a MAC mesa has recorded for a
//! switch, against the MAC in the store. Where either side has no MAC, switch names are
//! compared case-insensitively and, failing that, by their first DNS label: LLDP may say
//! `sw1.campus.example` where Mist's inventory says `sw1`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use crate::engine::guards::ports::ProtectedPorts;
use crate::engine::lookup::interface_from_lldp;
use crate::mist::ApStat;
use crate::model::{
    same_switch, EventKind, EventTime, InterfaceName, KnownPort, Mac, Profile, SwitchRef,
};
use crate::store::{ApRecord, PortRecord};

/// Everything a plan is made from, read just before planning.
pub struct Snapshot<'a> {
    /// APs in scope as Mist reports them now.
    pub aps: &'a [ApStat],
    /// Store records of the APs in `aps` and of the APs that own a stored port.
    pub stored_aps: &'a HashMap<Mac, ApRecord>,
    /// Every port record in the store (filtered to the scope here).
    pub ports: &'a [PortRecord],
    /// APs with an event still pending in the journal.
    pub pending: &'a HashSet<Mac>,
    /// Epoch seconds.
    pub now: f64,
    pub revert_after: Duration,
    pub ignored_sites: &'a [String],
    pub protected: &'a ProtectedPorts,
    /// `--site`: APs missing from the stats may simply be on another site.
    pub site: Option<&'a str>,
}

/// One port the plan changes (or adopts), as a row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortAction {
    pub site_id: String,
    pub switch: String,
    /// The switch's MAC, when the store or LLDP (`chassis_id`) knows it.
    pub switch_mac: Option<Mac>,
    pub port: InterfaceName,
    pub ap_mac: Mac,
    pub ap_name: Option<String>,
    /// What the store says the port is; `None` when mesa has no record of it.
    pub current: Option<Profile>,
    pub target: Profile,
    pub why: String,
}

/// The event planned for one AP and the port rows it stands for (two for a move).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub kind: EventKind,
    pub ap_mac: Mac,
    pub ap_name: Option<String>,
    pub site_id: String,
    /// Filled by the run once the switch MAC is known; `None` lets the engine look the AP up.
    pub known_port: Option<KnownPort>,
    /// When Mist last heard from the AP (`last_seen`, Mist's clock): the time the reading
    /// behind a connect or a move was true. `None`: the time the run read Mist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<EventTime>,
    pub actions: Vec<PortAction>,
}

impl Planned {
    /// The port that should end up with the AP profile (connect and move).
    pub fn ap_target(&self) -> Option<&PortAction> {
        self.actions.iter().find(|a| a.target == Profile::Ap)
    }
}

/// A port that already carries the AP profile, to be recorded as managed (`--adopt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adoption {
    pub site_id: String,
    pub switch: String,
    pub switch_mac: Option<Mac>,
    pub port: InterfaceName,
    pub ap_mac: Mac,
    pub ap_name: Option<String>,
    /// The AP's location is recorded too (no record yet).
    pub record_ap: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sites: usize,
    pub aps: usize,
    pub connected: usize,
    pub disconnected: usize,
    /// Connected APs whose port already is a recorded AP port.
    pub in_place: usize,
    /// Managed AP ports whose AP is disconnected, but not yet for `revert_after`.
    pub waiting: usize,
    /// APs left alone because an event of theirs is still in the journal.
    pub busy: usize,
    pub ap_profile: usize,
    pub secured: usize,
    pub moved: usize,
    pub adopted: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub planned: Vec<Planned>,
    pub adoptions: Vec<Adoption>,
    /// What was seen but not acted on, and why.
    pub notes: Vec<String>,
    pub counts: Counts,
}

/// Stored ports, findable by switch MAC, else by name (exact, else first label).
struct PortIndex<'a> {
    ports: Vec<&'a PortRecord>,
}

impl<'a> PortIndex<'a> {
    fn new(ports: impl Iterator<Item = &'a PortRecord>) -> PortIndex<'a> {
        PortIndex {
            ports: ports.collect(),
        }
    }

    /// The MAC row first; else a row of the same name where either side lacks the MAC,
    /// exact names before first labels.
    fn get(&self, mac: Option<&Mac>, switch: &str, port: &InterfaceName) -> Option<&'a PortRecord> {
        let on_port = || self.ports.iter().copied().filter(move |p| &p.port == port);
        if let Some(mac) = mac {
            if let Some(found) = on_port().find(|p| p.switch_mac.as_ref() == Some(mac)) {
                return Some(found);
            }
        }
        let named = |p: &&PortRecord| {
            (mac.is_none() || p.switch_mac.is_none())
                && same_switch(None, &p.switch_name, None, switch)
        };
        on_port()
            .filter(named)
            .find(|p| p.switch_name.trim().eq_ignore_ascii_case(switch.trim()))
            .or_else(|| on_port().find(named))
    }
}

/// The revert of a port a moved AP left behind, as an event naming the port as recorded.
fn left_behind(
    record: &PortRecord,
    owner: &Mac,
    name: Option<String>,
    now_on: &Location,
) -> Planned {
    let switch = SwitchRef {
        name: record.switch_name.clone(),
        site_id: record.site_id.clone(),
        mac: record.switch_mac.clone(),
        mgmt_addr: None,
    };
    Planned {
        kind: EventKind::ApDisconnected,
        ap_mac: owner.clone(),
        ap_name: name.clone(),
        site_id: record.site_id.clone(),
        known_port: Some(KnownPort {
            switch_mac: record.switch_mac.clone(),
            port: record.port.to_string(),
            port_only: true,
            recorded: Some(switch),
        }),
        observed: None,
        actions: vec![PortAction {
            site_id: record.site_id.clone(),
            switch: record.switch_name.clone(),
            switch_mac: record.switch_mac.clone(),
            port: record.port.clone(),
            ap_mac: owner.clone(),
            ap_name: name,
            current: Some(Profile::Ap),
            target: Profile::Secured,
            why: format!(
                "AP is on {} {} now; this port was left behind by a move",
                now_on.switch, now_on.port
            ),
        }],
    }
}

fn is_ours(record: &PortRecord, ap: &Mac) -> bool {
    record.profile == Profile::Ap && record.managed && record.ap_mac.as_ref() == Some(ap)
}

fn age_text(secs: f64) -> String {
    humantime::format_duration(Duration::from_secs(secs.max(0.0) as u64)).to_string()
}

/// Where an AP is plugged in according to its LLDP neighbor.
struct Location {
    switch: String,
    /// The LLDP chassis id, when it is the MAC of a switch the store knows: only then is it
    /// surely the MAC Mist (and so the store) uses for that switch.
    switch_mac: Option<Mac>,
    port: InterfaceName,
}

impl Location {
    fn is(&self, mac: Option<&Mac>, switch: &str, port: &InterfaceName) -> bool {
        &self.port == port && same_switch(self.switch_mac.as_ref(), &self.switch, mac, switch)
    }
}

fn locate(ap: &ApStat, known_switches: &HashSet<&Mac>) -> Result<Location, String> {
    let lldp = ap.lldp_stat.as_ref();
    let switch = lldp
        .and_then(|l| l.system_name.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "Mist reports no LLDP neighbor".to_string())?;
    let port = interface_from_lldp(
        lldp.and_then(|l| l.port_id.as_deref()),
        lldp.and_then(|l| l.port_desc.as_deref()),
    )?;
    let switch_mac = lldp
        .and_then(|l| l.chassis_id.as_deref())
        .and_then(|c| Mac::parse(c).ok())
        .filter(|m| known_switches.contains(m));
    Ok(Location {
        switch: switch.to_string(),
        switch_mac,
        port,
    })
}

/// Compares Mist with the store. With `adopt`, connected APs' ports are adopted instead of
/// planned (nothing else is planned).
pub fn plan(s: &Snapshot<'_>, adopt: bool) -> Plan {
    let mut out = Plan::default();
    let in_scope = |site: &str| s.site.is_none_or(|only| only == site);
    let ignored = |site: &str| s.ignored_sites.iter().any(|i| i == site);
    let ports = PortIndex::new(s.ports.iter().filter(|p| in_scope(&p.site_id)));
    let stats: HashMap<&Mac, &ApStat> = s.aps.iter().map(|a| (&a.mac, a)).collect();
    let known_switches: HashSet<&Mac> = s
        .ports
        .iter()
        .filter_map(|p| p.switch_mac.as_ref())
        .chain(s.stored_aps.values().filter_map(|a| a.switch_mac.as_ref()))
        .collect();
    let mut sites = BTreeSet::new();
    // APs this plan has dealt with (planned, in place, busy, noted).
    let mut handled: HashSet<Mac> = HashSet::new();

    for ap in s.aps {
        let site = ap.site_id.clone().unwrap_or_default();
        sites.insert(site.clone());
        out.counts.aps += 1;
        if ap.is_disconnected() {
            out.counts.disconnected += 1;
            continue;
        }
        if !ap.status.eq_ignore_ascii_case("connected") {
            // restarting, upgrading...: its LLDP may be about to change; the next run sees it.
            continue;
        }
        out.counts.connected += 1;
        handled.insert(ap.mac.clone());
        if ignored(&site) {
            continue;
        }
        let name = ap.name.clone().filter(|n| !n.is_empty());
        let label = format!("AP {} ({})", ap.mac.colon(), name.as_deref().unwrap_or("-"));
        if s.pending.contains(&ap.mac) {
            out.counts.busy += 1;
            continue;
        }
        let here = match locate(ap, &known_switches) {
            Ok(here) => here,
            Err(why) => {
                out.notes.push(format!("{label} is connected: {why}"));
                continue;
            }
        };
        if !s.protected.check(&here.port).proceed {
            out.notes.push(format!(
                "{label} is on protected port {} {}: left alone",
                here.switch, here.port
            ));
            continue;
        }
        let record = ports.get(here.switch_mac.as_ref(), &here.switch, &here.port);
        let stored = s.stored_aps.get(&ap.mac);
        let stored_elsewhere =
            stored.filter(|r| !here.is(r.switch_mac.as_ref(), &r.switch_name, &r.port));
        // The MAC the store has for this port's switch, when LLDP did not give one.
        let here_mac = here
            .switch_mac
            .clone()
            .or_else(|| record.and_then(|r| r.switch_mac.clone()));
        let row = |current: Option<Profile>, why: String| PortAction {
            site_id: site.clone(),
            switch: here.switch.clone(),
            switch_mac: here_mac.clone(),
            port: here.port.clone(),
            ap_mac: ap.mac.clone(),
            ap_name: name.clone(),
            current,
            target: Profile::Ap,
            why,
        };

        if adopt {
            match record {
                Some(r) if r.managed && r.profile == Profile::Secured => out.notes.push(format!(
                    "{label} is on {} {}, which mesa recorded as secured: not adopted (run reconcile without --adopt to set the AP profile)",
                    here.switch, here.port
                )),
                Some(r) if is_ours(r, &ap.mac) && stored.is_some() => out.counts.in_place += 1,
                _ if stored_elsewhere.is_some() => out.notes.push(format!(
                    "{label} is on {} {} but recorded elsewhere: not adopted (run reconcile without --adopt)",
                    here.switch, here.port
                )),
                _ => {
                    out.counts.adopted += 1;
                    out.adoptions.push(Adoption {
                        site_id: site.clone(),
                        switch: here.switch.clone(),
                        switch_mac: here_mac.clone(),
                        port: here.port.clone(),
                        ap_mac: ap.mac.clone(),
                        ap_name: name.clone(),
                        record_ap: stored.is_none(),
                    });
                }
            }
            continue;
        }

        if let Some(old) = stored_elsewhere {
            let old_record = ports.get(old.switch_mac.as_ref(), &old.switch_name, &old.port);
            let mut actions = Vec::new();
            let from = format!("{} {}", old.switch_name, old.port);
            if old_record.is_some_and(|r| is_ours(r, &ap.mac)) {
                actions.push(PortAction {
                    site_id: old.site_id.clone(),
                    switch: old.switch_name.clone(),
                    switch_mac: old.switch_mac.clone(),
                    port: old.port.clone(),
                    ap_mac: ap.mac.clone(),
                    ap_name: name.clone(),
                    current: Some(Profile::Ap),
                    target: Profile::Secured,
                    why: format!("AP moved to {} {}", here.switch, here.port),
                });
                out.counts.secured += 1;
                out.counts.moved += 1;
            }
            let why = if record.is_some_and(|r| r.profile == Profile::Ap) {
                format!("AP recorded on {from}, now here: record it here")
            } else {
                format!("AP moved here from {from}")
            };
            actions.push(row(record.map(|r| r.profile), why));
            out.counts.ap_profile += 1;
            out.planned.push(Planned {
                kind: EventKind::ApRestarted,
                ap_mac: ap.mac.clone(),
                ap_name: name.clone(),
                site_id: site.clone(),
                known_port: None,
                observed: ap.last_seen.map(EventTime::from_secs_f64),
                actions,
            });
            continue;
        }

        let why = match record {
            Some(r) if r.profile == Profile::Ap => match &r.ap_mac {
                Some(owner) if owner != &ap.mac => {
                    format!("port recorded for AP {}: record this AP", owner.colon())
                }
                _ => {
                    out.counts.in_place += 1;
                    continue;
                }
            },
            Some(_) => "AP connected here per LLDP; port recorded as secured".to_string(),
            None => "AP connected here per LLDP; port not recorded as AP port".to_string(),
        };
        out.counts.ap_profile += 1;
        out.planned.push(Planned {
            kind: EventKind::ApConnected,
            ap_mac: ap.mac.clone(),
            ap_name: name.clone(),
            site_id: site.clone(),
            known_port: None,
            observed: ap.last_seen.map(EventTime::from_secs_f64),
            actions: vec![row(record.map(|r| r.profile), why)],
        });
    }

    if adopt {
        out.counts.sites = sites.len();
        return out;
    }

    // Managed AP ports whose AP is gone.
    let mut reverted: HashSet<Mac> = HashSet::new();
    for record in s.ports.iter().filter(|p| in_scope(&p.site_id)) {
        let Some(owner) = record.ap_mac.as_ref() else {
            continue;
        };
        if !is_ours(record, owner) || ignored(&record.site_id) {
            continue;
        }
        let at = format!("{} {}", record.switch_name, record.port);
        let stored = s.stored_aps.get(owner);
        let stat = stats.get(owner).copied();
        if handled.contains(owner) {
            // Connected: the AP pass dealt with it, except for a port an earlier move left
            // behind (its follow-up failed for good): where LLDP shows the AP elsewhere and
            // its record no longer points here, the port is reverted by an event naming it.
            let is_record = |mac: Option<&Mac>, name: &str, port: &InterfaceName| {
                port == &record.port
                    && same_switch(mac, name, record.switch_mac.as_ref(), &record.switch_name)
            };
            let points_here =
                stored.is_some_and(|r| is_record(r.switch_mac.as_ref(), &r.switch_name, &r.port));
            let planned_here = out.planned.iter().any(|p| {
                p.actions
                    .iter()
                    .any(|a| is_record(a.switch_mac.as_ref(), &a.switch, &a.port))
            });
            let location = stat.and_then(|a| locate(a, &known_switches).ok());
            let connected_here = location
                .as_ref()
                .is_some_and(|l| is_record(l.switch_mac.as_ref(), &l.switch, &l.port));
            if points_here || planned_here || connected_here {
                continue;
            }
            if s.pending.contains(owner) {
                out.counts.busy += 1;
                continue;
            }
            let Some(now_on) = location.filter(|_| s.protected.check(&record.port).proceed) else {
                out.notes.push(format!(
                    "{at} is still recorded for AP {}, which is connected elsewhere: check it by hand",
                    owner.colon()
                ));
                continue;
            };
            let name = stat.and_then(|a| a.name.clone()).filter(|n| !n.is_empty());
            out.counts.secured += 1;
            out.planned.push(left_behind(record, owner, name, &now_on));
            continue;
        }
        if s.pending.contains(owner) {
            out.counts.busy += 1;
            continue;
        }
        let age = match stat {
            Some(ap) if ap.is_disconnected() => match ap.last_seen {
                Some(seen) => s.now - seen,
                None => {
                    out.notes.push(format!(
                        "{at}: AP {} is disconnected but Mist gives no last_seen: left alone",
                        owner.colon()
                    ));
                    continue;
                }
            },
            // Restarting, upgrading...: not gone.
            Some(_) => continue,
            None if s.site.is_some() => {
                out.notes.push(format!(
                    "{at}: AP {} is not in this site's stats (it may be on another site): run reconcile for the whole org to judge it",
                    owner.colon()
                ));
                continue;
            }
            None => match stored {
                Some(r) => s.now - r.last_seen.timestamp() as f64,
                None => {
                    out.notes.push(format!(
                        "{at}: AP {} is no longer in the org and mesa has no record of it: left alone",
                        owner.colon()
                    ));
                    continue;
                }
            },
        };
        if age < s.revert_after.as_secs_f64() {
            out.counts.waiting += 1;
            continue;
        }
        if let Some(r) = stored {
            let same = r.port == record.port
                && same_switch(
                    r.switch_mac.as_ref(),
                    &r.switch_name,
                    record.switch_mac.as_ref(),
                    &record.switch_name,
                );
            if !same {
                out.notes.push(format!(
                    "{at} is still recorded for AP {}, last recorded on {} {}: check it by hand",
                    owner.colon(),
                    r.switch_name,
                    r.port
                ));
                continue;
            }
        }
        if !reverted.insert(owner.clone()) {
            out.notes.push(format!(
                "{at} is one more port recorded for AP {}: check it by hand",
                owner.colon()
            ));
            continue;
        }
        let name = stat
            .and_then(|a| a.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| stored.and_then(|r| r.name.clone()));
        let why = match stat {
            Some(_) => format!("AP disconnected for {}", age_text(age)),
            None => format!(
                "AP no longer in the org's stats; last recorded {} ago",
                age_text(age)
            ),
        };
        out.counts.secured += 1;
        out.planned.push(Planned {
            kind: EventKind::ApDisconnected,
            ap_mac: owner.clone(),
            ap_name: name.clone(),
            site_id: record.site_id.clone(),
            known_port: None,
            // "Disconnected for `revert_after`" is true as of the read.
            observed: None,
            actions: vec![PortAction {
                site_id: record.site_id.clone(),
                switch: record.switch_name.clone(),
                switch_mac: record.switch_mac.clone(),
                port: record.port.clone(),
                ap_mac: owner.clone(),
                ap_name: name,
                current: Some(Profile::Ap),
                target: Profile::Secured,
                why,
            }],
        });
    }
    out.counts.sites = sites.len();
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::mist::types::ApLldpStat;

    const NOW: f64 = 1_800_000_000.0;

    fn mac(s: &str) -> Mac {
        Mac::parse(s).unwrap()
    }

    fn port(p: &str) -> InterfaceName {
        InterfaceName::parse(p).unwrap()
    }

    fn stat(m: &str, status: &str, seen_ago: f64, lldp: Option<(&str, &str)>) -> ApStat {
        ApStat {
            mac: mac(m),
            name: Some(format!("ap-{m}")),
            site_id: Some("s1".into()),
            status: status.into(),
            last_seen: Some(NOW - seen_ago),
            lldp_stat: lldp.map(|(sw, p)| ApLldpStat {
                system_name: Some(sw.into()),
                port_id: Some(p.into()),
                ..ApLldpStat::default()
            }),
        }
    }

    fn ap_port(sw: &str, p: &str, ap: &str) -> PortRecord {
        PortRecord {
            switch_name: sw.into(),
            switch_mac: None,
            port: port(p),
            site_id: "s1".into(),
            profile: Profile::Ap,
            managed: true,
            ap_mac: Some(mac(ap)),
            since: Utc.timestamp_opt(0, 0).unwrap(),
            event_id: None,
        }
    }

    fn ap_record(ap: &str, sw: &str, p: &str) -> ApRecord {
        ApRecord {
            mac: mac(ap),
            name: None,
            site_id: "s1".into(),
            switch_name: sw.into(),
            switch_mac: None,
            port: port(p),
            last_event: "AP_CONNECTED".into(),
            last_seen: Utc.timestamp_opt(NOW as i64 - 7200, 0).unwrap(),
        }
    }

    fn run(
        aps: &[ApStat],
        stored: &[ApRecord],
        ports: &[PortRecord],
        pending: &[&str],
        adopt: bool,
    ) -> Plan {
        let stored_aps = stored.iter().map(|r| (r.mac.clone(), r.clone())).collect();
        let pending = pending.iter().map(|m| mac(m)).collect();
        let protected = ProtectedPorts::new(&["ae*".into(), "ge-0/0/47".into()]);
        plan(
            &Snapshot {
                aps,
                stored_aps: &stored_aps,
                ports,
                pending: &pending,
                now: NOW,
                revert_after: Duration::from_secs(3600),
                ignored_sites: &[],
                protected: &protected,
                site: None,
            },
            adopt,
        )
    }

    #[test]
    fn connected_ap_on_unrecorded_port_gets_ap_profile() {
        let plan = run(
            &[stat(
                "5c5b35000001",
                "connected",
                0.0,
                Some(("sw1", "ge-0/0/3.0")),
            )],
            &[],
            &[],
            &[],
            false,
        );
        assert_eq!(plan.planned.len(), 1);
        let p = &plan.planned[0];
        assert_eq!(p.kind, EventKind::ApConnected);
        assert_eq!(p.actions[0].port, port("ge-0/0/3"));
        assert_eq!(p.actions[0].current, None);
        assert_eq!(plan.counts.ap_profile, 1);
    }

    #[test]
    fn recorded_ap_port_is_in_place_even_with_fqdn() {
        let plan = run(
            &[stat(
                "5c5b35000001",
                "connected",
                0.0,
                Some(("SW1.campus.example", "ge-0/0/3")),
            )],
            &[ap_record("5c5b35000001", "sw1", "ge-0/0/3")],
            &[ap_port("sw1", "ge-0/0/3", "5c5b35000001")],
            &[],
            false,
        );
        assert!(plan.planned.is_empty(), "{plan:?}");
        assert_eq!(plan.counts.in_place, 1);
    }

    #[test]
    fn disconnect_is_planned_only_after_revert_after() {
        let stored = [ap_record("5c5b35000001", "sw1", "ge-0/0/3")];
        let ports = [ap_port("sw1", "ge-0/0/3", "5c5b35000001")];
        let lldp = Some(("sw1", "ge-0/0/3"));
        let recent = run(
            &[stat("5c5b35000001", "disconnected", 600.0, lldp)],
            &stored,
            &ports,
            &[],
            false,
        );
        assert!(recent.planned.is_empty());
        assert_eq!(recent.counts.waiting, 1);
        let old = run(
            &[stat("5c5b35000001", "disconnected", 7200.0, lldp)],
            &stored,
            &ports,
            &[],
            false,
        );
        assert_eq!(old.planned.len(), 1);
        assert_eq!(old.planned[0].kind, EventKind::ApDisconnected);
        assert_eq!(old.planned[0].actions[0].target, Profile::Secured);
    }

    #[test]
    fn move_plans_restart_with_two_rows() {
        let plan = run(
            &[stat(
                "5c5b35000001",
                "connected",
                0.0,
                Some(("sw2", "ge-0/0/9")),
            )],
            &[ap_record("5c5b35000001", "sw1", "ge-0/0/3")],
            &[ap_port("sw1", "ge-0/0/3", "5c5b35000001")],
            &[],
            false,
        );
        assert_eq!(plan.planned.len(), 1, "{plan:?}");
        let p = &plan.planned[0];
        assert_eq!(p.kind, EventKind::ApRestarted);
        let targets: Vec<_> = p
            .actions
            .iter()
            .map(|a| (a.switch.as_str(), a.port.as_str(), a.target))
            .collect();
        assert_eq!(
            targets,
            vec![
                ("sw1", "ge-0/0/3", Profile::Secured),
                ("sw2", "ge-0/0/9", Profile::Ap)
            ]
        );
        assert_eq!(plan.counts.moved, 1);
    }

    /// A switch is its MAC: LLDP's chassis id names the recorded switch even under another
    /// name (renamed switch), and the same name with another MAC is another switch.
    #[test]
    fn lldp_chassis_id_is_the_switch() {
        let sw1 = "d420b0000001";
        let with_chassis = |name: &str, chassis: &str| {
            let mut ap = stat("5c5b35000001", "connected", 0.0, Some((name, "ge-0/0/3")));
            if let Some(lldp) = ap.lldp_stat.as_mut() {
                lldp.chassis_id = Some(chassis.into());
            }
            ap
        };
        let mut record = ap_record("5c5b35000001", "sw1", "ge-0/0/3");
        record.switch_mac = Some(mac(sw1));
        let mut port_row = ap_port("sw1", "ge-0/0/3", "5c5b35000001");
        port_row.switch_mac = Some(mac(sw1));
        let stored = [record];
        let ports = [port_row];

        let renamed = run(
            &[with_chassis("core-sw-a", "d4:20:b0:00:00:01")],
            &stored,
            &ports,
            &[],
            false,
        );
        assert!(renamed.planned.is_empty(), "{renamed:?}");
        assert_eq!(renamed.counts.in_place, 1);

        // Another switch also called sw1 whose MAC the store knows: a move.
        let mut other = ap_port("sw1", "ge-0/0/3", "5c5b35000009");
        other.switch_mac = Some(mac("d420b0000002"));
        let ports = [ports[0].clone(), other];
        let moved = run(
            &[with_chassis("sw1", "d420b0000002")],
            &stored,
            &ports,
            &[],
            false,
        );
        assert_eq!(moved.planned.len(), 1, "{moved:?}");
        assert_eq!(moved.planned[0].kind, EventKind::ApRestarted);
    }

    /// A port a move left behind (its follow-up failed for good) is not lost: the next
    /// reconcile reverts it by an event that names it.
    #[test]
    fn a_port_left_behind_by_a_move_is_reverted() {
        let plan = run(
            &[stat(
                "5c5b35000001",
                "connected",
                0.0,
                Some(("sw2", "ge-0/0/9")),
            )],
            &[ap_record("5c5b35000001", "sw2", "ge-0/0/9")],
            &[
                ap_port("sw1", "ge-0/0/3", "5c5b35000001"),
                ap_port("sw2", "ge-0/0/9", "5c5b35000001"),
            ],
            &[],
            false,
        );
        assert_eq!(plan.planned.len(), 1, "{plan:?}");
        let p = &plan.planned[0];
        assert_eq!(p.kind, EventKind::ApDisconnected);
        let known = p.known_port.as_ref().unwrap();
        assert!(known.port_only);
        assert_eq!(known.port, "ge-0/0/3");
        assert_eq!(
            known.recorded.as_ref().map(|s| s.name.as_str()),
            Some("sw1")
        );
        assert_eq!(p.actions[0].target, Profile::Secured);
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    }

    #[test]
    fn pending_protected_and_no_lldp_are_left_alone() {
        let plan = run(
            &[
                stat("5c5b35000001", "connected", 0.0, Some(("sw1", "ge-0/0/1"))),
                stat("5c5b35000002", "connected", 0.0, Some(("sw1", "ge-0/0/47"))),
                stat("5c5b35000003", "connected", 0.0, None),
                stat("5c5b35000004", "connected", 0.0, Some(("sw1", "526"))),
            ],
            &[],
            &[],
            &["5c5b35000001"],
            false,
        );
        assert!(plan.planned.is_empty(), "{plan:?}");
        assert_eq!(plan.counts.busy, 1);
        assert_eq!(plan.notes.len(), 3, "{:?}", plan.notes);
    }

    #[test]
    fn adopt_records_without_planning() {
        let plan = run(
            &[
                stat("5c5b35000001", "connected", 0.0, Some(("sw1", "ge-0/0/1"))),
                stat(
                    "5c5b35000002",
                    "disconnected",
                    9000.0,
                    Some(("sw1", "ge-0/0/2")),
                ),
            ],
            &[],
            &[ap_port("sw1", "ge-0/0/2", "5c5b35000002")],
            &[],
            true,
        );
        assert!(plan.planned.is_empty());
        assert_eq!(plan.adoptions.len(), 1);
        assert_eq!(plan.adoptions[0].port, port("ge-0/0/1"));
        assert!(plan.adoptions[0].record_ap);
    }
}

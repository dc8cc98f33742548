//! The invariants of a campus day, judged from the world (ground truth), what reached the
//! switches (the recording backend) and mesa's own store (journal, audit log).

use mesa::clock::Instant;
use std::collections::{BTreeMap, HashMap};

use mesa::model::Profile;

use super::day::Params;
use super::world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// A connected AP whose port Mist reports ends on an AP port.
    ApOnApPort,
    /// No port is reverted while its AP is on it (outside a PoE flap), none of an AP's port
    /// during its site's outage.
    NoRevertWhileConnected,
    /// An unplugged AP's port is secured within `disconnect_delay` + the stated bound of
    /// Mist's `AP_DISCONNECTED`, and no trunk stays open with no AP.
    UnpluggedSecured,
    /// Every accepted event has exactly one final decision, and nothing is left pending.
    OneFinalDecision,
    /// Every delivery Mist made was taken (200): Mist does not redeliver device-events.
    DeliveriesAccepted,
    /// Every change names a port of the campus.
    KnownPorts,
}

impl Invariant {
    pub const ALL: [Invariant; 6] = [
        Invariant::ApOnApPort,
        Invariant::NoRevertWhileConnected,
        Invariant::UnpluggedSecured,
        Invariant::OneFinalDecision,
        Invariant::DeliveriesAccepted,
        Invariant::KnownPorts,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Invariant::ApOnApPort => "connected AP ends on an AP port",
            Invariant::NoRevertWhileConnected => {
                "no revert while the AP is on the port / during a site outage"
            }
            Invariant::UnpluggedSecured => "unplugged AP's port secured within the bound",
            Invariant::OneFinalDecision => "every accepted event has exactly one final decision",
            Invariant::DeliveriesAccepted => "every delivery accepted (no event lost)",
            Invariant::KnownPorts => "every change names a campus port",
        }
    }
}

/// End-of-day checks of the world; the apply-time ones are already in `world.violations`.
/// What the end-of-day checks measured besides violations.
#[derive(Debug, Clone, Default)]
pub struct EndMeasures {
    /// Per unplug: simulated seconds from `disconnect_delay` after Mist's AP_DISCONNECTED to
    /// the port secured.
    pub secured_after: Vec<f64>,
}

pub fn world_end(world: &World, p: &Params, out: &mut Vec<(Invariant, String)>) -> EndMeasures {
    let end = Instant::now();
    let t_end = world.sim(end);
    let mut measures = EndMeasures::default();
    for (i, live) in world.aps.iter().enumerate() {
        let Some(port) = live.at else { continue };
        if live.cloud
            && live.mist_lldp == Some(port)
            && world.profiles.get(&port) != Some(&Profile::Ap)
        {
            let sw = &world.topo.switches[port.switch];
            out.push((
                Invariant::ApOnApPort,
                format!(
                    "end t={t_end:.0}s: {} connected on {} {} (Mist reports it there) but the port is {}{}",
                    world.topo.aps[i].name,
                    sw.hostname,
                    port.name(),
                    world
                        .profiles
                        .get(&port)
                        .map(|p| p.as_str())
                        .unwrap_or("untouched"),
                    last_applies(world, port)
                ),
            ));
        }
    }
    // A site whose every AP is gone at the end, on switches Mist does not manage, looks to
    // mesa exactly like a WAN cut that goes on (no AP heard, no switch to ask): its reverts
    // stay held, re-checked, until an AP of the site is heard again or an operator releases
    // them. Safe by design, so not counted as late.
    let dark_site = |site: usize| {
        !world
            .aps
            .iter()
            .any(|live| live.site == site && live.cloud && live.talking)
    };
    let held_on_purpose = |port: super::world::PortId| {
        let switch = &world.topo.switches[port.switch];
        !switch.in_mist && (p.unknown_port_holds || dark_site(switch.site))
    };
    for (&port, &profile) in &world.profiles {
        if profile == Profile::Ap && world.ap_on(port).is_none() && !held_on_purpose(port) {
            let sw = &world.topo.switches[port.switch];
            out.push((
                Invariant::UnpluggedSecured,
                format!(
                    "end t={t_end:.0}s: {} {} is still an AP port with no AP on it{}",
                    sw.hostname,
                    port.name(),
                    last_applies(world, port)
                ),
            ));
        }
    }
    for d in &world.departures {
        let was_ap = world
            .applies
            .iter()
            .rev()
            .find(|a| a.port == Some(d.port) && a.at <= d.left_at)
            .is_some_and(|a| a.profile == Profile::Ap);
        if !was_ap || held_on_purpose(d.port) {
            continue;
        }
        let secured = world
            .applies
            .iter()
            .find(|a| a.port == Some(d.port) && a.at > d.left_at && a.profile == Profile::Secured)
            .map(|a| a.at);
        let by_disconnect = d
            .disconnect_sent
            .map(|t| world.sim(t) + p.disconnect_delay + p.secure_bound());
        let by_connect = d
            .connect_sent
            .map(|t| world.sim(t) + p.lookup_total + p.secure_bound());
        let Some(first) = by_disconnect.or(by_connect) else {
            continue;
        };
        // The time Mist refused calls delayed mesa as much (it cannot judge a revert
        // without Mist). Each extension may reach more of them: extend until it no longer
        // grows.
        let mut deadline = first;
        for _ in 0..200 {
            let until = world.at_sim(deadline);
            // The AP back in the cloud before its port was due to be secured supersedes the
            // disconnect (it may be a reboot on the same port): the old port is then closed
            // once the AP is located elsewhere, which waits for Mist to learn its new LLDP
            // neighbour.
            let back_first = d.connect_sent.is_some_and(|c| world.sim(c) < deadline);
            let planned = match (by_disconnect, by_connect) {
                (Some(a), Some(b)) if back_first => a.max(b),
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(first),
            };
            let mut next = planned + world.refused(d.left_at, until, p.mist_recovery());
            // A decision that Mist's refusals interrupted starts over once Mist accepts
            // calls again (the guards' looks before it are stale): a whole bound after that.
            // When the AP came back first, the decision that starts over is its connect,
            // lookups included.
            if let Some(last) = world.last_refusal(d.left_at, until) {
                let restart = if back_first {
                    p.lookup_total + p.secure_bound()
                } else {
                    p.secure_bound()
                };
                next = next.max(world.sim(last) + p.mist_recovery() + restart);
            }
            // A WAN cut of the port's site that began before the port was secured holds
            // the revert (mesa cannot tell it from an outage) until a re-check after it.
            let site = world.topo.switches[d.port.switch].site;
            for o in world.outages.iter().filter(|o| o.site == site) {
                if o.start > d.left_at && o.start < until {
                    let end = o.end.map(|e| world.sim(e)).unwrap_or(f64::INFINITY);
                    next = next.max(end + p.outage_hold_bound());
                }
            }
            // Other APs of the site declared down within the outage window (unplugs,
            // reboots), on a switch Mist does not manage, give the outage guard no direct
            // evidence: a large share of the site is held as an outage (the AP count is the
            // heuristic) and reverted at the hold's re-check.
            // The hold begins when the disconnect is judged, after Mist's refusals if any.
            if !world.topo.switches[d.port.switch].in_mist {
                if let Some(sent) = d.disconnect_sent {
                    let left = world.sim(d.left_at);
                    let together = world.cloud_downs.iter().any(|&(ap, at_site, silent)| {
                        ap != d.ap && at_site == site && (silent - left).abs() <= p.outage_window
                    });
                    if together {
                        let judged = world
                            .last_refusal(d.left_at, until)
                            .map(|r| world.sim(r) + p.mist_recovery())
                            .unwrap_or(f64::NEG_INFINITY)
                            .max(world.sim(sent) + p.disconnect_delay);
                        next = next.max(judged + p.outage_hold_bound());
                    }
                }
            }
            // So does a flap of the AP itself, before the unplug (within the flap window) or
            // on its next port: the AP's events are held until it is stable.
            for (ap, start, end) in &world.flaps {
                let end = end.map(|e| world.sim(e)).unwrap_or(f64::INFINITY);
                if *ap == d.ap && *start < until && end + p.flap_within > world.sim(d.left_at) {
                    next = next.max(end + p.flap_hold_bound());
                }
            }
            if next - deadline < 0.5 {
                break;
            }
            deadline = next;
        }
        if let (Some(s), Some(sent)) = (secured, d.disconnect_sent) {
            measures
                .secured_after
                .push(world.sim(s) - world.sim(sent) - p.disconnect_delay);
        }
        let late = secured.map(|s| world.sim(s)).is_none_or(|s| s > deadline);
        if late {
            let sw = &world.topo.switches[d.port.switch];
            out.push((
                Invariant::UnpluggedSecured,
                format!(
                    "{} left {} {} at t={:.0}s (AP_DISCONNECTED t={}): secured {} , deadline t={deadline:.0}s{}",
                    world.topo.aps[d.ap].name,
                    sw.hostname,
                    d.port.name(),
                    world.sim(d.left_at),
                    d.disconnect_sent
                        .map(|t| format!("{:.0}s", world.sim(t)))
                        .unwrap_or_else(|| "never".into()),
                    secured
                        .map(|s| format!("at t={:.0}s", world.sim(s)))
                        .unwrap_or_else(|| "never".into()),
                    last_applies(world, d.port)
                ),
            ));
        }
    }
    measures
}

fn last_applies(world: &World, port: super::world::PortId) -> String {
    let mut lines: Vec<String> = world
        .applies
        .iter()
        .filter(|a| a.port == Some(port))
        .map(|a| {
            format!(
                "t={:.0}s {} for {} ({})",
                world.sim(a.at),
                a.profile,
                a.ap,
                a.reason
            )
        })
        .collect();
    if lines.len() > 4 {
        lines.drain(..lines.len() - 4);
    }
    if lines.is_empty() {
        String::new()
    } else {
        format!("; changes: [{}]", lines.join("; "))
    }
}

/// Final decisions per event id, from mesa's audit log.
pub fn decisions(
    decisions: &[mesa::model::Decision],
    journal: (u64, u64),
    out: &mut Vec<(Invariant, String)>,
) -> BTreeMap<String, usize> {
    let mut per_event: HashMap<&str, usize> = HashMap::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for d in decisions.iter().filter(|d| !d.will_retry) {
        *per_event.entry(d.event.id.as_str()).or_default() += 1;
        *labels.entry(d.outcome.label().to_string()).or_default() += 1;
    }
    let (pending, done) = journal;
    if pending > 0 {
        out.push((
            Invariant::OneFinalDecision,
            format!("{pending} journal entries still pending at the end"),
        ));
    }
    for (id, n) in &per_event {
        if *n != 1 {
            let d = decisions.iter().find(|d| d.event.id == *id);
            out.push((
                Invariant::OneFinalDecision,
                format!(
                    "event {id} ({}) has {n} final decisions",
                    d.map(|d| format!("{} {}", d.event.kind, d.event.ap_mac))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    if per_event.len() as u64 != done {
        out.push((
            Invariant::OneFinalDecision,
            format!(
                "{done} journal entries done but {} events with a final decision",
                per_event.len()
            ),
        ));
    }
    labels
}

//! The switches of the simulated campus, as a [`SwitchBackend`]: every change mesa sends is
//! applied to the world's port profiles and judged at that instant: a revert of a port whose
//! AP is on it (outside a PoE flap), or of a port that still had its AP when its site was cut
//! off, is a violation of "no port is reverted while its AP is connected, and none during a
//! site outage". Securing a port that already is secured changes nothing and is not judged.

use mesa::clock::Instant;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mesa::backend::{BackendError, PortResult, SwitchBackend};
use mesa::model::{PortChange, Profile, SwitchRef};

use super::check::Invariant;
use super::world::{Apply, Flap, World};

pub struct Recorder {
    world: Arc<Mutex<World>>,
    /// A revert this soon after the AP arrived on the port is not counted: mesa cannot know
    /// about an AP before Mist does.
    grace: f64,
}

impl Recorder {
    pub fn new(world: Arc<Mutex<World>>, grace_sim_secs: f64) -> Recorder {
        Recorder {
            world,
            grace: grace_sim_secs,
        }
    }
}

#[async_trait]
impl SwitchBackend for Recorder {
    fn kind(&self) -> &'static str {
        "dry-run"
    }

    async fn apply(
        &self,
        switch: &SwitchRef,
        changes: &[PortChange],
    ) -> Result<Vec<PortResult>, BackendError> {
        mesa::backend::ensure_one_switch(switch, changes)?;
        let now = Instant::now();
        let mut world = self
            .world
            .lock()
            .map_err(|_| BackendError::Other("simulated campus poisoned".into()))?;
        let world = &mut *world;
        let mut results = Vec::new();
        for change in changes {
            let port = world.topo.resolve_port(&change.switch, &change.port);
            let at = world.sim(now);
            match port {
                None => world.violations.push((
                    Invariant::KnownPorts,
                    format!(
                        "t={at:.0}s: {} profile for {} {}, not a port of the campus",
                        change.profile, change.switch.name, change.port
                    ),
                )),
                // Securing a port that already is secured changes nothing on the switch.
                Some(port)
                    if change.profile == Profile::Secured
                        && world.profiles.get(&port) != Some(&Profile::Secured) =>
                {
                    let site = world.topo.site_of(port);
                    if let Some(i) = world.ap_on(port) {
                        let live = &world.aps[i];
                        let there_for = at - world.sim(live.present_since);
                        if there_for >= self.grace && live.flap == Flap::Off {
                            let why = format!(
                                "t={at:.0}s: {} {} reverted while {} is on it (for {there_for:.0}s, link {}, cloud {}): {}",
                                change.switch.name,
                                change.port,
                                world.topo.aps[i].name,
                                if live.link { "up" } else { "down" },
                                if live.cloud { "connected" } else { "disconnected" },
                                change.reason
                            );
                            world
                                .violations
                                .push((Invariant::NoRevertWhileConnected, why));
                        }
                    }
                    // A port its AP left before the outage began is rightly secured even
                    // then (late, if mesa held it meanwhile: that shows elsewhere).
                    let outage = world.outage_started(site, now);
                    let had_ap_then = outage.is_some_and(|start| {
                        world.ap_on(port).is_some()
                            || world.last_left(port).is_some_and(|left| left >= start)
                    });
                    if had_ap_then {
                        let why = format!(
                            "t={at:.0}s: {} {} reverted during the WAN outage of site {}: {}",
                            change.switch.name,
                            change.port,
                            world.topo.sites[site].name,
                            change.reason
                        );
                        world
                            .violations
                            .push((Invariant::NoRevertWhileConnected, why));
                    }
                }
                Some(_) => {}
            }
            let changed = match port {
                Some(port) => world.profiles.insert(port, change.profile) != Some(change.profile),
                None => true,
            };
            world.applies.push(Apply {
                at: now,
                port,
                profile: change.profile,
                ap: change.ap.mac.clone(),
                reason: change.reason.clone(),
            });
            results.push(PortResult {
                port: change.port.clone(),
                changed,
                diff: if changed {
                    format!(
                        "[campus] {} {} -> {}",
                        switch.name, change.port, change.profile
                    )
                } else {
                    String::new()
                },
            });
        }
        Ok(results)
    }
}

//! LLDP guard for reverting a port: is the AP still plugged in? Mist's `AP_DISCONNECTED`
//! is about the cloud connection, so before turning the port back into a secured port, ask
//! the switch (through Mist's port stats) who its LLDP neighbor is.
//!
//! One reading is never enough, either way: a rebooting AP takes its link down and brings it
//! up before it speaks LLDP again, and an AP that lost only the cloud is still there. So the
//! guard looks again after `recheck_after` and reverts only when the port was without the AP
//! on two looks in a row (or another device answers LLDP on it, which settles it at once).
//! When Mist cannot show the port at all, `on_unknown` decides, and the verdict says so. With
//! `proceed`, the guard still waits `recheck_after` first, as long as a second look would
//! have: a rebooting AP is back in Mist within that time and its event ends the wait.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::config::{LldpGuardConfig, LldpUnknown};
use crate::engine::wait::Wait;
use crate::mist::{MistClient, MistError, PortStat};
use crate::model::{GuardVerdict, InterfaceName, Mac, SwitchRef};

pub const GUARD: &str = "lldp";

/// Most looks at one port per check (present, gone, and the look that confirms it).
const MAX_LOOKS: u32 = 3;

pub struct LldpGuard {
    mist: Arc<MistClient>,
    enabled: bool,
    recheck_after: Duration,
    on_unknown: LldpUnknown,
}

/// One look at the port.
enum Seen {
    /// Another device is the LLDP neighbor: the AP is not on this port.
    Other(String),
    /// Port down, or up without a neighbor.
    Empty(String),
    /// The AP is the LLDP neighbor.
    Ap,
    /// Mist has no stats for the port.
    Unknown(String),
}

impl Seen {
    fn label(&self) -> &'static str {
        match self {
            Seen::Other(_) => "other-neighbor",
            Seen::Empty(_) => "no-ap",
            Seen::Ap => "ap",
            Seen::Unknown(_) => "no-stats",
        }
    }
}

impl LldpGuard {
    pub fn new(mist: Arc<MistClient>, cfg: &LldpGuardConfig) -> LldpGuard {
        LldpGuard {
            mist,
            enabled: cfg.enabled,
            recheck_after: cfg.recheck_after.get(),
            on_unknown: cfg.on_unknown,
        }
    }

    /// [`LldpGuard::check_waiting`] with waits nothing interrupts.
    pub async fn check(
        &self,
        site_id: &str,
        switch: &SwitchRef,
        port: &InterfaceName,
        ap: &Mac,
    ) -> Result<GuardVerdict, MistError> {
        self.check_waiting(site_id, switch, port, ap, &mut Wait::plain())
            .await
    }

    /// Another LLDP neighbor → proceed. Otherwise look again after `recheck_after`: the AP
    /// on the last look → hold; the port without the AP on two looks in a row → proceed.
    /// With `enabled = false`, proceeds without asking Mist. A wait cut short by a newer
    /// event of the AP returns a hold at once (`wait.superseded()` tells).
    pub async fn check_waiting(
        &self,
        site_id: &str,
        switch: &SwitchRef,
        port: &InterfaceName,
        ap: &Mac,
        wait: &mut Wait,
    ) -> Result<GuardVerdict, MistError> {
        if !self.enabled {
            return Ok(GuardVerdict::proceed(GUARD, "LLDP guard disabled"));
        }
        let switch_mac = match &switch.mac {
            Some(mac) => mac.clone(),
            None => match self.mist.switch_by_hostname(site_id, &switch.name).await? {
                Some(info) => info.mac,
                None => {
                    let why = format!("switch {:?} is not in Mist, no port stats", switch.name);
                    let numbers =
                        json!({"switch": switch.name, "port": port.as_str(), "checks": 0});
                    return Ok(self.unknown(&why, numbers, true, wait).await);
                }
            },
        };
        let mut looks: Vec<&'static str> = Vec::new();
        let mut last_stat = None;
        let mut previous: Option<Seen> = None;
        for n in 1..=MAX_LOOKS {
            if n > 1 {
                tracing::info!(%ap, %port, switch = %switch.name, wait_s = self.recheck_after.as_secs(), look = n, "LLDP guard looks at the port again");
                if !wait.sleep(self.recheck_after).await {
                    return Ok(GuardVerdict::hold(
                        GUARD,
                        "a newer event of the AP arrived during the LLDP recheck",
                    ));
                }
            }
            let stat = self.mist.port_stats(site_id, &switch_mac, port).await?;
            let seen = judge(stat.as_ref(), port, ap);
            looks.push(seen.label());
            if stat.is_some() {
                last_stat = stat;
            }
            let numbers = numbers(&switch_mac, port, last_stat.as_ref(), &looks);
            let apart = humantime::format_duration(self.recheck_after);
            match (&previous, &seen) {
                (_, Seen::Other(what)) => return Ok(GuardVerdict::proceed(GUARD, what.clone()).with_numbers(numbers)),
                (_, Seen::Unknown(why)) => {
                    return Ok(self.unknown(why, numbers, n == 1, wait).await)
                }
                (Some(Seen::Empty(_)), Seen::Ap) => {
                    return Ok(GuardVerdict::hold(
                        GUARD,
                        format!(
                            "the AP is back on {} {port} by LLDP {apart} after the port had none (a reboot brings the link up before LLDP)",
                            switch.name
                        ),
                    )
                    .with_numbers(numbers))
                }
                (Some(Seen::Ap), Seen::Ap) => {
                    return Ok(GuardVerdict::hold(
                        GUARD,
                        format!(
                            "AP still seen on the port by LLDP ({} {port}, checked twice {apart} apart)",
                            switch.name
                        ),
                    )
                    .with_numbers(numbers))
                }
                (Some(Seen::Empty(_)), Seen::Empty(what)) => {
                    return Ok(GuardVerdict::proceed(
                        GUARD,
                        format!("{what} (on {} looks, {apart} apart)", looks.len()),
                    )
                    .with_numbers(numbers))
                }
                _ => {}
            }
            previous = Some(seen);
        }
        // Not reached: the third look always follows a look without the AP, and every
        // answer to it returns above. Kept as the safe answer.
        let numbers = numbers(&switch_mac, port, last_stat.as_ref(), &looks);
        Ok(GuardVerdict::hold(
            GUARD,
            format!(
                "the AP kept coming and going on {} {port} by LLDP",
                switch.name
            ),
        )
        .with_numbers(numbers))
    }

    /// The port cannot be seen. `proceed` still waits as long as a second look would have
    /// (unless a look already waited), so that a rebooting AP, whose port looks no different
    /// from an unplugged one from here, has the time to come back and end the wait.
    async fn unknown(
        &self,
        why: &str,
        mut numbers: serde_json::Value,
        not_waited_yet: bool,
        wait: &mut Wait,
    ) -> GuardVerdict {
        numbers["visible"] = json!(false);
        match self.on_unknown {
            LldpUnknown::Proceed => {
                numbers["on_unknown"] = json!("proceed");
                let mut waited = String::new();
                if not_waited_yet && !self.recheck_after.is_zero() {
                    if !wait.sleep(self.recheck_after).await {
                        return GuardVerdict::hold(
                            GUARD,
                            format!("cannot see the port ({why}); a newer event of the AP arrived while waiting for it to come back"),
                        )
                        .with_numbers(numbers);
                    }
                    numbers["waited_s"] = json!(self.recheck_after.as_secs());
                    waited = format!(
                        "; no sign of the AP within {} (a reboot would have brought it back)",
                        humantime::format_duration(self.recheck_after)
                    );
                }
                GuardVerdict::proceed(
                    GUARD,
                    format!("cannot see the port ({why}){waited}; guards.lldp.on_unknown = \"proceed\""),
                )
            }
            LldpUnknown::Hold => {
                numbers["on_unknown"] = json!("hold");
                GuardVerdict::hold(
                    GUARD,
                    format!("cannot see the port ({why}); guards.lldp.on_unknown = \"hold\""),
                )
            }
        }
        .with_numbers(numbers)
    }
}

fn numbers(
    switch_mac: &Mac,
    port: &InterfaceName,
    stat: Option<&PortStat>,
    looks: &[&str],
) -> serde_json::Value {
    json!({
        "switch_mac": switch_mac.as_str(),
        "port": port.as_str(),
        "up": stat.map(|s| s.up),
        "neighbor_mac": stat.and_then(|s| s.neighbor_mac.as_ref()).map(Mac::as_str),
        "neighbor_system_name": stat.and_then(|s| s.neighbor_system_name.clone()),
        "checks": looks.len(),
        "looks": looks,
    })
}

fn judge(stat: Option<&PortStat>, port: &InterfaceName, ap: &Mac) -> Seen {
    let Some(stat) = stat else {
        return Seen::Unknown(format!("Mist has no stats for port {port}"));
    };
    if !stat.up {
        return Seen::Empty(format!("port {port} is down"));
    }
    match &stat.neighbor_mac {
        None => Seen::Empty(format!("port {port} is up without an LLDP neighbor")),
        Some(mac) if mac != ap => Seen::Other(format!(
            "port {port} now has another LLDP neighbor: {mac}{}",
            stat.neighbor_system_name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        )),
        Some(_) => Seen::Ap,
    }
}

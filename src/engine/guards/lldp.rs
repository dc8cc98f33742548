//! LLDP guard for reverting a port: is the AP still plugged in? Mist's `AP_DISCONNECTED`
//! is about the cloud connection, so before turning the port back into a secured port, ask
//! the switch (through Mist's port stats) who its LLDP neighbor is. If it is still this AP,
//! look once more after `recheck_after`; still there → hold.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::config::LldpGuardConfig;
use crate::mist::{MistClient, MistError, PortStat};
use crate::model::{GuardVerdict, InterfaceName, Mac, SwitchRef};

pub const GUARD: &str = "lldp";

pub struct LldpGuard {
    mist: Arc<MistClient>,
    enabled: bool,
    recheck_after: Duration,
}

/// One look at the port.
enum Seen {
    Decided(GuardVerdict),
    ApStillThere(serde_json::Value),
}

impl LldpGuard {
    pub fn new(mist: Arc<MistClient>, cfg: &LldpGuardConfig) -> LldpGuard {
        LldpGuard {
            mist,
            enabled: cfg.enabled,
            recheck_after: cfg.recheck_after.get(),
        }
    }

    /// Port down, up without neighbor, or another neighbor → proceed. This AP still the
    /// neighbor → wait `recheck_after` and look again; still there → hold. With
    /// `enabled = false`, proceeds without asking Mist.
    pub async fn check(
        &self,
        site_id: &str,
        switch: &SwitchRef,
        port: &InterfaceName,
        ap: &Mac,
    ) -> Result<GuardVerdict, MistError> {
        if !self.enabled {
            return Ok(GuardVerdict::proceed(GUARD, "LLDP guard disabled"));
        }
        let switch_mac = match &switch.mac {
            Some(mac) => mac.clone(),
            None => match self.mist.switch_by_hostname(site_id, &switch.name).await? {
                Some(info) => info.mac,
                None => {
                    let reason = format!(
                        "switch {:?} not found in Mist: no stats for port",
                        switch.name
                    );
                    return Ok(GuardVerdict::proceed(GUARD, reason).with_numbers(
                        json!({"switch": switch.name, "port": port.as_str(), "checks": 0}),
                    ));
                }
            },
        };
        let first = self.mist.port_stats(site_id, &switch_mac, port).await?;
        if let Seen::Decided(verdict) = judge(first.as_ref(), &switch_mac, port, ap, 1) {
            return Ok(verdict);
        }
        tracing::info!(%ap, %port, switch = %switch.name, wait_s = self.recheck_after.as_secs(), "AP still LLDP neighbor, checking again");
        tokio::time::sleep(self.recheck_after).await;
        let second = self.mist.port_stats(site_id, &switch_mac, port).await?;
        Ok(match judge(second.as_ref(), &switch_mac, port, ap, 2) {
            Seen::Decided(verdict) => verdict,
            Seen::ApStillThere(numbers) => GuardVerdict::hold(
                GUARD,
                format!(
                    "AP still seen on the port by LLDP ({} {port}, checked twice {} apart)",
                    switch.name,
                    humantime::format_duration(self.recheck_after)
                ),
            )
            .with_numbers(numbers),
        })
    }
}

fn judge(
    stat: Option<&PortStat>,
    switch_mac: &Mac,
    port: &InterfaceName,
    ap: &Mac,
    checks: u32,
) -> Seen {
    let Some(stat) = stat else {
        return Seen::Decided(
            GuardVerdict::proceed(GUARD, format!("no stats for port {port}")).with_numbers(json!({
                "switch_mac": switch_mac.as_str(),
                "port": port.as_str(),
                "checks": checks,
            })),
        );
    };
    let numbers = json!({
        "switch_mac": switch_mac.as_str(),
        "port": port.as_str(),
        "up": stat.up,
        "neighbor_mac": stat.neighbor_mac.as_ref().map(Mac::as_str),
        "neighbor_system_name": stat.neighbor_system_name,
        "checks": checks,
    });
    let verdict = if !stat.up {
        GuardVerdict::proceed(GUARD, format!("port {port} is down"))
    } else {
        match &stat.neighbor_mac {
            None => {
                GuardVerdict::proceed(GUARD, format!("port {port} is up without an LLDP neighbor"))
            }
            Some(mac) if mac != ap => GuardVerdict::proceed(
                GUARD,
                format!(
                    "port {port} now has another LLDP neighbor: {mac}{}",
                    stat.neighbor_system_name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ),
            ),
            Some(_) => return Seen::ApStillThere(numbers),
        }
    };
    Seen::Decided(verdict.with_numbers(numbers))
}

//! Maintenance holds (see [`crate::maintenance`]): no revert on a site while a person holds
//! it; a connect still applies, and its decision says the site was on hold.

use crate::maintenance::MaintenanceHold;
use crate::model::GuardVerdict;

pub const NAME: &str = "maintenance-hold";

/// For a revert: holds when the site is on hold.
pub fn check_revert(hold: Option<&MaintenanceHold>, site_id: &str) -> GuardVerdict {
    match hold {
        Some(hold) => with_numbers(
            GuardVerdict::hold(NAME, format!("{}: no reverts there", hold.describe())),
            hold,
        ),
        None => GuardVerdict::proceed(NAME, format!("site {site_id} not on maintenance hold")),
    }
}

/// For a connect: always proceeds, but says so when the site is on hold (None otherwise, so
/// ordinary decisions carry no extra line).
pub fn note_connect(hold: Option<&MaintenanceHold>) -> Option<GuardVerdict> {
    hold.map(|hold| {
        with_numbers(
            GuardVerdict::proceed(NAME, format!("{}: connects still apply", hold.describe())),
            hold,
        )
    })
}

fn with_numbers(mut verdict: GuardVerdict, hold: &MaintenanceHold) -> GuardVerdict {
    verdict.numbers = serde_json::json!({
        "site_id": hold.site_id,
        "actor": hold.actor,
        "set_at": hold.set_at.to_rfc3339(),
        "expires_at": hold.expires_at.map(|t| t.to_rfc3339()),
    });
    verdict
}

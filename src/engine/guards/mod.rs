//! Guards say whether a planned change may go ahead, each with its numbers, so every hold
//! can be checked by a person: [`sites`] (ignored sites), [`ports`] (protected ports, only
//! revert what mesa manages), [`flap`] (damping), `outage` (whole-site cloud loss, with
//! the switch's own view from `evidence`), `lldp` (the AP is still on the port) and
//! [`maintenance`] (a person holds the site).

mod evidence;
pub mod flap;
pub mod lldp;
pub mod maintenance;
pub mod outage;
pub mod ports;
pub mod sites;

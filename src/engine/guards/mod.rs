//! Guards say whether a planned change may go ahead, each with its numbers, so every hold
//! can be checked by a person: [`sites`] (ignored sites), [`ports`] (protected ports, only
//! revert what mesa manages), [`flap`] (damping), `outage` (whole-site cloud loss) and
//! `lldp` (the AP is still on the port), [`maintenance`] (a person holds the site).

pub mod flap;
pub mod lldp;
pub mod maintenance;
pub mod outage;
pub mod ports;
pub mod sites;

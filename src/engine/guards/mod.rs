//! Guards say whether a planned change may go ahead, each with its numbers.

pub mod lldp;
pub mod outage;

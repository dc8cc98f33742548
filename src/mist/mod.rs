//! The Mist REST API as mesa uses it: where an AP is plugged in (its LLDP neighbor), what a
//! switch is, how many APs of a site are up, what a switch port sees. Shapes come from
//! `mist.openapi.json` ([`types`]); retries, rate limits and call counting live in [`client`];
//! [`cache`] keeps one call in flight per question when many events ask it at once; [`gate`]
//! makes every caller wait out a 429 together; [`snapshot`] lets the lookups of one site share
//! one read of its AP stats; [`budget`] counts the hour's calls against
//! Mist's 5,000 and [`calls`] counts them per event; [`error`] says why a call failed.

pub mod budget;
pub mod cache;
pub mod calls;
pub mod client;
pub mod error;
pub mod gate;
mod paging;
pub mod snapshot;
pub mod types;

pub use calls::CallCount;
pub use client::MistClient;
pub use error::MistError;
pub use types::{ApStat, DeviceSearchItem, PortStat, SwitchInfo, SwitchStat};

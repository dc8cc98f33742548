//! The Mist REST API as mesa uses it: where an AP is plugged in (its LLDP neighbor), what a
//! switch is, how many APs of a site are up, what a switch port sees. Shapes come from
//! `mist.openapi.json` ([`types`]); retries, rate limits and call counting live in [`client`];
//! [`cache`] keeps one call in flight per question when many events ask it at once.

pub mod cache;
pub mod client;
pub mod types;

pub use client::{MistClient, MistError};
pub use types::{ApStat, DeviceSearchItem, PortStat, SwitchInfo, SwitchStat};

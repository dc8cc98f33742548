//! Shared helpers of the integration tests and the scenario benchmark. Each binary uses part
//! of them.
#![allow(dead_code)]

pub mod campus;
pub mod fleet;
pub mod mesa;
pub mod postgres;
pub mod scenario;
pub mod slack;
pub mod sshd;

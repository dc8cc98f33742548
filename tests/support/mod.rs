//! Shared helpers of the integration tests. Each test binary uses part of them.
#![allow(dead_code)]

pub mod mesa;
pub mod sshd;

//! Simulated peers (Mist cloud, Junos switch) for `mesa demo`, the tests and the benchmarks.

pub mod cso;
pub mod demo;
pub mod demo_stream;
pub mod junos;
pub mod mist;
pub mod mist_ws;

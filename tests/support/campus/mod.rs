//! The campus-day simulation of issue #13: a seeded, randomised day of a campus (connects,
//! unplugs, reboots, moves, PoE flaps, site WAN outages, duplicate and mixed deliveries, FQDN
//! LLDP names, Mist 429s and slow answers) played against the real mesa, the fake Mist cloud
//! and a recording backend, then judged by the invariants in [`check`].
//!
//! [`day`] generates the day from a seed, [`world`] is the campus as it really is (and what
//! Mist says about it), [`recorder`] the switches, [`run`] plays and judges. Used by
//! `tests/campus_day.rs` (CI, 200 seeds) and `bench/campus_day.rs` (10,000 seeds).

pub mod check;
pub mod day;
pub mod recorder;
pub mod report;
pub mod run;
pub mod world;

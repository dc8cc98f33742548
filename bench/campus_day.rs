//! The campus-day simulation at scale: `MESA_SIM_SEEDS` seeded days (default 10,000) against
//! the real engine, the fake Mist cloud and a recording backend, reporting for each invariant
//! how many seeds held it, and what was played. The CI run is `tests/campus_day.rs`.
//!
//! Run: `cargo bench --bench campus_day`. `MESA_SIM_FIRST_SEED` (default 1),
//! `MESA_SIM_PARALLEL` (days at once, default two per core), `MESA_SIM_SHOW` (violations
//! shown per invariant and seed). Days run in virtual time, so
//! the run takes the CPU time the days' work takes. Exit code 1 if any seed broke an
//! invariant.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use support::campus::{report, run};

fn main() {
    let seeds = run::seeds_from_env(10_000);
    let parallel = run::parallel_from_env();
    println!(
        "campus_day: {} seeds from {}, {parallel} at once, virtual time",
        seeds.len(),
        seeds.first().copied().unwrap_or(0),
    );
    let started = Instant::now();
    let mut reports = Vec::new();
    // In chunks, each followed by the running totals, so a long run shows where it stands.
    let chunks: Vec<&[u64]> = seeds.chunks(500).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        reports.extend(run::run_many(chunk, parallel, false));
        if i + 1 < chunks.len() {
            println!("after {} seeds:", reports.len());
            println!("{}", report::summary(&reports, started.elapsed()));
        }
    }
    println!("{}", report::summary(&reports, started.elapsed()));
    let failing = reports.iter().filter(|r| !r.ok()).count();
    if failing > 0 {
        println!(
            "{}",
            report::failures(
                &reports,
                "cargo test --test campus_day campus_days_hold_every -- --nocapture",
                5
            )
        );
        std::process::exit(1);
    }
}

//! The campus-day simulation at scale: `MESA_SIM_SEEDS` seeded days (default 10,000) against
//! the real engine, the fake Mist cloud and a recording backend, reporting for each invariant
//! how many seeds held it, and what was played. The CI run is `tests/campus_day.rs`.
//!
//! Run: `cargo bench --bench campus_day`. `MESA_SIM_FIRST_SEED` (default 1),
//! `MESA_SIM_PARALLEL` (days at once, default 250), `MESA_SIM_SCALE_MS` (real milliseconds
//! per simulated second, default 15), `MESA_SIM_SHOW` (violations shown per invariant and
//! seed). Exit code 1 if any seed broke an invariant.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use support::campus::{report, run};

fn main() {
    let seeds = run::seeds_from_env(10_000);
    let parallel = std::env::var("MESA_SIM_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    let scale = run::scale_from_env();
    println!(
        "campus_day: {} seeds from {}, {parallel} at once, {} ms per simulated second",
        seeds.len(),
        seeds.first().copied().unwrap_or(0),
        scale.as_millis()
    );
    let started = Instant::now();
    let mut reports = Vec::new();
    // In chunks, each followed by the running totals, so a long run shows where it stands.
    let chunks: Vec<&[u64]> = seeds.chunks(parallel.max(1) * 3).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        reports.extend(run::run_many(chunk, parallel, scale, false));
        if i + 1 < chunks.len() {
            println!("after {} seeds:", reports.len());
            println!("{}", report::summary(&reports, scale, started.elapsed()));
        }
    }
    println!("{}", report::summary(&reports, scale, started.elapsed()));
    let failing = reports.iter().filter(|r| !r.ok()).count();
    if failing > 0 {
        println!(
            "{}",
            report::failures(
                &reports,
                "cargo test --test campus_day -- --include-ignored --nocapture",
                5
            )
        );
        std::process::exit(1);
    }
}

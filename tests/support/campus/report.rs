//! What a batch of campus days found, for people: per invariant how many seeds held it, the
//! failing seeds with their first violations and how to replay one, and what was played.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::check::Invariant;
use super::run::SeedReport;

pub fn summary(reports: &[SeedReport], wall: Duration) -> String {
    let mut out = String::new();
    let n = reports.len();
    let simulated: f64 = reports.iter().map(|r| r.stats.simulated).sum();
    let day_walls: f64 = reports.iter().map(|r| r.stats.wall.as_secs_f64()).sum();
    let _ = writeln!(
        out,
        "campus days: {n} seeds, {:.1} simulated hours in {:.1} s wall ({:.2} s per day on its thread)",
        simulated / 3600.0,
        wall.as_secs_f64(),
        if n == 0 { 0.0 } else { day_walls / n as f64 }
    );
    for invariant in Invariant::ALL {
        let held = reports.iter().filter(|r| r.holds(invariant)).count();
        let failing: Vec<String> = reports
            .iter()
            .filter(|r| !r.holds(invariant))
            .take(12)
            .map(|r| r.seed.to_string())
            .collect();
        let _ = writeln!(
            out,
            "  {held:>6} / {n} held: {}{}",
            invariant.label(),
            if failing.is_empty() {
                String::new()
            } else {
                format!(
                    " (failing seeds: {}{})",
                    failing.join(", "),
                    if n - held > 12 { ", ..." } else { "" }
                )
            }
        );
    }
    let all = reports.iter().filter(|r| r.ok()).count();
    let _ = writeln!(out, "  {all:>6} / {n} held every invariant");
    let not_run: Vec<&str> = reports
        .iter()
        .filter_map(|r| {
            r.violations
                .values()
                .flatten()
                .find(|v| v.starts_with("harness: "))
        })
        .map(String::as_str)
        .collect();
    if let Some(first) = not_run.first() {
        let _ = writeln!(
            out,
            "  {} days did not run (counted as failing \"one final decision\"), e.g. {first}",
            not_run.len()
        );
    }

    let mut incidents: BTreeMap<&str, usize> = BTreeMap::new();
    let mut decisions: BTreeMap<String, usize> = BTreeMap::new();
    let (mut bodies, mut events, mut dups, mut refused, mut accepted, mut calls) =
        (0, 0, 0, 0, 0, 0);
    let mut latencies: Vec<f64> = Vec::new();
    for r in reports {
        for (k, v) in &r.stats.incidents {
            *incidents.entry(k).or_default() += v;
        }
        for (k, v) in &r.stats.decisions {
            *decisions.entry(k.clone()).or_default() += v;
        }
        bodies += r.stats.bodies;
        events += r.stats.events;
        dups += r.stats.duplicate_deliveries;
        refused += r.stats.refused_bodies;
        accepted += r.stats.accepted;
        calls += r.stats.mist_calls;
        latencies.extend(&r.stats.secured_after);
    }
    let _ = writeln!(
        out,
        "  played: {bodies} deliveries ({dups} duplicates, {refused} refused), {events} events, {accepted} accepted, {calls} Mist calls"
    );
    let list = |m: &BTreeMap<_, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "  incidents: {}",
        list(&incidents.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    );
    let _ = writeln!(out, "  final decisions: {}", list(&decisions));
    let held: usize = reports.iter().map(|r| r.stats.held_at_end).sum();
    if held > 0 {
        let days = reports.iter().filter(|r| r.stats.held_at_end > 0).count();
        let _ = writeln!(
            out,
            "  holds still re-checked at the end of the day: {held} on {days} days (sites left dark)"
        );
    }
    if !latencies.is_empty() {
        let _ = writeln!(
            out,
            "  unplugged port secured, simulated s after disconnect_delay past AP_DISCONNECTED: p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0} (n={})",
            pct(&mut latencies, 0.5),
            pct(&mut latencies, 0.9),
            pct(&mut latencies, 0.99),
            pct(&mut latencies, 1.0),
            latencies.len()
        );
    }
    out
}

fn pct(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[i.min(values.len() - 1)]
}

/// The failing seeds, each with its first violations per invariant and how to replay it.
/// `MESA_SIM_FAILURES` overrides `max_seeds`.
pub fn failures(reports: &[SeedReport], replay: &str, max_seeds: usize) -> String {
    let max_seeds = std::env::var("MESA_SIM_FAILURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(max_seeds);
    let mut out = String::new();
    for r in reports.iter().filter(|r| !r.ok()).take(max_seeds) {
        let _ = writeln!(
            out,
            "seed {} (replay: MESA_SIM_SEED={} {replay})",
            r.seed, r.seed
        );
        for (invariant, whys) in &r.violations {
            let _ = writeln!(out, "  {} ({}):", invariant.label(), whys.len());
            let shown = std::env::var("MESA_SIM_SHOW")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3);
            for why in whys.iter().take(shown) {
                let _ = writeln!(out, "    - {why}");
            }
        }
    }
    out
}

//! Lookup cost and latency against the fake Mist over real HTTP, with the dry-run backend
//! (the switch side is measured by `bench/scenarios.rs`):
//!
//! - `L1`: one AP; Mist learns its LLDP neighbor 20 s after the connect. Target: webhook →
//!   decided ≤ 20 s + one commit + 2 s (no fixed wait).
//! - `S6`: 5,000 APs over 50 sites and 100 switches connecting within `BENCH_S6_SPREAD`
//!   (default 10m). Target: ≤ 300 Mist calls, every port configured; wall time and calls.
//!
//! Run: `cargo bench --bench lookups` (both) or `cargo bench --bench lookups -- L1`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesa::model::{Mac, Profile};
use mesa::sim::mist::FakeMist;
use support::mesa::{device_event, start_with_mist, TestMesa};
use support::scenario::{poll, send_spread};

type Lines = Vec<String>;

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The defaults of `[mist]` for lookups (the test configuration shortens them).
fn lookup_defaults(c: &mut mesa::config::Config) {
    let d = mesa::config::MistConfig::default();
    c.mist.lookup_delay = d.lookup_delay;
    c.mist.lookup_gather = d.lookup_gather;
    c.mist.lookup_backoff = d.lookup_backoff;
    c.mist.lookup_attempts = d.lookup_attempts;
    c.mist.snapshot_ttl = d.snapshot_ttl;
    c.engine.max_concurrent = mesa::config::EngineConfig::default().max_concurrent;
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_uppercase())
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut problems = 0;
    let mut report = |name: &str, started: Instant, lines: Lines| {
        println!("{name} ({} wall)", secs(started.elapsed()));
        for line in lines {
            if line.starts_with("PROBLEM") || line.starts_with("TARGET MISSED") {
                problems += 1;
            }
            println!("  {line}");
        }
        println!();
    };
    if runs("L1") {
        let t = Instant::now();
        report(
            "L1 single AP, Mist learns LLDP after 20 s",
            t,
            runtime.block_on(l1()),
        );
    }
    if runs("S6") {
        let t = Instant::now();
        report("S6 5,000 APs, 50 sites", t, runtime.block_on(s6()));
    }
    if problems > 0 {
        println!("{problems} problem(s)");
        std::process::exit(1);
    }
}

fn by_endpoint(fake: &FakeMist) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in fake.calls() {
        let path: Vec<&str> = c
            .path
            .split('/')
            .map(|s| if s.len() > 20 { "{id}" } else { s })
            .collect();
        *out.entry(path.join("/")).or_default() += 1;
    }
    out
}

async fn l1() -> Lines {
    let fake = FakeMist::start().await;
    let site = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
    fake.add_site(site, "HQ");
    let sw = Mac::parse("d420b0000001").expect("mac");
    fake.add_switch(&sw, "sw1", site, "10.0.0.11");
    let mesa = start_with_mist(&fake, lookup_defaults).await;
    let ap = Mac::parse("5c5b35000001").expect("mac");
    let learn = Duration::from_secs(20);
    fake.plug_ap_learning(&ap, &sw, "ge-0/0/1", learn);
    let started = Instant::now();
    let now = chrono::Utc::now().timestamp();
    let r = mesa
        .post_signed(&device_event("AP_CONNECTED", ap.as_str(), site, now))
        .await;
    assert_eq!(r.status(), 200);
    poll(Duration::from_secs(180), Duration::from_millis(20), || {
        mesa.profile("sw1", "ge-0/0/1") == Some(Profile::Ap)
    })
    .await;
    let took = started.elapsed();
    mesa.idle().await;
    let d = mesa
        .app
        .store
        .recent_decisions(1)
        .await
        .expect("decisions")
        .remove(0);
    let mut lines = vec![
        format!(
            "webhook -> port set (dry-run backend, commit ~0): {} (Mist learned the neighbor at 20.0 s; target <= 22 s + one commit)",
            secs(took)
        ),
        format!("decision: {}", d.outcome.label()),
        format!(
            "Mist calls: {} by endpoint {:?}",
            fake.calls().len(),
            by_endpoint(&fake)
        ),
    ];
    if took > learn + Duration::from_secs(2) {
        lines.push("TARGET MISSED: more than 2 s after Mist learned the neighbor".into());
    }
    lines
}

async fn s6() -> Lines {
    let spread = humantime::parse_duration(
        &std::env::var("BENCH_S6_SPREAD").unwrap_or_else(|_| "10m".into()),
    )
    .expect("BENCH_S6_SPREAD");
    let (sites, switches_per_site, aps_per_switch) = (50usize, 2usize, 50usize);
    let fake = FakeMist::start().await;
    let mut aps = Vec::new();
    for s in 0..sites {
        let site = format!("00000000-0000-0000-0000-{s:012}");
        fake.add_site(&site, &format!("site-{s}"));
        for w in 0..switches_per_site {
            let n = s * switches_per_site + w;
            let sw = Mac::parse(&format!("d420b0{n:06}")).expect("mac");
            let name = format!("sw{n}");
            fake.add_switch(&sw, &name, &site, &format!("10.{}.{}.1", n / 250, n % 250));
            for p in 0..aps_per_switch {
                let ap = Mac::parse(&format!("5c5b{n:04}{p:04}")).expect("mac");
                let port = format!("ge-0/0/{p}");
                fake.plug_ap(&ap, &sw, &port);
                aps.push((ap, site.clone(), name.clone(), port));
            }
        }
    }
    let mesa: TestMesa = start_with_mist(&fake, lookup_defaults).await;
    // Interleaved over sites and switches, as a campus powering up.
    aps.sort_by_key(|(_, site, sw, port)| (port.clone(), sw.clone(), site.clone()));
    let all = aps.len();
    let bodies: Vec<String> = aps
        .iter()
        .enumerate()
        .map(|(i, (ap, site, _, _))| {
            device_event("AP_CONNECTED", ap.as_str(), site, 1_700_000_000 + i as i64)
        })
        .collect();
    fake.clear_calls();
    let started = Instant::now();
    let acked = send_spread(&mesa.http, &mesa.url("/mist/webhook"), bodies, spread).await;
    let configured = || {
        aps.iter()
            .filter(|(_, _, sw, port)| mesa.profile(sw, port) == Some(Profile::Ap))
            .count()
    };
    let done = poll(
        spread + Duration::from_secs(300),
        Duration::from_millis(500),
        || configured() == all,
    )
    .await;
    let wall = started.elapsed();
    mesa.idle().await;
    let calls = fake.calls().len();
    let mut lines = vec![
        format!(
            "{all} AP_CONNECTED over {sites} sites, {} switches, sent within {}; mist defaults (lookup_delay 0, lookup_gather 1s, snapshot_ttl 30s)",
            sites * switches_per_site,
            secs(spread)
        ),
        format!("acknowledged: {acked}/{all}"),
        format!(
            "ports configured: {}/{all}, last one {} after the first event{}",
            configured(),
            secs(wall),
            if done { "" } else { " -- TIMED OUT" }
        ),
        format!(
            "Mist calls: {calls} ({:.3} per AP); by endpoint {:?}",
            calls as f64 / all as f64,
            by_endpoint(&fake)
        ),
    ];
    if !done {
        lines.push(format!(
            "PROBLEM: {} of {all} ports configured",
            configured()
        ));
    }
    if calls > 300 {
        lines.push(format!("TARGET MISSED: {calls} Mist calls (target <= 300)"));
    }
    lines
}

//! Plays one campus day against the real mesa (`App::with_backend`, served over loopback HTTP
//! like `mesa serve`) with the fake Mist cloud and the recording backend, then judges it.
//!
//! Time is virtual: each day runs on its own single-threaded tokio runtime with a paused
//! clock, and mesa reads wall time from that clock (`mesa::clock::follow_runtime_clock`).
//! When every task of the day waits, the clock jumps to the next timer, so a day of hours
//! plays in the CPU time its work takes and every wait is exactly as configured: mesa runs
//! on its default configuration, unscaled. Dropping the runtime stops everything mesa
//! started; many days run side by side on threads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesa::clock::Instant;

use mesa::config::{Config, Secret};
use mesa::ingest::signature::sign_v2;
use mesa::sim::mist::{now, FakeMist, ORG_ID};
use serde_json::{json, Value};

use super::check::{self, Invariant};
use super::day::{self, Action, Day, Delivery, Fault, Odd, Params};
use super::recorder::Recorder;
use super::world::{sim_secs, Flap, World};

const SECRET: &str = "campus-day-webhook-secret";

/// After the day, how long mesa may stay busy (or wait for a re-check) before that counts
/// against "one final decision": the longest wait mesa configures is an hour.
const IDLE_WITHIN: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub bodies: usize,
    pub events: usize,
    pub duplicate_deliveries: usize,
    pub refused_bodies: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub decisions: BTreeMap<String, usize>,
    pub mist_calls: usize,
    /// Per unplug: seconds between `disconnect_delay` after Mist's AP_DISCONNECTED and the
    /// port secured (simulated).
    pub secured_after: Vec<f64>,
    pub incidents: BTreeMap<&'static str, usize>,
    /// Real time the day took on its thread.
    pub wall: Duration,
    /// The day's simulated length (seconds).
    pub simulated: f64,
    /// Holds still re-checked when the day ended (a site that stays dark).
    pub held_at_end: usize,
}

#[derive(Debug, Clone)]
pub struct SeedReport {
    pub seed: u64,
    pub violations: BTreeMap<Invariant, Vec<String>>,
    pub stats: Stats,
}

impl SeedReport {
    pub fn holds(&self, invariant: Invariant) -> bool {
        self.violations.get(&invariant).is_none_or(Vec::is_empty)
    }

    pub fn ok(&self) -> bool {
        Invariant::ALL.iter().all(|&i| self.holds(i))
    }
}

/// `MESA_SIM_SEED=n` → that seed alone; else `MESA_SIM_SEEDS` (default `default`) seeds
/// from `MESA_SIM_FIRST_SEED` (default 1).
pub fn seeds_from_env(default: u64) -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(seed) = var("MESA_SIM_SEED") {
        return vec![seed];
    }
    let first = var("MESA_SIM_FIRST_SEED").unwrap_or(1);
    let count = var("MESA_SIM_SEEDS").unwrap_or(default);
    (first..first + count).collect()
}

/// Days at once: `MESA_SIM_PARALLEL`, else two per core (a day's thread waits on loopback
/// HTTP and SQLite now and then).
pub fn parallel_from_env() -> usize {
    std::env::var("MESA_SIM_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() * 2)
                .unwrap_or(4)
        })
}

/// Runs `seeds` with up to `parallel` days at once (`calm`: see [`Params::calm`]); reports
/// in seed order.
pub fn run_many(seeds: &[u64], parallel: usize, calm: bool) -> Vec<SeedReport> {
    let next = Arc::new(AtomicUsize::new(0));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seeds: Arc<Vec<u64>> = Arc::new(seeds.to_vec());
    let workers: Vec<_> = (0..parallel.max(1).min(seeds.len().max(1)))
        .map(|_| {
            let (next, reports, seeds) = (next.clone(), reports.clone(), seeds.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else { return };
                let report = run_seed_blocking(seed, calm);
                if let Ok(mut r) = reports.lock() {
                    r.push(report);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let mut out = std::mem::take(&mut *reports.lock().unwrap_or_else(|p| p.into_inner()));
    out.sort_by_key(|r| r.seed);
    out
}

/// One day on a runtime of its own, dropped afterwards with everything mesa spawned.
pub fn run_seed_blocking(seed: u64, calm: bool) -> SeedReport {
    mesa::clock::follow_runtime_clock();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return harness_failure(seed, format!("no runtime: {e}")),
    };
    let report = runtime.block_on(run_seed(seed, calm));
    runtime.shutdown_timeout(Duration::from_secs(1));
    report
}

fn harness_failure(seed: u64, why: String) -> SeedReport {
    let mut violations = BTreeMap::new();
    violations.insert(Invariant::OneFinalDecision, vec![format!("harness: {why}")]);
    SeedReport {
        seed,
        violations,
        stats: Stats::default(),
    }
}

struct Deliveries {
    stats: Mutex<Stats>,
    refused: Mutex<Vec<String>>,
}

pub async fn run_seed(seed: u64, calm: bool) -> SeedReport {
    let started = std::time::Instant::now();
    let params = Params {
        calm,
        ..Params::from_defaults()
    };
    let day = day::generate(seed, &params);
    let fake = match FakeMist::try_start().await {
        Ok(fake) => fake,
        Err(e) => return harness_failure(seed, format!("fake Mist: {e}")),
    };
    for site in &day.topo.sites {
        fake.add_site(&site.id, &site.name);
    }
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return harness_failure(seed, format!("temp dir: {e}")),
    };
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = dir.path().to_path_buf();
    config.server.fsync = false;
    let mist = fake.mist_config();
    config.mist.api_url = mist.api_url;
    config.mist.api_token = mist.api_token;
    config.mist.org_id = mist.org_id;
    config.mist.webhook_secret = Some(Secret::new(SECRET));

    let world = Arc::new(Mutex::new(World::new(day.topo.clone(), Instant::now())));
    lock(&world).sync(&fake);
    let recorder = Arc::new(Recorder::new(world.clone(), 5.0));
    let app = match mesa::app::App::with_backend(config, recorder).await {
        Ok(app) => app,
        Err(e) => return harness_failure(seed, format!("mesa does not start: {e}")),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = app.clone();
    let serving = tokio::spawn(async move { server.serve(Some(tx)).await });
    let addr = match rx.await {
        Ok(addr) => addr,
        Err(_) => {
            let why = match serving.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "serve returned".into(),
                Err(e) => e.to_string(),
            };
            return harness_failure(seed, format!("mesa did not bind: {why}"));
        }
    };
    let url = format!("http://{addr}{}", app.config.server.webhook_path);
    let http = reqwest::Client::new();
    let deliveries = Arc::new(Deliveries {
        stats: Mutex::new(Stats::default()),
        refused: Mutex::new(Vec::new()),
    });

    let t0 = tokio::time::Instant::now();
    lock(&world).start = Instant::now();
    let mut posts = tokio::task::JoinSet::new();
    for step in &day.steps {
        tokio::time::sleep_until(t0 + sim_secs(step.at)).await;
        let bodies = apply(&world, &fake, &day, &step.action);
        for (body, delivery) in bodies {
            let copies = std::iter::once(0.0).chain(delivery.dup_after);
            for (n, after) in copies.enumerate() {
                let (http, url, body, deliveries) =
                    (http.clone(), url.clone(), body.clone(), deliveries.clone());
                let delay = sim_secs(after);
                let at = step.at;
                posts.spawn(async move {
                    tokio::time::sleep(delay).await;
                    post(&http, &url, &body, n > 0, at, &deliveries).await;
                });
            }
        }
    }
    tokio::time::sleep_until(t0 + sim_secs(day.end)).await;
    while posts.join_next().await.is_some() {}
    // Virtual time: waiting costs nothing, so the day's end waits for whatever mesa still
    // does (a guard's wait, a closed rate-limit gate) and for the holds it re-checks later,
    // as a real campus would; only a re-check chain that never ends is cut short.
    let mut idle = tokio::time::timeout(IDLE_WITHIN, app.engine.wait_idle()).await;
    for _ in 0..20 {
        let pending = app.store.journal_pending().await.unwrap_or_default();
        let Some(last_due) = pending.iter().map(|e| e.event.received_at).max() else {
            break;
        };
        let wait = (last_due - mesa::clock::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            + sim_secs(5.0);
        tokio::time::sleep(wait.min(IDLE_WITHIN)).await;
        idle = tokio::time::timeout(IDLE_WITHIN, app.engine.wait_idle()).await;
    }

    let mut found: Vec<(Invariant, String)> = Vec::new();
    if idle.is_err() {
        found.push((
            Invariant::OneFinalDecision,
            format!(
                "engine still busy {} s after the day ended ({} events in flight)",
                IDLE_WITHIN.as_secs(),
                app.engine.in_flight()
            ),
        ));
    }
    let mut stats = std::mem::take(&mut *lock(&deliveries.stats));
    for why in lock(&deliveries.refused).drain(..) {
        found.push((Invariant::DeliveriesAccepted, why));
    }
    {
        let mut w = lock(&world);
        w.refusals = fake.refusals();
        found.extend(w.violations.iter().cloned());
        let measures = check::world_end(&w, &params, &mut found);
        stats.secured_after = measures.secured_after;
    }
    let decisions = app.store.recent_decisions(1_000_000).await;
    let journal = app.store.journal_counts().await;
    // A hold still being re-checked (a site that stays dark) has its decision, held, and a
    // re-check to come: not a lost event. The ports it keeps are judged by the world checks.
    let (rechecks, others): (Vec<_>, Vec<_>) = app
        .store
        .journal_pending()
        .await
        .unwrap_or_default()
        .into_iter()
        .partition(|entry| entry.event.source.as_str() == "recheck");
    match (decisions, journal) {
        (Ok(decisions), Ok((_, done))) => {
            let journal = (others.len() as u64, done);
            stats.decisions = check::decisions(&decisions, journal, &mut found);
            stats.held_at_end = rechecks.len();
            if !others.is_empty() {
                let now = mesa::clock::now();
                let pending: Vec<String> = others
                    .iter()
                    .map(|entry| {
                        let e = &entry.event;
                        let due = (e.received_at - now).num_milliseconds() as f64 / 1000.0;
                        format!(
                            "{} {} via {} (due {due:+.0}s)",
                            e.kind,
                            e.ap_name.as_deref().unwrap_or(e.ap_mac.as_str()),
                            e.source.as_str()
                        )
                    })
                    .collect();
                found.push((
                    Invariant::OneFinalDecision,
                    format!("pending at the end: {}", pending.join("; ")),
                ));
            }
            if std::env::var_os("MESA_SIM_TRACE").is_some() {
                trace(&day, &lock(&world), &decisions);
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            found.push((
                Invariant::OneFinalDecision,
                format!("store unreadable: {e}"),
            ));
        }
    }
    stats.mist_calls = fake.calls().len();
    stats.incidents = day.incidents.clone();
    stats.wall = started.elapsed();
    stats.simulated = day.end;
    let mut violations: BTreeMap<Invariant, Vec<String>> = BTreeMap::new();
    for (invariant, why) in found {
        violations.entry(invariant).or_default().push(why);
    }
    SeedReport {
        seed,
        violations,
        stats,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Applies one step to the world and the fake cloud; returns the bodies Mist sends for it.
fn apply(
    world: &Mutex<World>,
    fake: &FakeMist,
    day: &Day,
    action: &Action,
) -> Vec<(String, Delivery)> {
    let now_i = Instant::now();
    let mut w = lock(world);
    let mut bodies = Vec::new();
    match action {
        Action::Plug { ap, port } => w.plug(*ap, *port, now_i),
        Action::Unplug { ap } => w.unplug(*ap, now_i),
        Action::Link { ap, up } => w.link(*ap, *up),
        Action::Neighbor { ap } => {
            let live = &mut w.aps[*ap];
            live.neighbor = live.link && live.at.is_some();
        }
        Action::MistLearns { ap } => {
            let live = &mut w.aps[*ap];
            if live.cloud {
                live.mist_lldp = live.at;
            }
        }
        Action::Silent { aps } => {
            for &ap in aps {
                w.silent(ap);
            }
        }
        Action::CloudDown { aps, delivery } => {
            for &ap in aps {
                w.cloud_down(ap, now_i);
            }
            bodies.push((
                body(&w, day, aps, "AP_DISCONNECTED", delivery.odd),
                *delivery,
            ));
        }
        Action::CloudUp {
            aps,
            kind,
            fresh,
            delivery,
        } => {
            for &ap in aps {
                w.cloud_up(ap, *fresh, now_i);
            }
            bodies.push((body(&w, day, aps, kind, delivery.odd), *delivery));
        }
        Action::Reassign { ap, site } => w.aps[*ap].site = *site,
        Action::SwitchCloud { site, up } => {
            for s in 0..w.topo.switches.len() {
                if w.topo.switches[s].site == *site {
                    w.switch_up[s] = *up;
                }
            }
        }
        Action::Outage { site, on } => {
            if *on {
                w.outages.push(super::world::OutageWindow {
                    site: *site,
                    start: now_i,
                    end: None,
                });
            } else if let Some(o) = w
                .outages
                .iter_mut()
                .rev()
                .find(|o| o.site == *site && o.end.is_none())
            {
                o.end = Some(now_i);
            }
        }
        Action::Flapping { ap, on } => {
            w.aps[*ap].flap = if *on { Flap::On } else { Flap::Off };
            let now = Instant::now();
            if *on {
                w.flaps.push((*ap, now, None));
            } else if let Some(open) = w
                .flaps
                .iter_mut()
                .rev()
                .find(|(a, _, end)| a == ap && end.is_none())
            {
                open.2 = Some(now);
            }
        }
        Action::Notice { ap, kind, delivery } => {
            bodies.push((body(&w, day, &[*ap], kind, delivery.odd), *delivery));
        }
        Action::Fault(fault) => match fault {
            Fault::RateLimit(n) => fake.fail_next_with_429(*n, None),
            Fault::ServerErrors(n) => fake.fail_next_with_status(*n, 502),
            Fault::Latency(latency) => fake.set_latency(sim_secs(*latency)),
        },
    }
    w.sync(fake);
    bodies
}

/// A `device-events` body as Mist sends it (`webhook_device_events`), with an odd event
/// beside the real ones if asked.
fn body(w: &World, day: &Day, aps: &[usize], kind: &str, odd: Option<Odd>) -> String {
    let ts = now() as i64;
    let mut events: Vec<Value> = aps
        .iter()
        .map(|&ap| {
            let spec = &w.topo.aps[ap];
            let site = &w.topo.sites[w.aps[ap].site];
            json!({
                "type": kind,
                "mac": spec.mac.as_str(),
                "device_name": spec.name,
                "device_type": "ap",
                "ev_type": "NOTICE",
                "org_id": ORG_ID,
                "site_id": site.id,
                "site_name": site.name,
                "timestamp": ts,
            })
        })
        .collect();
    match odd {
        Some(Odd::UnassignedAp) => events.push(json!({
            "type": "AP_CONNECTED",
            "mac": format!("5c5b35ff{:04x}", day.seed % 0xffff),
            "device_name": "unassigned-ap",
            "device_type": "ap",
            "ev_type": "NOTICE",
            "org_id": ORG_ID,
            "timestamp": ts,
        })),
        Some(Odd::SwitchEvent) => {
            let sw = &w.topo.switches[0];
            events.push(json!({
                "type": "SW_CONFIGURED",
                "mac": sw.mac.as_str(),
                "device_name": sw.hostname,
                "device_type": "switch",
                "ev_type": "NOTICE",
                "org_id": ORG_ID,
                "site_id": w.topo.sites[sw.site].id,
                "timestamp": ts,
            }))
        }
        None => {}
    }
    json!({"topic": "device-events", "events": events}).to_string()
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    duplicate: bool,
    at: f64,
    deliveries: &Deliveries,
) {
    let signature = sign_v2(SECRET.as_bytes(), body.as_bytes());
    let sent = http
        .post(url)
        .header("X-Mist-Signature-v2", signature)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let events = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["events"].as_array().map(Vec::len))
        .unwrap_or(0);
    let answer: Result<Value, String> = match sent {
        Ok(r) if r.status().is_success() => Ok(r.json().await.unwrap_or(Value::Null)),
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Err(format!("refused with {status}: {text}"))
        }
        Err(e) => Err(format!("delivery failed: {e}")),
    };
    let mut stats = lock(&deliveries.stats);
    stats.bodies += 1;
    stats.events += events;
    stats.duplicate_deliveries += usize::from(duplicate);
    match answer {
        Ok(answer) => {
            stats.accepted += answer["accepted"].as_u64().unwrap_or(0) as usize;
            stats.duplicates += answer["duplicates"].as_u64().unwrap_or(0) as usize;
        }
        Err(why) => {
            stats.refused_bodies += 1;
            lock(&deliveries.refused).push(format!("t={at:.0}s: body [{}] {why}", describe(body)));
        }
    }
}

/// `AP_CONNECTED ap-hq-01, SW_CONFIGURED hq-sw1 (no site_id)`: a body for people.
fn describe(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let events = value["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}{}",
                e["type"].as_str().unwrap_or("?"),
                e["device_name"].as_str().unwrap_or("?"),
                if e.get("site_id").is_none() {
                    " (no site_id)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `MESA_SIM_TRACE=1`: the day's timeline and mesa's decisions, for replaying a seed.
fn trace(day: &Day, w: &World, decisions: &[mesa::model::Decision]) {
    println!("--- seed {} topology", day.seed);
    for (i, sw) in day.topo.switches.iter().enumerate() {
        println!(
            "switch {i}: {} lldp {:?} site {} in_mist {} ifindex {}",
            sw.hostname, sw.lldp_name, day.topo.sites[sw.site].name, sw.in_mist, sw.ifindex_ids
        );
    }
    for (i, ap) in day.topo.aps.iter().enumerate() {
        println!("ap {i}: {} {}", ap.name, ap.mac);
    }
    println!("--- timeline (simulated s)");
    for step in &day.steps {
        println!("{:>7.1} {:?}", step.at, step.action);
    }
    println!("--- changes");
    for a in &w.applies {
        println!(
            "{:>7.1} {:?} {} for {} ({})",
            w.sim(a.at),
            a.port,
            a.profile,
            a.ap,
            a.reason
        );
    }
    println!("--- decisions");
    let mut sorted: Vec<&mesa::model::Decision> = decisions.iter().collect();
    sorted.sort_by_key(|d| d.decided_at);
    for d in sorted {
        let t = (d.decided_at - mesa::clock::now()).num_milliseconds() as f64 / 1000.0
            + w.sim(Instant::now());
        let verdicts: Vec<String> = d
            .verdicts
            .iter()
            .map(|v| {
                format!(
                    "{}:{} {} {}",
                    v.guard,
                    if v.proceed { "proceed" } else { "hold" },
                    v.reason,
                    v.numbers
                )
            })
            .collect();
        println!(
            "{t:>7.1} {} {} {} [{}]{}: {} || {}",
            d.event.kind,
            d.event.ap_mac,
            d.event.source.as_str(),
            d.outcome.summary(),
            if d.will_retry { " (interim)" } else { "" },
            d.lookups.join(" | "),
            verdicts.join(" | ")
        );
    }
}

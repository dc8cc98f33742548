//! Scenario runners shared by the benchmark (`bench/scenarios.rs`, full size, prints numbers)
//! and the CI tests (`tests/scenarios.rs`, reduced, asserts): each returns what it measured
//! and the problems it found, and leaves judging to the caller.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesa::model::Decision;
use mesa::store::sqlite::SqliteStore;
use mesa::store::Store;

use super::fleet::{Ap, Fleet};
use super::mesa::SECRET;

/// Polls `done` every `every` until it holds or `limit` passes; false on timeout.
pub async fn poll(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Posts `bodies` signed, spread evenly over `spread` (all at once when zero), each in its own
/// task; returns how many were acknowledged with 200.
pub async fn send_spread(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<String>,
    spread: Duration,
) -> usize {
    let n = bodies.len().max(1) as u32;
    let step = spread / n;
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let (http, url) = (http.clone(), url.to_string());
        let at = started + step * i as u32;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let signature = mesa::ingest::signature::sign_v2(SECRET.as_bytes(), body.as_bytes());
            for _ in 0..5 {
                let sent = http
                    .post(&url)
                    .header("X-Mist-Signature-v2", &signature)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) => return r.status() == 200,
                    // Connection refused only before the server is up; anything else counts.
                    Err(e) if e.is_connect() => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(_) => return false,
                }
            }
            false
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap_or(false));
    }
    ok
}

/// A decision recorded before retries (the "retrying" notice), not a final one.
pub fn is_interim(d: &Decision) -> bool {
    d.will_retry
}

/// Final decisions per event id, and outcome label counts over them.
pub fn finals(decisions: &[Decision]) -> (HashMap<String, usize>, BTreeMap<String, usize>) {
    let mut per_event: HashMap<String, usize> = HashMap::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for d in decisions.iter().filter(|d| !is_interim(d)) {
        *per_event.entry(d.event.id.clone()).or_default() += 1;
        *labels.entry(d.outcome.label().to_string()).or_default() += 1;
    }
    (per_event, labels)
}

// ---------------------------------------------------------------------------------------
// S2: site outage

pub struct OutageReport {
    pub aps: usize,
    pub spread: Duration,
    pub disconnect_delay: Duration,
    /// Mist API calls between the outage and the last decision (fake's call log).
    pub mist_calls: usize,
    pub mist_calls_by_path: BTreeMap<String, usize>,
    /// Commit log entries added during the outage, all switches.
    pub commits_during: usize,
    /// Ports still configured as AP ports after the outage.
    pub still_ap: usize,
    pub labels: BTreeMap<String, usize>,
    /// Time from the first AP_DISCONNECTED to the last decision.
    pub handled_in: Duration,
    pub problems: Vec<String>,
}

/// All APs connected through mesa first (so their ports are managed AP ports), then the
/// site loses its uplink: every AP is down in Mist's stats and `AP_DISCONNECTED` arrives for
/// each within `spread`. Expected: no change, and a handful of Mist calls.
pub async fn site_outage(
    fleet: &Fleet,
    spread: Duration,
    disconnect_delay: Duration,
) -> OutageReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fleet.mesa_config(dir.path(), mesa::config::Duration::from_millis(300));
    config.guards.disconnect_delay = mesa::config::Duration(disconnect_delay);
    let mesa = super::mesa::start_app(dir, config).await;
    let url = mesa.url("/mist/webhook");
    let mut problems = Vec::new();

    let connects = fleet.bodies("AP_CONNECTED", &fleet.aps, 1_700_000_000);
    let acked = send_spread(&mesa.http, &url, connects, Duration::ZERO).await;
    if acked != fleet.aps.len() {
        problems.push(format!(
            "connect phase: {acked} of {} acknowledged",
            fleet.aps.len()
        ));
    }
    let all = fleet.aps.len();
    let ready = poll(Duration::from_secs(240), Duration::from_millis(200), || {
        mesa.app.engine.in_flight() == 0 && fleet.configured() == all
    })
    .await;
    if !ready {
        problems.push(format!(
            "connect phase: {} of {all} ports configured",
            fleet.configured()
        ));
    }
    let commits_before: usize = fleet.commits().iter().map(|c| c.1).sum();

    fleet.fake.clear_calls();
    fleet.fake.site_outage(super::fleet::SITE);
    let started = Instant::now();
    let disconnects = fleet.bodies("AP_DISCONNECTED", &fleet.aps, 1_700_100_000);
    let acked = send_spread(&mesa.http, &url, disconnects, spread).await;
    if acked != all {
        problems.push(format!("outage: {acked} of {all} acknowledged"));
    }
    let settled = poll(
        spread + disconnect_delay + Duration::from_secs(120),
        Duration::from_millis(100),
        || mesa.app.engine.in_flight() == 0,
    )
    .await;
    let handled_in = started.elapsed();
    if !settled {
        problems.push("outage events not all decided".into());
    }
    let calls = fleet.fake.calls();
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for c in &calls {
        *by_path.entry(c.path.clone()).or_default() += 1;
    }
    let decisions = mesa
        .app
        .store
        .recent_decisions(100_000)
        .await
        .expect("decisions");
    let outage: Vec<Decision> = decisions
        .into_iter()
        .filter(|d| d.event.kind.as_str() == "AP_DISCONNECTED")
        .collect();
    let (per_event, labels) = finals(&outage);
    if per_event.len() != all || per_event.values().any(|&n| n != 1) {
        problems.push(format!(
            "{} disconnect events decided (expected {all}, each once)",
            per_event.len()
        ));
    }
    let commits_during = fleet.commits().iter().map(|c| c.1).sum::<usize>() - commits_before;
    let still_ap = fleet.configured();
    if commits_during != 0 || still_ap != all {
        problems.push(format!(
            "{commits_during} commits during the outage, {still_ap} of {all} ports still AP ports"
        ));
    }
    OutageReport {
        aps: all,
        spread,
        disconnect_delay,
        mist_calls: calls.len(),
        mist_calls_by_path: by_path,
        commits_during,
        still_ap,
        labels,
        handled_in,
        problems,
    }
}

// ---------------------------------------------------------------------------------------
// S4: kill -9 in the middle of a rollout

pub struct CrashReport {
    pub aps: usize,
    /// Ports configured, batches committed, switches with a confirmed commit pending, and
    /// journal (pending, done) at the moment of the kill.
    pub at_kill_configured: usize,
    pub at_kill_batches: usize,
    pub at_kill_pending_confirms: usize,
    pub at_kill_journal: (u64, u64),
    pub killed_after: Duration,
    /// From the restart until every event was decided.
    pub recovered_in: Duration,
    /// Per switch: (batches, commit log entries) in the end.
    pub commits: Vec<(usize, usize)>,
    /// Automatic rollbacks of unconfirmed commits seen in the commit logs.
    pub rollbacks: usize,
    pub labels: BTreeMap<String, usize>,
    pub problems: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn_mesa(bin: &Path, config: &Path) -> Child {
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("MESA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mesa serve starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> bool {
    let url = format!("{base}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(&url).send().await {
            if r.status() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A spawned `mesa serve` (binary `bin`) provisions every AP of `fleet` (events within
/// `spread`); it is killed with SIGKILL as soon as a switch holds a confirmed commit not yet
/// confirmed and at least `min_batches` batches went through, then started again. Expected:
/// every event decided exactly once, every port an AP port, every switch clean.
pub async fn crash_mid_rollout(
    fleet: &Fleet,
    bin: &Path,
    spread: Duration,
    min_batches: usize,
) -> CrashReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, fleet.mesa_toml(&data, port, "300ms")).expect("config");
    let http = reqwest::Client::new();
    let mut problems = Vec::new();
    let all = fleet.aps.len();

    let mut first = spawn_mesa(bin, &config);
    if !wait_healthy(&http, &base).await {
        problems.push("first mesa did not become healthy".into());
    }
    let started = Instant::now();
    let bodies = fleet.bodies("AP_CONNECTED", &fleet.aps, 1_700_000_000);
    let url = format!("{base}/mist/webhook");
    let sender = {
        let http = http.clone();
        tokio::spawn(async move { send_spread(&http, &url, bodies, spread).await })
    };
    // Kill inside the window that hurts most: a confirmed commit applied, not yet confirmed.
    let window = poll(Duration::from_secs(240), Duration::from_millis(20), || {
        let batches: usize = fleet.commits().iter().map(|c| c.0).sum();
        batches >= min_batches
            && fleet
                .switches
                .iter()
                .any(|sw| sw.state.pending_confirm().ok().flatten().is_some())
    })
    .await;
    let _ = first.kill();
    let _ = first.wait();
    let killed_after = started.elapsed();
    if !window {
        problems.push("the kill window (a confirmed commit pending) never came".into());
    }
    let acked = sender.await.unwrap_or(0);
    let at_kill_configured = fleet.configured();
    let at_kill_batches = fleet.commits().iter().map(|c| c.0).sum();
    let at_kill_pending_confirms = fleet
        .switches
        .iter()
        .filter(|sw| sw.state.pending_confirm().ok().flatten().is_some())
        .count();
    let store = SqliteStore::open(&data, false).expect("store");
    let at_kill_journal = store.journal_counts().await.expect("journal");
    if at_kill_journal.0 + at_kill_journal.1 != acked as u64 {
        problems.push(format!(
            "{acked} events acknowledged but {} journaled",
            at_kill_journal.0 + at_kill_journal.1
        ));
    }
    // Events the first life did not acknowledge, Mist would deliver again: resend those
    // after the restart (duplicates of acknowledged ones are recognised by the journal).
    let unacked = all - acked;

    let mut second = spawn_mesa(bin, &config);
    let restarted = Instant::now();
    if !wait_healthy(&http, &base).await {
        problems.push("second mesa did not become healthy".into());
    }
    if unacked > 0 {
        let bodies = fleet.bodies("AP_CONNECTED", &fleet.aps, 1_700_000_000);
        let url = format!("{base}/mist/webhook");
        send_spread(&http, &url, bodies, Duration::ZERO).await;
    }
    let mut decided = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let (pending, done) = store.journal_counts().await.expect("journal");
        if pending == 0 && done as usize >= all && fleet.configured() == all {
            decided = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_in = restarted.elapsed();
    if !decided {
        let (pending, done) = store.journal_counts().await.expect("journal");
        problems.push(format!(
            "after restart: journal {pending} pending / {done} done, {} of {all} ports configured",
            fleet.configured()
        ));
    }
    let _ = second.kill();
    let _ = second.wait();

    let decisions = store.recent_decisions(100_000).await.expect("decisions");
    let (per_event, labels) = finals(&decisions);
    if per_event.len() != all {
        problems.push(format!(
            "{} events decided, {all} expected",
            per_event.len()
        ));
    }
    let twice: Vec<&String> = per_event
        .iter()
        .filter(|(_, &n)| n != 1)
        .map(|(id, _)| id)
        .collect();
    if !twice.is_empty() {
        problems.push(format!("events decided more than once: {twice:?}"));
    }
    let failed = labels.get("failed").copied().unwrap_or(0);
    if failed > 0 {
        problems.push(format!("{failed} events failed"));
    }
    problems.extend(fleet.unclean());
    let configured = fleet.configured();
    if configured != all {
        problems.push(format!(
            "{configured} of {all} ports are AP ports in the end"
        ));
    }
    let rollbacks = fleet
        .switches
        .iter()
        .map(|sw| {
            sw.commit_log()
                .iter()
                .filter(|e| e.kind == "rollback")
                .count()
        })
        .sum();
    let commits = fleet.commits();
    // Each port's change committed once: a re-applied change is an empty diff, no commit. So
    // a switch never needs more batches than its APs, and a commit adding nothing (other than
    // a confirming one) would mean the same lines went in twice.
    for (i, sw) in fleet.switches.iter().enumerate() {
        let log = sw.commit_log();
        let empty_confirmed = log
            .iter()
            .filter(|e| {
                e.kind == "commit" && e.confirmed && e.lines_added == 0 && e.lines_removed == 0
            })
            .count();
        if empty_confirmed > 0 {
            problems.push(format!(
                "{}: {empty_confirmed} confirmed commit(s) that changed nothing",
                super::fleet::switch_name(i)
            ));
        }
    }
    CrashReport {
        aps: all,
        at_kill_configured,
        at_kill_batches,
        at_kill_pending_confirms,
        at_kill_journal,
        killed_after,
        recovered_in,
        commits,
        rollbacks,
        labels,
        problems,
    }
}

/// APs of one switch.
pub fn aps_of(fleet: &Fleet, switch: usize) -> Vec<Ap> {
    fleet
        .aps
        .iter()
        .filter(|a| a.switch == switch)
        .cloned()
        .collect()
}

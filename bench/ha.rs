//! Several instances on PostgreSQL beside SQLite: the S3 ingest and the S1 rollout burst,
//! each with one `mesa serve` on SQLite, one on PostgreSQL and two on one PostgreSQL
//! database (webhooks alternated between them, as a load balancer would). PostgreSQL is a
//! throwaway cluster on this machine (`tests/support/postgres.rs`, fsync off: it measures
//! mesa's coordination, not the disk).
//!
//! Run: `cargo bench --bench ha` (env: BENCH_EVENTS for ingest, default 10000;
//! HA_RUNS="ingest s1" to pick).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesa::ingest::signature::sign_v2;
use mesa::sim::junos::Faults;
use mesa::store::postgres::PostgresStore;
use mesa::store::sqlite::SqliteStore;
use mesa::store::Store;
use support::fleet::Fleet;
use support::postgres::PgCluster;
use support::scenario::{finals, poll, send_spread};

#[derive(Clone, Copy, Debug)]
enum Setup {
    Sqlite,
    Postgres1,
    Postgres2,
}

impl Setup {
    fn label(self) -> &'static str {
        match self {
            Setup::Sqlite => "SQLite, 1 instance",
            Setup::Postgres1 => "PostgreSQL, 1 instance",
            Setup::Postgres2 => "PostgreSQL, 2 instances",
        }
    }

    fn instances(self) -> usize {
        match self {
            Setup::Postgres2 => 2,
            _ => 1,
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mesa"))
        .args(["--config", &config.display().to_string(), "serve"])
        .env("MESA_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mesa serve")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} not healthy");
}

/// The instances of `setup`: (base URL, process), and the store to read results from.
struct Running {
    bases: Vec<String>,
    children: Vec<Child>,
    store: Arc<dyn Store>,
    _cluster: Option<PgCluster>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `setup`'s instances; `toml(data_dir, port)` is each one's config without `[store]`.
async fn start(setup: Setup, toml: impl Fn(&Path, u16) -> String) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = match setup {
        Setup::Sqlite => None,
        _ => Some(PgCluster::start()),
    };
    let url = cluster.as_ref().map(|c| c.database("mesa"));
    let http = reqwest::Client::new();
    let (mut bases, mut children) = (Vec::new(), Vec::new());
    // One shared data dir for SQLite (one instance), one per instance otherwise.
    for i in 0..setup.instances() {
        let port = free_port();
        let data = dir.path().join(format!("data{i}"));
        let mut text = toml(&data, port);
        if let Some(url) = &url {
            text.push_str(&format!(
                "\n[store]\nkind = \"postgres\"\nurl = \"{url}\"\nlease = \"15s\"\npoll_interval = \"200ms\"\n"
            ));
        }
        let config = dir.path().join(format!("config{i}.toml"));
        std::fs::write(&config, text).expect("config");
        children.push(spawn(&config));
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&http, &base).await;
        bases.push(base);
    }
    let store: Arc<dyn Store> = match &url {
        Some(url) => Arc::new(
            PostgresStore::connect(url, Duration::from_secs(15))
                .await
                .expect("store"),
        ),
        None => Arc::new(SqliteStore::open(&dir.path().join("data0"), false).expect("store")),
    };
    Running {
        bases,
        children,
        store,
        _cluster: cluster,
        _dir: dir,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn ingest(setup: Setup, events: usize) {
    let concurrency = 64;
    let running = start(setup, |data, port| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nfsync = true\n\
             [mist]\nwebhook_secret = \"bench-secret\"\nignored_sites = [\"bench-site\"]\nlookup_delay = \"0s\"\n\
             [reconcile]\nenabled = false\n",
            data.display()
        )
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let bodies: Arc<Vec<(String, String)>> = Arc::new(
        (0..events)
            .map(|i| {
                let body = serde_json::json!({"topic": "device-events", "events": [{
                    "type": if i % 2 == 0 { "AP_CONNECTED" } else { "AP_DISCONNECTED" },
                    "mac": format!("5c5b35{:06x}", i), "device_type": "ap", "site_id": "bench-site",
                    "org_id": "bench-org", "timestamp": now + i as i64, "device_name": format!("ap-{i}")}]})
                .to_string();
                let signature = sign_v2(b"bench-secret", body.as_bytes());
                (body, signature)
            })
            .collect(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, bodies, next, bases) = (
            http.clone(),
            bodies.clone(),
            next.clone(),
            running.bases.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let (body, signature) = &bodies[i];
                let url = format!("{}/mist/webhook", bases[i % bases.len()]);
                let t = Instant::now();
                let ok = http
                    .post(&url)
                    .header("X-Mist-Signature-v2", signature)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                latencies.push(t.elapsed());
                failures += usize::from(!ok);
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::with_capacity(events);
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await.expect("worker");
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    loop {
        let (pending, done) = running.store.journal_counts().await.expect("counts");
        if (pending == 0 && done as usize >= events - failures)
            || started.elapsed() > Duration::from_secs(600)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    let (pending, done) = running.store.journal_counts().await.expect("counts");
    println!(
        "  {:<24} {:>6.0} events/s  ack p50 {:>6.2} ms  p99 {:>6.2} ms  failures {failures}  \
         journal {done} done / {pending} pending, all decided after {:.1} s",
        setup.label(),
        (events - failures) as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        drained.as_secs_f64()
    );
}

async fn s1(setup: Setup) {
    let (switches, per_switch) = (10, 48);
    let spread = Duration::from_secs(5);
    let fleet = Fleet::start(
        switches,
        per_switch,
        Faults {
            commit_delay_ms: 2000,
            ..Faults::default()
        },
    )
    .await;
    let running = start(setup, |data, port| {
        format!(
            "{}\n[reconcile]\nenabled = false\n",
            fleet.mesa_toml(data, port, "500ms")
        )
    })
    .await;
    let all = fleet.aps.len();
    let bodies = fleet.bodies("AP_CONNECTED", &fleet.aps, 1_700_000_000);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let n = running.bases.len();
    let mut senders = Vec::new();
    for (i, base) in running.bases.iter().enumerate() {
        let mine: Vec<String> = bodies
            .iter()
            .enumerate()
            .filter(|(k, _)| k % n == i)
            .map(|(_, b)| b.clone())
            .collect();
        let (http, url) = (http.clone(), format!("{base}/mist/webhook"));
        senders.push(tokio::spawn(async move {
            send_spread(&http, &url, mine, spread).await
        }));
    }
    let mut acked = 0;
    for s in senders {
        acked += s.await.unwrap_or(0);
    }
    let configured = poll(Duration::from_secs(300), Duration::from_millis(100), || {
        fleet.configured() == all
    })
    .await;
    let configured_in = started.elapsed();
    loop {
        let (pending, _) = running.store.journal_counts().await.expect("counts");
        if pending == 0 || started.elapsed() > Duration::from_secs(400) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let decided_in = started.elapsed();
    let decisions = running
        .store
        .recent_decisions(100_000)
        .await
        .expect("decisions");
    let (per_event, labels) = finals(&decisions);
    let once = per_event.len() == all && per_event.values().all(|&n| n == 1);
    let batches: Vec<usize> = fleet.commits().iter().map(|c| c.0).collect();
    let refusals: usize = fleet
        .switches
        .iter()
        .map(|sw| {
            sw.state
                .transact(|t| t.state.lock_refusals.len())
                .unwrap_or(0)
        })
        .sum();
    println!(
        "  {:<24} acked {acked}/{all}; all ports configured after {:.1} s{}; all decided {:.1} s; \
         batches per switch max {} (total {}); lock refusals {refusals}; each event once: {once}; {labels:?}",
        setup.label(),
        configured_in.as_secs_f64(),
        if configured { "" } else { " (TIMED OUT)" },
        decided_in.as_secs_f64(),
        batches.iter().max().unwrap_or(&0),
        batches.iter().sum::<usize>(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = std::env::var("HA_RUNS").unwrap_or_else(|_| "ingest s1".into());
    let events = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let setups = [Setup::Sqlite, Setup::Postgres1, Setup::Postgres2];
    if runs.contains("ingest") {
        println!("S3 ingest on each store: {events} signed webhooks, concurrency 64, fsync on (mesa side)");
        for setup in setups {
            ingest(setup, events).await;
        }
    }
    if runs.contains("s1") {
        println!(
            "S1 rollout burst on each store: 480 AP_CONNECTED over 10 switches (48 each) within 5 s, \
             sim commit_delay_ms 2000, batch_window 500ms"
        );
        for setup in setups {
            s1(setup).await;
        }
    }
}

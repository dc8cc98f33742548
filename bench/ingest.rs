//! S3 ingest benchmark: N signed webhooks at C concurrency against a real `mesa serve`
//! (release build, SQLite journal with fsync) → accepted events/s, p50/p99 ack latency,
//! peak RSS of the mesa process, and a check that every event was journaled.
//!
//! Run: `cargo bench --bench ingest` (env: BENCH_EVENTS, BENCH_CONCURRENCY, BENCH_FSYNC;
//! BENCH_RELAY=1 adds a `[[relay]]` rule taking every event, to see what the relay hand-off
//! costs the webhook path).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesa::ingest::signature::sign_v2;
use mesa::store::sqlite::SqliteStore;
use mesa::store::Store;

const SECRET: &str = "bench-secret";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let events = env_or("BENCH_EVENTS", 20_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 64);
    let fsync = std::env::var("BENCH_FSYNC")
        .map(|v| v != "0")
        .unwrap_or(true);
    let relay = std::env::var("BENCH_RELAY").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let config = dir.path().join("config.toml");
    // The bench site is ignored: the engine still records a decision and closes the journal
    // entry for every event, but no Mist lookup is involved (that is S1/S2).
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nfsync = {fsync}\n\
             [mist]\nwebhook_secret = \"{SECRET}\"\nignored_sites = [\"bench-site\"]\nlookup_delay = \"0s\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("config written");
    if relay {
        // Every event matches; grouped per site, so the (unreachable) target gets little.
        let rule =
            "\n[[notify]]\nkind = \"slack\"\nurl = \"http://127.0.0.1:9/hook\"\nname = \"sink\"\n\
                    decisions = false\n\n[[relay]]\nname = \"all\"\nnotify = [\"sink\"]\n";
        let mut text = std::fs::read_to_string(&config).expect("config read");
        text.push_str(rule);
        std::fs::write(&config, text).expect("config written");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .args(["--config", &config.display().to_string(), "serve"])
        .env("MESA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mesa serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Fresh Mist times: older ones would be held by `mist.max_event_age` instead.
    let now = chrono::Utc::now().timestamp();
    let bodies: Arc<Vec<(String, String)>> = Arc::new(
        (0..events)
            .map(|i| {
                let body = serde_json::json!({"topic": "device-events", "events": [{
                    "type": if i % 2 == 0 { "AP_CONNECTED" } else { "AP_DISCONNECTED" },
                    "mac": format!("5c5b35{:06x}", i), "device_type": "ap", "site_id": "bench-site",
                    "org_id": "bench-org", "timestamp": now + i as i64, "device_name": format!("ap-{i}")}]})
                .to_string();
                let signature = sign_v2(SECRET.as_bytes(), body.as_bytes());
                (body, signature)
            })
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, bodies, next, url) = (
            http.clone(),
            bodies.clone(),
            next.clone(),
            format!("{base}/mist/webhook"),
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
    // Let the engine drain so the journal check and RSS cover the whole pipeline.
    let store = SqliteStore::open(&dir.path().join("data"), false).expect("store");
    let drain_started = Instant::now();
    loop {
        let (pending, done) = store.journal_counts().await.expect("counts");
        if pending == 0 && done as usize >= events - failures {
            break;
        }
        if drain_started.elapsed() > Duration::from_secs(300) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    let (pending, done) = store.journal_counts().await.expect("counts");
    let rss_mib = peak_rss_kib(child.id()) as f64 / 1024.0;
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "S3 ingest: {events} signed webhooks, concurrency {concurrency}, fsync={fsync}, relay={relay}"
    );
    println!(
        "  accepted events/s: {:.0}",
        (events - failures) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  ack latency p50: {:.2} ms, p99: {:.2} ms, max: {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!("  failures: {failures}");
    println!(
        "  journal: {done} done, {pending} pending (all decided after {:.1} s)",
        drained.as_secs_f64()
    );
    println!("  peak RSS of mesa: {rss_mib:.1} MiB");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

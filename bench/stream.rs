//! Stream ingest benchmark: an org of 500 APs over 10 sites (2 switches per site) in the fake
//! Mist (real HTTP) and the fake Mist WebSocket stream (real WebSockets), mesa in-process in
//! stream mode with the dry-run backend. Prints, per scenario, wall time, Mist API calls and
//! what the stream did.
//!
//! Scenarios:
//! 1. rollout: every AP plugged in, one round of stats on the stream, until every port is an
//!    AP port;
//! 2. steady state: five more rounds of stats for every AP (nothing to do);
//! 3. WAN cut at one site: its APs go silent at once, until every disconnect is decided;
//! 4. dropped connection: 20 APs plugged in during the gap, until the catch-up set them.
//!
//! Run: `cargo bench --bench stream` (env: BENCH_APS, BENCH_SITES).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mesa::app::App;
use mesa::backend::dry_run::DryRun;
use mesa::config::{Config, Duration as CfgDuration, IngestMode};
use mesa::model::{EventKind, Mac, Profile};
use mesa::sim::mist::{ApStatus, FakeMist};
use mesa::sim::mist_ws::{site_channel, FakeMistStream};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mac(prefix: &str, i: usize) -> Mac {
    Mac::parse(&format!("{prefix}{i:06x}")).expect("valid MAC")
}

fn site_id(s: usize) -> String {
    format!("00000000-0000-4000-8000-{s:012}")
}

fn switch_of(s: usize, half: usize) -> Mac {
    mac("d420b0", s * 2 + half)
}

fn port(i: usize) -> String {
    format!("ge-0/0/{}", i % 48)
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count(app: &App, kind: EventKind) -> usize {
    app.store
        .recent_decisions(100_000)
        .await
        .expect("decisions")
        .iter()
        .filter(|d| d.event.kind == kind && !d.will_retry)
        .count()
}

fn stream_metric(app: &App, line_start: &str) -> f64 {
    app.metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    let aps = env_or("BENCH_APS", 500);
    let sites = env_or("BENCH_SITES", 10).max(1);
    let fake = FakeMist::start().await;
    for s in 0..sites {
        fake.add_site(&site_id(s), &format!("site {s}"));
        for half in 0..2 {
            let ip = format!("10.{s}.0.{}", half + 1);
            fake.add_switch(
                &switch_of(s, half),
                &format!("sw-{s}-{half}"),
                &site_id(s),
                &ip,
            );
        }
    }
    let ws = FakeMistStream::start_for(&fake).await.expect("fake stream");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = dir.path().to_path_buf();
    config.server.fsync = false;
    let mist = fake.mist_config();
    config.mist.api_url = mist.api_url;
    config.mist.api_token = mist.api_token;
    config.mist.org_id = mist.org_id;
    config.guards.disconnect_delay = CfgDuration::from_secs(0);
    config.guards.lldp.recheck_after = CfgDuration::from_millis(50);
    config.backend.batch_window = CfgDuration::from_millis(20);
    config.ingest.mode = IngestMode::Stream;
    config.ingest.stream.url = ws.url();
    config.ingest.stream.silence = CfgDuration::from_secs(5);
    config.ingest.stream.reconnect_min = CfgDuration::from_millis(100);
    let app = App::with_backend(config, Arc::new(DryRun::new()))
        .await
        .expect("mesa starts");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = app.clone();
    tokio::spawn(async move { server.serve(Some(tx)).await });
    rx.await.expect("mesa serves");
    for s in 0..sites {
        assert!(
            ws.wait_subscribed(&site_channel(&site_id(s)), Duration::from_secs(30))
                .await
        );
    }
    let limit = Duration::from_secs(300);
    println!("stream benchmark: {aps} APs over {sites} sites, 2 switches per site");

    // 1. Rollout.
    let ap_site = |i: usize| i % sites;
    for i in 0..aps {
        let s = ap_site(i);
        fake.plug_ap(
            &mac("5c5b35", i),
            &switch_of(s, i / sites % 2),
            &port(i / sites / 2),
        );
    }
    let calls = app.metrics.mist_api_calls_total();
    let started = Instant::now();
    let sent = ws.publish_ap_stats(&fake);
    until("every AP port set", limit, async || {
        count(&app, EventKind::ApConnected).await >= aps
    })
    .await;
    app.engine.wait_idle().await;
    println!(
        "1. rollout: {sent} stats messages -> {} AP_CONNECTED decided in {:.2} s; Mist calls {}",
        count(&app, EventKind::ApConnected).await,
        started.elapsed().as_secs_f64(),
        app.metrics.mist_api_calls_total() - calls
    );

    if std::env::var("BENCH_CALLS").is_ok() {
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        for c in fake.calls() {
            *by.entry(format!("{} {}", c.path, c.query)).or_default() += 1;
        }
        println!("{by:#?}");
    }

    // 2. Steady state.
    let calls = app.metrics.mist_api_calls_total();
    let data_before = stream_metric(&app, "mesa_stream_messages_total{kind=\"data\"}");
    let started = Instant::now();
    let mut sent = 0;
    for _ in 0..5 {
        sent += ws.publish_ap_stats(&fake);
    }
    until("every report read", limit, async || {
        stream_metric(&app, "mesa_stream_messages_total{kind=\"data\"}")
            >= data_before + sent as f64
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "2. steady state: {sent} stats messages read in {secs:.2} s ({:.0}/s); new decisions {}; Mist calls {}",
        sent as f64 / secs,
        count(&app, EventKind::ApConnected).await - aps,
        app.metrics.mist_api_calls_total() - calls
    );

    // 3. WAN cut at site 0, while the other sites keep reporting.
    let cut: Vec<Mac> = (0..aps)
        .filter(|&i| ap_site(i) == 0)
        .map(|i| mac("5c5b35", i))
        .collect();
    let calls = app.metrics.mist_api_calls_total();
    let started = Instant::now();
    fake.site_outage(&site_id(0));
    until(
        "every disconnect of the cut site decided",
        limit,
        async || {
            ws.publish_ap_stats(&fake);
            count(&app, EventKind::ApDisconnected).await >= cut.len()
        },
    )
    .await;
    app.engine.wait_idle().await;
    let reverted = app
        .store
        .ports()
        .await
        .expect("ports")
        .iter()
        .filter(|p| p.profile == Profile::Secured)
        .count();
    println!(
        "3. WAN cut at 1 site ({} APs, silence 5 s): decided {:.2} s after the cut; ports reverted {reverted}; Mist calls {}",
        cut.len(),
        started.elapsed().as_secs_f64(),
        app.metrics.mist_api_calls_total() - calls
    );
    for ap in &cut {
        fake.set_ap_status(ap, ApStatus::Connected, mesa::sim::mist::now());
    }

    // 4. Dropped connection, 20 APs plugged in during the gap; no stats sent afterwards.
    let calls = app.metrics.mist_api_calls_total();
    let started = Instant::now();
    ws.drop_connections();
    for i in aps..aps + 20 {
        fake.plug_ap(
            &mac("5c5b35", i),
            &switch_of(1 % sites, 0),
            &format!("ge-0/1/{}", i - aps),
        );
    }
    until("the gap's APs set by the catch-up", limit, async || {
        count(&app, EventKind::ApConnected).await >= aps + 20
    })
    .await;
    app.engine.wait_idle().await;
    println!(
        "4. dropped connection: 20 APs plugged during the gap set {:.2} s after the drop; gap {:.2} s; Mist calls {}",
        started.elapsed().as_secs_f64(),
        app.metrics.stream().gap_seconds_total(),
        app.metrics.mist_api_calls_total() - calls
    );
}

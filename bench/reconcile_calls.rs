//! Reconcile benchmark: an org of 500 APs over 10 sites (2 switches per site) in the fake
//! Mist (real HTTP), mesa in-process with the dry-run backend. Prints, per scenario, the
//! Mist API calls used (read phase and in all, engine included) and the wall time.
//!
//! Scenarios:
//! 1. day one, no adoption: every AP is planned `AP_CONNECTED` and run through the engine;
//! 2. the same org again: converged, nothing planned;
//! 3. day one with `--adopt` on a fresh mesa;
//! 4. churn after adoption: 20 APs moved, 20 gone for 2 h, 20 newly plugged, one full run.
//!
//! Run: `cargo bench --bench reconcile_calls` (env: BENCH_APS, BENCH_SITES).

use std::sync::Arc;
use std::time::Instant;

use mesa::app::App;
use mesa::backend::dry_run::DryRun;
use mesa::config::{Config, Duration};
use mesa::model::Mac;
use mesa::reconcile::{self, ProgressMode, ReconcileOptions, ReconcileReport};
use mesa::sim::mist::{now, ApStatus, FakeMist};

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

async fn mesa(fake: &FakeMist, dir: &std::path::Path) -> App {
    let mut config = Config::default();
    config.server.data_dir = dir.to_path_buf();
    config.server.fsync = false;
    let mist = fake.mist_config();
    config.mist.api_url = mist.api_url;
    config.mist.api_token = mist.api_token;
    config.mist.org_id = mist.org_id;
    config.guards.lldp.recheck_after = Duration::from_millis(50);
    config.backend.batch_window = Duration::from_millis(20);
    App::with_backend(config, Arc::new(DryRun::new()))
        .await
        .expect("mesa starts")
}

async fn run(app: &App, adopt: bool) -> ReconcileReport {
    let report = reconcile::run(
        app,
        &ReconcileOptions {
            adopt,
            wait: true,
            progress: ProgressMode::Auto,
            ..ReconcileOptions::default()
        },
    )
    .await
    .expect("reconcile runs");
    app.engine.wait_idle().await;
    report
}

fn print(name: &str, report: &ReconcileReport, fake_calls: usize, started: Instant) {
    let c = &report.counts;
    println!(
        "{name:<28} aps={} sites={} planned={} (ap_profile={} secured={} moved={}) adopted={} in_place={} outcomes={:?} mist_calls_read={} mist_calls_total={} fake_saw={} time_ms={}",
        c.aps,
        c.sites,
        report.planned.len(),
        c.ap_profile,
        c.secured,
        c.moved,
        report.adopted.len(),
        c.in_place,
        report.outcomes,
        report.mist_calls_read,
        report.mist_calls,
        fake_calls,
        started.elapsed().as_millis()
    );
}

#[tokio::main]
async fn main() {
    let aps = env_or("BENCH_APS", 500);
    let sites = env_or("BENCH_SITES", 10).max(1);
    let fake = FakeMist::start().await;
    for s in 0..sites {
        fake.add_site(&site_id(s), &format!("site-{s}"));
        for half in 0..2 {
            fake.add_switch(
                &switch_of(s, half),
                &format!("sw-{s}-{half}"),
                &site_id(s),
                &format!("10.{s}.0.{}", half + 1),
            );
        }
    }
    for i in 0..aps {
        let s = i % sites;
        let half = (i / sites) % 2;
        let port = format!("ge-0/0/{}", i / (sites * 2));
        fake.plug_ap(&mac("5c5b35", i), &switch_of(s, half), &port);
    }
    println!("org: {aps} APs over {sites} sites, {} switches", sites * 2);

    // 1 + 2: day one without adoption, then the converged org.
    let dir = tempfile::tempdir().expect("temp dir");
    let app = mesa(&fake, dir.path()).await;
    fake.clear_calls();
    let t = Instant::now();
    let first = run(&app, false).await;
    print("day one, no adopt", &first, fake.calls().len(), t);
    fake.clear_calls();
    let t = Instant::now();
    let second = run(&app, false).await;
    print("converged (second run)", &second, fake.calls().len(), t);
    assert!(second.planned.is_empty(), "second run planned something");

    // 3: day one with --adopt on a fresh store.
    let dir = tempfile::tempdir().expect("temp dir");
    let app = mesa(&fake, dir.path()).await;
    fake.clear_calls();
    let t = Instant::now();
    let adopted = run(&app, true).await;
    print("day one, --adopt", &adopted, fake.calls().len(), t);

    // 4: churn while webhooks were lost.
    let churn = (aps / 25).max(1);
    for k in 0..churn {
        // Moved to a free port on the other switch of its site.
        let i = k;
        let s = i % sites;
        fake.move_ap(
            &mac("5c5b35", i),
            &site_id(s),
            &switch_of(s, 1 - (i / sites) % 2),
            &format!("ge-1/0/{k}"),
        );
        // Gone for two hours.
        let gone = mac("5c5b35", churn + k);
        fake.unplug_ap(&gone);
        fake.set_ap_status(&gone, ApStatus::Disconnected, now() - 7200.0);
        // New.
        let s = k % sites;
        fake.plug_ap(&mac("5c5b36", k), &switch_of(s, 0), &format!("ge-2/0/{k}"));
    }
    fake.clear_calls();
    let t = Instant::now();
    let after = run(&app, false).await;
    print("churn after adopt", &after, fake.calls().len(), t);
}

//! Load and fault scenarios S1, S2, S4, S5 against the fake Mist and simulated Junos switches
//! behind real sshd, over real sockets (S3 is `bench/ingest.rs`).
//!
//! Run: `cargo bench --bench scenarios` (all), or name some: `cargo bench --bench scenarios --
//! S1 S4` (also `SCENARIOS="S1 S4"`). `BENCH_BATCH_WINDOW` (default `500ms`) sets S1's
//! `backend.batch_window`. Each scenario prints what it measured and `PROBLEM:` lines for
//! anything that went wrong; the exit code is 1 if there was any.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesa::backend::netconf::{Datastore, Session};
use mesa::config::{NotifyConfig, NotifyKind, Secret};
use mesa::model::{Severity, SwitchRef};
use mesa::sim::junos::{factory_default, CommitErrorFault, Dot1xSeed, Faults};
use support::fleet::{netconf_backend, switch_name, Fleet, SITE};
use support::mesa::{start_app, Receiver, TestMesa};
use support::scenario::{self, finals, poll, send_spread};

type Lines = Vec<String>;

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn env_duration(name: &str, default: &str) -> Duration {
    let raw = std::env::var(name).unwrap_or_else(|_| default.to_string());
    humantime::parse_duration(&raw).unwrap_or_else(|e| panic!("{name}={raw}: {e}"))
}

fn main() {
    let mut wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_uppercase())
        .collect();
    if let Ok(list) = std::env::var("SCENARIOS") {
        wanted.extend(list.split_whitespace().map(str::to_uppercase));
    }
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut problems = 0;
    let mut report = |name: &str, started: Instant, lines: Lines| {
        println!("{name} ({} wall)", secs(started.elapsed()));
        for line in lines {
            if line.starts_with("PROBLEM") {
                problems += 1;
            }
            println!("  {line}");
        }
        println!();
    };
    if runs("S1") {
        let t = Instant::now();
        let lines = runtime.block_on(s1_rollout_burst());
        report("S1 rollout burst", t, lines);
    }
    if runs("S2") {
        let t = Instant::now();
        let lines = runtime.block_on(s2_site_outage());
        report("S2 site outage", t, lines);
    }
    if runs("S4") {
        let t = Instant::now();
        let lines = runtime.block_on(s4_crash());
        report("S4 kill -9 mid-rollout", t, lines);
    }
    if runs("S5") {
        for (name, scenario) in S5 {
            let t = Instant::now();
            let lines = runtime.block_on(scenario());
            report(name, t, lines);
        }
    }
    if problems > 0 {
        println!("{problems} problem(s)");
        std::process::exit(1);
    }
}

fn check(lines: &mut Lines, problems: Vec<String>) {
    for p in problems {
        lines.push(format!("PROBLEM: {p}"));
    }
}

/// Mist calls grouped by endpoint, ids replaced by `{id}`.
fn by_endpoint(fleet: &Fleet) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in fleet.fake.calls() {
        let path: Vec<&str> = c
            .path
            .split('/')
            .map(|s| if s.len() > 20 { "{id}" } else { s })
            .collect();
        *out.entry(path.join("/")).or_default() += 1;
    }
    out
}

/// Events interleaved across switches, as APs come up all over a building at once.
fn interleaved(fleet: &Fleet) -> Vec<support::fleet::Ap> {
    let mut aps = fleet.aps.clone();
    aps.sort_by_key(|a| {
        let k: u32 = a
            .port
            .as_str()
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (k, a.switch)
    });
    aps
}

async fn s1_rollout_burst() -> Lines {
    let (switches, per_switch) = (10, 48);
    let window = env_duration("BENCH_BATCH_WINDOW", "500ms");
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
    let dir = tempfile::tempdir().expect("temp dir");
    let config = fleet.mesa_config(dir.path(), mesa::config::Duration(window));
    let mesa = start_app(dir, config).await;
    let all = fleet.aps.len();
    let bodies = fleet.bodies("AP_CONNECTED", &interleaved(&fleet), 1_700_000_000);
    let mut lines = vec![format!(
        "{all} AP_CONNECTED over {switches} switches ({per_switch} each) within {}, sim commit_delay_ms 2000 \
         (commit check and each commit), lookup_delay 0, batch_window {}, max_sessions {switches}",
        secs(spread),
        humantime::format_duration(window)
    )];
    let started = Instant::now();
    let acked = send_spread(&mesa.http, &mesa.url("/mist/webhook"), bodies, spread).await;
    let sent_in = started.elapsed();
    let done = poll(Duration::from_secs(300), Duration::from_millis(100), || {
        fleet.configured() == all
    })
    .await;
    let configured_in = started.elapsed();
    poll(Duration::from_secs(60), Duration::from_millis(50), || {
        mesa.app.engine.in_flight() == 0
    })
    .await;
    let decided_in = started.elapsed();
    lines.push(format!(
        "acknowledged: {acked}/{all} (sent in {})",
        secs(sent_in)
    ));
    lines.push(format!(
        "all ports configured (sims' running configs): {} after the first event{}",
        secs(configured_in),
        if done { "" } else { " -- TIMED OUT" }
    ));
    lines.push(format!("all events decided: {}", secs(decided_in)));
    lines.extend(commit_lines(&fleet));
    let calls = fleet.fake.calls().len();
    lines.push(format!(
        "Mist API calls: {calls} (mesa metric: {}) = {:.2} per event; by endpoint: {:?}",
        mesa.app.metrics.mist_api_calls_total(),
        calls as f64 / all as f64,
        by_endpoint(&fleet)
    ));
    let decisions = mesa
        .app
        .store
        .recent_decisions(100_000)
        .await
        .expect("decisions");
    let (per_event, labels) = finals(&decisions);
    lines.push(format!("final decisions: {labels:?}"));
    let mut problems = fleet.unclean();
    if !done || acked != all {
        problems.push(format!("{} of {all} ports configured", fleet.configured()));
    }
    if per_event.len() != all || per_event.values().any(|&n| n != 1) {
        problems.push("not every event decided exactly once".into());
    }
    let worst = fleet.commits().iter().map(|c| c.0).max().unwrap_or(0);
    if worst > 2 {
        lines.push(format!(
            "TARGET MISSED: up to {worst} batches on one switch (target <= 2)"
        ));
    }
    if calls as f64 / all as f64 > 1.5 {
        lines.push("TARGET MISSED: more than 1.5 Mist calls per event".into());
    }
    check(&mut lines, problems);
    lines
}

fn commit_lines(fleet: &Fleet) -> Lines {
    let commits = fleet.commits();
    let batches: Vec<usize> = commits.iter().map(|c| c.0).collect();
    let entries: Vec<usize> = commits.iter().map(|c| c.1).collect();
    let sessions = fleet.sessions();
    let logins: Vec<usize> = fleet.switches.iter().map(|sw| sw.sshd.logins()).collect();
    vec![
        format!(
            "batches (confirmed commits) per switch: {batches:?}, max {}",
            batches.iter().max().unwrap_or(&0)
        ),
        format!("commit log entries per switch (confirmed + confirming): {entries:?}"),
        format!(
            "NETCONF sessions per switch (sim): {sessions:?}, total {}; sshd logins: {}",
            sessions.iter().sum::<u32>(),
            logins.iter().sum::<usize>()
        ),
    ]
}

async fn s2_site_outage() -> Lines {
    let fleet = Fleet::start(4, 50, Faults::default()).await;
    let r = scenario::site_outage(&fleet, Duration::from_secs(10), Duration::from_secs(2)).await;
    let mut lines = vec![
        format!(
            "{} APs (4 switches x 50) connected through mesa, then site_outage and {} AP_DISCONNECTED within {}, \
             guards.disconnect_delay {}",
            r.aps,
            r.aps,
            secs(r.spread),
            secs(r.disconnect_delay)
        ),
        format!("decided {} after the first AP_DISCONNECTED: {:?}", secs(r.handled_in), r.labels),
        format!(
            "changes: {} commits during the outage, {} of {} ports still AP ports",
            r.commits_during, r.still_ap, r.aps
        ),
        format!(
            "Mist API calls for the whole outage: {} (target <= 10): {:?}",
            r.mist_calls, r.mist_calls_by_path
        ),
    ];
    let mut problems = r.problems;
    if r.mist_calls > 10 {
        problems.push(format!("{} Mist calls (target <= 10)", r.mist_calls));
    }
    check(&mut lines, problems);
    lines
}

async fn s4_crash() -> Lines {
    let fleet = Fleet::start(
        10,
        48,
        Faults {
            commit_delay_ms: 2000,
            // A confirmed commit left unconfirmed rolls back 10 s after it (mesa asks for 1 min).
            minute_secs: Some(10),
            ..Faults::default()
        },
    )
    .await;
    // Factory-default switches: storm-control on every port, dot1x on `ge-0/0/N` (even) and
    // `ge-0/0/N.0` (odd) names. Every port starts secured that way.
    for (i, sw) in fleet.switches.iter().enumerate() {
        let mut seed = factory_default(&switch_name(i), 48, Dot1xSeed::Mixed);
        seed.push_str("set vlans ap-mgmt vlan-id 10\nset vlans ap-data vlan-id 20\n");
        sw.seed_running(&seed);
    }
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_mesa"));
    let r = scenario::crash_mid_rollout(&fleet, bin, Duration::from_secs(5), 3).await;
    let mut lines = vec![
        format!(
            "{} AP_CONNECTED over 10 switches within 5 s to a spawned `mesa serve` (NETCONF, batch_window 300ms), \
             sim commit_delay_ms 2000, confirm minute = 10 s, factory-default seed, \
             a session ending with its commit pending rolls back at once (as Junos)",
            r.aps
        ),
        format!(
            "kill -9 after {}: {} ports configured, {} batches committed, {} switch(es) with a confirmed commit pending, \
             journal {} pending / {} done",
            secs(r.killed_after),
            r.at_kill_configured,
            r.at_kill_batches,
            r.at_kill_pending_confirms,
            r.at_kill_journal.0,
            r.at_kill_journal.1
        ),
        format!("after restart: every event decided and every port configured in {}", secs(r.recovered_in)),
        format!("final decisions (one per event): {:?}", r.labels),
        format!(
            "batches per switch: {:?}; commit log entries: {:?}; automatic rollbacks: {}",
            r.commits.iter().map(|c| c.0).collect::<Vec<_>>(),
            r.commits.iter().map(|c| c.1).collect::<Vec<_>>(),
            r.rollbacks
        ),
    ];
    let mut problems = r.problems;
    // Nothing mesa does not own is lost, and no AP port is left under 802.1X in either
    // spelling.
    for (i, sw) in fleet.switches.iter().enumerate() {
        let running = sw.running_config();
        for k in 0..48 {
            let storm = format!(
                "set interfaces ge-0/0/{k} unit 0 family ethernet-switching storm-control default"
            );
            if !running.contains(&storm) {
                problems.push(format!("{}: ge-0/0/{k} lost storm-control", switch_name(i)));
            }
            for stanza in [
                format!("interface ge-0/0/{k} "),
                format!("interface ge-0/0/{k}.0 "),
            ] {
                if running.contains(&stanza) {
                    problems.push(format!(
                        "{}: AP port still has dot1x `{stanza}`",
                        switch_name(i)
                    ));
                }
            }
        }
    }
    lines
        .push("checked: storm-control on all 480 ports, no dot1x stanza left on an AP port".into());
    check(&mut lines, problems);
    lines
}

/// mesa with a chat receiver, so "reported" can be checked.
async fn mesa_for(
    fleet: &Fleet,
    tweak: impl FnOnce(&mut mesa::config::Config),
) -> (TestMesa, Receiver) {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fleet.mesa_config(dir.path(), mesa::config::Duration::from_millis(300));
    config.notify = vec![NotifyConfig {
        kind: NotifyKind::Slack,
        url: Secret::new(rx.url.clone()),
        min_severity: Severity::Info,
        outcomes: Vec::new(),
        sites: Vec::new(),
        token: None,
        room_id: None,
        name: None,
        decisions: true,
    }];
    tweak(&mut config);
    (start_app(dir, config).await, rx)
}

/// Waits for the engine to settle and checks: each event decided once, the expected number of
/// AP ports, clean switches. Returns summary lines.
async fn settle_and_check(
    fleet: &Fleet,
    mesa: &TestMesa,
    started: Instant,
    expect_ap: usize,
) -> Lines {
    let settled = poll(Duration::from_secs(180), Duration::from_millis(100), || {
        mesa.app.engine.in_flight() == 0
    })
    .await;
    let took = started.elapsed();
    let decisions = mesa
        .app
        .store
        .recent_decisions(100_000)
        .await
        .expect("decisions");
    let (per_event, labels) = finals(&decisions);
    let interim = decisions.iter().filter(|d| scenario::is_interim(d)).count();
    let configured = fleet.configured();
    let mut lines = vec![
        format!(
            "all decided after {}: {labels:?} ({interim} first-failure notices)",
            secs(took)
        ),
        format!("AP ports: {configured} (expected {expect_ap})"),
    ];
    lines.extend(commit_lines(fleet));
    let mut problems = fleet.unclean();
    if !settled {
        problems.push("events still in flight".into());
    }
    if per_event.values().any(|&n| n != 1) {
        problems.push("an event has more than one final decision".into());
    }
    if configured != expect_ap {
        problems.push(format!("{configured} AP ports, {expect_ap} expected"));
    }
    check(&mut lines, problems);
    lines
}

type Scenario = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Lines>>>;

const S5: [(&str, Scenario); 4] = [
    ("S5a Mist 429 storm and 5xx", || Box::pin(s5_mist_errors())),
    ("S5b switch unreachable for 10 s", || {
        Box::pin(s5_unreachable())
    }),
    ("S5c candidate locked by a human for 8 s", || {
        Box::pin(s5_locked())
    }),
    ("S5d commit error", || Box::pin(s5_commit_error())),
];

async fn s5_mist_errors() -> Lines {
    let fleet = Fleet::start(2, 20, Faults::default()).await;
    let (mesa, _rx) = mesa_for(&fleet, |c| {
        c.mist.rate_limit_wait = mesa::config::Duration::from_millis(100);
    })
    .await;
    let url = mesa.url("/mist/webhook");
    let mut lines = vec![
        "2 switches x 20 APs; mist.max_retries 4, mist.retry_backoff 100ms, mist.rate_limit_wait 100ms, engine.retry_backoff 500ms".to_string(),
    ];
    type Inject = fn(&mesa::sim::mist::FakeMist);
    let rounds: [(&str, Inject); 2] = [
        ("next 50 Mist calls 429 without Retry-After", |f| {
            f.fail_next_with_429(50, None)
        }),
        ("next 30 Mist calls 503", |f| {
            f.fail_next_with_status(30, 503)
        }),
    ];
    for (round, (what, inject)) in rounds.into_iter().enumerate() {
        fleet.fake.clear_calls();
        inject(&fleet.fake);
        let started = Instant::now();
        let aps: Vec<_> = support::scenario::aps_of(&fleet, round);
        let first_ts = 1_700_000_000 + 1_000 * round as i64;
        send_spread(
            &mesa.http,
            &url,
            fleet.bodies("AP_CONNECTED", &aps, first_ts),
            Duration::ZERO,
        )
        .await;
        lines.push(format!("{what}; 20 AP_CONNECTED at once:"));
        lines.extend(settle_and_check(&fleet, &mesa, started, 20 * (round + 1)).await);
        lines.push(format!(
            "Mist calls (failed ones included): {}",
            fleet.fake.calls().len()
        ));
    }
    lines
}

async fn s5_unreachable() -> Lines {
    let mut fleet = Fleet::start(2, 8, Faults::default()).await;
    let (mesa, rx) = mesa_for(&fleet, |c| {
        c.engine.retry_backoff = mesa::config::Duration::from_secs(1);
        c.backend.netconf.connect_timeout = mesa::config::Duration::from_secs(3);
    })
    .await;
    let down = Duration::from_secs(10);
    let mut lines = vec![format!(
        "2 switches x 8 APs; sw-00's sshd stopped for {}; engine.retry_attempts 6, retry_backoff 1s",
        secs(down)
    )];
    fleet.switches[0].sshd.stop();
    let started = Instant::now();
    let all = fleet.aps.clone();
    send_spread(
        &mesa.http,
        &mesa.url("/mist/webhook"),
        fleet.bodies("AP_CONNECTED", &all, 1_700_000_000),
        Duration::ZERO,
    )
    .await;
    tokio::time::sleep(down.saturating_sub(started.elapsed())).await;
    let sw1_ok = fleet.configured();
    tokio::task::block_in_place(|| fleet.switches[0].sshd.restart());
    lines.push(format!(
        "while sw-00 was down: {sw1_ok} AP ports (sw-01's 8 expected)"
    ));
    let until = poll(Duration::from_secs(120), Duration::from_millis(100), || {
        fleet.configured() == 16
    })
    .await;
    lines.push(format!(
        "sw-00 configured {} after the events ({} after its sshd came back){}",
        secs(started.elapsed()),
        secs(started.elapsed().saturating_sub(down)),
        if until { "" } else { " -- TIMED OUT" }
    ));
    lines.extend(settle_and_check(&fleet, &mesa, started, 16).await);
    lines.push(format!("chat messages: {}", rx.texts().len()));
    lines
}

async fn s5_locked() -> Lines {
    let fleet = Fleet::start(1, 8, Faults::default()).await;
    let (mesa, _rx) = mesa_for(&fleet, |c| {
        c.backend.netconf.lock_timeout = mesa::config::Duration::from_secs(2);
        c.engine.retry_backoff = mesa::config::Duration::from_secs(1);
    })
    .await;
    let hold = Duration::from_secs(8);
    let mut lines = vec![format!(
        "1 switch x 8 APs; another NETCONF session holds the candidate lock for {}; \
         backend.netconf.lock_timeout 2s, engine.retry_backoff 1s",
        secs(hold)
    )];
    let opts = netconf_backend(&fleet).connect_options(&SwitchRef {
        name: switch_name(0),
        site_id: SITE.into(),
        mac: None,
        mgmt_addr: None,
    });
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let human = std::thread::spawn(move || {
        let mut s = Session::connect(&opts).expect("human session");
        s.lock(Datastore::Candidate).expect("human lock");
        let _ = locked_tx.send(());
        std::thread::sleep(hold);
        s.unlock(Datastore::Candidate).expect("human unlock");
        let _ = s.close();
    });
    let _ = tokio::task::block_in_place(|| locked_rx.recv_timeout(Duration::from_secs(30)));
    let started = Instant::now();
    let all = fleet.aps.clone();
    send_spread(
        &mesa.http,
        &mesa.url("/mist/webhook"),
        fleet.bodies("AP_CONNECTED", &all, 1_700_000_000),
        Duration::ZERO,
    )
    .await;
    let _ = tokio::task::block_in_place(|| human.join());
    lines.push(format!("lock released after {}", secs(started.elapsed())));
    lines.extend(settle_and_check(&fleet, &mesa, started, 8).await);
    lines
}

async fn s5_commit_error() -> Lines {
    let fleet = Fleet::start(1, 4, Faults::default()).await;
    let (mesa, rx) = mesa_for(&fleet, |_| {}).await;
    let url = mesa.url("/mist/webhook");
    let mut lines =
        vec!["1 switch x 4 APs; the switch refuses commits (fault commit_error)".to_string()];
    fleet.switches[0].set_faults(Faults {
        commit_error: Some(CommitErrorFault {
            message: "Missing mandatory statement: 'vlan'".into(),
            edit_path: Some("[edit interfaces ge-0/0/0]".into()),
            statement: Some("unit".into()),
            remaining: 1,
        }),
        ..Faults::default()
    });
    let started = Instant::now();
    let first = vec![fleet.aps[0].clone()];
    send_spread(
        &mesa.http,
        &url,
        fleet.bodies("AP_CONNECTED", &first, 1_700_000_000),
        Duration::ZERO,
    )
    .await;
    lines.push("AP_CONNECTED for AP 0 while commits fail:".into());
    lines.extend(settle_and_check(&fleet, &mesa, started, 0).await);
    let failed_msgs = rx
        .texts()
        .iter()
        .filter(|t| t.to_lowercase().contains("fail"))
        .count();
    lines.push(format!(
        "chat messages: {} ({failed_msgs} mention the failure)",
        rx.texts().len()
    ));
    fleet.switches[0].set_faults(Faults::default());
    let started = Instant::now();
    let all = fleet.aps.clone();
    send_spread(
        &mesa.http,
        &url,
        fleet.bodies("AP_CONNECTED", &all, 1_700_001_000),
        Duration::ZERO,
    )
    .await;
    lines.push("fault cleared; AP_CONNECTED again for all 4 (AP 0 reconnects):".into());
    lines.extend(settle_and_check(&fleet, &mesa, started, 4).await);
    lines
}

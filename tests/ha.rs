//! Two `mesa serve` processes on one PostgreSQL database (a throwaway cluster), webhooks
//! sent to both, the fleet of simulated Junos switches behind real sshd, the fake Mist: every
//! event is decided exactly once; `kill -9` of one instance in the middle of the burst and
//! the other finishes its work (takeover time printed); no switch ever refuses a lock
//! because the two instances collided; the periodic reconcile's lease has one holder, and
//! moves to the survivor.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesa::model::Source;
use mesa::sim::junos::Faults;
use mesa::store::postgres::PostgresStore;
use mesa::store::Store;
use support::fleet::Fleet;
use support::postgres::PgCluster;
use support::scenario::{finals, poll, send_spread};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn_mesa(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("MESA_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("mesa serve starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("mesa at {base} did not become healthy");
}

/// Pending journal rows per owner (`host:pid:random`), by pid.
fn pending_of(cluster: &PgCluster, pid: u32) -> usize {
    cluster
        .psql(
            "mesa",
            &format!(
                "SELECT count(*) FROM journal WHERE state = 'pending' AND owner LIKE '%:{pid}:%'"
            ),
        )
        .parse()
        .unwrap_or(0)
}

fn lease_holder(cluster: &PgCluster, name: &str) -> String {
    cluster.psql(
        "mesa",
        &format!("SELECT owner FROM leases WHERE name = '{name}' AND until > now()"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_survive_kill_9_of_one() {
    let fleet = Fleet::start(
        2,
        12,
        Faults {
            // Slow commits keep the burst going long enough to kill one instance inside it.
            commit_delay_ms: 700,
            minute_secs: Some(5),
            ..Faults::default()
        },
    )
    .await;
    let cluster = PgCluster::start();
    let url = cluster.database("mesa");
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let lease = Duration::from_secs(3);
    let mut instances = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let data = dir.path().join(name);
        let config = dir.path().join(format!("{name}.toml"));
        let text = format!(
            "{}\n[store]\nkind = \"postgres\"\nurl = \"{url}\"\nlease = \"{}s\"\npoll_interval = \"200ms\"\n\n\
             [reconcile]\nenabled = true\ninterval = \"1h\"\n",
            fleet.mesa_toml(&data, port, "300ms"),
            lease.as_secs()
        );
        std::fs::write(&config, text).expect("config");
        let log = dir.path().join(format!("{name}.log"));
        let child = spawn_mesa(&config, &log);
        instances.push((format!("http://127.0.0.1:{port}"), child, log));
    }
    for (base, _, _) in &instances {
        wait_healthy(&http, base).await;
    }
    let pids: Vec<u32> = instances.iter().map(|(_, c, _)| c.id()).collect();
    // The reconcile singleton: one holder among the two.
    assert!(
        poll(Duration::from_secs(10), Duration::from_millis(100), || {
            !lease_holder(&cluster, "singleton:reconcile").is_empty()
        })
        .await,
        "nobody holds the reconcile lease"
    );
    let holder = lease_holder(&cluster, "singleton:reconcile");
    assert!(
        pids.iter().any(|p| holder.contains(&format!(":{p}:"))),
        "{holder}"
    );

    // The burst: every other AP's webhook to each instance.
    let all = fleet.aps.len();
    let bodies = fleet.bodies("AP_CONNECTED", &fleet.aps, 1_700_000_000);
    let (to_a, to_b): (Vec<_>, Vec<_>) = bodies
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let unzip = |v: Vec<(usize, String)>| v.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
    let senders: Vec<_> = [(0, unzip(to_a)), (1, unzip(to_b))]
        .into_iter()
        .map(|(i, bodies)| {
            let (http, url) = (http.clone(), format!("{}/mist/webhook", instances[i].0));
            tokio::spawn(
                async move { send_spread(&http, &url, bodies, Duration::from_secs(2)).await },
            )
        })
        .collect();

    // kill -9 A once it has work under way and the first batch went through.
    let a_pid = pids[0];
    let mid_burst = poll(Duration::from_secs(120), Duration::from_millis(20), || {
        let batches: usize = fleet.commits().iter().map(|c| c.0).sum();
        batches >= 1 && pending_of(&cluster, a_pid) > 0
    })
    .await;
    assert!(mid_burst, "A never had work under way");
    instances[0].1.kill().expect("kill -9");
    instances[0].1.wait().expect("reaped");
    let killed = Instant::now();
    let a_left = pending_of(&cluster, a_pid);
    let acked: usize = {
        let mut acked = 0;
        for s in senders {
            acked += s.await.unwrap_or(0);
        }
        acked
    };
    // Webhooks A did not acknowledge, Mist would deliver again: to B.
    if acked < all {
        let url = format!("{}/mist/webhook", instances[1].0);
        send_spread(&http, &url, bodies.clone(), Duration::ZERO).await;
    }

    let taken_over = poll(Duration::from_secs(60), Duration::from_millis(50), || {
        pending_of(&cluster, a_pid) == 0
    })
    .await;
    let takeover = killed.elapsed();
    assert!(taken_over, "A's events never taken over");
    let store = PostgresStore::connect(&url, lease).await.expect("store");
    let finished = {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let (pending, done) = store.journal_counts().await.expect("counts");
            if pending == 0 && done as usize >= all && fleet.configured() == all {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let all_done = killed.elapsed();
    let reconcile_holder = poll(Duration::from_secs(15), Duration::from_millis(100), || {
        lease_holder(&cluster, "singleton:reconcile").contains(&format!(":{}:", pids[1]))
    })
    .await;
    let _ = instances[1].1.kill();
    let _ = instances[1].1.wait();
    let logs = || {
        instances
            .iter()
            .map(|(_, _, log)| std::fs::read_to_string(log).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    println!(
        "kill -9 of A with {a_left} events of its own pending: B took them over in {:.1}s, \
         everything decided {:.1}s after the kill (store.lease = {}s)",
        takeover.as_secs_f64(),
        all_done.as_secs_f64(),
        lease.as_secs()
    );
    assert!(
        finished,
        "not finished: {:?}\n{}",
        store.journal_counts().await,
        logs()
    );
    assert!(reconcile_holder, "the reconcile lease did not move to B");

    let decisions = store.recent_decisions(100_000).await.expect("decisions");
    let webhooks: Vec<_> = decisions
        .into_iter()
        .filter(|d| d.event.source == Source::Webhook)
        .collect();
    let (per_event, labels) = finals(&webhooks);
    assert_eq!(per_event.len(), all, "{labels:?}");
    assert!(
        per_event.values().all(|&n| n == 1),
        "decided more than once: {per_event:?}"
    );
    assert_eq!(labels.get("failed"), None, "{labels:?}");
    assert!(fleet.unclean().is_empty(), "{:?}", fleet.unclean());
    for (i, sw) in fleet.switches.iter().enumerate() {
        let refusals = sw
            .state
            .transact(|t| t.state.lock_refusals.clone())
            .expect("state");
        assert!(
            refusals.is_empty(),
            "switch {i} refused locks: {refusals:?}"
        );
    }
}

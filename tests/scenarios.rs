//! Reduced benchmark scenarios as ordinary correctness tests (no timing assertions): S2, a
//! site outage, changes nothing and costs a handful of Mist calls; S4, `kill -9` of a
//! `mesa serve` in the middle of a rollout, ends with every event handled exactly once and
//! every switch clean. The full-size runs with numbers are `cargo bench --bench scenarios`.

mod support;

use std::time::Duration;

use mesa::sim::junos::Faults;
use support::fleet::Fleet;
use support::scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_outage_changes_nothing_and_costs_few_mist_calls() {
    let fleet = Fleet::start(2, 30, Faults::default()).await;
    let r = scenario::site_outage(&fleet, Duration::from_secs(3), Duration::from_secs(2)).await;
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.commits_during, 0);
    assert_eq!(r.still_ap, 60);
    assert_eq!(r.labels.get("skipped"), Some(&60), "{:?}", r.labels);
    assert!(
        r.mist_calls <= 10,
        "{} Mist calls: {:?}",
        r.mist_calls,
        r.mist_calls_by_path
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_rollout_handles_every_event_exactly_once() {
    let fleet = Fleet::start(
        2,
        12,
        Faults {
            // Slow commits keep the rollout going long enough to kill it in the middle.
            commit_delay_ms: 1000,
            minute_secs: Some(5),
            ..Faults::default()
        },
    )
    .await;
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_mesa"));
    let r = scenario::crash_mid_rollout(&fleet, bin, Duration::from_secs(2), 1).await;
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert!(
        r.at_kill_journal.0 > 0,
        "killed with events still unfinished: {:?}",
        r.at_kill_journal
    );
    let decided: usize = r.labels.values().sum();
    assert_eq!(decided, 24, "{:?}", r.labels);
}

//! The store's behaviour, the same tests against both stores: SQLite (a temp dir) and
//! PostgreSQL (a throwaway cluster started by the test, see `support::postgres`). Then what
//! only a shared store does: claims under a lease, lanes across instances, named leases.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mesa::maintenance::MaintenanceHold;
use mesa::model::{
    ApEvent, Decision, EventKind, EventTime, InterfaceName, Mac, Outcome, Profile, Source,
    SwitchRef,
};
use mesa::store::postgres::PostgresStore;
use mesa::store::sqlite::SqliteStore;
use mesa::store::{Appended, PortRecord, Pruned, Store};
use support::postgres::PgCluster;

/// Where a test's store lives; `open` may be called again to "restart".
enum Place {
    Sqlite(tempfile::TempDir),
    /// The cluster lives as long as the test (stopped on drop).
    Postgres(#[allow(dead_code)] PgCluster, String),
}

impl Place {
    fn sqlite() -> Place {
        Place::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Place {
        let cluster = PgCluster::start();
        let url = cluster.database("mesa");
        Place::Postgres(cluster, url)
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Place::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path(), false).unwrap()),
            Place::Postgres(_, url) => Arc::new(
                PostgresStore::connect(url, Duration::from_secs(15))
                    .await
                    .unwrap(),
            ),
        }
    }
}

/// One test body, run against each store.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Place::sqlite()).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Place::postgres()).await;
            }
        }
    };
}

fn event(id: &str, ts: i64) -> ApEvent {
    ApEvent {
        id: id.into(),
        kind: EventKind::ApConnected,
        ap_mac: Mac::parse("5c5b35000001").unwrap(),
        ap_name: Some("ap-1".into()),
        org_id: None,
        site_id: "site-1".into(),
        site_name: None,
        // Steps of ten minutes: events of different `ts` are changes of their own.
        timestamp: EventTime::from_secs(ts * 600),
        source: Source::Webhook,
        received_at: Utc::now(),
        known_port: None,
    }
}

fn at(id: &str, kind: EventKind, source: Source, millis: i64) -> ApEvent {
    ApEvent {
        kind,
        source,
        timestamp: EventTime::from_millis(millis),
        ..event(id, 0)
    }
}

fn decision_for(event: ApEvent, decided_at: chrono::DateTime<Utc>) -> Decision {
    Decision {
        event,
        lookups: vec![],
        verdicts: vec![],
        changes: vec![],
        outcome: Outcome::Applied,
        diff: None,
        backend: "dry-run".into(),
        decided_at,
        duration_ms: 1,
        will_retry: false,
    }
}

async fn pending_ids(store: &dyn Store) -> Vec<(String, u32)> {
    store
        .journal_pending()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.id, e.attempts))
        .collect()
}

both!(journal_dedupes_and_resumes);
async fn journal_dedupes_and_resumes(place: Place) {
    let store = place.open().await;
    let first = store
        .journal_write(&[event("a", 1), event("b", 1), event("c", 1000)], &[])
        .await
        .unwrap();
    assert_eq!(
        first,
        vec![Appended::New, Appended::Duplicate, Appended::New]
    );
    store
        .journal_write(&[], &[decision_for(event("a", 1), Utc::now())])
        .await
        .unwrap();
    drop(store);
    let store = place.open().await;
    assert_eq!(pending_ids(store.as_ref()).await, [("c".into(), 1)]);
    assert_eq!(store.journal_counts().await.unwrap(), (1, 1));
    assert_eq!(store.recent_decisions(5).await.unwrap().len(), 1);
}

both!(the_same_change_reported_twice_is_one_event);
async fn the_same_change_reported_twice_is_one_event(place: Place) {
    use EventKind::{ApConnected as Up, ApDisconnected as Down};
    let store = place.open().await;
    let t = 1_700_000_000_100;
    let appended = store
        .journal_write(
            &[
                at("1", Up, Source::Webhook, t),
                at("2", Down, Source::Webhook, t + 300),
                at("3", Up, Source::Webhook, t + 600),
                // The site-level webhook's copy of the last connect, a bit later.
                at("4", Up, Source::Webhook, t + 1600),
                // Reconcile plans on its own: never a duplicate by content.
                at("5", Up, Source::Reconcile, t + 2000),
                // Far outside the window: a change of its own.
                at("6", Up, Source::Webhook, t + 10 * 60_000),
            ],
            &[],
        )
        .await
        .unwrap();
    use Appended::{Duplicate as D, New as N};
    assert_eq!(appended, vec![N, N, N, D, N, N]);
}

both!(an_older_event_journaled_later_is_stale);
async fn an_older_event_journaled_later_is_stale(place: Place) {
    use EventKind::{ApConnected as Up, ApDisconnected as Down};
    let store = place.open().await;
    let t = 1_700_000_000_000;
    let (down, up) = (
        at("down", Down, Source::Webhook, t + 5000),
        at("up", Up, Source::Reconcile, t),
    );
    store
        .journal_write(&[down.clone(), up.clone()], &[])
        .await
        .unwrap();
    assert_eq!(
        store.journal_newer(&up).await.unwrap().map(|e| e.id),
        Some("down".to_string())
    );
    assert_eq!(store.journal_newer(&down).await.unwrap(), None);
}

fn ap_port(switch: &str, switch_mac: Option<&str>, site: &str) -> PortRecord {
    PortRecord {
        switch_name: switch.into(),
        switch_mac: switch_mac.map(|m| Mac::parse(m).unwrap()),
        port: InterfaceName::parse("ge-0/0/3").unwrap(),
        site_id: site.into(),
        profile: Profile::Ap,
        managed: true,
        ap_mac: Some(Mac::parse("5c5b35000001").unwrap()),
        since: Utc::now(),
        event_id: Some("e".into()),
    }
}

fn switch(name: &str, switch_mac: Option<&str>, site: &str) -> SwitchRef {
    SwitchRef {
        name: name.into(),
        site_id: site.into(),
        mac: switch_mac.map(|m| Mac::parse(m).unwrap()),
        mgmt_addr: None,
    }
}

both!(ports_are_keyed_by_switch_mac);
async fn ports_are_keyed_by_switch_mac(place: Place) {
    let store = place.open().await;
    let port = InterfaceName::parse("ge-0/0/3").unwrap();
    let (mac1, mac2) = (Some("d420b0000001"), Some("d420b0000002"));
    let record = ap_port("sw1.campus.example", None, "s");
    store.upsert_port(&record).await.unwrap();
    let found = |sw: SwitchRef| {
        let store = store.clone();
        let port = port.clone();
        async move { store.port(&sw, &port).await.unwrap() }
    };
    assert_eq!(
        found(SwitchRef::named("sw1.campus.example")).await,
        Some(record)
    );
    // Known by name only: the short name finds it, another site's sw1 does not.
    assert!(found(switch("sw1", mac1, "s")).await.is_some());
    assert!(found(switch("sw1", None, "other-site")).await.is_none());
    store.upsert_port(&ap_port("sw1", mac1, "s")).await.unwrap();
    assert_eq!(
        store.ports().await.unwrap().len(),
        1,
        "re-keyed, not doubled"
    );
    assert!(found(switch("renamed", mac1, "s")).await.is_some());
    assert!(
        found(switch("sw1", mac2, "s")).await.is_none(),
        "another switch"
    );
    assert!(found(switch("SW1.campus.example", None, ""))
        .await
        .is_some());
}

both!(aps_round_trip);
async fn aps_round_trip(place: Place) {
    let store = place.open().await;
    let mac = Mac::parse("5c5b35000001").unwrap();
    assert_eq!(store.ap(&mac).await.unwrap(), None);
    let mut ap = mesa::store::ApRecord {
        mac: mac.clone(),
        name: Some("ap-1".into()),
        site_id: "s".into(),
        switch_name: "sw1".into(),
        switch_mac: Mac::parse("d420b0000001").ok(),
        port: InterfaceName::parse("ge-0/0/3").unwrap(),
        last_event: "AP_CONNECTED".into(),
        last_seen: Utc::now(),
    };
    store.upsert_ap(&ap).await.unwrap();
    ap.port = InterfaceName::parse("ge-0/0/4").unwrap();
    ap.name = None;
    store.upsert_ap(&ap).await.unwrap();
    assert_eq!(store.ap(&mac).await.unwrap(), Some(ap));
    store.ping().await.unwrap();
}

both!(attempts_count_runs_and_parked_events_leave_the_journal);
async fn attempts_count_runs_and_parked_events_leave_the_journal(place: Place) {
    let store = place.open().await;
    store
        .journal_write(&[event("a", 1), event("b", 2)], &[])
        .await
        .unwrap();
    // The run that starts at dispatch is the first attempt.
    assert_eq!(
        pending_ids(store.as_ref()).await,
        [("a".into(), 1), ("b".into(), 1)]
    );
    let both = ["a".to_string(), "b".to_string()];
    store.journal_resume(&both).await.unwrap();
    store.journal_release(&both[1..]).await.unwrap();
    assert_eq!(
        pending_ids(store.as_ref()).await,
        [("a".into(), 2), ("b".into(), 1)]
    );
    store
        .journal_park(&decision_for(event("a", 1), Utc::now()))
        .await
        .unwrap();
    assert_eq!(pending_ids(store.as_ref()).await, [("b".into(), 1)]);
    assert_eq!(store.journal_counts().await.unwrap(), (1, 0));
    assert_eq!(store.recent_decisions(5).await.unwrap().len(), 1);
}

both!(prune_removes_only_old_finished_rows);
async fn prune_removes_only_old_finished_rows(place: Place) {
    let store = place.open().await;
    let old = Utc::now() - chrono::Duration::days(100);
    let events: Vec<ApEvent> = (0..7).map(|i| event(&format!("e{i}"), i)).collect();
    store.journal_write(&events, &[]).await.unwrap();
    // e0..e4 decided 100 days ago, e5 now, e6 still pending; all finished rows are recent.
    let decisions: Vec<Decision> = events[..6]
        .iter()
        .enumerate()
        .map(|(i, e)| decision_for(e.clone(), if i < 5 { old } else { Utc::now() }))
        .collect();
    store.journal_write(&[], &decisions).await.unwrap();
    let cutoff = Utc::now() - chrono::Duration::days(90);
    assert_eq!(
        store.prune(cutoff, 2).await.unwrap(),
        Pruned {
            journal: 0,
            decisions: 5
        }
    );
    let later = Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(
        store.prune(later, 2).await.unwrap(),
        Pruned {
            journal: 6,
            decisions: 1
        }
    );
    assert_eq!(store.journal_counts().await.unwrap(), (1, 0));
    assert_eq!(store.prune(later, 2).await.unwrap(), Pruned::default());
}

both!(maintenance_holds_round_trip);
async fn maintenance_holds_round_trip(place: Place) {
    let store = place.open().await;
    let forever = MaintenanceHold::new("site-a", None, Some("works".into()), "cli:ops");
    let mut short = MaintenanceHold::new("site-b", Some(Duration::from_secs(60)), None, "cli:ops");
    store.set_maintenance_hold(&forever).await.unwrap();
    store.set_maintenance_hold(&short).await.unwrap();
    short.actor = "slack:U1".into();
    store.set_maintenance_hold(&short).await.unwrap();
    assert_eq!(
        store.maintenance_hold("site-b").await.unwrap(),
        Some(short.clone())
    );
    assert_eq!(
        store.maintenance_holds().await.unwrap(),
        vec![forever.clone(), short.clone()]
    );
    let later = Utc::now() + chrono::Duration::minutes(5);
    assert_eq!(
        store.expire_maintenance_holds(later).await.unwrap(),
        vec![short]
    );
    assert_eq!(
        store.release_maintenance_hold("site-a").await.unwrap(),
        Some(forever)
    );
    assert_eq!(
        store.release_maintenance_hold("site-a").await.unwrap(),
        None
    );
    assert!(store.maintenance_holds().await.unwrap().is_empty());
}

// What only a shared store does. Each "instance" is a store connection of its own (its own
// owner name), as two mesa processes have.

async fn instance(place: &Place, lease: Duration) -> Arc<dyn Store> {
    match place {
        Place::Postgres(_, url) => Arc::new(PostgresStore::connect(url, lease).await.unwrap()),
        Place::Sqlite(_) => unreachable!("shared-store tests run on PostgreSQL"),
    }
}

fn of_ap(id: &str, ap: u32, ts: i64) -> ApEvent {
    ApEvent {
        ap_mac: Mac::parse(&format!("5c5b35{ap:06x}")).unwrap(),
        ..event(id, ts)
    }
}

fn ids(entries: &[mesa::store::JournalEntry]) -> Vec<(String, u32)> {
    entries
        .iter()
        .map(|e| (e.event.id.clone(), e.attempts))
        .collect()
}

/// An event goes to the instance working on its AP's lane, whichever instance accepted it.
#[tokio::test]
async fn a_lane_stays_on_one_instance() {
    let place = Place::postgres();
    let a = instance(&place, Duration::from_secs(15)).await;
    let b = instance(&place, Duration::from_secs(15)).await;
    assert!(a.shared() && a.instance() != b.instance());
    assert_eq!(
        a.journal_write(&[of_ap("a1", 1, 1)], &[]).await.unwrap(),
        [Appended::New]
    );
    // B accepts the next event of AP 1 (A works on it) and one of AP 2 (nobody does).
    assert_eq!(
        b.journal_write(&[of_ap("a2", 1, 2), of_ap("b1", 2, 1)], &[])
            .await
            .unwrap(),
        [Appended::Queued, Appended::New]
    );
    assert!(b.journal_claim(10).await.unwrap().is_empty(), "A's lane");
    assert_eq!(ids(&a.journal_claim(10).await.unwrap()), [("a2".into(), 1)]);
    // Once A finished AP 1's events, the lane is free for whoever accepts next.
    a.journal_write(
        &[],
        &[
            decision_for(of_ap("a1", 1, 1), Utc::now()),
            decision_for(of_ap("a2", 1, 2), Utc::now()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        b.journal_write(&[of_ap("a3", 1, 3)], &[]).await.unwrap(),
        [Appended::New]
    );
}

/// A dead instance's events (no heartbeat) are claimed by another once its lease expired;
/// the run that died counts as an attempt.
#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let place = Place::postgres();
    let lease = Duration::from_millis(600);
    let a = instance(&place, lease).await;
    let b = instance(&place, lease).await;
    a.journal_write(&[of_ap("e1", 1, 1), of_ap("e2", 1, 2)], &[])
        .await
        .unwrap();
    assert!(b.journal_claim(10).await.unwrap().is_empty(), "A is alive");
    tokio::time::sleep(lease / 2).await;
    assert_eq!(a.journal_heartbeat().await.unwrap(), 2);
    tokio::time::sleep(lease / 2).await;
    assert!(b.journal_claim(10).await.unwrap().is_empty(), "renewed");
    drop(a);
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert_eq!(
        ids(&b.journal_claim(10).await.unwrap()),
        [("e1".into(), 2), ("e2".into(), 2)]
    );
    // A graceful stop hands events back at once, without counting the run.
    b.journal_release(&["e1".into(), "e2".into()])
        .await
        .unwrap();
    let c = instance(&place, lease).await;
    assert_eq!(
        ids(&c.journal_claim(10).await.unwrap()),
        [("e1".into(), 2), ("e2".into(), 2)]
    );
}

/// Two instances claiming at once: every event is claimed exactly once, and all events of
/// one AP by the same instance.
#[tokio::test]
async fn concurrent_claims_take_each_event_once_and_whole_lanes() {
    let place = Place::postgres();
    // Journaled by an instance whose lease runs out at once: all free for the claimers.
    let writer = instance(&place, Duration::from_millis(1)).await;
    let events: Vec<ApEvent> = (0..300)
        .map(|i| of_ap(&format!("e{i}"), i % 30, i64::from(i)))
        .collect();
    for chunk in events.chunks(50) {
        writer.journal_write(chunk, &[]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let claimers: Vec<Arc<dyn Store>> = vec![
        instance(&place, Duration::from_secs(30)).await,
        instance(&place, Duration::from_secs(30)).await,
    ];
    let tasks: Vec<_> = claimers
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..40 {
                    got.extend(store.journal_claim(7).await.unwrap());
                }
                got
            })
        })
        .collect();
    let mut by_ap: std::collections::HashMap<Mac, usize> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for (index, task) in tasks.into_iter().enumerate() {
        for entry in task.await.unwrap() {
            assert!(seen.insert(entry.event.id.clone()), "claimed twice");
            let owner = *by_ap.entry(entry.event.ap_mac.clone()).or_insert(index);
            assert_eq!(owner, index, "one AP's events on two instances");
        }
    }
    assert_eq!(seen.len(), 300);
    assert!(by_ap.values().any(|&i| i == 0) && by_ap.values().any(|&i| i == 1));
}

/// Named leases: one holder at a time; released or expired, another takes it.
#[tokio::test]
async fn named_leases_have_one_holder() {
    let place = Place::postgres();
    let a = instance(&place, Duration::from_secs(15)).await;
    let b = instance(&place, Duration::from_secs(15)).await;
    let short = Duration::from_millis(300);
    assert!(a.lease_acquire("switch:x", short).await.unwrap());
    assert!(a.lease_acquire("switch:x", short).await.unwrap(), "renewed");
    assert!(!b.lease_acquire("switch:x", short).await.unwrap());
    a.lease_release("switch:x").await.unwrap();
    assert!(b.lease_acquire("switch:x", short).await.unwrap());
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    assert!(a.lease_acquire("switch:x", short).await.unwrap(), "expired");
    b.lease_release("switch:x").await.unwrap();
    assert!(
        !b.lease_acquire("switch:x", short).await.unwrap(),
        "not B's to release"
    );
}

/// `[store]` is checked before start: the key and why; the URL (a password) never shows.
#[test]
fn store_config_is_checked_and_the_url_never_shown() {
    use mesa::config::{Config, StoreKind};
    let path = Path::new("mesa.toml");
    let err = Config::from_toml("[store]\nkind = \"postgres\"\n", path)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.url") && err.contains("required"),
        "{err}"
    );
    let err = Config::from_toml("[store]\nkind = \"mysql\"\n", path)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("kind"), "{err}");
    let config = Config::from_toml(
        "[store]\nkind = \"postgres\"\nurl = \"postgres://mesa:s3cret@db/mesa\"\n",
        path,
    )
    .unwrap();
    assert_eq!(config.store.kind, StoreKind::Postgres);
    assert!(!format!("{config:?}").contains("s3cret"));
    assert!(!toml::to_string(&config).unwrap().contains("s3cret"));
}

/// A database that refuses: a clear error at start, without the password.
#[tokio::test]
async fn an_unreachable_database_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://mesa:s3cret@127.0.0.1:{port}/mesa");
    let err = match PostgresStore::connect(&url, Duration::from_secs(15)).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("database:"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// One writer per switch: batches from two instances, and two from the same instance, never
/// talk to one switch at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_switch_across_instances() {
    use mesa::backend::{BackendError, PortResult, SwitchBackend};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Probe {
        now: AtomicUsize,
        most: AtomicUsize,
        applied: AtomicUsize,
    }
    #[async_trait::async_trait]
    impl SwitchBackend for Probe {
        fn kind(&self) -> &'static str {
            "dry-run"
        }
        async fn apply(
            &self,
            _switch: &SwitchRef,
            _changes: &[mesa::model::PortChange],
        ) -> Result<Vec<PortResult>, BackendError> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(40)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.applied.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
    }

    let place = Place::postgres();
    let probe = Arc::new(Probe::default());
    let mut backends = Vec::new();
    for _ in 0..2 {
        let store = instance(&place, Duration::from_secs(15)).await;
        backends.push(mesa::ha::switch_lease::Leased::wrap(
            probe.clone(),
            store,
            Duration::from_secs(15),
        ));
    }
    let sw = switch("sw1", Some("d420b0000001"), "s");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (backend, sw) = (backends[i % 2].clone(), sw.clone());
            tokio::spawn(async move { backend.apply(&sw, &[]).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(probe.applied.load(Ordering::SeqCst), 8);
    assert_eq!(
        probe.most.load(Ordering::SeqCst),
        1,
        "two writers on one switch"
    );
}

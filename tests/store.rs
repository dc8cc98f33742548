//! The store's behaviour, the same tests against both stores: SQLite (a temp dir) and
//! PostgreSQL (a throwaway cluster started by the test, see `support::postgres`). Then what
//! only a shared store does: claims under a lease, lanes across instances, named leases.

mod support;

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

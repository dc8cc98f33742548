//! `store.retention`: a running mesa prunes finished journal rows and decisions older than
//! the retention in the background, and keeps everything newer or unfinished.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use mesa::model::{ApEvent, Decision, EventKind, Mac, Outcome, Source};
use mesa::store::sqlite::SqliteStore;
use mesa::store::Store;

fn event(id: &str, timestamp: i64) -> ApEvent {
    ApEvent {
        id: id.into(),
        kind: EventKind::ApConnected,
        ap_mac: Mac::parse("5c5b35000001").unwrap(),
        ap_name: None,
        org_id: None,
        site_id: "site-1".into(),
        site_name: None,
        // Ten minutes apart: each is a change of its own, not a copy of the one before.
        timestamp: mesa::model::EventTime::from_secs(timestamp * 600),
        source: Source::Webhook,
        received_at: Utc::now(),
        known_port: None,
    }
}

fn decided(event: ApEvent, decided_at: chrono::DateTime<Utc>) -> Decision {
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

#[tokio::test]
async fn a_running_mesa_prunes_what_is_older_than_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let long_ago = Utc::now() - chrono::Duration::days(120);
    {
        // Half a year of history: 40 events decided 120 days ago, 3 decided today.
        let store = SqliteStore::open(&data, false).unwrap();
        let events: Vec<ApEvent> = (0..43).map(|i| event(&format!("e{i}"), i)).collect();
        store.journal_write(&events, &[]).await.unwrap();
        let decisions: Vec<Decision> = events
            .iter()
            .enumerate()
            .map(|(i, e)| decided(e.clone(), if i < 40 { long_ago } else { Utc::now() }))
            .collect();
        store.journal_write(&[], &decisions).await.unwrap();
        let conn = rusqlite::Connection::open(data.join("mesa.db")).unwrap();
        conn.execute(
            "UPDATE journal SET finished_at = ?1 WHERE CAST(SUBSTR(id, 2) AS INTEGER) < 40",
            [long_ago.to_rfc3339()],
        )
        .unwrap();
    }
    let mut config = support::mesa::config(&data);
    config.store.retention = mesa::config::Duration::from_secs(90 * 86_400);
    let mesa = support::mesa::start_with(dir, config).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let pruned = "mesa_store_pruned_rows_total{table=\"decisions\"} 40";
    while !mesa.app.metrics.render().contains(pruned) {
        assert!(Instant::now() < deadline, "old decisions not pruned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(mesa
        .app
        .metrics
        .render()
        .contains("mesa_store_pruned_rows_total{table=\"journal\"} 40"));
    let kept = mesa.app.store.recent_decisions(100).await.unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(mesa.app.store.journal_counts().await.unwrap(), (0, 3));
}

//! `Engine::drain`, the engine half of stopping: a decision under way finishes, an event
//! waiting (disconnect delay) or queued behind another one of its AP goes back to the journal
//! undecided, and none of them counts as an attempt.

mod support;

use std::time::Duration;

use mesa::model::Mac;
use mesa::sim::mist::FakeMist;
use support::mesa::{device_event, start_with_mist};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

#[tokio::test]
async fn drain_finishes_what_is_under_way_and_hands_back_the_rest() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let (a, b) = (
        Mac::parse("5c5b35000001").unwrap(),
        Mac::parse("5c5b35000002").unwrap(),
    );
    for (ap, port) in [(&a, "ge-0/0/1"), (&b, "ge-0/0/2")] {
        fake.add_ap(ap, ap.as_str(), SITE);
        fake.plug_ap(ap, &sw, port);
    }
    fake.set_latency(Duration::from_millis(400));
    let mesa = start_with_mist(&fake, |config| {
        config.guards.disconnect_delay = mesa::config::Duration::from_secs(3600);
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    // AP a: a connect (its lookup under way) and a second event queued behind it, sent once
    // the lookup started (sent earlier, the newer event would supersede the connect).
    for (kind, ts) in [("AP_CONNECTED", now), ("AP_RESTARTED", now + 1)] {
        let r = mesa
            .post_signed(&device_event(kind, a.as_str(), SITE, ts))
            .await;
        assert_eq!(r.status(), 200);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fake.calls().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no lookup started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // AP b: a disconnect waiting out its (hour-long) delay.
    let r = mesa
        .post_signed(&device_event("AP_DISCONNECTED", b.as_str(), SITE, now))
        .await;
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.calls().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no lookup started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let drained = mesa.app.engine.drain(Duration::from_secs(20)).await;
    assert!(drained.idle, "{drained:?}");
    assert_eq!(drained.handed_back, 2, "{drained:?}");

    let decisions = mesa.app.store.recent_decisions(10).await.unwrap();
    assert_eq!(
        decisions.len(),
        1,
        "only the decision under way: {decisions:?}"
    );
    assert_eq!(decisions[0].event.kind.as_str(), "AP_CONNECTED");
    assert_eq!(
        decisions[0].outcome.label(),
        "applied",
        "{:?}",
        decisions[0]
    );
    let pending = mesa.app.store.journal_pending().await.unwrap();
    let mut left: Vec<(&str, u32)> = pending
        .iter()
        .map(|e| (e.event.kind.as_str(), e.attempts))
        .collect();
    left.sort();
    assert_eq!(left, [("AP_DISCONNECTED", 0), ("AP_RESTARTED", 0)]);
}

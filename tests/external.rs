//! The external trigger (a NAC system naming a switch port): `POST external.path` with
//! `X-ClientApiKey`, over real HTTP, through the same journal, guards and backend.

mod support;

use mesa::config::Secret;
use mesa::model::{InterfaceName, Mac, Profile};
use mesa::sim::mist::FakeMist;
use support::mesa::start_with_mist;

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const KEY: &str = "nac-api-key-31b9";

#[tokio::test]
async fn nac_trigger_sets_and_reverts_the_named_port() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let mesa = start_with_mist(&fake, |c| {
        c.external.enabled = true;
        c.external.api_key = Some(Secret::new(KEY));
    })
    .await;
    let url = mesa.url("/external");
    let post = |key: &'static str, body: serde_json::Value| {
        let request = mesa
            .http
            .post(&url)
            .header("X-ClientApiKey", key)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let connect = serde_json::json!({"switch_mac": "d4:20:b0:00:00:01", "switch_port": "ge-0/0/5", "type": "AP_CONNECTED"});

    assert_eq!(post("wrong", connect.clone()).await.status(), 401);
    let bad_port = serde_json::json!({"switch_mac": "d420b0000001", "switch_port": "ge-0/0/5; delete", "type": "AP_CONNECTED"});
    assert_eq!(post(KEY, bad_port).await.status(), 400);
    assert_eq!(
        mesa.app.store.journal_counts().await.unwrap(),
        (0, 0),
        "refused requests change nothing"
    );

    assert_eq!(post(KEY, connect).await.status(), 200);
    mesa.idle().await;
    let port = InterfaceName::parse("ge-0/0/5").unwrap();
    assert_eq!(mesa.backend.profile("sw1", &port), Some(Profile::Ap));
    let decision = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_eq!(decision.event.site_id, SITE, "site taken from the switch");
    assert_eq!(decision.outcome.label(), "applied");

    // A trigger for another port of the same switch (no AP named) is its own port, not a move.
    let other = serde_json::json!({"switch_mac": "d420b0000001", "switch_port": "ge-0/0/6", "type": "AP_CONNECTED"});
    assert_eq!(post(KEY, other).await.status(), 200);
    mesa.idle().await;
    assert_eq!(
        mesa.backend.profile("sw1", &port),
        Some(Profile::Ap),
        "ge-0/0/5 untouched"
    );
    let six = InterfaceName::parse("ge-0/0/6").unwrap();
    assert_eq!(mesa.backend.profile("sw1", &six), Some(Profile::Ap));

    let disconnect = serde_json::json!({"switch_mac": "d420b0000001", "switch_port": "ge-0/0/5", "type": "AP_DISCONNECTED"});
    assert_eq!(post(KEY, disconnect).await.status(), 200);
    mesa.idle().await;
    assert_eq!(mesa.backend.profile("sw1", &port), Some(Profile::Secured));
}

/// A NAC names ports, not APs: triggers for many ports of one switch are not one flapping
/// "AP" (the switch MAC), and each port keeps its own flap count.
#[tokio::test]
async fn triggers_without_an_ap_are_counted_per_port() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let mesa = start_with_mist(&fake, |c| {
        c.external.enabled = true;
        c.external.api_key = Some(Secret::new(KEY));
        c.guards.flap.max_events = 3;
    })
    .await;
    let url = mesa.url("/external");
    for port in 0..8 {
        let body = serde_json::json!({"switch_mac": "d420b0000001", "switch_port": format!("ge-0/0/{port}"), "type": "AP_CONNECTED"});
        let answer = mesa
            .http
            .post(&url)
            .header("X-ClientApiKey", KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(20).await.unwrap();
    assert_eq!(decisions.len(), 8);
    for d in &decisions {
        assert_eq!(d.outcome.label(), "applied", "{d:?}");
    }
    for port in 0..8 {
        let name = InterfaceName::parse(&format!("ge-0/0/{port}")).unwrap();
        assert_eq!(mesa.backend.profile("sw1", &name), Some(Profile::Ap));
    }
}

/// A NAC trigger has nothing to wait for before it acts, but a failed attempt still waits
/// its backoff before the next one: Mist or the switch that failed it needs the time.
#[tokio::test]
async fn a_failed_trigger_waits_its_backoff_before_trying_again() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let mesa = start_with_mist(&fake, |c| {
        c.external.enabled = true;
        c.external.api_key = Some(Secret::new(KEY));
        c.mist.retry_backoff = mesa::config::Duration::from_millis(5);
        c.mist.max_retries = 1;
        c.engine.retry_backoff = mesa::config::Duration::from_millis(600);
    })
    .await;
    // Every call of the first engine attempt (one call and the client's retries) fails.
    fake.fail_next_with_status(2, 502);
    let started = std::time::Instant::now();
    let body = serde_json::json!({"switch_mac": "d420b0000001", "switch_port": "ge-0/0/7", "type": "AP_CONNECTED"});
    let answer = mesa
        .http
        .post(mesa.url("/external"))
        .header("X-ClientApiKey", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    mesa.idle().await;
    let port = InterfaceName::parse("ge-0/0/7").unwrap();
    assert_eq!(mesa.backend.profile("sw1", &port), Some(Profile::Ap));
    // The first backoff is at least half of 2 x retry_backoff.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(600),
        "retried after {:?}",
        started.elapsed()
    );
}

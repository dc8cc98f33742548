//! Webhook ingest over real HTTP: every bad input gets its status and leaves the store as it
//! was; duplicates are handled once; accepted events are journaled.

mod support;

use mesa::ingest::signature::{sign_sha1, sign_v2};
use support::mesa::{device_event, start, SECRET};

const AP: &str = "5c5b35000001";
const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

async fn journal_is_empty(mesa: &support::mesa::TestMesa) {
    assert_eq!(
        mesa.app.store.journal_counts().await.unwrap(),
        (0, 0),
        "store changed"
    );
    assert!(mesa
        .app
        .store
        .recent_decisions(10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn bad_signatures_are_refused_with_401() {
    let mesa = start().await;
    let body = device_event("AP_CONNECTED", AP, SITE, 1_700_000_000);
    let cases = [
        ("missing signature", None),
        (
            "wrong secret",
            Some(("X-Mist-Signature-v2", sign_v2(b"wrong", body.as_bytes()))),
        ),
        (
            "signature of another body",
            Some(("X-Mist-Signature-v2", sign_v2(SECRET.as_bytes(), b"{}"))),
        ),
        // SHA-1 is refused unless mist.accept_sha1 is set.
        (
            "sha1 not enabled",
            Some((
                "X-Mist-Signature",
                sign_sha1(SECRET.as_bytes(), body.as_bytes()),
            )),
        ),
    ];
    for (case, header) in cases {
        let mut request = mesa.http.post(mesa.url("/mist/webhook")).body(body.clone());
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{case}");
    }
    journal_is_empty(&mesa).await;
}

#[tokio::test]
async fn sha1_accepted_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.mist.accept_sha1 = true;
    let mesa = support::mesa::start_with(dir, config).await;
    let body = device_event("AP_CONNECTED", AP, SITE, 1_700_000_000);
    let r = mesa
        .http
        .post(mesa.url("/mist/webhook"))
        .header(
            "X-Mist-Signature",
            sign_sha1(SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mesa = start().await;
    let big = format!(
        "{{\"topic\":\"device-events\",\"events\":[],\"pad\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 1)
    );
    let r = mesa.post_signed(&big).await;
    assert_eq!(r.status(), 413);
    // The same JSON error shape as every other refusal.
    let body: serde_json::Value = r.json().await.expect("413 body is JSON");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    journal_is_empty(&mesa).await;
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_reason() {
    let mesa = start().await;
    for body in [
        "{not json",
        "[]",
        r#"{"topic":"device-events"}"#,
        r#"{"events":[]}"#,
        r#"{"topic":"device-events","events":{}}"#,
    ] {
        let r = mesa.post_signed(body).await;
        assert_eq!(r.status(), 400, "{body}");
        let reason: serde_json::Value = r.json().await.unwrap();
        assert!(
            reason["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {reason}"
        );
    }
    journal_is_empty(&mesa).await;
}

#[tokio::test]
async fn other_topics_and_types_are_ignored_and_counted() {
    let mesa = start().await;
    let r = mesa
        .post_signed(r#"{"topic":"alarms","events":[{"type":"x"}]}"#)
        .await;
    assert_eq!(r.status(), 200);
    let body = device_event("SW_CONFIGURED", AP, SITE, 1);
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    journal_is_empty(&mesa).await;
    let metrics = mesa
        .http
        .get(mesa.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mesa_events_ignored_total{reason=\"topic\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mesa_events_ignored_total{reason=\"event-type\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn duplicate_delivery_is_handled_once() {
    let mesa = start().await;
    let body = device_event("AP_CONNECTED", AP, SITE, 1_700_000_000);
    // Org- and site-level webhooks deliver the same event twice.
    let first: serde_json::Value = mesa.post_signed(&body).await.json().await.unwrap();
    let second: serde_json::Value = mesa.post_signed(&body).await.json().await.unwrap();
    assert_eq!(first["accepted"], 1);
    assert_eq!(second["accepted"], 0);
    assert_eq!(second["duplicates"], 1);
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(10).await.unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(mesa.app.store.journal_counts().await.unwrap(), (0, 1));
}

#[tokio::test]
async fn health_ready_and_api_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.server.api_token = Some(mesa::config::Secret::new("api-secret"));
    let mesa = support::mesa::start_with(dir, config).await;
    let status = |path: &'static str| {
        let request = mesa.http.get(mesa.url(path));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status("/healthz").await, 200);
    // No Mist token in this configuration: no event can succeed.
    assert_eq!(status("/readyz").await, 503);
    assert_eq!(status("/api/v1/ports").await, 401);
    let r = mesa
        .http
        .get(mesa.url("/api/v1/events?limit=5"))
        .bearer_auth("api-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );
}

async fn metrics_text(mesa: &support::mesa::TestMesa) -> String {
    mesa.http
        .get(mesa.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_odd_event_does_not_sink_the_good_ones_beside_it() {
    let mesa = start().await;
    let body = serde_json::json!({
        "topic": "device-events",
        "events": [
            {"type": "AP_CONNECTED", "mac": "5c5b35000001", "site_id": SITE, "timestamp": 1_700_000_000},
            {"type": "AP_CONNECTED", "site_id": SITE, "timestamp": 1_700_000_000},
            {"type": "AP_CONNECTED", "mac": "not-a-mac", "site_id": SITE, "timestamp": 1_700_000_000},
            "garbage",
            // No site_id: not required by the spec, so kept.
            {"type": "AP_DISCONNECTED", "mac": "5c5b35000002", "org_id": "o", "timestamp": 1_700_000_001},
            {"type": "AP_RESTART_BY_USER", "mac": "5c5b35000003", "site_id": SITE, "timestamp": 1_700_000_002},
            {"type": "AP_DISCONNECTED_LONG", "mac": "5c5b35000003", "site_id": SITE, "timestamp": 1_700_000_003},
        ]
    })
    .to_string();
    let r = mesa.post_signed(&body).await;
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["accepted"], 2, "{answer}");
    assert_eq!(answer["ignored"], 2, "{answer}");
    let skipped = answer["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 3, "{answer}");
    assert!(
        skipped[0].as_str().unwrap().starts_with("event 1: "),
        "{answer}"
    );
    mesa.idle().await;
    assert_eq!(mesa.app.store.journal_counts().await.unwrap(), (0, 2));
    let metrics = metrics_text(&mesa).await;
    for line in [
        "mesa_events_skipped_total{reason=\"no-mac\"} 1",
        "mesa_events_skipped_total{reason=\"bad-mac\"} 1",
        "mesa_events_skipped_total{reason=\"undecodable\"} 1",
        "mesa_events_ignored_total{reason=\"restart-by-user\"} 1",
        "mesa_events_ignored_total{reason=\"disconnected-long\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
}

#[tokio::test]
async fn an_event_without_site_is_placed_through_the_org() {
    use mesa::model::{Mac, Profile};
    let fake = mesa::sim::mist::FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse(AP).unwrap();
    fake.add_ap(&ap, "ap-1", SITE);
    fake.plug_ap(&ap, &sw, "ge-0/0/5");
    let mesa = support::mesa::start_with_mist(&fake, |_| {}).await;
    let body = serde_json::json!({
        "topic": "device-events",
        "events": [{"type": "AP_CONNECTED", "mac": AP, "device_type": "ap",
                    "org_id": fake.org_id(), "timestamp": 1_700_000_000}]
    })
    .to_string();
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(5).await.unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        decisions[0].outcome.label(),
        "applied",
        "{:?}",
        decisions[0]
    );
    assert_eq!(decisions[0].event.site_id, SITE);
    assert_eq!(mesa.profile("sw1", "ge-0/0/5"), Some(Profile::Ap));
    assert_eq!(
        fake.call_count("/api/v1/sites//"),
        0,
        "no call for an empty site"
    );
}

#[tokio::test]
async fn an_old_signed_event_is_recorded_but_not_acted_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.mist.max_event_age = mesa::config::Duration::from_secs(900);
    let mesa = support::mesa::start_with(dir, config).await;
    // A captured signed AP_DISCONNECTED replayed an hour later.
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    let body = device_event("AP_DISCONNECTED", AP, SITE, hour_ago);
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(5).await.unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let d = &decisions[0];
    assert_eq!(d.outcome.label(), "skipped", "{d:?}");
    let verdict = d.verdicts.iter().find(|v| v.guard == "event-age").unwrap();
    assert!(
        verdict.reason.contains("not acted on"),
        "{}",
        verdict.reason
    );
    assert!(d.changes.is_empty() && mesa.backend.batches().is_empty());
    // A fresh one is acted on as usual (here: no Mist configured, so it fails at lookup).
    let body = device_event("AP_DISCONNECTED", AP, SITE, chrono::Utc::now().timestamp());
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    mesa.idle().await;
    let d = &mesa.app.store.recent_decisions(1).await.unwrap()[0];
    assert!(d.verdicts.iter().all(|v| v.guard != "event-age"), "{d:?}");
}

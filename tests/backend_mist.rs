//! The `mist` backend (port usage overrides in a switch's `port_config`) against the fake
//! Mist cloud over real HTTP: AP and secured, what the PUT keeps, range keys, no PUT when
//! in place, one GET + one PUT per batch, not-found, retries; local overrides (allowed or
//! blocked by `no_local_overwrite`), dynamic port rules, the PUT's answer checked; and one
//! end-to-end run of `mesa serve` with `backend.kind = "mist"` from a signed AP_CONNECTED
//! webhook.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mesa::backend::mist::MistPortBackend;
use mesa::backend::{BackendError, SwitchBackend};
use mesa::config::{BackendKind, MistBackendConfig, Secret};
use mesa::metrics::Metrics;
use mesa::mist::MistClient;
use mesa::model::{ApRef, InterfaceName, Mac, Outcome, PortChange, Profile, SwitchRef};
use mesa::sim::mist::FakeMist;
use serde_json::{json, Value};

const SITE: &str = "a8178443-ecb5-461c-b854-f16627619ab3";
const SWITCH: &str = "ld-cup-idf-bbb";

fn sw_mac() -> Mac {
    Mac::parse("00c78d939c00").unwrap()
}

fn device_path() -> String {
    format!("/api/v1/sites/{SITE}/devices/00000000-0000-0000-1000-00c78d939c00")
}

/// A switch whose device carries a `port_config` shaped like the spec's `Deviceswitch`
/// example (single ports, a range list) and other top-level keys a PUT must not lose.
async fn world() -> FakeMist {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "Campus A");
    fake.add_switch(&sw_mac(), SWITCH, SITE, "10.0.0.217");
    fake.set_device_config(
        &sw_mac(),
        "port_config",
        json!({
            "ge-0/0/0": {"aggregated": true, "description": "to dist-sw-01", "usage": "uplink"},
            "ge-0/0/12": {"usage": "secured"},
            "ge-0/0/13": {"usage": "ap", "description": "hall AP"},
            "ge-0/0/20-23,ge-1/0/0-47": {"usage": "secured"},
        }),
    );
    fake.set_device_config(
        &sw_mac(),
        "radius_config",
        json!({"auth_servers": [{"host": "1.2.3.4", "port": 1812, "secret": "testing123"}]}),
    );
    fake.set_device_config(&sw_mac(), "notes", json!("keep me"));
    fake.set_device_config(
        &sw_mac(),
        "port_usages",
        json!({"ap": {"mode": "trunk", "all_networks": true}}),
    );
    fake
}

fn client(fake: &FakeMist) -> Arc<MistClient> {
    let mut cfg = fake.mist_config();
    cfg.max_retries = 3;
    cfg.timeout = mesa::config::Duration::from_secs(5);
    cfg.rate_limit_wait = mesa::config::Duration::from_millis(20);
    Arc::new(
        MistClient::new(&cfg, Metrics::new())
            .unwrap()
            .with_backoff_base(Duration::from_millis(10)),
    )
}

fn usages(ap: &str, secured: &str) -> MistBackendConfig {
    MistBackendConfig {
        ap_usage: ap.into(),
        secured_usage: secured.into(),
    }
}

fn backend(fake: &FakeMist) -> MistPortBackend {
    MistPortBackend::new(client(fake), &usages("ap", "secured"))
}

fn switch(mac: Option<Mac>) -> SwitchRef {
    SwitchRef {
        name: SWITCH.into(),
        site_id: SITE.into(),
        mac,
        mgmt_addr: None,
    }
}

fn change(sw: &SwitchRef, port: &str, profile: Profile) -> PortChange {
    PortChange {
        switch: sw.clone(),
        port: InterfaceName::parse(port).unwrap(),
        profile,
        ap: ApRef {
            mac: Mac::parse("5c5b353e5299").unwrap(),
            name: None,
        },
        site_name: None,
        reason: "test".into(),
    }
}

fn count(fake: &FakeMist, method: &str, path: &str) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.method == method && c.path == path)
        .count()
}

/// The device with `port_config.<port>` taken out, to compare everything else.
fn without_port(mut device: Value, port: &str) -> Value {
    if let Some(ports) = device["port_config"].as_object_mut() {
        ports.remove(port);
    }
    device
}

#[tokio::test]
async fn ap_by_hostname_changes_only_that_port_entry() {
    let fake = world().await;
    let before = fake.device(&sw_mac()).unwrap();
    let b = backend(&fake);
    assert_eq!(b.kind(), "mist");
    let sw = switch(None);
    let results = b
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    assert_eq!(
        results[0].diff,
        r#"port_config.ge-0/0/12: {"usage":"secured"} -> {"usage":"ap"}"#
    );
    let after = fake.device(&sw_mac()).unwrap();
    assert_eq!(after["port_config"]["ge-0/0/12"], json!({"usage": "ap"}));
    assert_eq!(
        without_port(after, "ge-0/0/12"),
        without_port(before, "ge-0/0/12"),
        "every other key and port unchanged"
    );
    assert_eq!(count(&fake, "GET", &device_path()), 1);
    assert_eq!(count(&fake, "PUT", &device_path()), 1);
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        1,
        "the switch found by hostname"
    );
}

#[tokio::test]
async fn secured_by_mac_keeps_the_port_description() {
    let fake = world().await;
    let before = fake.device(&sw_mac()).unwrap();
    let sw = switch(Some(sw_mac()));
    let results = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/13", Profile::Secured)])
        .await
        .unwrap();
    assert!(results[0].changed);
    assert_eq!(
        results[0].diff,
        r#"port_config.ge-0/0/13: {"description":"hall AP","usage":"ap"} -> {"description":"hall AP","usage":"secured"}"#
    );
    let after = fake.device(&sw_mac()).unwrap();
    assert_eq!(
        after["port_config"]["ge-0/0/13"],
        json!({"usage": "secured", "description": "hall AP"})
    );
    assert_eq!(
        without_port(after, "ge-0/0/13"),
        without_port(before, "ge-0/0/13")
    );
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        0,
        "the MAC names the device: no search"
    );
}

#[tokio::test]
async fn empty_secured_usage_removes_the_override() {
    let fake = world().await;
    let sw = switch(Some(sw_mac()));
    let b = MistPortBackend::new(client(&fake), &usages("ap", ""));
    let results = b
        .apply(&sw, &[change(&sw, "ge-0/0/13", Profile::Secured)])
        .await
        .unwrap();
    assert!(results[0]
        .diff
        .ends_with("-> (none: switch template applies)"));
    let ports = fake.device(&sw_mac()).unwrap()["port_config"].clone();
    assert!(ports.get("ge-0/0/13").is_none());
    assert_eq!(ports["ge-0/0/12"], json!({"usage": "secured"}));
    // Nothing left to remove: no PUT.
    let again = b
        .apply(&sw, &[change(&sw, "ge-0/0/13", Profile::Secured)])
        .await
        .unwrap();
    assert!(!again[0].changed);
    assert_eq!(count(&fake, "PUT", &device_path()), 1);
}

#[tokio::test]
async fn already_in_place_makes_no_put() {
    let fake = world().await;
    let before = fake.device(&sw_mac()).unwrap();
    let sw = switch(Some(sw_mac()));
    let results = backend(&fake)
        .apply(
            &sw,
            &[
                change(&sw, "ge-0/0/12", Profile::Secured),
                change(&sw, "ge-0/0/13", Profile::Ap),
                // Covered by the range key with the right usage already.
                change(&sw, "ge-1/0/5", Profile::Secured),
            ],
        )
        .await
        .unwrap();
    assert!(results.iter().all(|r| !r.changed && r.diff.is_empty()));
    assert_eq!(count(&fake, "GET", &device_path()), 1);
    assert_eq!(count(&fake, "PUT", &device_path()), 0);
    assert_eq!(fake.device(&sw_mac()).unwrap(), before);
}

#[tokio::test]
async fn a_batch_of_three_ports_is_one_get_and_one_put() {
    let fake = world().await;
    let sw = switch(Some(sw_mac()));
    let results = backend(&fake)
        .apply(
            &sw,
            &[
                change(&sw, "ge-0/0/12", Profile::Ap),
                change(&sw, "ge-0/0/5", Profile::Ap),
                change(&sw, "ge-0/0/21", Profile::Ap),
            ],
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r.changed));
    assert_eq!(count(&fake, "GET", &device_path()), 1);
    assert_eq!(count(&fake, "PUT", &device_path()), 1);
    let ports = fake.device(&sw_mac()).unwrap()["port_config"].clone();
    assert_eq!(
        ports,
        json!({
            "ge-0/0/0": {"aggregated": true, "description": "to dist-sw-01", "usage": "uplink"},
            "ge-0/0/12": {"usage": "ap"},
            "ge-0/0/13": {"usage": "ap", "description": "hall AP"},
            "ge-0/0/5": {"usage": "ap"},
            "ge-0/0/21": {"usage": "ap"},
            // The range keeps its other ports, without ge-0/0/21.
            "ge-0/0/20,ge-0/0/22-23,ge-1/0/0-47": {"usage": "secured"},
        })
    );
    assert!(
        results[2]
            .diff
            .contains(r#"{"usage":"secured"} (from "ge-0/0/20-23,ge-1/0/0-47") -> {"usage":"ap"}"#),
        "{}",
        results[2].diff
    );
}

#[tokio::test]
async fn unknown_switch_is_not_found_and_nothing_is_written() {
    let fake = world().await;
    let sw = SwitchRef {
        name: "sw-nowhere".into(),
        ..switch(None)
    };
    let err = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/1", Profile::Ap)])
        .await
        .unwrap_err();
    match &err {
        BackendError::NotFound(m) => assert!(m.contains("no switch named \"sw-nowhere\""), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    // A MAC Mist does not know: its device GET answers 404.
    let ghost = switch(Some(Mac::parse("0011223344ff").unwrap()));
    let err = backend(&fake)
        .apply(&ghost, &[change(&ghost, "ge-0/0/1", Profile::Ap)])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::NotFound(_)), "{err:?}");
    assert!(fake.calls().iter().all(|c| c.method != "PUT"));
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed_and_a_bad_token_is_auth() {
    let fake = world().await;
    fake.fail_next_with_status(2, 503);
    let sw = switch(Some(sw_mac()));
    let results = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    assert_eq!(count(&fake, "GET", &device_path()), 3);
    assert_eq!(count(&fake, "PUT", &device_path()), 1);

    let mut cfg = fake.mist_config();
    cfg.api_token = Some(Secret::new("not-the-token"));
    let wrong = Arc::new(MistClient::new(&cfg, Metrics::new()).unwrap());
    let err = MistPortBackend::new(wrong, &usages("ap", "secured"))
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Secured)])
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Auth(_)), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_failed_put_is_not_resent_with_a_stale_body() {
    let fake = world().await;
    let sw = switch(Some(sw_mac()));
    fake.fail_next_writes_with_status(1, 503);
    let err = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap_err();
    assert!(
        err.is_transient(),
        "the engine retries the whole read-then-write: {err:?}"
    );
    assert_eq!(
        count(&fake, "PUT", &device_path()),
        1,
        "the PUT was sent once"
    );
    // The engine's retry reads the device again and writes from that.
    let results = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    assert_eq!(count(&fake, "GET", &device_path()), 2);
}

#[tokio::test]
async fn mesa_serve_with_the_mist_backend_turns_the_ap_port_into_an_ap_port() {
    let fake = world().await;
    let ap = Mac::parse("5c5b353e5299").unwrap();
    fake.plug_ap(&ap, &sw_mac(), "ge-0/0/12");

    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.mist.api_url = fake.url();
    config.mist.api_token = Some(Secret::new(fake.token()));
    config.mist.org_id = Some(fake.org_id().to_string());
    config.backend.kind = BackendKind::Mist;
    config.validate().expect("valid configuration");
    let mesa = support::mesa::start_app(dir, config).await;
    assert_eq!(mesa.app.engine.backend_kind(), "mist");

    let body = support::mesa::device_event("AP_CONNECTED", ap.as_str(), SITE, 1_700_000_000);
    let response = mesa.post_signed(&body).await;
    assert!(response.status().is_success(), "{}", response.status());

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let port = fake.device(&sw_mac()).unwrap()["port_config"]["ge-0/0/12"].clone();
        if port == json!({"usage": "ap"}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "port never became an AP port: {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(10).await.unwrap();
    let decision = decisions
        .iter()
        .find(|d| d.outcome == Outcome::Applied)
        .expect("an applied decision");
    assert_eq!(decision.backend, "mist");
    // The decision says what it cost: at least the AP search and the switch search.
    let calls: u32 = decision
        .lookups
        .iter()
        .find_map(|l| l.strip_prefix("Mist API calls made for this event: "))
        .unwrap_or_else(|| panic!("no call count in {:?}", decision.lookups))
        .parse()
        .unwrap();
    assert!(calls >= 2, "{calls}");
    assert_eq!(
        decision.diff.as_deref(),
        Some(r#"port_config.ge-0/0/12: {"usage":"secured"} -> {"usage":"ap"}"#)
    );
    assert_eq!(count(&fake, "PUT", &device_path()), 1);
}

fn put_bodies(fake: &FakeMist) -> usize {
    count(fake, "PUT", &device_path())
}

#[tokio::test]
async fn an_allowed_local_override_is_where_the_usage_is_written() {
    let fake = world().await;
    let mut ports = fake.device(&sw_mac()).unwrap()["port_config"].clone();
    ports["ge-0/0/30"] = json!({"usage": "secured", "no_local_overwrite": false});
    fake.set_device_config(&sw_mac(), "port_config", ports.clone());
    fake.set_device_config(
        &sw_mac(),
        "local_port_config",
        json!({"ge-0/0/30": {"usage": "camera", "note": "helpdesk: camera"}}),
    );
    assert_eq!(
        fake.effective_usage(&sw_mac(), "ge-0/0/30").as_deref(),
        Some("camera")
    );
    let sw = switch(Some(sw_mac()));
    let results = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/30", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    assert!(
        results[0].diff.starts_with("local_port_config.ge-0/0/30: "),
        "{}",
        results[0].diff
    );
    assert_eq!(
        fake.effective_usage(&sw_mac(), "ge-0/0/30").as_deref(),
        Some("ap"),
        "the port really changed"
    );
    let device = fake.device(&sw_mac()).unwrap();
    assert_eq!(
        device["local_port_config"]["ge-0/0/30"],
        json!({"usage": "ap", "note": "helpdesk: camera"})
    );
    assert_eq!(device["port_config"], ports, "port_config as it was");
}

#[tokio::test]
async fn a_blocked_local_override_leaves_port_config_in_force() {
    let fake = world().await;
    // no_local_overwrite defaults to true: the helpdesk's override does not apply.
    fake.set_device_config(
        &sw_mac(),
        "local_port_config",
        json!({"ge-0/0/12": {"usage": "camera"}}),
    );
    assert_eq!(
        fake.effective_usage(&sw_mac(), "ge-0/0/12").as_deref(),
        Some("secured")
    );
    let sw = switch(Some(sw_mac()));
    let results = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(
        results[0]
            .diff
            .starts_with(r#"port_config.ge-0/0/12: {"usage":"secured"} -> {"usage":"ap"}"#),
        "{}",
        results[0].diff
    );
    assert!(
        results[0]
            .diff
            .contains("local_port_config.ge-0/0/12 does not apply (no_local_overwrite)"),
        "{}",
        results[0].diff
    );
    assert_eq!(
        fake.effective_usage(&sw_mac(), "ge-0/0/12").as_deref(),
        Some("ap")
    );
    assert_eq!(
        fake.device(&sw_mac()).unwrap()["local_port_config"],
        json!({"ge-0/0/12": {"usage": "camera"}}),
        "the helpdesk's entry is not touched"
    );
}

#[tokio::test]
async fn removing_an_override_also_removes_an_allowed_local_one() {
    let fake = world().await;
    let mut ports = fake.device(&sw_mac()).unwrap()["port_config"].clone();
    ports["ge-0/0/30"] = json!({"usage": "ap", "no_local_overwrite": false});
    fake.set_device_config(&sw_mac(), "port_config", ports);
    fake.set_device_config(
        &sw_mac(),
        "local_port_config",
        json!({"ge-0/0/30": {"usage": "ap"}}),
    );
    let sw = switch(Some(sw_mac()));
    let b = MistPortBackend::new(client(&fake), &usages("ap", ""));
    let results = b
        .apply(&sw, &[change(&sw, "ge-0/0/30", Profile::Secured)])
        .await
        .unwrap();
    assert!(results[0].changed, "{results:?}");
    let device = fake.device(&sw_mac()).unwrap();
    assert!(device["port_config"].get("ge-0/0/30").is_none());
    assert_eq!(device["local_port_config"], json!({}));
    assert_eq!(fake.effective_usage(&sw_mac(), "ge-0/0/30"), None);
}

#[tokio::test]
async fn a_port_under_dynamic_rules_is_refused_not_reported_done() {
    let fake = world().await;
    let mut ports = fake.device(&sw_mac()).unwrap()["port_config"].clone();
    ports["ge-0/0/31"] = json!({"usage": "default", "dynamic_usage": "dynamic"});
    fake.set_device_config(&sw_mac(), "port_config", ports);
    fake.assign_dynamic_usage(&sw_mac(), "ge-0/0/31", "iot");
    let sw = switch(Some(sw_mac()));
    let err = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/31", Profile::Ap)])
        .await
        .unwrap_err();
    match &err {
        BackendError::Rejected(m) => {
            assert!(m.contains("dynamic port configuration"), "{m}");
            assert!(m.contains("dynamic_usage \"dynamic\""), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(put_bodies(&fake), 0);
    assert_eq!(
        fake.effective_usage(&sw_mac(), "ge-0/0/31").as_deref(),
        Some("iot")
    );
}

#[tokio::test]
async fn a_put_mist_did_not_apply_is_not_reported_as_success() {
    let fake = world().await;
    fake.ignore_put_key("port_config");
    let sw = switch(Some(sw_mac()));
    let err = backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap_err();
    match &err {
        BackendError::Rejected(m) => {
            assert!(m.contains("did not change as asked"), "{m}");
            assert!(
                m.contains(r#"port_config.ge-0/0/12 usage "secured""#),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(put_bodies(&fake), 1);
}

#[tokio::test]
async fn the_put_says_it_is_a_switch() {
    let fake = world().await;
    let sw = switch(Some(sw_mac()));
    backend(&fake)
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    // The fake refuses a device PUT without `type` (required by `device_switch`): the
    // backend's went through, and a bare one would not.
    let http = reqwest::Client::new();
    let bare = http
        .put(format!("{}{}", fake.url(), device_path()))
        .header("Authorization", format!("Token {}", fake.token()))
        .json(&json!({"port_config": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 400);
    assert_eq!(
        fake.effective_usage(&sw_mac(), "ge-0/0/12").as_deref(),
        Some("ap")
    );
}

#[tokio::test]
async fn the_budget_warning_reaches_chat_and_metrics() {
    let fake = world().await;
    let ap = Mac::parse("5c5b353e5299").unwrap();
    fake.plug_ap(&ap, &sw_mac(), "ge-0/0/12");
    let receiver = support::mesa::Receiver::start().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    config.mist.api_url = fake.url();
    config.mist.api_token = Some(Secret::new(fake.token()));
    config.mist.org_id = Some(fake.org_id().to_string());
    config.mist.hourly_budget = 4;
    config.backend.kind = BackendKind::Mist;
    config.notify.push(
        toml::from_str(&format!(
            "kind = \"slack\"\nurl = \"{}\"\nmin_severity = \"warning\"",
            receiver.url
        ))
        .unwrap(),
    );
    let mesa = support::mesa::start_app(dir, config).await;
    let body = support::mesa::device_event("AP_CONNECTED", ap.as_str(), SITE, 1_700_000_000);
    assert!(mesa.post_signed(&body).await.status().is_success());
    mesa.idle().await;
    // AP search, switch search, device GET and PUT: 4 of 4 calls, past 80 %.
    // The warning goes to chat from its own task: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !receiver
        .texts()
        .iter()
        .any(|t| t.contains("Mist API budget"))
    {
        assert!(
            Instant::now() < deadline,
            "no budget warning in chat: {:?}",
            receiver.texts()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = mesa.app.metrics.render();
    assert!(
        metrics.contains("mesa_mist_api_budget_per_hour 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mesa_mist_api_calls_last_hour 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_put_refused_with_429_is_not_resent_later_from_the_old_read() {
    let fake = world().await;
    let sw = switch(Some(sw_mac()));
    let b = backend(&fake);
    // The GET passes, then the hour's budget is spent: the PUT answers 429.
    fake.set_hourly_budget(Some(1));
    let err = b
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap_err();
    assert!(
        err.is_transient(),
        "the engine retries read-then-write: {err:?}"
    );
    assert!(err.to_string().contains("HTTP 429"), "{err}");
    assert_eq!(put_bodies(&fake), 1, "not resent by the client");
    // Someone edits the port meanwhile; once calls pass, the retry reads that edit.
    fake.set_hourly_budget(None);
    let mut ports = fake.device(&sw_mac()).unwrap()["port_config"].clone();
    ports["ge-0/0/14"] = json!({"usage": "printer"});
    fake.set_device_config(&sw_mac(), "port_config", ports);
    let results = b
        .apply(&sw, &[change(&sw, "ge-0/0/12", Profile::Ap)])
        .await
        .unwrap();
    assert!(results[0].changed);
    let device = fake.device(&sw_mac()).unwrap();
    assert_eq!(
        device["port_config"]["ge-0/0/14"],
        json!({"usage": "printer"})
    );
    assert_eq!(device["port_config"]["ge-0/0/12"], json!({"usage": "ap"}));
}

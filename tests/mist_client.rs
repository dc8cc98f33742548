//! The Mist client and the AP locator against the fake Mist cloud, over real HTTP on
//! 127.0.0.1: lookups, moved APs, LLDP port names, retries (429, 5xx, timeouts), token
//! handling, the switch cache and call counting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use mesa::config::{MistConfig, Secret};
use mesa::engine::lookup::{interface_from_lldp, Locator, LookupError};
use mesa::metrics::Metrics;
use mesa::mist::{MistClient, MistError};
use mesa::model::{ApEvent, EventKind, InterfaceName, Mac, Source};
use mesa::sim::mist::{FakeMist, Lldp};
use serde_json::json;

const SITE: &str = "a8178443-ecb5-461c-b854-f16627619ab3";
const SITE2: &str = "46fc665e-9706-4296-8fe2-78f42f2e67e4";

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn ap_mac() -> Mac {
    mac("5c5b353e5299")
}

fn sw_mac() -> Mac {
    mac("00c78d939c00")
}

fn config(fake: &FakeMist) -> MistConfig {
    let mut cfg = fake.mist_config();
    cfg.max_retries = 3;
    cfg.lookup_attempts = 3;
    cfg.lookup_backoff = mesa::config::Duration::from_millis(20);
    cfg.timeout = mesa::config::Duration::from_secs(5);
    cfg
}

fn client(cfg: &MistConfig, metrics: &Metrics) -> Arc<MistClient> {
    Arc::new(
        MistClient::new(cfg, metrics.clone())
            .unwrap()
            .with_backoff_base(Duration::from_millis(10)),
    )
}

/// One site, one switch `ld-cup-idf-bbb`, the AP plugged into ge-0/0/12.
async fn world() -> FakeMist {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "Campus A");
    fake.add_site(SITE2, "Campus B");
    fake.add_switch(&sw_mac(), "ld-cup-idf-bbb", SITE, "10.0.0.217");
    fake.add_ap(&ap_mac(), "AP41-hall", SITE);
    fake.plug_ap(&ap_mac(), &sw_mac(), "ge-0/0/12");
    fake
}

fn event(site: &str) -> ApEvent {
    ApEvent {
        id: "ev-1".into(),
        kind: EventKind::ApConnected,
        ap_mac: ap_mac(),
        ap_name: None,
        org_id: None,
        site_id: site.into(),
        site_name: None,
        timestamp: mesa::model::EventTime::from_secs(1_700_000_000),
        source: Source::Webhook,
        received_at: Utc::now(),
        known_port: None,
    }
}

fn metric(metrics: &Metrics, endpoint: &str, status: &str) -> u64 {
    let needle =
        format!("mesa_mist_api_calls_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} ");
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&needle).map(|n| n.parse().unwrap()))
        .unwrap_or(0)
}

#[tokio::test]
async fn locates_ap_on_its_site() {
    let fake = world().await;
    let metrics = Metrics::new();
    let cfg = config(&fake);
    let locator = Locator::new(client(&cfg, &metrics), &cfg);
    let mut steps = Vec::new();
    let found = locator.locate(&event(SITE), &mut steps).await.unwrap();
    assert_eq!(found.site_id, SITE);
    assert_eq!(found.port.as_str(), "ge-0/0/12");
    assert_eq!(found.switch.name, "ld-cup-idf-bbb");
    assert_eq!(found.switch.mac, Some(sw_mac()));
    assert_eq!(found.switch.site_id, SITE);
    assert_eq!(found.switch.mgmt_addr.as_deref(), Some("10.0.0.217"));
    assert_eq!(found.ap_name.as_deref(), Some("AP41-hall"));
    assert!(steps.iter().any(|s| s.contains("found AP")), "{steps:#?}");
    assert!(steps.iter().any(|s| s.contains("ge-0/0/12")), "{steps:#?}");
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        2
    ); // AP + switch
    assert_eq!(fake.call_count("/api/v1/orgs/"), 0);
    let ap_call = &fake.calls()[0];
    assert!(
        ap_call.query.contains("type=ap") && ap_call.query.contains("mac=5c5b353e5299"),
        "{ap_call:?}"
    );
}

#[tokio::test]
async fn moved_ap_is_found_through_the_org() {
    let fake = world().await;
    let sw2 = mac("00c78d939d00");
    fake.add_switch(&sw2, "sw-b-1", SITE2, "10.1.0.2");
    fake.move_ap(&ap_mac(), SITE2, &sw2, "mge-0/0/3");
    let metrics = Metrics::new();
    let cfg = config(&fake);
    let locator = Locator::new(client(&cfg, &metrics), &cfg);
    let mut steps = Vec::new();
    let found = locator.locate(&event(SITE), &mut steps).await.unwrap();
    assert_eq!(found.site_id, SITE2);
    assert_eq!(found.switch.name, "sw-b-1");
    assert_eq!(found.switch.mac, Some(sw2));
    assert_eq!(found.port.as_str(), "mge-0/0/3");
    assert_eq!(
        fake.call_count(&format!("/api/v1/orgs/{}/devices/search", fake.org_id())),
        1
    );
    assert!(steps.iter().any(|s| s.contains("not found")), "{steps:#?}");
    assert!(
        steps
            .iter()
            .any(|s| s.contains(&format!("now on site {SITE2}"))),
        "{steps:#?}"
    );

    // Unknown everywhere → ApNotFound.
    let mut ev = event(SITE);
    ev.ap_mac = mac("5c5b35000001");
    let err = locator.locate(&ev, &mut Vec::new()).await.unwrap_err();
    assert!(matches!(err, LookupError::ApNotFound), "{err:?}");
}

#[tokio::test]
async fn lldp_port_names_are_normalised_and_injection_is_rejected() {
    let fake = world().await;
    let metrics = Metrics::new();
    let cfg = config(&fake);
    let locator = Locator::new(client(&cfg, &metrics), &cfg);
    let lldp = |port_id: &str, port_desc: &str| Lldp {
        system_name: "ld-cup-idf-bbb".into(),
        port_id: port_id.into(),
        port_desc: port_desc.into(),
        mgmt_addr: None,
    };

    // Junos advertising an ifIndex as port id, the name (with unit) as description.
    fake.set_ap_lldp(&ap_mac(), Some(lldp("526", "ge-0/0/7.0")));
    let found = locator.locate(&event(SITE), &mut Vec::new()).await.unwrap();
    assert_eq!(found.port.as_str(), "ge-0/0/7");
    // No LLDP management address: the switch's IP from Mist fills in.
    assert_eq!(found.switch.mgmt_addr.as_deref(), Some("10.0.0.217"));

    fake.set_ap_lldp(&ap_mac(), Some(lldp("ge-0/0/9.0", "uplink to AP")));
    let found = locator.locate(&event(SITE), &mut Vec::new()).await.unwrap();
    assert_eq!(found.port.as_str(), "ge-0/0/9");

    for bad in [
        "ge-0/0/1; delete",
        "ge-0/0/1\nset system root-authentication plain-text-password",
    ] {
        fake.set_ap_lldp(&ap_mac(), Some(lldp(bad, bad)));
        let mut steps = Vec::new();
        let err = locator.locate(&event(SITE), &mut steps).await.unwrap_err();
        match err {
            LookupError::InvalidPort(raw) => assert!(raw.contains("ge-0/0/1"), "{raw}"),
            other => panic!("{bad:?}: {other:?}"),
        }
        assert!(
            steps.iter().any(|s| s.starts_with("rejected")),
            "{steps:#?}"
        );
    }

    assert_eq!(
        interface_from_lldp(Some("526"), Some("ge-0/0/12.0")),
        InterfaceName::parse("ge-0/0/12").map_err(|e| e.0)
    );
    assert!(interface_from_lldp(Some("526"), None).is_err());
}

#[tokio::test]
async fn no_lldp_yet_retries_then_gives_up() {
    let fake = world().await;
    let metrics = Metrics::new();
    let cfg = config(&fake);
    let locator = Locator::new(client(&cfg, &metrics), &cfg);

    // Mist learns the neighbor on the third look.
    fake.hide_lldp_for(&ap_mac(), 2);
    let mut steps = Vec::new();
    let found = locator.locate(&event(SITE), &mut steps).await.unwrap();
    assert_eq!(found.port.as_str(), "ge-0/0/12");
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.contains("no LLDP neighbor known yet"))
            .count(),
        2,
        "{steps:#?}"
    );

    // Never learns it.
    fake.set_ap_lldp(&ap_mac(), None);
    fake.clear_calls();
    let started = Instant::now();
    let err = locator
        .locate(&event(SITE), &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LookupError::NoLldp { attempts: 3 }),
        "{err:?}"
    );
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        3
    );
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "backoff between lookups"
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_obeyed() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    fake.fail_next_with_429(1, Some(1));
    let started = Instant::now();
    let item = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap();
    assert!(item.is_some());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(fake.call_count("/api/v1/"), 2);
    assert_eq!(metric(&metrics, "sites/devices/search", "429"), 1);
    assert_eq!(metric(&metrics, "sites/devices/search", "200"), 1);
}

#[tokio::test]
async fn rate_limit_without_retry_after_backs_off_then_gives_up() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);

    fake.fail_next_with_429(2, None);
    let started = Instant::now();
    assert!(mist
        .find_ap_on_site(SITE, &ap_mac())
        .await
        .unwrap()
        .is_some());
    assert_eq!(fake.call_count("/api/v1/"), 3);
    // Backoff 10 ms then 20 ms, each at least half fixed.
    assert!(started.elapsed() >= Duration::from_millis(15));

    fake.clear_calls();
    fake.fail_next_with_429(10, None);
    let err = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap_err();
    assert!(
        matches!(
            err,
            MistError::RateLimited {
                attempts: 4,
                retry_after: None
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.call_count("/api/v1/"), 4, "1 call + max_retries (3)");
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);

    fake.fail_next_with_status(2, 502);
    assert!(mist
        .find_ap_in_org(fake.org_id(), &ap_mac())
        .await
        .unwrap()
        .is_some());
    assert_eq!(metric(&metrics, "orgs/devices/search", "502"), 2);
    assert_eq!(metric(&metrics, "orgs/devices/search", "200"), 1);

    fake.clear_calls();
    fake.fail_next_with_status(100, 503);
    let err = mist.site_ap_stats(SITE).await.unwrap_err();
    assert!(matches!(err, MistError::Server(503)), "{err:?}");
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        4
    );
    assert_eq!(metric(&metrics, "sites/stats/devices", "503"), 4);
}

#[tokio::test]
async fn timeouts_are_retried_and_reported() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mut cfg = config(&fake);
    cfg.timeout = mesa::config::Duration::from_millis(150);
    cfg.max_retries = 1;
    let mist = client(&cfg, &metrics);
    fake.set_latency(Duration::from_millis(400));
    let err = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap_err();
    assert!(matches!(err, MistError::Timeout), "{err:?}");
    assert_eq!(metric(&metrics, "sites/devices/search", "timeout"), 2);
}

#[tokio::test]
async fn rejected_token_is_not_retried_and_never_shown() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mut cfg = config(&fake);
    cfg.api_token = Some(Secret::new("wrong-token-value-1234"));
    let mist = client(&cfg, &metrics);
    let err = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap_err();
    assert!(matches!(err, MistError::TokenRejected(401)), "{err:?}");
    assert!(err.to_string().contains("Mist API token rejected"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(fake.call_count("/api/v1/"), 1, "no retry on 401");
    assert_eq!(metric(&metrics, "sites/devices/search", "401"), 1);

    let good = client(&config(&fake), &metrics);
    let shown = format!("{good:?} {good:#?} {mist:?}");
    assert!(!shown.contains(&fake.token()), "{shown}");
    assert!(!shown.contains("wrong-token-value-1234"), "{shown}");
    assert!(shown.contains(&fake.url()), "{shown}");
    assert_eq!(good.api_url(), fake.url());

    let mut unset = config(&fake);
    unset.api_token = None;
    assert!(matches!(
        MistClient::new(&unset, metrics),
        Err(MistError::NotConfigured("mist.api_token"))
    ));
}

#[tokio::test]
async fn switch_lookups_are_cached_and_single_flight() {
    let fake = world().await;
    fake.set_latency(Duration::from_millis(50));
    let metrics = Metrics::new();
    let mut cfg = config(&fake);
    cfg.switch_cache_ttl = mesa::config::Duration::from_millis(1000);
    let mist = client(&cfg, &metrics);

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let mist = mist.clone();
        tasks.push(tokio::spawn(async move {
            mist.switch_by_hostname(SITE, "ld-cup-idf-bbb").await
        }));
    }
    for task in tasks {
        let sw = task.await.unwrap().unwrap().unwrap();
        assert_eq!(sw.mac, sw_mac());
        assert_eq!(sw.device_id, "00000000-0000-0000-1000-00c78d939c00");
        assert_eq!(sw.mgmt_ip.as_deref(), Some("10.0.0.217"));
    }
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        1
    );
    assert_eq!(metric(&metrics, "sites/devices/search", "200"), 1);

    // Same switch, other spelling: the cache key ignores case.
    mist.switch_by_hostname(SITE, "LD-CUP-IDF-BBB")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.call_count("/api/v1/"), 1);

    // An FQDN from LLDP finds the switch by its short name; partial matches do not count.
    let fqdn = mist
        .switch_by_hostname(SITE, "ld-cup-idf-bbb.campus.example")
        .await
        .unwrap();
    assert_eq!(fqdn.map(|s| s.mac), Some(sw_mac()));
    assert_eq!(mist.switch_by_hostname(SITE, "ld-cup").await.unwrap(), None);

    // After the TTL, Mist is asked again.
    fake.clear_calls();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    mist.switch_by_hostname(SITE, "ld-cup-idf-bbb")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.call_count("/api/v1/"), 1);

    let by_mac = mist
        .switch_by_mac(fake.org_id(), &sw_mac())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_mac.name, "ld-cup-idf-bbb");
    assert_eq!(by_mac.site_id, SITE);
    assert!(fake.calls().last().unwrap().query.contains("type=switch"));
}

#[tokio::test]
async fn stats_are_paged_and_ports_read() {
    let fake = world().await;
    for i in 0..1205u32 {
        fake.add_ap(&mac(&format!("5c5b35{i:06x}")), &format!("ap-{i}"), SITE);
    }
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    let stats = mist.site_ap_stats(SITE).await.unwrap();
    assert_eq!(stats.len(), 1206);
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        2
    );
    let ours = stats.iter().find(|s| s.mac == ap_mac()).unwrap();
    assert_eq!(ours.status, "connected");
    assert!(ours.last_seen.is_some());
    assert_eq!(
        ours.lldp_stat.as_ref().and_then(|l| l.port_id.as_deref()),
        Some("ge-0/0/12")
    );

    let port = InterfaceName::parse("ge-0/0/12").unwrap();
    let stat = mist
        .port_stats(SITE, &sw_mac(), &port)
        .await
        .unwrap()
        .unwrap();
    assert!(stat.up);
    assert_eq!(stat.neighbor_mac, Some(ap_mac()));
    assert_eq!(stat.neighbor_system_name.as_deref(), Some("AP41-hall"));
    let other = InterfaceName::parse("ge-0/0/13").unwrap();
    assert_eq!(
        mist.port_stats(SITE, &sw_mac(), &other).await.unwrap(),
        None
    );
    assert!(fake
        .calls()
        .last()
        .unwrap()
        .query
        .contains("port_id=ge-0%2F0%2F13"));
}

#[tokio::test]
async fn device_put_replaces_top_level_keys() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    let id = "00000000-0000-0000-1000-00c78d939c00";
    fake.set_device_config(
        &sw_mac(),
        "port_config",
        json!({"ge-0/0/1": {"usage": "default"}}),
    );
    fake.set_device_config(&sw_mac(), "notes", json!("keep me"));

    let device = mist.get_device(SITE, id).await.unwrap();
    assert_eq!(device["type"], "switch");
    assert_eq!(device["port_config"]["ge-0/0/1"]["usage"], "default");

    let body = json!({"port_config": {"ge-0/0/12": {"usage": "ap"}}});
    let updated = mist.put_device(SITE, id, &body).await.unwrap();
    assert_eq!(
        updated["port_config"],
        json!({"ge-0/0/12": {"usage": "ap"}}),
        "whole key replaced"
    );
    assert_eq!(updated["notes"], "keep me", "other keys kept");
    assert_eq!(
        fake.device(&sw_mac()).unwrap()["port_config"]["ge-0/0/12"]["usage"],
        "ap"
    );

    let err = mist
        .get_device(SITE, "00000000-0000-0000-1000-000000000000")
        .await
        .unwrap_err();
    assert!(
        matches!(err, MistError::Refused { status: 404, .. }),
        "{err:?}"
    );
    // A hostile id stays one path segment.
    let err = mist.get_device(SITE, "../../../orgs/x").await.unwrap_err();
    assert!(
        matches!(err, MistError::Refused { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(metric(&metrics, "sites/devices", "200"), 2);
    assert_eq!(metric(&metrics, "sites/devices", "404"), 2);
}

#[tokio::test]
async fn org_endpoints_of_the_fake_follow_the_spec() {
    let fake = world().await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{}{path}", fake.url()))
            .header("Authorization", format!("Token {}", fake.token()))
            .send()
    };
    let inventory: serde_json::Value = get(format!(
        "/api/v1/orgs/{}/inventory?type=switch",
        fake.org_id()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(inventory[0]["mac"], "00c78d939c00");
    assert_eq!(inventory[0]["id"], "00000000-0000-0000-1000-00c78d939c00");
    assert_eq!(inventory.as_array().unwrap().len(), 1);

    let response = get(format!(
        "/api/v1/orgs/{}/stats/devices?type=all",
        fake.org_id()
    ))
    .await
    .unwrap();
    assert_eq!(response.headers()["x-page-total"], "2");
    let stats: serde_json::Value = response.json().await.unwrap();
    assert_eq!(stats.as_array().unwrap().len(), 2);

    let unauth = http
        .get(format!(
            "{}/api/v1/orgs/{}/inventory",
            fake.url(),
            fake.org_id()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
}

//! The Mist client and the AP locator against the fake Mist cloud, over real HTTP on
//! 127.0.0.1: lookups, moved APs, LLDP port names, retries (429, 5xx, timeouts), token
//! handling, the switch cache and call counting; paging below Mist's 1,000 cap, the shared
//! 429 gate and the hourly budget, renamed switches, errors that show their cause.

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
    cfg.lookup_gather = mesa::config::Duration::from_millis(20);
    cfg.timeout = mesa::config::Duration::from_secs(5);
    cfg.rate_limit_wait = mesa::config::Duration::from_millis(20);
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
    assert!(
        steps.iter().any(|s| s.contains("in the AP stats read at")),
        "{steps:#?}"
    );
    assert!(steps.iter().any(|s| s.contains("ge-0/0/12")), "{steps:#?}");
    // The site's AP stats (shared with every lookup of the site waiting meanwhile), then
    // the switch by name; no device search for the AP itself.
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        1
    );
    assert_eq!(fake.call_count("/api/v1/orgs/"), 0);
    let ap_call = &fake.calls()[0];
    assert!(
        ap_call.path == format!("/api/v1/sites/{SITE}/stats/devices")
            && ap_call.query.contains("type=ap"),
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
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        3,
        "each look reads the site again"
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
    // The gate stayed closed 20 ms, then 40 ms (no Retry-After: rate_limit_wait, doubled).
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(
        mist.rate_limited_for(),
        None,
        "a passing call opens the gate"
    );

    fake.clear_calls();
    fake.fail_next_with_429(10, None);
    let err = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap_err();
    assert!(
        matches!(
            err,
            MistError::RateLimited {
                attempts: 4,
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("hourly call budget"), "{err}");
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
    assert!(
        matches!(
            err,
            MistError::Server {
                status: 503,
                attempts: 4
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("after 4 attempt(s)"), "{err}");
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
    assert!(matches!(err, MistError::Timeout { attempts: 2 }), "{err:?}");
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

    // `type` is required by `device_switch`: the fake refuses a PUT without it.
    let untyped = json!({"port_config": {"ge-0/0/12": {"usage": "ap"}}});
    let err = mist.put_device(SITE, id, &untyped).await.unwrap_err();
    assert!(
        matches!(err, MistError::Refused { status: 400, .. }),
        "{err:?}"
    );
    let body = json!({"type": "switch", "port_config": {"ge-0/0/12": {"usage": "ap"}}});
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

/// `X-Page-*` as `/metrics` shows it: `mesa_<name> <value>`.
fn gauge(metrics: &Metrics, name: &str) -> u64 {
    let needle = format!("mesa_{name} ");
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&needle).map(|n| n.parse().unwrap()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test]
async fn stats_pages_capped_below_1000_are_all_read() {
    let fake = world().await;
    for i in 0..249u32 {
        fake.add_ap(&mac(&format!("5c5b35{i:06x}")), &format!("ap-{i}"), SITE);
    }
    // 250 APs; the endpoint answers at most 100 whatever `limit=1000` asks.
    fake.cap_page_size("stats/devices", 100);
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    let stats = mist.site_ap_stats(SITE).await.unwrap();
    assert_eq!(stats.len(), 250, "not just the first page");
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        3
    );
    let org = mist.org_ap_stats(fake.org_id(), Some(SITE)).await.unwrap();
    assert_eq!(org.len(), 250);

    // Without X-Page-Total the pages at X-Page-Limit go on; the short one ends.
    fake.state().hide_page_total = true;
    fake.clear_calls();
    assert_eq!(mist.site_ap_stats(SITE).await.unwrap().len(), 250);
    assert_eq!(fake.call_count("/api/v1/"), 3);
    let last = fake.calls().last().unwrap().clone();
    assert!(last.query.contains("page=3"), "{last:?}");

    // A `page` that is not honoured: the same 100 APs again are an error, not the list.
    fake.state().hide_page_total = false;
    fake.state().ignore_page_param = true;
    let err = mist.site_ap_stats(SITE).await.unwrap_err();
    assert!(matches!(err, MistError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("could not be read whole"), "{err}");
}

#[tokio::test]
async fn searches_capped_below_1000_follow_next() {
    let fake = world().await;
    for i in 0..4u8 {
        fake.add_switch(
            &mac(&format!("00c78d93a{i:03x}")),
            &format!("sw-{i}"),
            SITE,
            "10.0.0.1",
        );
    }
    fake.cap_page_size("devices/search", 2);
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    let switches = mist.org_switches(fake.org_id(), None).await.unwrap();
    assert_eq!(switches.len(), 5);
    assert_eq!(
        fake.call_count(&format!("/api/v1/orgs/{}/devices/search", fake.org_id())),
        3
    );
}

#[tokio::test]
async fn after_a_429_every_caller_waits_at_one_gate() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mut cfg = config(&fake);
    cfg.rate_limit_wait = mesa::config::Duration::from_millis(200);
    cfg.hourly_budget = 100;
    let mist = client(&cfg, &metrics);
    // Mist's budget is spent: every call answers 429 with the real body, no Retry-After.
    fake.set_hourly_budget(Some(0));

    let first = {
        let mist = mist.clone();
        tokio::spawn(async move { mist.find_ap_on_site(SITE, &ap_mac()).await })
    };
    while fake.calls().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(mist.rate_limited_for().is_some(), "the 429 closed the gate");
    assert_eq!(gauge(&metrics, "mist_api_budget_remaining"), 0);
    // 49 more lookups while the gate is closed: they wait instead of calling.
    let mut tasks = vec![first];
    for _ in 0..49 {
        let mist = mist.clone();
        tasks.push(tokio::spawn(async move {
            mist.find_ap_on_site(SITE, &ap_mac()).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let while_closed = fake.calls().len();
    assert!(
        (2..=3).contains(&while_closed),
        "one call, then one probe per reopening: {while_closed}"
    );
    // The hour turns: the next probe passes and the gate opens for everyone.
    fake.set_hourly_budget(None);
    for task in tasks {
        assert!(task.await.unwrap().unwrap().is_some());
    }
    let calls = fake.calls().len();
    assert!(
        calls <= 50 + 3,
        "50 lookups, at most 3 spent on 429s: {calls}"
    );
    assert!(metric(&metrics, "sites/devices/search", "429") <= 3);
    assert_eq!(metric(&metrics, "sites/devices/search", "200"), 50);
    assert_eq!(mist.rate_limited_for(), None);
    assert_eq!(gauge(&metrics, "mist_api_calls_last_hour"), calls as u64);
    assert_eq!(
        gauge(&metrics, "mist_api_budget_remaining"),
        100 - calls as u64
    );
}

#[tokio::test]
async fn a_closed_gate_fails_fast_without_spending_calls() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mut cfg = config(&fake);
    cfg.rate_limit_wait = mesa::config::Duration::from_secs(30);
    let mist = Arc::new(
        MistClient::new(&cfg, metrics.clone())
            .unwrap()
            .with_retry_after_cap(Duration::from_millis(50)),
    );
    fake.fail_next_with_429(1, None);
    let err = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap_err();
    assert!(
        matches!(
            err,
            MistError::RateLimited {
                attempts: 1,
                retry_after: Some(30)
            }
        ),
        "{err:?}"
    );
    // Every other caller gives up at once, without a call, and says when to try again.
    let err = mist
        .find_ap_in_org(fake.org_id(), &ap_mac())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MistError::RateLimited {
                attempts: 0,
                retry_after: Some(29 | 30)
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.call_count("/api/v1/"), 1);
}

#[tokio::test]
async fn the_hour_budget_is_in_metrics_and_warns_at_80_percent() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mut cfg = config(&fake);
    cfg.hourly_budget = 10;
    let mist = client(&cfg, &metrics);
    let mut warnings = mist.budget().warnings();
    for _ in 0..7 {
        mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap();
    }
    assert!(warnings.try_recv().is_err(), "7 of 10: no warning yet");
    assert_eq!(gauge(&metrics, "mist_api_calls_last_hour"), 7);
    assert_eq!(gauge(&metrics, "mist_api_budget_remaining"), 3);
    assert_eq!(gauge(&metrics, "mist_api_budget_per_hour"), 10);
    mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap();
    let warning = warnings.try_recv().expect("warned at 8 of 10");
    assert_eq!((warning.used, warning.per_hour), (8, 10));
    mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap();
    assert!(warnings.try_recv().is_err(), "once per hour");
}

#[tokio::test]
async fn calls_are_counted_per_scope() {
    let fake = world().await;
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    fake.fail_next_with_status(1, 502);
    let calls = mesa::mist::CallCount::new();
    calls
        .scope(async {
            mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap();
            mist.switch_by_hostname(SITE, "ld-cup-idf-bbb")
                .await
                .unwrap();
            // Cached: costs nothing.
            mist.switch_by_hostname(SITE, "ld-cup-idf-bbb")
                .await
                .unwrap();
            assert_eq!(mesa::mist::calls::current(), Some(3));
        })
        .await;
    assert_eq!(calls.get(), 3, "502 + retry + switch search");
    // Outside any scope nothing is counted (and nothing fails).
    mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap();
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn unreachable_mist_shows_the_cause_and_the_real_attempt_count() {
    // A port nobody listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = MistConfig {
        api_url: format!("http://127.0.0.1:{port}"),
        api_token: Some(Secret::new("t")),
        ..MistConfig::default()
    };
    cfg.max_retries = 3;
    let metrics = Metrics::new();
    let mist = client(&cfg, &metrics);
    let err = mist.find_ap_on_site(SITE, &ap_mac()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, MistError::Http { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(text.contains("after 4 attempt(s)"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection refused"),
        "the connect error, not just \"error sending request\": {text}"
    );
    assert!(err.is_transient());

    // A name that does not resolve: the DNS error shows.
    let mut cfg = cfg.clone();
    cfg.api_url = "http://mist-does-not-exist.invalid".into();
    cfg.max_retries = 0;
    let err = client(&cfg, &metrics)
        .find_ap_on_site(SITE, &ap_mac())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("after 1 attempt(s)"), "{text}");
    assert!(text.contains("dns error"), "{text}");
}

#[tokio::test]
async fn a_renamed_switch_is_known_by_its_current_name() {
    let fake = world().await;
    fake.rename_switch(&sw_mac(), "ld-cup-idf-ccc");
    let metrics = Metrics::new();
    let mist = client(&config(&fake), &metrics);
    let sw = mist
        .switch_by_hostname(SITE, "ld-cup-idf-ccc")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sw.name, "ld-cup-idf-ccc",
        "last_hostname, not the former name"
    );
    assert_eq!(sw.mac, sw_mac());
    let by_mac = mist
        .switch_by_mac(fake.org_id(), &sw_mac())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_mac.name, "ld-cup-idf-ccc");
    // The former name still finds it while no other switch carries it...
    let old = mist
        .switch_by_hostname(SITE, "ld-cup-idf-bbb")
        .await
        .unwrap();
    assert_eq!(old.map(|s| s.mac), Some(sw_mac()));
    // ...but once a new switch is called that, the name is the new switch's.
    let newer = mac("00c78d939e00");
    fake.add_switch(&newer, "ld-cup-idf-bbb", SITE, "10.0.0.218");
    let fresh = client(&config(&fake), &metrics);
    let found = fresh
        .switch_by_hostname(SITE, "ld-cup-idf-bbb")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.mac, newer);
}

//! The two guards that ask Mist before a port is reverted — site outage and LLDP — against
//! the fake Mist cloud over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use mesa::config::{LldpGuardConfig, OutageGuardConfig};
use mesa::engine::guards::lldp::LldpGuard;
use mesa::engine::guards::outage::OutageGuard;
use mesa::metrics::Metrics;
use mesa::mist::MistClient;
use mesa::model::{InterfaceName, Mac, SwitchRef};
use mesa::sim::mist::{now, ApStatus, FakeMist, FakePort};

const SITE: &str = "c1698122-c14c-11e5-8e81-1258369c38a9";

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn sw_mac() -> Mac {
    mac("5c4527a96580")
}

fn ap(i: u32) -> Mac {
    mac(&format!("5c5b35{i:06x}"))
}

fn client(fake: &FakeMist) -> Arc<MistClient> {
    let mut cfg = fake.mist_config();
    cfg.max_retries = 2;
    Arc::new(
        MistClient::new(&cfg, Metrics::new())
            .unwrap()
            .with_backoff_base(Duration::from_millis(10)),
    )
}

/// A site with `n` APs, each plugged into its own port of one switch.
async fn site_with_aps(n: u32) -> FakeMist {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    fake.add_switch(&sw_mac(), "CORP-D-SW-2", SITE, "10.2.1.1");
    for i in 0..n {
        fake.plug_ap(&ap(i), &sw_mac(), &format!("ge-0/0/{i}"));
    }
    fake
}

fn outage_cfg() -> OutageGuardConfig {
    OutageGuardConfig {
        enabled: true,
        window: mesa::config::Duration::from_secs(30),
        ignore_disconnected_for: mesa::config::Duration::from_secs(86_400),
        min_percent: 50,
        min_site_aps: 2,
        ..OutageGuardConfig::default()
    }
}

#[tokio::test]
async fn site_outage_holds_with_one_stats_call_for_fifty_events() {
    let fake = site_with_aps(52).await;
    fake.site_outage(SITE);
    fake.set_latency(Duration::from_millis(50));
    let guard = Arc::new(OutageGuard::new(client(&fake), &outage_cfg()));

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let guard = guard.clone();
        tasks.push(tokio::spawn(async move { guard.check(SITE).await }));
    }
    for task in tasks {
        let verdict = task.await.unwrap().unwrap();
        assert!(!verdict.proceed, "{verdict:?}");
        assert_eq!(verdict.guard, "site-outage");
        assert_eq!(verdict.reason, "site outage: 52 of 52 APs down within 30s");
        assert_eq!(verdict.numbers["down"], 52);
        assert_eq!(verdict.numbers["present"], 52);
        assert_eq!(verdict.numbers["window_s"], 30);
        assert_eq!(verdict.numbers["min_percent"], 50);
    }
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        1
    );
    assert!(fake.calls()[0].query.contains("type=ap"));

    // Later events of the same outage reuse the reading.
    assert!(!guard.check(SITE).await.unwrap().proceed);
    assert_eq!(fake.call_count("/api/v1/"), 1);
}

#[tokio::test]
async fn a_few_aps_down_is_not_an_outage() {
    let fake = site_with_aps(52).await;
    for i in 0..5 {
        fake.unplug_ap(&ap(i));
    }
    let guard = OutageGuard::new(client(&fake), &outage_cfg());
    let verdict = guard.check(SITE).await.unwrap();
    assert!(verdict.proceed, "{verdict:?}");
    assert_eq!(verdict.numbers["down"], 5);
    assert_eq!(verdict.numbers["present"], 52);
    assert!(verdict.reason.contains("5 of 52"), "{}", verdict.reason);

    // Right at the threshold it holds: 26 of 52 is 50%.
    for i in 5..26 {
        fake.unplug_ap(&ap(i));
    }
    let guard = OutageGuard::new(client(&fake), &outage_cfg());
    let verdict = guard.check(SITE).await.unwrap();
    assert!(!verdict.proceed, "{verdict:?}");
    assert_eq!(verdict.numbers["down"], 26);
}

#[tokio::test]
async fn a_calm_reading_is_not_reused_for_long() {
    let fake = site_with_aps(10).await;
    let guard =
        OutageGuard::new(client(&fake), &outage_cfg()).with_calm_ttl(Duration::from_millis(100));
    fake.unplug_ap(&ap(0));
    assert!(guard.check(SITE).await.unwrap().proceed);
    // The rest of the site goes down right after: the first calm reading must not hide it.
    fake.site_outage(SITE);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let verdict = guard.check(SITE).await.unwrap();
    assert!(!verdict.proceed, "{verdict:?}");
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        2
    );
}

#[tokio::test]
async fn tiny_sites_skip_the_outage_guard() {
    let fake = site_with_aps(2).await;
    fake.site_outage(SITE);
    let guard = OutageGuard::new(client(&fake), &outage_cfg());
    let verdict = guard.check(SITE).await.unwrap();
    assert!(verdict.proceed, "{verdict:?}");
    assert_eq!(verdict.numbers["present"], 2);
    assert!(
        verdict.reason.contains("2 APs present"),
        "{}",
        verdict.reason
    );
}

#[tokio::test]
async fn long_disconnected_aps_do_not_count_as_present() {
    let fake = site_with_aps(20).await;
    let two_days_ago = now() - 2.0 * 86_400.0;
    for i in 0..10 {
        fake.set_ap_status(&ap(i), ApStatus::Disconnected, two_days_ago);
    }
    // An hour ago: present, but not part of this outage.
    fake.set_ap_status(&ap(10), ApStatus::Disconnected, now() - 3600.0);
    for i in 11..17 {
        fake.unplug_ap(&ap(i));
    }
    // Present: 3 up + 1 down an hour ago + 6 down now = 10; 6 of them down within the window.
    let guard = OutageGuard::new(client(&fake), &outage_cfg());
    let verdict = guard.check(SITE).await.unwrap();
    assert_eq!(verdict.numbers["present"], 10, "{verdict:?}");
    assert_eq!(verdict.numbers["down"], 6, "{verdict:?}");
    assert!(
        !verdict.proceed,
        "6 of 10 is an outage; counting the 10 gone APs would make it 6 of 20"
    );
}

fn switch(with_mac: bool) -> SwitchRef {
    SwitchRef {
        name: "CORP-D-SW-2".into(),
        site_id: SITE.into(),
        mac: with_mac.then(sw_mac),
        mgmt_addr: None,
    }
}

fn lldp_guard(fake: &FakeMist, recheck_ms: u64) -> LldpGuard {
    let cfg = LldpGuardConfig {
        enabled: true,
        recheck_after: mesa::config::Duration::from_millis(recheck_ms),
        ..LldpGuardConfig::default()
    };
    LldpGuard::new(client(fake), &cfg)
}

fn port(name: &str) -> InterfaceName {
    InterfaceName::parse(name).unwrap()
}

#[tokio::test]
async fn lldp_guard_proceeds_when_the_ap_is_gone_from_the_port() {
    let fake = site_with_aps(3).await;
    let guard = lldp_guard(&fake, 50);
    let port_reads = || fake.call_count(&format!("/api/v1/sites/{SITE}/stats/ports/search"));

    // Port down (cable pulled), on two looks.
    fake.unplug_ap(&ap(0));
    let v = guard
        .check(SITE, &switch(true), &port("ge-0/0/0"), &ap(0))
        .await
        .unwrap();
    assert!(v.proceed, "{v:?}");
    assert_eq!(v.guard, "lldp");
    assert!(v.reason.contains("down"), "{}", v.reason);
    assert_eq!(v.numbers["up"], false);
    assert_eq!(v.numbers["checks"], 2);
    assert_eq!(port_reads(), 2);

    // Up, no LLDP neighbor, on two looks.
    fake.set_port(
        &sw_mac(),
        "ge-0/0/1",
        FakePort {
            up: true,
            ..FakePort::default()
        },
    );
    let v = guard
        .check(SITE, &switch(true), &port("ge-0/0/1"), &ap(1))
        .await
        .unwrap();
    assert!(v.proceed, "{v:?}");
    assert!(
        v.reason.contains("without an LLDP neighbor"),
        "{}",
        v.reason
    );
    assert_eq!(port_reads(), 4);

    // Another device answers LLDP on the port now: settled on one look.
    let laptop = mac("64d814353400");
    fake.set_port(
        &sw_mac(),
        "ge-0/0/2",
        FakePort {
            up: true,
            neighbor_mac: Some(laptop.clone()),
            neighbor_system_name: Some("printer-3".into()),
            neighbor_port_desc: None,
        },
    );
    let v = guard
        .check(SITE, &switch(true), &port("ge-0/0/2"), &ap(2))
        .await
        .unwrap();
    assert!(v.proceed, "{v:?}");
    assert!(
        v.reason.contains("another LLDP neighbor") && v.reason.contains("printer-3"),
        "{}",
        v.reason
    );
    assert_eq!(v.numbers["neighbor_mac"], laptop.as_str());
    assert_eq!(port_reads(), 5);

    // A port Mist has no stats for: the verdict says the guard could not see it.
    let v = guard
        .check(SITE, &switch(true), &port("ge-0/0/40"), &ap(2))
        .await
        .unwrap();
    assert!(v.proceed, "{v:?}");
    assert!(v.reason.contains("no stats for port"), "{}", v.reason);
    assert!(v.reason.contains("cannot see the port"), "{}", v.reason);
    assert_eq!(v.numbers["visible"], false);
    assert_eq!(port_reads(), 6);
}

#[tokio::test]
async fn lldp_guard_holds_when_a_rebooting_ap_comes_back_before_the_recheck() {
    // A reboot takes the link down, then brings it up before LLDP: neither reading on its
    // own means the AP is gone.
    for first in [
        FakePort::default(),
        FakePort {
            up: true,
            ..FakePort::default()
        },
    ] {
        let fake = Arc::new(site_with_aps(1).await);
        fake.set_port(&sw_mac(), "ge-0/0/0", first.clone());
        let guard = lldp_guard(&fake, 300);
        let back = {
            let fake = fake.clone();
            tokio::spawn(async move {
                while fake.call_count(&format!("/api/v1/sites/{SITE}/stats/ports/search")) == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                fake.plug_ap(&ap(0), &sw_mac(), "ge-0/0/0");
            })
        };
        let v = guard
            .check(SITE, &switch(true), &port("ge-0/0/0"), &ap(0))
            .await
            .unwrap();
        back.await.unwrap();
        assert!(!v.proceed, "first look {first:?}: {v:?}");
        assert!(v.reason.contains("back on"), "{}", v.reason);
        assert_eq!(v.numbers["checks"], 2);
        assert_eq!(v.numbers["looks"], serde_json::json!(["no-ap", "ap"]));
    }
}

#[tokio::test]
async fn lldp_guard_on_unknown_chooses_and_says_so() {
    let fake = site_with_aps(1).await;
    let unknown_switch = SwitchRef {
        name: "not-in-mist".into(),
        site_id: SITE.into(),
        mac: None,
        mgmt_addr: None,
    };
    for (on_unknown, proceeds) in [
        (mesa::config::LldpUnknown::Proceed, true),
        (mesa::config::LldpUnknown::Hold, false),
    ] {
        let cfg = LldpGuardConfig {
            enabled: true,
            recheck_after: mesa::config::Duration::from_millis(10),
            on_unknown,
        };
        let guard = LldpGuard::new(client(&fake), &cfg);
        let v = guard
            .check(SITE, &unknown_switch, &port("ge-0/0/0"), &ap(0))
            .await
            .unwrap();
        assert_eq!(v.proceed, proceeds, "{v:?}");
        assert!(
            v.reason.contains("cannot see the port") && v.reason.contains("not in Mist"),
            "{}",
            v.reason
        );
        assert!(v.reason.contains("on_unknown"), "{}", v.reason);
        assert_eq!(v.numbers["visible"], false);
    }
}

#[tokio::test]
async fn lldp_guard_holds_when_the_ap_is_still_there_after_the_recheck() {
    let fake = site_with_aps(1).await;
    let guard = lldp_guard(&fake, 100);
    let started = std::time::Instant::now();
    // Without the switch MAC: the guard finds it by hostname.
    let v = guard
        .check(SITE, &switch(false), &port("ge-0/0/0"), &ap(0))
        .await
        .unwrap();
    assert!(!v.proceed, "{v:?}");
    assert!(
        v.reason.contains("AP still seen on the port by LLDP"),
        "{}",
        v.reason
    );
    assert_eq!(v.numbers["checks"], 2);
    assert_eq!(v.numbers["neighbor_mac"], ap(0).as_str());
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/ports/search")),
        2
    );
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        1
    );
    assert!(fake
        .calls()
        .iter()
        .any(|c| c.query.contains("mac=5c4527a96580")));
}

#[tokio::test]
async fn lldp_guard_proceeds_when_the_ap_leaves_before_the_recheck() {
    let fake = Arc::new(site_with_aps(1).await);
    let guard = lldp_guard(&fake, 300);
    // Unplugged once the guard has had its first look.
    let unplug = {
        let fake = fake.clone();
        tokio::spawn(async move {
            while fake.call_count(&format!("/api/v1/sites/{SITE}/stats/ports/search")) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            fake.unplug_ap(&ap(0));
        })
    };
    let v = guard
        .check(SITE, &switch(true), &port("ge-0/0/0"), &ap(0))
        .await
        .unwrap();
    unplug.await.unwrap();
    assert!(v.proceed, "{v:?}");
    // There, then gone on two looks in a row.
    assert_eq!(v.numbers["checks"], 3);
    assert_eq!(
        v.numbers["looks"],
        serde_json::json!(["ap", "no-ap", "no-ap"])
    );
    assert!(v.reason.contains("down"), "{}", v.reason);
}

#[tokio::test]
async fn disabled_guards_proceed_without_asking_mist() {
    let fake = site_with_aps(10).await;
    fake.site_outage(SITE);
    let cfg = OutageGuardConfig {
        enabled: false,
        ..outage_cfg()
    };
    let v = OutageGuard::new(client(&fake), &cfg)
        .check(SITE)
        .await
        .unwrap();
    assert!(v.proceed && v.reason.contains("disabled"), "{v:?}");
    let cfg = LldpGuardConfig {
        enabled: false,
        recheck_after: mesa::config::Duration::from_secs(60),
        ..LldpGuardConfig::default()
    };
    let v = LldpGuard::new(client(&fake), &cfg)
        .check(SITE, &switch(true), &port("ge-0/0/0"), &ap(0))
        .await
        .unwrap();
    assert!(v.proceed && v.reason.contains("disabled"), "{v:?}");
    assert_eq!(fake.call_count("/api/v1/"), 0);
}

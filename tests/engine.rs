//! The engine end to end: signed webhooks over real HTTP → journal → engine (fake Mist over
//! real HTTP, shaped from the OpenAPI spec) → dry-run backend → store and notifications.

mod support;

use std::time::Duration;

use mesa::model::{Decision, InterfaceName, Mac, Profile};
use mesa::sim::mist::{ApStatus, FakeMist, FakePort, Lldp};
use support::mesa::{device_event, start_with_mist, Receiver, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const SITE_B: &str = "4ac1dcf4-9d8b-7211-65c4-057819f0862b";

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn port(p: &str) -> InterfaceName {
    InterfaceName::parse(p).unwrap()
}

/// One site, one switch `sw1`; returns the switch MAC.
fn world(fake: &FakeMist) -> Mac {
    fake.add_site(SITE, "HQ");
    let sw = mac("d420b0000001");
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    sw
}

static TS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_700_000_000);

async fn send(mesa: &TestMesa, kind: &str, ap: &str, site: &str) {
    let ts = TS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let r = mesa.post_signed(&device_event(kind, ap, site, ts)).await;
    assert_eq!(r.status(), 200);
}

async fn last_decision(mesa: &TestMesa) -> Decision {
    mesa.idle().await;
    mesa.app.store.recent_decisions(1).await.unwrap().remove(0)
}

fn skipped_by(d: &Decision) -> Option<String> {
    match &d.outcome {
        mesa::model::Outcome::Skipped { guard, .. } => Some(guard.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn connect_sets_ap_profile_and_disconnect_reverts() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000001");
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let mesa = start_with_mist(&fake, |_| {}).await;

    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Ap));
    let record = mesa
        .app
        .store
        .port(&mesa::model::SwitchRef::named("sw1"), &port("ge-0/0/12"))
        .await
        .unwrap()
        .unwrap();
    assert!(record.managed && record.ap_mac == Some(ap.clone()));

    fake.unplug_ap(&ap);
    send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Secured));
    assert!(
        d.verdicts.iter().any(|v| v.guard == "lldp" && v.proceed),
        "{:?}",
        d.verdicts
    );
}

#[tokio::test]
async fn site_outage_reverts_nothing_with_one_stats_call() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let mesa = start_with_mist(&fake, |_| {}).await;
    let aps: Vec<Mac> = (0..50).map(|i| mac(&format!("5c5b35{i:06}"))).collect();
    for (i, ap) in aps.iter().enumerate() {
        fake.plug_ap(ap, &sw, &format!("ge-0/0/{i}"));
        send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    }
    mesa.idle().await;
    fake.site_outage(SITE);
    fake.clear_calls();
    for ap in &aps {
        send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    }
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(50).await.unwrap();
    assert!(
        decisions
            .iter()
            .all(|d| skipped_by(d).as_deref() == Some("site-outage")),
        "{:?}",
        decisions[0]
    );
    let hold = decisions[0]
        .verdicts
        .iter()
        .find(|v| v.guard == "site-outage")
        .unwrap();
    assert_eq!(hold.numbers["down"], 50);
    // One read of the site's APs and one of its switches serve all fifty events.
    let stats_reads = |kind: &str| {
        fake.calls()
            .iter()
            .filter(|c| c.path == format!("/api/v1/sites/{SITE}/stats/devices"))
            .filter(|c| c.query.contains(&format!("type={kind}")))
            .count()
    };
    assert_eq!(stats_reads("ap"), 1, "{:?}", fake.calls());
    assert_eq!(stats_reads("switch"), 1, "{:?}", fake.calls());
    assert!(
        hold.reason.contains("itself disconnected"),
        "{}",
        hold.reason
    );
    for i in 0..50 {
        assert_eq!(
            mesa.backend.profile("sw1", &port(&format!("ge-0/0/{i}"))),
            Some(Profile::Ap)
        );
    }
}

#[tokio::test]
async fn ap_still_on_port_is_not_reverted_after_recheck() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000002");
    fake.plug_ap(&ap, &sw, "ge-0/0/3");
    let mesa = start_with_mist(&fake, |_| {}).await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    // Lost the cloud, still plugged in (port up, AP the LLDP neighbor).
    fake.set_ap_status(&ap, ApStatus::Disconnected, mesa::sim::mist::now());
    fake.clear_calls();
    send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(skipped_by(&d).as_deref(), Some("lldp"), "{d:?}");
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/ports/search")),
        2
    );
    assert_eq!(mesa.profile("sw1", "ge-0/0/3"), Some(Profile::Ap));
}

#[tokio::test]
async fn another_lldp_neighbor_means_revert() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000003");
    fake.plug_ap(&ap, &sw, "ge-0/0/4");
    let mesa = start_with_mist(&fake, |_| {}).await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    fake.set_ap_status(&ap, ApStatus::Disconnected, mesa::sim::mist::now());
    fake.set_port(
        &sw,
        "ge-0/0/4",
        FakePort {
            up: true,
            neighbor_mac: Some(mac("aabbcc000001")),
            neighbor_system_name: Some("laptop".into()),
            neighbor_port_desc: None,
        },
    );
    send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/4"), Some(Profile::Secured));
}

#[tokio::test]
async fn moved_ap_is_found_through_the_org() {
    let fake = FakeMist::start().await;
    world(&fake);
    fake.add_site(SITE_B, "Branch");
    let sw_b = mac("d420b0000002");
    fake.add_switch(&sw_b, "sw-branch", SITE_B, "10.1.0.11");
    let ap = mac("5c5b35000004");
    fake.move_ap(&ap, SITE_B, &sw_b, "ge-0/0/7");
    let mesa = start_with_mist(&fake, |_| {}).await;
    // The event still names the old site.
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw-branch", "ge-0/0/7"), Some(Profile::Ap));
    assert_eq!(d.event.site_id, SITE_B);
    assert!(fake.call_count(&format!("/api/v1/orgs/{}/devices/search", fake.org_id())) >= 1);
}

#[tokio::test]
async fn restart_on_a_new_port_reverts_the_old_one_and_sets_the_new() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000005");
    fake.plug_ap(&ap, &sw, "ge-0/0/1");
    let mesa = start_with_mist(&fake, |_| {}).await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    fake.unplug_ap(&ap);
    fake.plug_ap(&ap, &sw, "ge-0/0/2");
    send(&mesa, "AP_RESTARTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/1"), Some(Profile::Secured));
    assert_eq!(mesa.profile("sw1", "ge-0/0/2"), Some(Profile::Ap));
    // No disconnect guard is asked: the AP is provably elsewhere.
    assert!(!d
        .verdicts
        .iter()
        .any(|v| v.guard == "site-outage" || v.guard == "lldp"));
}

#[tokio::test]
async fn restart_on_the_same_port_changes_nothing() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000006");
    fake.plug_ap(&ap, &sw, "ge-0/0/6");
    let mesa = start_with_mist(&fake, |_| {}).await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    let batches = mesa.backend.batches().len();
    send(&mesa, "AP_RESTARTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "already-in-place", "{d:?}");
    assert_eq!(mesa.backend.batches().len(), batches, "no change sent");
}

#[tokio::test]
async fn ignored_site_takes_no_action_at_all() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000007");
    fake.plug_ap(&ap, &sw, "ge-0/0/7");
    let mesa = start_with_mist(&fake, |c| c.mist.ignored_sites = vec![SITE.into()]).await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(skipped_by(&d).as_deref(), Some("ignored-site"));
    assert!(fake.calls().is_empty(), "no Mist call for an ignored site");
    assert!(mesa.backend.batches().is_empty());
}

#[tokio::test]
async fn protected_port_is_never_touched() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000008");
    fake.plug_ap(&ap, &sw, "ge-0/0/47");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.protected_ports = vec!["ge-0/0/4[0-7]".into()]
    })
    .await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(skipped_by(&d).as_deref(), Some("protected-port"));
    assert!(mesa.backend.batches().is_empty());
}

#[tokio::test]
async fn a_port_mesa_did_not_configure_is_not_reverted() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000009");
    fake.plug_ap(&ap, &sw, "ge-0/0/9");
    fake.unplug_ap(&ap);
    let mesa = start_with_mist(&fake, |_| {}).await;
    send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(skipped_by(&d).as_deref(), Some("managed-only"), "{d:?}");
    assert!(mesa.backend.batches().is_empty());
}

#[tokio::test]
async fn invalid_and_malicious_port_names_are_rejected() {
    let fake = FakeMist::start().await;
    world(&fake);
    let mesa = start_with_mist(&fake, |_| {}).await;
    for (i, bad) in [
        "ge-0/0/1; delete",
        "ge-0/0/1\nset system root-authentication plain-text-password",
        "526",
    ]
    .iter()
    .enumerate()
    {
        let ap = mac(&format!("5c5b350001{i:02}"));
        fake.add_ap(&ap, "ap-bad", SITE);
        fake.set_ap_lldp(
            &ap,
            Some(Lldp {
                system_name: "sw1".into(),
                port_id: bad.to_string(),
                port_desc: bad.to_string(),
                mgmt_addr: None,
            }),
        );
        send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
        let d = last_decision(&mesa).await;
        assert_eq!(d.outcome.label(), "rejected", "{bad:?}: {d:?}");
    }
    assert!(
        mesa.backend.batches().is_empty(),
        "nothing reached a switch"
    );
}

#[tokio::test]
async fn payload_with_only_the_deprecated_ap_field() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b3500000a");
    fake.plug_ap(&ap, &sw, "ge-0/0/10");
    let mesa = start_with_mist(&fake, |_| {}).await;
    let body = serde_json::json!({"topic": "device-events", "events": [{
        "type": "AP_CONNECTED", "ap": "5C:5B:35:00:00:0A", "site_id": SITE, "timestamp": 1_700_000_500}]})
    .to_string();
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b3500000b");
    fake.plug_ap(&ap, &sw, "ge-0/0/11");
    let mesa = start_with_mist(&fake, |_| {}).await;
    fake.fail_next_with_429(1, Some(1));
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    let metrics = mesa.app.metrics.render();
    assert!(metrics.contains("status=\"429\""), "{metrics}");
}

#[tokio::test]
async fn mist_5xx_exhausted_fails_and_is_notified() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b3500000c");
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    let mesa = start_with_mist(&fake, move |c| {
        c.engine.retry_attempts = 2;
        c.notify.push(
            toml::from_str(&format!(
                "kind = \"slack\"\nurl = \"{url}\"\nmin_severity = \"warning\""
            ))
            .unwrap(),
        );
    })
    .await;
    fake.fail_next_with_status(1000, 503);
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "failed", "{d:?}");
    assert!(!d.will_retry, "the last decision is final");
    let all = mesa.app.store.recent_decisions(10).await.unwrap();
    assert_eq!(all.len(), 2, "one interim notice, one final decision");
    assert!(all[1].will_retry);
    assert!(mesa.app.notify.flush(Duration::from_secs(10)).await);
    let texts = receiver.texts();
    assert!(!texts.is_empty(), "failure announced");
    assert!(mesa.backend.batches().is_empty());
    assert_eq!(
        mesa.app.store.journal_counts().await.unwrap().0,
        0,
        "final outcome closes the journal entry"
    );
}

#[tokio::test]
async fn flapping_ap_is_held() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b3500000d");
    fake.plug_ap(&ap, &sw, "ge-0/0/13");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.flap.max_events = 3;
        c.guards.only_revert_managed = true;
    })
    .await;
    for kind in [
        "AP_CONNECTED",
        "AP_DISCONNECTED",
        "AP_CONNECTED",
        "AP_DISCONNECTED",
        "AP_CONNECTED",
    ] {
        send(&mesa, kind, ap.as_str(), SITE).await;
        mesa.idle().await;
    }
    let decisions = mesa.app.store.recent_decisions(10).await.unwrap();
    let held: Vec<_> = decisions
        .iter()
        .filter(|d| skipped_by(d).as_deref() == Some("flap"))
        .collect();
    assert_eq!(held.len(), 2, "{decisions:#?}");
}

#[tokio::test]
async fn newer_event_supersedes_a_waiting_disconnect() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b3500000e");
    fake.plug_ap(&ap, &sw, "ge-0/0/14");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.disconnect_delay = mesa::config::Duration::from_secs(5)
    })
    .await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    // The AP blips: disconnect (waits 5 s), then connects again on the same port.
    send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(3).await.unwrap();
    assert_eq!(
        decisions[0].outcome.label(),
        "already-in-place",
        "{:?}",
        decisions[0]
    );
    assert_eq!(skipped_by(&decisions[1]).as_deref(), Some("superseded"));
    assert_eq!(mesa.profile("sw1", "ge-0/0/14"), Some(Profile::Ap));
    assert!(mesa.never_reverted(), "no revert was ever sent");
}

#[tokio::test]
async fn quick_move_reverts_the_old_port_even_when_the_disconnect_was_superseded() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b3500000f");
    fake.plug_ap(&ap, &sw, "ge-0/0/15");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.disconnect_delay = mesa::config::Duration::from_secs(5)
    })
    .await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    // Unplugged, and plugged into another port before the disconnect delay ran out.
    fake.unplug_ap(&ap);
    send(&mesa, "AP_DISCONNECTED", ap.as_str(), SITE).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.plug_ap(&ap, &sw, "ge-0/0/16");
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/15"), Some(Profile::Secured));
    assert_eq!(mesa.profile("sw1", "ge-0/0/16"), Some(Profile::Ap));
}

#[tokio::test]
async fn retries_are_not_counted_as_flaps() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000010");
    fake.plug_ap(&ap, &sw, "ge-0/0/20");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.flap.max_events = 1;
        c.mist.max_retries = 0;
        c.engine.retry_attempts = 4;
    })
    .await;
    fake.fail_next_with_status(2, 503);
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
}

#[tokio::test]
async fn a_revert_does_not_land_on_a_port_another_ap_took_meanwhile() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let (ap1, ap2) = (mac("5c5b35000011"), mac("5c5b35000012"));
    fake.plug_ap(&ap1, &sw, "ge-0/0/21");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.lldp.recheck_after = mesa::config::Duration::from_millis(1500)
    })
    .await;
    send(&mesa, "AP_CONNECTED", ap1.as_str(), SITE).await;
    mesa.idle().await;
    // AP1 loses the cloud while still plugged in: its LLDP guard waits for a recheck...
    fake.set_ap_status(&ap1, ApStatus::Disconnected, mesa::sim::mist::now());
    send(&mesa, "AP_DISCONNECTED", ap1.as_str(), SITE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...during which someone swaps it for AP2, which mesa sets up at once.
    fake.unplug_ap(&ap1);
    fake.plug_ap(&ap2, &sw, "ge-0/0/21");
    send(&mesa, "AP_CONNECTED", ap2.as_str(), SITE).await;
    mesa.idle().await;
    assert_eq!(mesa.profile("sw1", "ge-0/0/21"), Some(Profile::Ap));
    let decisions = mesa.app.store.recent_decisions(5).await.unwrap();
    let revert = decisions
        .iter()
        .find(|d| d.event.ap_mac == ap1 && d.event.kind == mesa::model::EventKind::ApDisconnected)
        .unwrap();
    assert_eq!(
        skipped_by(revert).as_deref(),
        Some("managed-only"),
        "{revert:?}"
    );
    assert!(mesa.never_reverted(), "no revert was sent");
}

#[tokio::test]
async fn waits_for_mist_to_learn_the_lldp_neighbor_and_a_newer_event_ends_the_wait() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let (ap, slow) = (mac("5c5b35000013"), mac("5c5b35000014"));
    fake.plug_ap(&ap, &sw, "ge-0/0/23");
    fake.plug_ap(&slow, &sw, "ge-0/0/24");
    let mesa = start_with_mist(&fake, |c| {
        c.mist.lookup_attempts = 3;
        c.mist.lookup_backoff = mesa::config::Duration::from_millis(300);
    })
    .await;
    // LLDP shows up on the second lookup: the engine waits and then applies.
    fake.hide_lldp_for(&ap, 1);
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    let d = last_decision(&mesa).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert!(
        d.lookups
            .iter()
            .any(|l| l.contains("no LLDP neighbor known yet")),
        "{:?}",
        d.lookups
    );

    // Never learned in time, and the AP goes away meanwhile: the newer event ends the wait.
    fake.hide_lldp_for(&slow, 100);
    send(&mesa, "AP_CONNECTED", slow.as_str(), SITE).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&mesa, "AP_DISCONNECTED", slow.as_str(), SITE).await;
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(2).await.unwrap();
    let connect = decisions
        .iter()
        .find(|d| d.event.kind == mesa::model::EventKind::ApConnected)
        .unwrap();
    assert_eq!(
        skipped_by(connect).as_deref(),
        Some("superseded"),
        "{connect:?}"
    );
}

/// The dry-run backend, with switches that can be made to refuse (configuration locked).
struct Lockable {
    inner: std::sync::Arc<mesa::backend::dry_run::DryRun>,
    locked: std::sync::Mutex<std::collections::HashSet<String>>,
}

#[async_trait::async_trait]
impl mesa::backend::SwitchBackend for Lockable {
    fn kind(&self) -> &'static str {
        "dry-run"
    }
    async fn apply(
        &self,
        switch: &mesa::model::SwitchRef,
        changes: &[mesa::model::PortChange],
    ) -> Result<Vec<mesa::backend::PortResult>, mesa::backend::BackendError> {
        if self.locked.lock().unwrap().contains(&switch.name) {
            return Err(mesa::backend::BackendError::Locked(format!(
                "configuration database locked by: admin terminal on {}",
                switch.name
            )));
        }
        self.inner.apply(switch, changes).await
    }
}

/// A moved AP gets its new port first: its old switch being locked neither delays the new
/// port nor loses the AP's new location, and the old port's revert is retried on its own
/// until the old switch lets it through.
#[tokio::test]
async fn a_moved_ap_gets_its_new_port_first_and_the_old_one_is_reverted_later() {
    let fake = FakeMist::start().await;
    let sw1 = world(&fake);
    let sw2 = mac("d420b0000002");
    fake.add_switch(&sw2, "sw2", SITE, "10.0.0.12");
    let ap = mac("5c5b35000015");
    fake.plug_ap(&ap, &sw1, "ge-0/0/1");
    let dry = std::sync::Arc::new(mesa::backend::dry_run::DryRun::new());
    let backend = std::sync::Arc::new(Lockable {
        inner: dry.clone(),
        locked: Default::default(),
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    let mist = fake.mist_config();
    config.mist.api_url = mist.api_url;
    config.mist.api_token = mist.api_token;
    config.mist.org_id = mist.org_id;
    config.engine.retry_attempts = 50;
    let mesa = support::mesa::start_with_backend(dir, config, backend.clone()).await;
    let post = |kind: &'static str| {
        let body = support::mesa::device_event(
            kind,
            ap.as_str(),
            SITE,
            TS.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        );
        let mesa = &mesa;
        async move { assert_eq!(mesa.post_signed(&body).await.status(), 200) }
    };
    post("AP_CONNECTED").await;
    mesa.idle().await;

    backend.locked.lock().unwrap().insert("sw1".into());
    fake.unplug_ap(&ap);
    fake.plug_ap(&ap, &sw2, "ge-0/0/2");
    post("AP_RESTARTED").await;
    // The move's own decision ends while sw1 is still locked.
    let moved = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let decisions = mesa.app.store.recent_decisions(20).await.unwrap();
            if let Some(d) = decisions
                .into_iter()
                .find(|d| d.event.kind == mesa::model::EventKind::ApRestarted && !d.will_retry)
            {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the move is decided while the old switch is locked");
    assert_eq!(moved.outcome.label(), "applied", "{moved:#?}");
    assert_eq!(dry.profile("sw2", &port("ge-0/0/2")), Some(Profile::Ap));
    let record = mesa.app.store.ap(&ap).await.unwrap().unwrap();
    assert_eq!(
        (record.switch_mac.as_ref(), record.port.as_str()),
        (Some(&sw2), "ge-0/0/2"),
        "the new location is recorded at once"
    );
    assert_eq!(dry.profile("sw1", &port("ge-0/0/1")), Some(Profile::Ap));

    backend.locked.lock().unwrap().clear();
    mesa.idle().await;
    assert_eq!(
        dry.profile("sw1", &port("ge-0/0/1")),
        Some(Profile::Secured)
    );
    assert_eq!(dry.profile("sw2", &port("ge-0/0/2")), Some(Profile::Ap));
    let decisions = mesa.app.store.recent_decisions(100).await.unwrap();
    let revert = decisions
        .iter()
        .find(|d| !d.will_retry && d.changes.iter().any(|c| c.profile == Profile::Secured))
        .expect("the old port has its own decision");
    assert_eq!(revert.outcome.label(), "applied", "{revert:#?}");
    assert_eq!(revert.event.ap_mac, ap);
}

fn events_body(events: &[(&str, &str, f64)]) -> String {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(kind, ap, ts)| {
            serde_json::json!({"type": kind, "mac": ap, "device_name": "ap", "device_type": "ap",
                "org_id": mesa::sim::mist::ORG_ID, "site_id": SITE, "timestamp": ts})
        })
        .collect();
    serde_json::json!({"topic": "device-events", "events": events}).to_string()
}

/// Connect, disconnect and connect again within one second (Mist's fractional timestamps)
/// are three changes: the last connect is not taken for a copy of the first. The copy the
/// site-level webhook sends of the last one is.
#[tokio::test]
async fn three_changes_within_one_second_are_kept_and_copies_are_not() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000016");
    fake.plug_ap(&ap, &sw, "ge-0/0/16");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.disconnect_delay = mesa::config::Duration::from_secs(2)
    })
    .await;
    let t = 1_700_001_000.0;
    let a = ap.as_str();
    let body = events_body(&[
        ("AP_CONNECTED", a, t + 0.1),
        ("AP_DISCONNECTED", a, t + 0.5),
        ("AP_CONNECTED", a, t + 0.9),
    ]);
    let answer: serde_json::Value = mesa.post_signed(&body).await.json().await.unwrap();
    assert_eq!(answer["accepted"], 3, "{answer}");
    let copy = events_body(&[("AP_CONNECTED", a, t + 1.4)]);
    let answer: serde_json::Value = mesa.post_signed(&copy).await.json().await.unwrap();
    assert_eq!(
        (answer["accepted"].clone(), answer["duplicates"].clone()),
        (serde_json::json!(0), serde_json::json!(1)),
        "{answer}"
    );
    mesa.idle().await;
    assert_eq!(mesa.profile("sw1", "ge-0/0/16"), Some(Profile::Ap));
    assert!(mesa.never_reverted());
}

/// A reconcile plan read from Mist before the AP was unplugged arrives after the
/// disconnect: it is older, so it neither supersedes the waiting disconnect nor acts.
#[tokio::test]
async fn an_older_reconcile_plan_does_not_supersede_a_newer_disconnect() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000017");
    fake.plug_ap(&ap, &sw, "ge-0/0/17");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.disconnect_delay = mesa::config::Duration::from_millis(800)
    })
    .await;
    let now = mesa::sim::mist::now();
    let body = events_body(&[("AP_CONNECTED", ap.as_str(), now - 60.0)]);
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    mesa.idle().await;

    fake.unplug_ap(&ap);
    let body = events_body(&[("AP_DISCONNECTED", ap.as_str(), now)]);
    assert_eq!(mesa.post_signed(&body).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Planned from a reading of 10 s ago, when the AP was still up.
    let plan = mesa::model::ApEvent {
        id: "reconcile-old-reading".into(),
        kind: mesa::model::EventKind::ApConnected,
        ap_mac: ap.clone(),
        ap_name: None,
        org_id: Some(mesa::sim::mist::ORG_ID.into()),
        site_id: SITE.into(),
        site_name: None,
        timestamp: mesa::model::EventTime::from_secs_f64(now - 10.0),
        source: mesa::model::Source::Reconcile,
        received_at: chrono::Utc::now(),
        known_port: None,
    };
    mesa.app.journal.accept(vec![plan]).await.unwrap();
    mesa.idle().await;

    assert_eq!(mesa.profile("sw1", "ge-0/0/17"), Some(Profile::Secured));
    let decisions = mesa.app.store.recent_decisions(10).await.unwrap();
    let of = |kind| {
        decisions
            .iter()
            .find(|d| d.event.kind == kind)
            .unwrap_or_else(|| panic!("{kind:?}: {decisions:#?}"))
    };
    let disconnect = of(mesa::model::EventKind::ApDisconnected);
    assert_eq!(disconnect.outcome.label(), "applied", "{disconnect:#?}");
    let plan = decisions
        .iter()
        .find(|d| d.event.id == "reconcile-old-reading")
        .unwrap();
    assert_eq!(skipped_by(plan).as_deref(), Some("stale"), "{plan:#?}");
}

/// The AP left its old port even when its new port is one mesa must not touch: the old
/// port is still reverted.
#[tokio::test]
async fn a_move_onto_a_protected_port_still_reverts_the_old_port() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000018");
    fake.plug_ap(&ap, &sw, "ge-0/0/18");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.protected_ports = vec!["ge-0/0/4[0-7]".into()]
    })
    .await;
    send(&mesa, "AP_CONNECTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    fake.unplug_ap(&ap);
    fake.plug_ap(&ap, &sw, "ge-0/0/47");
    send(&mesa, "AP_RESTARTED", ap.as_str(), SITE).await;
    mesa.idle().await;
    let decisions = mesa.app.store.recent_decisions(10).await.unwrap();
    let restart = decisions
        .iter()
        .find(|d| d.event.kind == mesa::model::EventKind::ApRestarted)
        .unwrap();
    assert_eq!(skipped_by(restart).as_deref(), Some("protected-port"));
    assert_eq!(mesa.profile("sw1", "ge-0/0/18"), Some(Profile::Secured));
    assert_eq!(mesa.profile("sw1", "ge-0/0/47"), None);
}

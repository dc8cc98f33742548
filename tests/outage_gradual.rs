//! Issue #13 item 2: outages that Mist reports AP by AP over a while, against unplugs that
//! merely look like one. Signed webhooks over real HTTP → engine → fake Mist → dry-run.

mod support;

use std::time::Duration;

use mesa::config::Config;
use mesa::model::{Decision, Mac, Outcome, Profile};
use mesa::sim::mist::{now, ApStatus, FakeMist};
use support::mesa::{device_event, start_with_mist, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

static TS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_700_100_000);

fn ap(i: usize) -> Mac {
    Mac::parse(&format!("5c5b3501{i:04x}")).unwrap()
}

fn sw() -> Mac {
    Mac::parse("d420b0000001").unwrap()
}

async fn send(mesa: &TestMesa, kind: &str, ap: &Mac) {
    let ts = TS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let r = mesa
        .post_signed(&device_event(kind, ap.as_str(), SITE, ts))
        .await;
    assert_eq!(r.status(), 200);
}

/// `n` APs on ports ge-0/0/0.. of switch `sw1`, each already set up by mesa.
async fn campus(n: usize, tweak: impl FnOnce(&mut Config)) -> (FakeMist, TestMesa) {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    fake.add_switch(&sw(), "sw1", SITE, "10.0.0.11");
    for i in 0..n {
        fake.plug_ap(&ap(i), &sw(), &format!("ge-0/0/{i}"));
    }
    let mesa = start_with_mist(&fake, |c| {
        c.guards.disconnect_delay = mesa::config::Duration::from_millis(300);
        c.guards.outage.settle = mesa::config::Duration::from_millis(400);
        c.guards.outage.settle_max = mesa::config::Duration::from_secs(5);
        // Long enough that no re-check runs during a test.
        c.guards.holds.recheck_after = mesa::config::Duration::from_secs(3600);
        tweak(c);
    })
    .await;
    for i in 0..n {
        send(&mesa, "AP_CONNECTED", &ap(i)).await;
    }
    mesa.idle().await;
    fake.clear_calls();
    (fake, mesa)
}

/// The final decision of each AP's disconnect.
async fn disconnect_decisions(mesa: &TestMesa) -> Vec<Decision> {
    mesa.idle().await;
    mesa.app
        .store
        .recent_decisions(200)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.event.kind == mesa::model::EventKind::ApDisconnected && !d.will_retry)
        .collect()
}

fn held_by(d: &Decision) -> Option<&str> {
    match &d.outcome {
        Outcome::Skipped { guard, .. } => Some(guard),
        _ => None,
    }
}

/// APs `0..count` lose the cloud one after the other, `every` apart, still plugged in.
async fn gradual_drop(fake: &FakeMist, mesa: &TestMesa, count: usize, every: Duration) {
    for i in 0..count {
        fake.set_ap_status(&ap(i), ApStatus::Disconnected, now());
        send(mesa, "AP_DISCONNECTED", &ap(i)).await;
        tokio::time::sleep(every).await;
    }
}

#[tokio::test]
async fn a_wan_cut_seen_ap_by_ap_is_held_by_the_switch_being_down() {
    let (fake, mesa) = campus(10, |c| c.guards.lldp.enabled = false).await;
    // The uplink goes: the switch loses the cloud, then Mist declares the APs one by one.
    fake.set_switch_connected(&sw(), false);
    gradual_drop(&fake, &mesa, 8, Duration::from_millis(100)).await;
    let decisions = disconnect_decisions(&mesa).await;
    assert_eq!(decisions.len(), 8);
    for d in &decisions {
        assert_eq!(held_by(d), Some("site-outage"), "{d:#?}");
        let v = d
            .verdicts
            .iter()
            .find(|v| v.guard == "site-outage")
            .unwrap();
        assert!(
            v.reason.contains("sw1 is itself disconnected"),
            "{}",
            v.reason
        );
        assert_eq!(v.numbers["evidence"], "switch-disconnected");
    }
    assert!(mesa.never_reverted(), "no port reverted during the outage");
}

#[tokio::test]
async fn a_gradual_outage_waits_for_the_drop_to_settle_and_judges_the_final_count() {
    // The switch stays connected and still sees every AP by LLDP: no direct evidence, so the
    // count decides, once the drop has settled.
    let (fake, mesa) = campus(10, |c| {
        c.guards.lldp.enabled = false;
        // Roomy against a loaded machine: drops come 150 ms apart.
        c.guards.outage.settle = mesa::config::Duration::from_secs(1);
    })
    .await;
    gradual_drop(&fake, &mesa, 8, Duration::from_millis(150)).await;
    let decisions = disconnect_decisions(&mesa).await;
    assert_eq!(decisions.len(), 8);
    for d in &decisions {
        assert_eq!(held_by(d), Some("site-outage"), "{d:#?}");
        let v = d
            .verdicts
            .iter()
            .find(|v| v.guard == "site-outage")
            .unwrap();
        // Judged once the count reached an outage (5 of 10), or on the final 8 of 10.
        assert!(v.numbers["down"].as_u64().unwrap() >= 5, "{v:?}");
        assert_eq!(v.numbers["present"], 10, "{v:?}");
    }
    // The first drops were judged only after waiting for the rest.
    let first = decisions.iter().find(|d| d.event.ap_mac == ap(0)).unwrap();
    let v = first
        .verdicts
        .iter()
        .find(|v| v.guard == "site-outage")
        .unwrap();
    assert!(v.reason.contains("settle"), "{}", v.reason);
    assert!(v.numbers["reads"].as_u64().unwrap() >= 2, "{v:?}");
    assert!(mesa.never_reverted(), "no port reverted during the outage");
}

#[tokio::test]
async fn three_of_six_aps_really_unplugged_are_not_an_outage() {
    let (fake, mesa) = campus(6, |_| {}).await;
    for i in 0..3 {
        fake.unplug_ap(&ap(i));
        send(&mesa, "AP_DISCONNECTED", &ap(i)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let decisions = disconnect_decisions(&mesa).await;
    assert_eq!(decisions.len(), 3);
    for d in &decisions {
        assert_eq!(d.outcome.label(), "applied", "{d:#?}");
        let v = d
            .verdicts
            .iter()
            .find(|v| v.guard == "site-outage")
            .unwrap();
        assert!(v.proceed);
        assert!(
            v.reason.contains("an unplug, not an outage") && v.reason.contains("down"),
            "{}",
            v.reason
        );
    }
    for i in 0..3 {
        assert_eq!(
            mesa.profile("sw1", &format!("ge-0/0/{i}")),
            Some(Profile::Secured)
        );
    }
    for i in 3..6 {
        assert_eq!(
            mesa.profile("sw1", &format!("ge-0/0/{i}")),
            Some(Profile::Ap)
        );
    }
}

#[tokio::test]
async fn a_lone_unplug_on_a_calm_site_costs_one_stats_read_before_and_one_after_the_lldp_recheck() {
    let (fake, mesa) = campus(6, |_| {}).await;
    fake.unplug_ap(&ap(4));
    send(&mesa, "AP_DISCONNECTED", &ap(4)).await;
    let decisions = disconnect_decisions(&mesa).await;
    let d = &decisions[0];
    assert_eq!(d.outcome.label(), "applied", "{d:#?}");
    let v = d
        .verdicts
        .iter()
        .find(|v| v.guard == "site-outage")
        .unwrap();
    assert_eq!(v.numbers["calm"], true, "{v:?}");
    // The second read confirms the site is still calm once the LLDP guard's recheck waited.
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        2,
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn a_wan_cut_that_begins_during_the_lldp_wait_is_still_held() {
    // The APs hang off a switch Mist does not manage: the LLDP guard cannot look, so it
    // waits before it lets the first drop revert. The site was calm at the first read; the
    // WAN goes down during that wait, and the read after it holds the port.
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    for i in 0..6 {
        fake.add_ap(&ap(i), &format!("ap-{i}"), SITE);
        fake.set_ap_lldp(
            &ap(i),
            Some(mesa::sim::mist::Lldp {
                system_name: "edge-9".into(),
                port_id: format!("ge-0/0/{i}"),
                port_desc: format!("ge-0/0/{i}"),
                mgmt_addr: Some("10.0.0.90".into()),
            }),
        );
    }
    let mesa = start_with_mist(&fake, |c| {
        c.guards.lldp.recheck_after = mesa::config::Duration::from_millis(1500);
        c.guards.holds.recheck_after = mesa::config::Duration::from_secs(3600);
    })
    .await;
    for i in 0..6 {
        send(&mesa, "AP_CONNECTED", &ap(i)).await;
    }
    mesa.idle().await;

    fake.set_ap_status(&ap(0), ApStatus::Disconnected, now());
    send(&mesa, "AP_DISCONNECTED", &ap(0)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    fake.site_outage(SITE);
    let decisions = disconnect_decisions(&mesa).await;
    let d = &decisions[0];
    assert_eq!(held_by(d), Some("site-outage"), "{d:#?}");
    let confirm = d
        .verdicts
        .iter()
        .rev()
        .find(|v| v.guard == "site-outage")
        .unwrap();
    assert!(
        confirm
            .reason
            .contains("read again after the guards waited"),
        "{}",
        confirm.reason
    );
    assert!(mesa.never_reverted());
}

#[tokio::test]
async fn a_switch_declared_lost_while_the_drop_settles_still_means_outage() {
    let (fake, mesa) = campus(10, |c| {
        c.guards.lldp.enabled = false;
        c.guards.outage.settle = mesa::config::Duration::from_millis(800);
    })
    .await;
    // Four APs go (40%: no outage by count); Mist declares their switch lost only after
    // the first of them were looked at.
    for i in 0..4 {
        fake.set_ap_status(&ap(i), ApStatus::Disconnected, now());
        send(&mesa, "AP_DISCONNECTED", &ap(i)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if i == 3 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            fake.set_switch_connected(&sw(), false);
        }
    }
    let decisions = disconnect_decisions(&mesa).await;
    assert_eq!(decisions.len(), 4);
    for d in &decisions {
        assert_eq!(held_by(d), Some("site-outage"), "{d:#?}");
    }
    assert!(mesa.never_reverted(), "no port reverted during the outage");
}

/// Final disconnect decisions of `ap` made by a hold's re-check, waited for up to 20 s.
async fn recheck_decisions(mesa: &TestMesa, ap: &Mac) -> Vec<Decision> {
    for _ in 0..200 {
        let found: Vec<Decision> = disconnect_decisions(mesa)
            .await
            .into_iter()
            .filter(|d| &d.event.ap_mac == ap && d.event.source.as_str() == "recheck")
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

/// Three of six APs gone 10 minutes ago on a site the count calls an outage, with no word
/// from the switch (it still lists them): the first judgement holds.
async fn half_a_site_gone(others_heard: bool) -> (FakeMist, TestMesa) {
    let (fake, mesa) = campus(6, |c| {
        c.guards.lldp.enabled = false;
        c.guards.holds.recheck_after = mesa::config::Duration::from_millis(500);
    })
    .await;
    let dropped = now() - 600.0;
    for i in 0..6 {
        if i < 3 {
            fake.set_ap_status(&ap(i), ApStatus::Disconnected, dropped);
        } else if others_heard {
            fake.set_ap_status(&ap(i), ApStatus::Connected, now());
        } else {
            // Mist has not declared them yet, but has not heard them since the cut either.
            fake.set_ap_status(&ap(i), ApStatus::Connected, dropped);
        }
    }
    for i in 0..3 {
        send(&mesa, "AP_DISCONNECTED", &ap(i)).await;
    }
    (fake, mesa)
}

#[tokio::test]
async fn an_outage_hold_ends_at_its_recheck_when_mist_heard_the_rest_of_the_site_since() {
    // Issue #13 item 3: three real unplugs that are half of a site whose switch gives no
    // evidence were held as an outage at every re-check, for good. A WAN cut silences every
    // AP of the site; the other three kept reporting long after, so the re-check reverts.
    let (_fake, mesa) = half_a_site_gone(true).await;
    let rechecks = recheck_decisions(&mesa, &ap(0)).await;
    let last = rechecks.last().expect("the hold is re-checked");
    assert_eq!(last.outcome.label(), "applied", "{last:#?}");
    let v = last
        .verdicts
        .iter()
        .find(|v| v.guard == "site-outage")
        .unwrap();
    assert!(
        v.proceed && v.reason.contains("Mist heard 3 other APs"),
        "{v:?}"
    );
    assert_eq!(v.numbers["heard_after_drop"], 3);
    let first = disconnect_decisions(&mesa)
        .await
        .into_iter()
        .find(|d| d.event.ap_mac == ap(0) && d.event.source.as_str() == "webhook")
        .unwrap();
    assert_eq!(held_by(&first), Some("site-outage"), "{first:#?}");
    mesa.idle().await;
    assert_eq!(mesa.profile("sw1", "ge-0/0/0"), Some(Profile::Secured));
}

#[tokio::test]
async fn a_wan_cut_that_silenced_the_whole_site_stays_held_at_its_recheck() {
    let (_fake, mesa) = half_a_site_gone(false).await;
    let rechecks = recheck_decisions(&mesa, &ap(0)).await;
    let last = rechecks.last().expect("the hold is re-checked");
    assert_eq!(held_by(last), Some("site-outage"), "{last:#?}");
    assert!(
        mesa.never_reverted(),
        "no port reverted while the site is silent"
    );
}

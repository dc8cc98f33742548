//! The guards' waits (LLDP recheck, a site's drop settling) end as soon as a newer event of
//! the AP arrives: the AP that came back is not kept waiting behind its own disconnect.

mod support;

use std::time::Duration;

use mesa::model::{EventKind, Mac, Profile};
use mesa::sim::mist::{now, ApStatus, FakeMist};
use support::mesa::{device_event, start_with_mist, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

static TS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_700_300_000);

async fn send(mesa: &TestMesa, kind: &str, ap: &Mac) {
    let ts = TS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let r = mesa
        .post_signed(&device_event(kind, ap.as_str(), SITE, ts))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_reconnect_ends_the_lldp_recheck_of_its_disconnect() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse("5c5b35000301").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/5");
    let mesa = start_with_mist(&fake, |c| {
        // Far longer than the test: only the reconnect can end this wait.
        c.guards.lldp.recheck_after = mesa::config::Duration::from_secs(600);
    })
    .await;
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;

    // The AP loses the cloud (still plugged in); its disconnect looks at the port and waits.
    fake.set_ap_status(&ap, ApStatus::Disconnected, now());
    send(&mesa, "AP_DISCONNECTED", &ap).await;
    let port_reads = format!("/api/v1/sites/{SITE}/stats/ports/search");
    while fake.call_count(&port_reads) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.set_ap_status(&ap, ApStatus::Connected, now());
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;

    let decisions = mesa.app.store.recent_decisions(2).await.unwrap();
    let disconnect = decisions
        .iter()
        .find(|d| d.event.kind == EventKind::ApDisconnected)
        .unwrap();
    assert_eq!(disconnect.outcome.label(), "skipped", "{disconnect:#?}");
    assert!(
        disconnect.verdicts.iter().any(|v| v.guard == "superseded"),
        "{disconnect:#?}"
    );
    assert_eq!(mesa.profile("sw1", "ge-0/0/5"), Some(Profile::Ap));
    assert!(mesa.never_reverted());
}

#[tokio::test]
async fn a_switch_mist_cannot_see_gives_a_rebooting_ap_time_to_come_back() {
    // The switch is not in Mist: the LLDP guard cannot tell a reboot from an unplug by
    // looking, so it waits as long as a second look would have. The AP's reboot ends with
    // its AP_RESTARTED inside that wait, and the port stays an AP port.
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let ap = Mac::parse("5c5b35000302").unwrap();
    fake.add_ap(&ap, "ap-302", SITE);
    fake.set_ap_lldp(
        &ap,
        Some(mesa::sim::mist::Lldp {
            system_name: "edge-7".into(),
            port_id: "ge-0/0/9".into(),
            port_desc: "ge-0/0/9".into(),
            mgmt_addr: Some("10.0.0.70".into()),
        }),
    );
    let mesa = start_with_mist(&fake, |c| {
        c.guards.lldp.recheck_after = mesa::config::Duration::from_secs(600);
    })
    .await;
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;
    assert_eq!(mesa.profile("edge-7", "ge-0/0/9"), Some(Profile::Ap));

    fake.set_ap_status(&ap, ApStatus::Disconnected, now());
    send(&mesa, "AP_DISCONNECTED", &ap).await;
    // No disconnect_delay in tests; the outage read, the LLDP guard finds no such
    // switch in Mist: then it waits, far longer than this test.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(mesa.never_reverted(), "reverted without waiting");
    assert_eq!(
        mesa.app.engine.in_flight(),
        1,
        "the disconnect is still waiting"
    );
    fake.set_ap_status(&ap, ApStatus::Connected, now());
    send(&mesa, "AP_RESTARTED", &ap).await;
    mesa.idle().await;

    assert_eq!(mesa.profile("edge-7", "ge-0/0/9"), Some(Profile::Ap));
    assert!(mesa.never_reverted());
}

#[tokio::test]
async fn a_switch_mist_cannot_see_is_reverted_once_the_wait_shows_no_ap() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let ap = Mac::parse("5c5b35000303").unwrap();
    fake.add_ap(&ap, "ap-303", SITE);
    fake.set_ap_lldp(
        &ap,
        Some(mesa::sim::mist::Lldp {
            system_name: "edge-8".into(),
            port_id: "ge-0/0/3".into(),
            port_desc: "ge-0/0/3".into(),
            mgmt_addr: Some("10.0.0.80".into()),
        }),
    );
    let mesa = start_with_mist(&fake, |c| {
        c.guards.lldp.recheck_after = mesa::config::Duration::from_millis(300);
    })
    .await;
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;
    fake.set_ap_status(&ap, ApStatus::Disconnected, now());
    send(&mesa, "AP_DISCONNECTED", &ap).await;
    mesa.idle().await;

    assert_eq!(mesa.profile("edge-8", "ge-0/0/3"), Some(Profile::Secured));
    let decisions = mesa.app.store.recent_decisions(1).await.unwrap();
    let lldp = decisions[0]
        .verdicts
        .iter()
        .find(|v| v.guard == "lldp")
        .unwrap();
    assert!(lldp.proceed, "{lldp:?}");
    assert!(
        lldp.reason.contains("cannot see the port") && lldp.reason.contains("no sign of the AP"),
        "{}",
        lldp.reason
    );
    assert_eq!(lldp.numbers["waited_s"], 0);
}

#[tokio::test]
async fn a_spent_mist_budget_is_waited_out_not_counted_as_failed_attempts() {
    // Mist answers 429 for a while (another tool of the org spent the hour's calls). The
    // event waits for mesa's rate-limit gate to reopen, however many rounds that takes,
    // instead of failing for good after `engine.retry_attempts`.
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000009").unwrap();
    fake.add_switch(&sw, "sw9", SITE, "10.0.0.19");
    let ap = Mac::parse("5c5b35000309").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/1");
    let mesa = start_with_mist(&fake, |c| {
        c.engine.retry_attempts = 2;
        c.engine.retry_backoff = mesa::config::Duration::from_secs(600);
        c.mist.rate_limit_wait = mesa::config::Duration::from_millis(40);
    })
    .await;
    // More 429s than one event's lookups and engine attempts would ever send.
    fake.fail_next_with_429(12, None);
    send(&mesa, "AP_CONNECTED", &ap).await;
    tokio::time::timeout(Duration::from_secs(60), mesa.idle())
        .await
        .expect("the event waited for the gate, not for retry_backoff");

    assert_eq!(mesa.profile("sw9", "ge-0/0/1"), Some(Profile::Ap));
    let decisions = mesa.app.store.recent_decisions(5).await.unwrap();
    let last = &decisions[0];
    assert_eq!(last.outcome.label(), "applied", "{last:#?}");
    let interim: Vec<_> = decisions.iter().filter(|d| d.will_retry).collect();
    assert_eq!(interim.len(), 1, "said once that it waits: {decisions:#?}");
    assert!(
        interim[0]
            .outcome
            .summary()
            .contains("waiting for Mist to accept calls again"),
        "{:?}",
        interim[0].outcome
    );
    assert!(fake.refusals().len() >= 12);
}

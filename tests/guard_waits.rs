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

//! Issue #13 item 3: no hold is final. Held decisions are re-checked (through the journal,
//! so across restarts too) and the port converges once the AP is stable.

mod support;

use std::time::{Duration, Instant};

use mesa::config::Config;
use mesa::model::{Decision, EventKind, Mac, Profile, Source};
use mesa::sim::mist::FakeMist;
use mesa::store::Store;
use support::mesa::{device_event, start_with, start_with_mist, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

static TS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_700_200_000);

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn sw() -> Mac {
    mac("d420b0000001")
}

fn world(fake: &FakeMist) {
    fake.add_site(SITE, "HQ");
    fake.add_switch(&sw(), "sw1", SITE, "10.0.0.11");
}

async fn send(mesa: &TestMesa, kind: &str, ap: &Mac) {
    let ts = TS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let r = mesa
        .post_signed(&device_event(kind, ap.as_str(), SITE, ts))
        .await;
    assert_eq!(r.status(), 200);
}

fn fast_holds(c: &mut Config) {
    c.guards.holds.recheck_after = mesa::config::Duration::from_millis(300);
    c.guards.holds.max_interval = mesa::config::Duration::from_secs(2);
}

/// Waits (up to a generous bound; this is about convergence, not speed) for the port to
/// carry `profile`.
async fn converges(mesa: &TestMesa, port: &str, profile: Profile) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if mesa.profile("sw1", port) == Some(profile) {
            mesa.idle().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{port} never became {profile:?}: {:#?}",
        mesa.app.store.recent_decisions(20).await.unwrap()
    );
}

async fn decisions(mesa: &TestMesa) -> Vec<Decision> {
    mesa.app.store.recent_decisions(100).await.unwrap()
}

fn is_recheck(d: &Decision) -> bool {
    matches!(d.event.source, Source::Recheck { .. })
}

#[tokio::test]
async fn an_ap_that_flapped_and_settled_gets_its_port_back() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000101");
    fake.plug_ap(&ap, &sw(), "ge-0/0/1");
    let mesa = start_with_mist(&fake, |c| {
        c.guards.flap.max_events = 2;
        c.guards.flap.within = mesa::config::Duration::from_millis(500);
        fast_holds(c);
    })
    .await;
    // A PoE boot loop: up, down (reverted), up again, which the flap guard holds.
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;
    fake.unplug_ap(&ap);
    send(&mesa, "AP_DISCONNECTED", &ap).await;
    mesa.idle().await;
    fake.plug_ap(&ap, &sw(), "ge-0/0/1");
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;
    let held = decisions(&mesa).await.remove(0);
    assert_eq!(held.outcome.label(), "skipped", "{held:#?}");
    assert!(
        held.lookups.iter().any(|l| l.contains("re-checked in")),
        "{:?}",
        held.lookups
    );
    assert_eq!(mesa.profile("sw1", "ge-0/0/1"), Some(Profile::Secured));

    // The AP stays up: the re-check gives it its port without any new event.
    converges(&mesa, "ge-0/0/1", Profile::Ap).await;
    let d = decisions(&mesa).await.remove(0);
    assert!(is_recheck(&d), "{d:#?}");
    assert_eq!(d.event.kind, EventKind::ApConnected);
    assert_eq!(d.outcome.label(), "applied", "{d:#?}");
}

#[tokio::test]
async fn a_connect_without_an_lldp_neighbor_is_looked_up_again() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000102");
    fake.plug_ap(&ap, &sw(), "ge-0/0/2");
    // Mist takes longer than the engine's lookups to learn the neighbor.
    fake.hide_lldp_for(&ap, 3);
    let mesa = start_with_mist(&fake, fast_holds).await;
    send(&mesa, "AP_CONNECTED", &ap).await;
    mesa.idle().await;
    let first = decisions(&mesa).await.remove(0);
    assert_eq!(first.outcome.label(), "failed", "{first:#?}");
    converges(&mesa, "ge-0/0/2", Profile::Ap).await;
    assert!(is_recheck(&decisions(&mesa).await[0]));
}

#[tokio::test]
async fn an_outage_hold_ends_and_a_port_unplugged_meanwhile_is_secured() {
    let fake = FakeMist::start().await;
    world(&fake);
    let aps: Vec<Mac> = (0..4).map(|i| mac(&format!("5c5b350002{i:02}"))).collect();
    for (i, ap) in aps.iter().enumerate() {
        fake.plug_ap(ap, &sw(), &format!("ge-0/0/{i}"));
    }
    let mesa = start_with_mist(&fake, fast_holds).await;
    for ap in &aps {
        send(&mesa, "AP_CONNECTED", ap).await;
    }
    mesa.idle().await;

    // WAN cut: everything held.
    fake.site_outage(SITE);
    for ap in &aps {
        send(&mesa, "AP_DISCONNECTED", ap).await;
    }
    mesa.idle().await;
    let held = decisions(&mesa).await;
    assert!(
        held.iter().take(4).all(|d| d.outcome.label() == "skipped"
            && d.verdicts
                .iter()
                .any(|v| v.guard == "site-outage" && !v.proceed)),
        "{held:#?}"
    );

    // During the outage someone took AP 0 away; the WAN comes back and the others return.
    fake.unplug_ap(&aps[0]);
    fake.site_restored(SITE);
    for ap in aps.iter().skip(1) {
        send(&mesa, "AP_CONNECTED", ap).await;
    }
    mesa.idle().await;

    // AP 0's re-check sees no outage any more and secures its port; the others' re-checks
    // are void (their AP came back) and never touch a port.
    converges(&mesa, "ge-0/0/0", Profile::Secured).await;
    for i in 1..4 {
        assert_eq!(
            mesa.profile("sw1", &format!("ge-0/0/{i}")),
            Some(Profile::Ap)
        );
    }
    let all = decisions(&mesa).await;
    let revert = all
        .iter()
        .find(|d| d.event.ap_mac == aps[0] && d.outcome.label() == "applied")
        .unwrap();
    assert!(is_recheck(revert), "{revert:#?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let void = decisions(&mesa)
            .await
            .into_iter()
            .filter(|d| is_recheck(d) && d.outcome.label() == "skipped" && d.event.ap_mac != aps[0])
            .count();
        if void == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{:#?}", decisions(&mesa).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 1..4 {
        assert_eq!(
            mesa.profile("sw1", &format!("ge-0/0/{i}")),
            Some(Profile::Ap)
        );
    }
}

#[tokio::test]
async fn a_recheck_in_the_journal_runs_after_a_restart() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000103");
    fake.plug_ap(&ap, &sw(), "ge-0/0/3");
    fake.hide_lldp_for(&ap, 3);
    // First life: the lookup fails; its re-check is due in an hour, in the journal.
    let first = start_with_mist(&fake, |c| {
        c.guards.holds.recheck_after = mesa::config::Duration::from_secs(3600)
    })
    .await;
    send(&first, "AP_CONNECTED", &ap).await;
    first.idle().await;
    let pending = first.app.store.journal_pending().await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    let mut recheck = pending[0].event.clone();
    assert_eq!(recheck.source, Source::Recheck { attempt: 1 });
    let due_in = recheck.received_at - chrono::Utc::now();
    assert!(due_in > chrono::Duration::minutes(59), "{due_in:?}");

    // Second life, on a data directory holding that journal entry, now due shortly.
    recheck.received_at = chrono::Utc::now() + chrono::Duration::milliseconds(200);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = mesa::store::sqlite::SqliteStore::open(dir.path(), false).unwrap();
        store.journal_write(&[recheck], &[]).await.unwrap();
    }
    let mut config = support::mesa::config(dir.path());
    let mist = fake.mist_config();
    config.mist.api_url = mist.api_url;
    config.mist.api_token = mist.api_token;
    config.mist.org_id = mist.org_id;
    let second = start_with(dir, config).await;
    converges(&second, "ge-0/0/3", Profile::Ap).await;
    assert!(second.app.store.journal_pending().await.unwrap().is_empty());
}

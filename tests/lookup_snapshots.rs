//! Lookups through site AP-stats snapshots, end to end over real HTTP to the fake Mist:
//! concurrent lookups of one site share one paged read, a lookup looks at once and finishes
//! as soon as Mist reports a neighbor newer than the connect, and a snapshot older than an
//! event is never what a port is reverted on.

mod support;

use std::time::{Duration, Instant};

use mesa::model::{Decision, Mac, Profile};
use mesa::sim::mist::FakeMist;
use support::mesa::{device_event, start_with_mist, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn world(fake: &FakeMist) -> Mac {
    fake.add_site(SITE, "HQ");
    let sw = mac("d420b0000001");
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    sw
}

fn ap_stats_reads(fake: &FakeMist) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.path == format!("/api/v1/sites/{SITE}/stats/devices"))
        .filter(|c| c.query.contains("type=ap"))
        .count()
}

fn ap_searches(fake: &FakeMist) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.path.ends_with("/devices/search"))
        .filter(|c| c.query.contains("type=ap"))
        .count()
}

fn epoch_now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn decisions(mesa: &TestMesa, n: u32) -> Vec<Decision> {
    mesa.idle().await;
    mesa.app.store.recent_decisions(n).await.unwrap()
}

#[tokio::test]
async fn concurrent_lookups_of_one_site_share_one_read() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    // Mist caps the page below the 1,000 asked for: the one read follows every page.
    fake.cap_page_size("stats/devices", 10);
    let aps: Vec<Mac> = (0..30).map(|i| mac(&format!("5c5b35{i:06}"))).collect();
    for (i, ap) in aps.iter().enumerate() {
        fake.plug_ap(ap, &sw, &format!("ge-0/0/{i}"));
    }
    let mesa = start_with_mist(&fake, |c| {
        c.mist.lookup_gather = mesa::config::Duration::from_secs(2);
    })
    .await;
    let bodies: Vec<String> = aps
        .iter()
        .enumerate()
        .map(|(i, ap)| device_event("AP_CONNECTED", ap.as_str(), SITE, 1_700_000_000 + i as i64))
        .collect();
    let sends = bodies.iter().map(|b| mesa.post_signed(b));
    for r in futures_util::future::join_all(sends).await {
        assert_eq!(r.status(), 200);
    }
    let all = decisions(&mesa, 100).await;
    assert_eq!(all.len(), 30);
    assert!(
        all.iter().all(|d| d.outcome.label() == "applied"),
        "{:?}",
        all.iter().find(|d| d.outcome.label() != "applied")
    );
    for i in 0..30 {
        assert_eq!(
            mesa.profile("sw1", &format!("ge-0/0/{i}")),
            Some(Profile::Ap)
        );
    }
    // One read of the site's AP stats (three pages of 10) served all thirty lookups; no
    // AP was searched for on its own.
    let pages = ap_stats_reads(&fake);
    assert_eq!(pages, 3, "{:?}", fake.calls());
    assert_eq!(ap_searches(&fake), 0, "{:?}", fake.calls());
    let read_lines: Vec<&String> = all
        .iter()
        .flat_map(|d| d.lookups.iter())
        .filter(|l| l.contains("in the AP stats read at"))
        .collect();
    assert_eq!(read_lines.len(), 30, "{read_lines:?}");
    let first = read_lines[0].split(" read at ").nth(1).unwrap();
    assert!(
        read_lines.iter().all(|l| l.ends_with(first)),
        "one read for all: {read_lines:?}"
    );
}

#[tokio::test]
async fn a_lookup_finishes_as_soon_as_mist_knows_the_neighbor() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let ap = mac("5c5b35000101");
    fake.plug_ap(&ap, &sw, "ge-0/0/1");
    let mesa = start_with_mist(&fake, |c| {
        // The defaults: no fixed wait, 1 s gathering, looks about 2 s apart.
        c.mist.lookup_delay = mesa::config::Duration::from_secs(0);
        c.mist.lookup_gather = mesa::config::Duration::from_secs(1);
        c.mist.lookup_backoff = mesa::config::Duration::from_secs(20);
        c.mist.lookup_attempts = 20;
    })
    .await;
    // The AP moved to ge-0/0/2 and reconnected; Mist still shows what it heard a minute ago
    // (the old port) and learns the new neighbor 3 s from now.
    let now = epoch_now();
    fake.replug_ap_reported_later(
        &ap,
        &sw,
        "ge-0/0/2",
        (now - 60) as f64,
        Duration::from_secs(3),
    );
    let started = Instant::now();
    let r = mesa
        .post_signed(&device_event("AP_CONNECTED", ap.as_str(), SITE, now))
        .await;
    assert_eq!(r.status(), 200);
    let d = decisions(&mesa, 1).await.remove(0);
    let took = started.elapsed();
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/2"), Some(Profile::Ap));
    assert_eq!(
        mesa.profile("sw1", "ge-0/0/1"),
        None,
        "the old port untouched"
    );
    assert!(
        d.lookups.iter().any(|l| l.contains("before the event")),
        "the old neighbor was recognised as older than the connect: {:?}",
        d.lookups
    );
    // Looked at once and then about every 2 s: Mist learned it 3 s in, so the lookup ends
    // with the first read after that, not after a fixed wait.
    let waits = d
        .lookups
        .iter()
        .filter(|l| l.contains("no LLDP neighbor known yet"))
        .count();
    assert!((1..=3).contains(&waits), "{:?}", d.lookups);
    assert!(ap_stats_reads(&fake) <= 4, "{:?}", fake.calls());
    eprintln!(
        "webhook -> decided in {:.1} s (Mist learned the neighbor after 3 s)",
        took.as_secs_f64()
    );
}

#[tokio::test]
async fn a_stale_snapshot_never_reverts_a_port() {
    let fake = FakeMist::start().await;
    let sw = world(&fake);
    let (x, y) = (mac("5c5b35000201"), mac("5c5b35000202"));
    // X sits on ge-0/0/7 in Mist, unknown to mesa (its connect never arrived).
    fake.plug_ap(&x, &sw, "ge-0/0/7");
    fake.plug_ap(&y, &sw, "ge-0/0/9");
    let mesa = start_with_mist(&fake, |c| {
        c.mist.snapshot_ttl = mesa::config::Duration::from_secs(3600);
        c.guards.only_revert_managed = false;
    })
    .await;
    // Y's lookup reads the site: the snapshot shows X on ge-0/0/7.
    let r = mesa
        .post_signed(&device_event(
            "AP_CONNECTED",
            y.as_str(),
            SITE,
            1_700_000_000,
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(decisions(&mesa, 1).await[0].outcome.label(), "applied");
    let reads_before = ap_stats_reads(&fake);
    // Then X moves to ge-0/0/8 and goes away there, well within the snapshot's TTL.
    fake.plug_ap(&x, &sw, "ge-0/0/8");
    fake.unplug_ap(&x);
    let r = mesa
        .post_signed(&device_event(
            "AP_DISCONNECTED",
            x.as_str(),
            SITE,
            1_700_000_001,
        ))
        .await;
    assert_eq!(r.status(), 200);
    let d = decisions(&mesa, 1).await.remove(0);
    assert_eq!(d.event.ap_mac, x);
    // The port X was last on per a read made after its disconnect, never the snapshot's.
    assert_eq!(
        mesa.profile("sw1", "ge-0/0/7"),
        None,
        "reverted on a stale snapshot: {d:?}"
    );
    assert_eq!(
        mesa.profile("sw1", "ge-0/0/8"),
        Some(Profile::Secured),
        "{d:?}"
    );
    assert!(ap_stats_reads(&fake) > reads_before);
}

#[tokio::test]
async fn lookups_of_many_busy_sites_share_one_org_read() {
    let fake = FakeMist::start().await;
    let sites: Vec<String> = (0..6)
        .map(|s| format!("00000000-0000-0000-0000-{s:012}"))
        .collect();
    let mut aps = Vec::new();
    for (s, site) in sites.iter().enumerate() {
        fake.add_site(site, &format!("site-{s}"));
        let sw = mac(&format!("d420b00000{s:02}"));
        fake.add_switch(&sw, &format!("sw{s}"), site, &format!("10.0.{s}.1"));
        for p in 0..3 {
            let ap = mac(&format!("5c5b3500{s:02}{p:02}"));
            fake.plug_ap(&ap, &sw, &format!("ge-0/0/{p}"));
            aps.push((ap, site.clone()));
        }
    }
    let mesa = start_with_mist(&fake, |c| {
        c.mist.lookup_gather = mesa::config::Duration::from_millis(500);
        c.mist.org_gather = mesa::config::Duration::from_secs(1);
    })
    .await;
    let bodies: Vec<String> = aps
        .iter()
        .enumerate()
        .map(|(i, (ap, site))| {
            device_event("AP_CONNECTED", ap.as_str(), site, 1_700_000_000 + i as i64)
        })
        .collect();
    for r in futures_util::future::join_all(bodies.iter().map(|b| mesa.post_signed(b))).await {
        assert_eq!(r.status(), 200);
    }
    let all = decisions(&mesa, 100).await;
    assert_eq!(all.len(), 18);
    assert!(
        all.iter().all(|d| d.outcome.label() == "applied"),
        "{:?}",
        all.iter().find(|d| d.outcome.label() != "applied")
    );
    let calls = fake.calls();
    let org_reads = calls
        .iter()
        .filter(|c| c.path == format!("/api/v1/orgs/{}/stats/devices", fake.org_id()))
        .count();
    let site_reads = calls
        .iter()
        .filter(|c| c.path.starts_with("/api/v1/sites/") && c.path.ends_with("/stats/devices"))
        .count();
    // The first sites to get busy are read on their own; from the fourth on, one org read
    // serves everyone, and the org's switch list replaces the per-switch searches.
    assert_eq!(org_reads, 1, "{calls:?}");
    assert!(site_reads <= 3, "{calls:?}");
    assert_eq!(ap_searches(&fake), 0, "{calls:?}");
    assert!(
        all.iter()
            .flat_map(|d| d.lookups.iter())
            .any(|l| l.contains("sites looking up APs")),
        "{all:?}"
    );
}

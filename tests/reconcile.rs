//! Reconcile end to end: the fake Mist over real HTTP (shapes from `mist.openapi.json`),
//! mesa in-process with the dry-run backend, and `mesa::reconcile::run` (plus the `mesa
//! reconcile` binary for the table). Every change a reconcile plans must go through the
//! journal and the engine like a webhook event, with `source = reconcile`.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use mesa::model::{Decision, EventKind, InterfaceName, Mac, Profile, Source};
use mesa::reconcile::{self, ProgressMode, ReconcileOptions, ReconcileReport};
use mesa::sim::mist::{now, ApStatus, FakeMist};
use support::mesa::{device_event, start_with_mist, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const SITE_B: &str = "4ac1dcf4-9d8b-7211-65c4-057819f0862b";

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn port(p: &str) -> InterfaceName {
    InterfaceName::parse(p).unwrap()
}

fn sw1() -> Mac {
    mac("d420b0000001")
}

fn sw2() -> Mac {
    mac("d420b0000002")
}

/// Site HQ with switch `sw1`, site B with switch `sw2`.
fn world(fake: &FakeMist) {
    fake.add_site(SITE, "HQ");
    fake.add_site(SITE_B, "B");
    fake.add_switch(&sw1(), "sw1", SITE, "10.0.0.11");
    fake.add_switch(&sw2(), "sw2", SITE_B, "10.0.1.11");
}

fn options() -> ReconcileOptions {
    ReconcileOptions {
        wait: true,
        progress: ProgressMode::Off,
        ..ReconcileOptions::default()
    }
}

async fn reconcile_with(mesa: &TestMesa, opts: ReconcileOptions) -> ReconcileReport {
    let report = tokio::time::timeout(Duration::from_secs(60), reconcile::run(&mesa.app, &opts))
        .await
        .expect("reconcile finishes within 60 s")
        .expect("reconcile runs");
    mesa.idle().await;
    report
}

async fn reconcile(mesa: &TestMesa) -> ReconcileReport {
    reconcile_with(mesa, options()).await
}

async fn dry_run(mesa: &TestMesa) -> ReconcileReport {
    reconcile_with(
        mesa,
        ReconcileOptions {
            dry_run: true,
            ..options()
        },
    )
    .await
}

fn rows(report: &ReconcileReport) -> Vec<(String, String, Option<Profile>, Profile)> {
    report
        .actions()
        .map(|a| (a.switch.clone(), a.port.to_string(), a.current, a.target))
        .collect()
}

async fn decisions_of(mesa: &TestMesa, report: &ReconcileReport) -> Vec<Decision> {
    let ids: HashSet<&String> = report.event_ids.iter().collect();
    mesa.app
        .store
        .recent_decisions(500)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| ids.contains(&d.event.id))
        .collect()
}

async fn connect_by_webhook(mesa: &TestMesa, ap: &Mac, site: &str, ts: i64) {
    let r = mesa
        .post_signed(&device_event("AP_CONNECTED", ap.as_str(), site, ts))
        .await;
    assert_eq!(r.status(), 200);
    mesa.idle().await;
}

#[tokio::test]
async fn missed_connect_is_caught() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000001");
    fake.plug_ap(&ap, &sw1(), "ge-0/0/12");
    let mesa = start_with_mist(&fake, |_| {}).await;

    // No webhook was ever sent.
    let report = reconcile(&mesa).await;
    assert_eq!(report.planned.len(), 1, "{report:?}");
    assert_eq!(report.planned[0].kind, EventKind::ApConnected);
    assert_eq!(
        rows(&report),
        vec![("sw1".into(), "ge-0/0/12".into(), None, Profile::Ap)]
    );
    assert_eq!(report.submitted, 1);
    assert_eq!(report.outcomes.get("applied"), Some(&1), "{report:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Ap));
    let record = mesa
        .app
        .store
        .port(&mesa::model::SwitchRef::named("sw1"), &port("ge-0/0/12"))
        .await
        .unwrap()
        .unwrap();
    assert!(record.managed && record.ap_mac == Some(ap.clone()));
    let decisions = decisions_of(&mesa, &report).await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].event.source, Source::Reconcile);
    assert_eq!(decisions[0].outcome.label(), "applied");
    // Reads: one AP stats page and one switch search page; the event named its port, so the
    // engine looked nothing up for it (the switch came from the reconcile's read).
    assert_eq!(report.mist_calls_read, 2, "{:?}", fake.calls());
    assert_eq!(report.mist_calls, 2, "{:?}", fake.calls());
}

#[tokio::test]
async fn missed_disconnect_is_caught_after_revert_after_and_not_before() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000002");
    fake.plug_ap(&ap, &sw1(), "ge-0/0/3");
    let mesa = start_with_mist(&fake, |_| {}).await;
    connect_by_webhook(&mesa, &ap, SITE, 1_700_000_001).await;
    assert_eq!(mesa.profile("sw1", "ge-0/0/3"), Some(Profile::Ap));

    // The AP_DISCONNECTED webhook is lost. Ten minutes is not yet `revert_after` (1 h).
    fake.unplug_ap(&ap);
    fake.set_ap_status(&ap, ApStatus::Disconnected, now() - 600.0);
    let early = reconcile(&mesa).await;
    assert!(early.planned.is_empty(), "{early:?}");
    assert_eq!(early.counts.waiting, 1);
    assert_eq!(early.submitted, 0);
    assert_eq!(mesa.profile("sw1", "ge-0/0/3"), Some(Profile::Ap));

    // Two hours: gone.
    fake.set_ap_status(&ap, ApStatus::Disconnected, now() - 7200.0);
    let late = reconcile(&mesa).await;
    assert_eq!(late.planned.len(), 1, "{late:?}");
    assert_eq!(late.planned[0].kind, EventKind::ApDisconnected);
    assert_eq!(
        rows(&late),
        vec![(
            "sw1".into(),
            "ge-0/0/3".into(),
            Some(Profile::Ap),
            Profile::Secured
        )]
    );
    assert_eq!(late.outcomes.get("applied"), Some(&1), "{late:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/3"), Some(Profile::Secured));
    let d = &decisions_of(&mesa, &late).await[0];
    assert_eq!(d.event.source, Source::Reconcile);
    // The webhook path's guards ran: LLDP saw the port down.
    assert!(
        d.verdicts.iter().any(|v| v.guard == "lldp" && v.proceed),
        "{:?}",
        d.verdicts
    );
}

#[tokio::test]
async fn ap_moved_while_mesa_was_down() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000003");
    fake.plug_ap(&ap, &sw1(), "ge-0/0/1");
    let mesa = start_with_mist(&fake, |_| {}).await;
    connect_by_webhook(&mesa, &ap, SITE, 1_700_000_002).await;

    // mesa is down: the AP moves to another site's switch, no webhook arrives.
    fake.move_ap(&ap, SITE_B, &sw2(), "ge-0/0/5");
    let report = reconcile(&mesa).await;
    assert_eq!(report.planned.len(), 1, "{report:?}");
    assert_eq!(report.planned[0].kind, EventKind::ApRestarted);
    assert_eq!(
        rows(&report),
        vec![
            (
                "sw1".into(),
                "ge-0/0/1".into(),
                Some(Profile::Ap),
                Profile::Secured
            ),
            ("sw2".into(), "ge-0/0/5".into(), None, Profile::Ap),
        ]
    );
    assert_eq!(report.counts.moved, 1);
    assert_eq!(report.outcomes.get("applied"), Some(&1), "{report:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/1"), Some(Profile::Secured));
    assert_eq!(mesa.profile("sw2", "ge-0/0/5"), Some(Profile::Ap));
    let stored = mesa.app.store.ap(&ap).await.unwrap().unwrap();
    assert_eq!(
        (stored.switch_name.as_str(), stored.site_id.as_str()),
        ("sw2", SITE_B)
    );

    let again = reconcile(&mesa).await;
    assert!(again.planned.is_empty(), "{again:?}");
}

#[tokio::test]
async fn site_outage_is_not_reverted_by_reconcile() {
    let fake = FakeMist::start().await;
    world(&fake);
    let aps: Vec<Mac> = (0..6).map(|i| mac(&format!("5c5b3501{i:04}"))).collect();
    for (i, ap) in aps.iter().enumerate() {
        fake.plug_ap(ap, &sw1(), &format!("ge-0/0/{i}"));
    }
    let mesa = start_with_mist(&fake, |c| {
        c.reconcile.revert_after = mesa::config::Duration::from_secs(1);
    })
    .await;
    let first = reconcile(&mesa).await;
    assert_eq!(first.outcomes.get("applied"), Some(&6), "{first:?}");

    // The site's WAN is cut half a minute ago: every AP disconnected, all still plugged in.
    // That is past revert_after (1 s) but within the outage window (5 min).
    fake.site_outage(SITE);
    for ap in &aps {
        fake.set_ap_status(ap, ApStatus::Disconnected, now() - 30.0);
    }
    let report = reconcile(&mesa).await;
    assert_eq!(report.counts.secured, 6, "{report:?}");
    assert_eq!(report.outcomes.get("skipped"), Some(&6), "{report:?}");
    let decisions = decisions_of(&mesa, &report).await;
    assert_eq!(decisions.len(), 6);
    for d in &decisions {
        assert_eq!(d.event.source, Source::Reconcile);
        assert!(
            matches!(&d.outcome, mesa::model::Outcome::Skipped { guard, .. } if guard == "site-outage"),
            "{:?}",
            d.outcome
        );
    }
    for i in 0..6 {
        assert_eq!(
            mesa.backend.profile("sw1", &port(&format!("ge-0/0/{i}"))),
            Some(Profile::Ap)
        );
    }
    // One read of the site's APs and one of its switches served the six outage checks.
    assert_eq!(
        fake.call_count(&format!("/api/v1/sites/{SITE}/stats/devices")),
        2,
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn dry_run_changes_nothing_and_lists_the_plan() {
    let fake = FakeMist::start().await;
    world(&fake);
    let gone = mac("5c5b35000010");
    let fresh = mac("5c5b35000011");
    let moved = mac("5c5b35000012");
    fake.plug_ap(&gone, &sw1(), "ge-0/0/10");
    fake.plug_ap(&moved, &sw1(), "ge-0/0/12");
    let mesa = start_with_mist(&fake, |_| {}).await;
    reconcile(&mesa).await;

    fake.unplug_ap(&gone);
    fake.set_ap_status(&gone, ApStatus::Disconnected, now() - 7200.0);
    fake.plug_ap(&fresh, &sw1(), "ge-0/0/11");
    fake.move_ap(&moved, SITE_B, &sw2(), "ge-0/0/2");

    let journal_before = mesa.app.store.journal_counts().await.unwrap();
    let ports_before = mesa.app.store.ports().await.unwrap();
    let batches_before = mesa.backend.batches().len();
    let decisions_before = mesa.app.store.recent_decisions(100).await.unwrap().len();

    let report = dry_run(&mesa).await;
    assert!(report.dry_run);
    assert_eq!(report.submitted, 0);
    assert!(report.event_ids.is_empty());
    let mut planned = rows(&report);
    planned.sort_by_key(|r| (r.0.clone(), r.1.clone()));
    assert_eq!(
        planned,
        vec![
            (
                "sw1".into(),
                "ge-0/0/10".into(),
                Some(Profile::Ap),
                Profile::Secured
            ),
            ("sw1".into(), "ge-0/0/11".into(), None, Profile::Ap),
            (
                "sw1".into(),
                "ge-0/0/12".into(),
                Some(Profile::Ap),
                Profile::Secured
            ),
            ("sw2".into(), "ge-0/0/2".into(), None, Profile::Ap),
        ]
    );
    // The dry run read the AP stats only: no switch search, nothing for the engine.
    assert_eq!(report.mist_calls, 1, "{:?}", fake.calls());

    assert_eq!(
        mesa.app.store.journal_counts().await.unwrap(),
        journal_before
    );
    assert_eq!(mesa.app.store.ports().await.unwrap(), ports_before);
    assert_eq!(mesa.backend.batches().len(), batches_before);
    assert_eq!(
        mesa.app.store.recent_decisions(100).await.unwrap().len(),
        decisions_before
    );

    let table = report.to_table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("4 port change(s) planned"), "{table}");
    assert!(lines[1].starts_with("SITE"), "{table}");
    assert!(lines[1].contains("CURRENT → TARGET") && lines[1].contains("WHY"));
    let line_of = |port: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!(" {port} ")))
            .unwrap_or_else(|| panic!("no row for {port}:\n{table}"))
            .to_string()
    };
    assert!(line_of("ge-0/0/10").contains("ap → secured"), "{table}");
    assert!(
        line_of("ge-0/0/10").contains("AP disconnected for 2h"),
        "{table}"
    );
    assert!(line_of("ge-0/0/11").contains("unknown → ap"), "{table}");
    assert!(line_of("ge-0/0/2").contains("AP moved here from sw1 ge-0/0/12"));
    assert!(table.contains("dry run: nothing changed"), "{table}");

    // A real run then does exactly that.
    let real = reconcile(&mesa).await;
    let mut done = rows(&real);
    done.sort_by_key(|r| (r.0.clone(), r.1.clone()));
    assert_eq!(done, planned);
    assert_eq!(real.outcomes.get("applied"), Some(&3), "{real:?}");
}

#[tokio::test]
async fn adopt_records_without_touching_ports() {
    let fake = FakeMist::start().await;
    world(&fake);
    let aps: Vec<Mac> = (0..3).map(|i| mac(&format!("5c5b3502{i:04}"))).collect();
    for (i, ap) in aps.iter().enumerate() {
        fake.plug_ap(ap, &sw1(), &format!("ge-0/0/{}", 20 + i));
    }
    // Day one: mesa has never seen these ports, and only_revert_managed is on (default).
    let mesa = start_with_mist(&fake, |_| {}).await;
    assert!(mesa.app.config.guards.only_revert_managed);

    let preview = reconcile_with(
        &mesa,
        ReconcileOptions {
            adopt: true,
            dry_run: true,
            ..options()
        },
    )
    .await;
    assert_eq!(preview.adopted.len(), 3);
    assert!(mesa.app.store.ports().await.unwrap().is_empty());

    let report = reconcile_with(
        &mesa,
        ReconcileOptions {
            adopt: true,
            ..options()
        },
    )
    .await;
    assert_eq!(report.adopted.len(), 3, "{report:?}");
    assert!(report.planned.is_empty());
    assert_eq!(report.submitted, 0);
    assert!(mesa.backend.batches().is_empty(), "adoption touched a port");
    let table = report.to_table();
    assert!(table.starts_with("3 port(s) adopted:"), "{table}");
    assert!(table.contains("ge-0/0/21"), "{table}");
    let ports = mesa.app.store.ports().await.unwrap();
    assert_eq!(ports.len(), 3);
    for p in &ports {
        assert!(
            p.managed && p.profile == Profile::Ap && p.ap_mac.is_some(),
            "{p:?}"
        );
    }
    let record = mesa.app.store.ap(&aps[0]).await.unwrap().unwrap();
    assert_eq!(record.switch_mac, Some(sw1()));

    // Adopted ports are in place...
    let steady = reconcile(&mesa).await;
    assert!(steady.planned.is_empty(), "{steady:?}");
    assert_eq!(steady.counts.in_place, 3);
    // ...and revertable from day one.
    fake.unplug_ap(&aps[1]);
    fake.set_ap_status(&aps[1], ApStatus::Disconnected, now() - 7200.0);
    let revert = reconcile(&mesa).await;
    assert_eq!(revert.outcomes.get("applied"), Some(&1), "{revert:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/21"), Some(Profile::Secured));
}

#[tokio::test]
async fn second_run_plans_nothing() {
    let fake = FakeMist::start().await;
    world(&fake);
    for i in 0..8u32 {
        let ap = mac(&format!("5c5b3503{i:04}"));
        let (sw, site_port) = if i % 2 == 0 { (sw1(), i) } else { (sw2(), i) };
        fake.plug_ap(&ap, &sw, &format!("ge-0/0/{site_port}"));
    }
    let mesa = start_with_mist(&fake, |_| {}).await;
    let first = reconcile(&mesa).await;
    assert_eq!(first.outcomes.get("applied"), Some(&8), "{first:?}");
    assert_eq!(first.counts.sites, 2);

    fake.clear_calls();
    let batches = mesa.backend.batches().len();
    let second = reconcile(&mesa).await;
    assert!(second.planned.is_empty(), "{second:?}");
    assert_eq!(second.submitted, 0);
    assert_eq!(second.counts.in_place, 8);
    assert_eq!(mesa.backend.batches().len(), batches);
    // A converged org costs one paged read.
    assert_eq!(second.mist_calls, 1, "{:?}", fake.calls());
}

#[tokio::test]
async fn scoped_to_one_site() {
    let fake = FakeMist::start().await;
    world(&fake);
    let a = mac("5c5b35000041");
    let b = mac("5c5b35000042");
    fake.plug_ap(&a, &sw1(), "ge-0/0/1");
    fake.plug_ap(&b, &sw2(), "ge-0/0/1");
    let mesa = start_with_mist(&fake, |_| {}).await;
    let report = reconcile_with(
        &mesa,
        ReconcileOptions {
            site: Some(SITE_B.into()),
            ..options()
        },
    )
    .await;
    assert_eq!(
        rows(&report),
        vec![("sw2".into(), "ge-0/0/1".into(), None, Profile::Ap)]
    );
    assert_eq!(report.scope, format!("site {SITE_B}"));
    assert!(fake
        .calls()
        .iter()
        .any(|c| c.path.ends_with("/stats/devices") && c.query.contains(SITE_B)));
    assert_eq!(mesa.profile("sw1", "ge-0/0/1"), None);
}

#[tokio::test]
async fn an_event_in_flight_is_left_to_the_webhook_pipeline() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000051");
    fake.plug_ap(&ap, &sw1(), "ge-0/0/7");
    // The webhook's event waits out its lookup delay while the reconcile runs.
    let mesa = start_with_mist(&fake, |c| {
        c.mist.lookup_delay = mesa::config::Duration::from_secs(2);
    })
    .await;
    let r = mesa
        .post_signed(&device_event(
            "AP_CONNECTED",
            ap.as_str(),
            SITE,
            1_700_000_050,
        ))
        .await;
    assert_eq!(r.status(), 200);
    let report = reconcile_with(
        &mesa,
        ReconcileOptions {
            wait: false,
            ..options()
        },
    )
    .await;
    assert!(report.planned.is_empty(), "{report:?}");
    assert_eq!(report.counts.busy, 1);
    let d = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_eq!(d.event.source, Source::Webhook);
    assert_eq!(d.outcome.label(), "applied");
}

#[tokio::test]
async fn serve_reconciles_periodically() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000061");
    fake.plug_ap(&ap, &sw1(), "ge-0/0/30");
    let mesa = start_with_mist(&fake, |c| {
        c.reconcile.enabled = true;
        c.reconcile.interval = mesa::config::Duration::from_secs(1);
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mesa.profile("sw1", "ge-0/0/30") != Some(Profile::Ap) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no periodic reconcile within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mesa.idle().await;
    let d = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_eq!(d.event.source, Source::Reconcile);
}

/// `mesa reconcile --dry-run` through the binary, against the fake Mist.
#[tokio::test]
async fn cli_prints_the_plan_as_a_table_and_json() {
    let fake = FakeMist::start().await;
    world(&fake);
    fake.plug_ap(&mac("5c5b35000071"), &sw1(), "ge-0/0/9");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = {:?}\n[mist]\napi_url = {:?}\napi_token = {:?}\norg_id = {:?}\n",
            dir.path().join("data").display().to_string(),
            fake.url(),
            fake.token(),
            fake.org_id()
        ),
    )
    .unwrap();
    let run = |args: &'static [&'static str]| {
        let config = config.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_mesa"))
                .arg("--config")
                .arg(&config)
                .arg("reconcile")
                .args(args)
                .env_remove("MESA_CONFIG")
                .output()
                .await
                .expect("mesa runs")
        }
    };
    let out = run(&["--dry-run"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("1 port change(s) planned"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.contains("ge-0/0/9"))
        .unwrap_or_else(|| panic!("{stdout}"));
    for part in [
        SITE,
        "sw1",
        "5c:5b:35:00:00:71",
        "unknown → ap",
        "AP connected here",
    ] {
        assert!(row.contains(part), "{part} missing in {row}");
    }

    let out = run(&["--dry-run", "--json"]).await;
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["planned"][0]["kind"], "AP_CONNECTED");
    assert_eq!(json["planned"][0]["actions"][0]["port"], "ge-0/0/9");
    assert_eq!(json["planned"][0]["actions"][0]["target"], "ap");
    assert_eq!(json["submitted"], 0);
}

/// The data of a reconcile event is current: the lookup and disconnect delays that let a
/// webhook event settle do not apply (they are a minute here; the test allows 15 s).
#[tokio::test]
async fn reconcile_events_skip_the_settle_delays() {
    let fake = FakeMist::start().await;
    world(&fake);
    let a = mac("5c5b35000081");
    let b = mac("5c5b35000082");
    fake.plug_ap(&a, &sw1(), "ge-0/0/1");
    fake.plug_ap(&b, &sw1(), "ge-0/0/2");
    let mesa = start_with_mist(&fake, |c| {
        c.mist.lookup_delay = mesa::config::Duration::from_secs(60);
        c.guards.disconnect_delay = mesa::config::Duration::from_secs(60);
    })
    .await;
    let fast = |opts: ReconcileOptions| {
        let mesa = &mesa;
        async move {
            tokio::time::timeout(Duration::from_secs(15), reconcile::run(&mesa.app, &opts))
                .await
                .expect("no settle delay for reconcile events")
                .expect("reconcile runs")
        }
    };
    let first = fast(options()).await;
    assert_eq!(first.outcomes.get("applied"), Some(&2), "{first:?}");

    fake.move_ap(&a, SITE_B, &sw2(), "ge-0/0/4");
    fake.unplug_ap(&b);
    fake.set_ap_status(&b, ApStatus::Disconnected, now() - 7200.0);
    let second = fast(options()).await;
    let kinds: HashSet<EventKind> = second.planned.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        HashSet::from([EventKind::ApRestarted, EventKind::ApDisconnected])
    );
    assert_eq!(second.outcomes.get("applied"), Some(&2), "{second:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/1"), Some(Profile::Secured));
    assert_eq!(mesa.profile("sw1", "ge-0/0/2"), Some(Profile::Secured));
    assert_eq!(mesa.profile("sw2", "ge-0/0/4"), Some(Profile::Ap));
}

/// A switch is its MAC: LLDP says `sw1.campus.example` where Mist says `sw1`. An AP set up by
/// reconcile (Mist's name) that restarts on the same port (webhook: LLDP's name) has not
/// moved: no revert, no re-set. The next reconcile finds it in place.
#[tokio::test]
async fn fqdn_from_lldp_and_short_name_from_mist_are_one_switch() {
    let fake = FakeMist::start().await;
    world(&fake);
    let ap = mac("5c5b35000031");
    fake.plug_ap(&ap, &sw1(), "ge-0/0/31");
    fake.set_ap_lldp(
        &ap,
        Some(mesa::sim::mist::Lldp {
            system_name: "sw1.campus.example".into(),
            port_id: "ge-0/0/31".into(),
            port_desc: "ge-0/0/31.0".into(),
            mgmt_addr: Some("10.0.0.11".into()),
        }),
    );
    let mesa = start_with_mist(&fake, |_| {}).await;
    let report = reconcile(&mesa).await;
    assert_eq!(report.outcomes.get("applied"), Some(&1), "{report:?}");
    let batches = mesa.backend.batches().len();

    let r = mesa
        .post_signed(&device_event(
            "AP_RESTARTED",
            ap.as_str(),
            SITE,
            now() as i64,
        ))
        .await;
    assert_eq!(r.status(), 200);
    mesa.idle().await;
    let d = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_eq!(d.event.kind, EventKind::ApRestarted);
    assert_eq!(d.outcome.label(), "already-in-place", "{d:#?}");
    assert_eq!(mesa.backend.batches().len(), batches, "nothing sent");
    assert!(mesa.never_reverted());

    let again = reconcile(&mesa).await;
    assert!(again.planned.is_empty(), "{again:?}");
    assert_eq!(again.counts.in_place, 1);
}

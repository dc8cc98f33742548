//! Ingest from the Mist WebSocket stream, end to end over real sockets on loopback: the fake
//! stream (`mesa::sim::mist_ws`, frames as Juniper documents them), the fake Mist REST API
//! (shapes from `mist.openapi.json`), mesa in-process with the dry-run backend. No webhook
//! is sent unless a test says so.

mod support;

use std::time::Duration;

use mesa::config::{Duration as CfgDuration, IngestMode};
use mesa::model::{Decision, EventKind, Mac, Outcome, Profile, Source};
use mesa::sim::mist::{ApStatus, FakeMist};
use mesa::sim::mist_ws::{site_channel, FakeMistStream};
use support::mesa::{device_event, start_with_mist, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const SITE_B: &str = "4ac1dcf4-9d8b-7211-65c4-057819f0862b";
const WAIT: Duration = Duration::from_secs(20);

fn mac(s: &str) -> Mac {
    Mac::parse(s).unwrap()
}

fn sw1() -> Mac {
    mac("d420b0000001")
}

fn ap(i: u8) -> Mac {
    mac(&format!("5c5b350000{i:02x}"))
}

fn port_of(i: u8) -> String {
    format!("ge-0/0/{}", 10 + i)
}

struct World {
    mist: FakeMist,
    ws: FakeMistStream,
    mesa: TestMesa,
}

/// Sites HQ (switch `sw1`) and B; mesa in stream mode with short timings.
async fn world(mode: IngestMode, tweak: impl FnOnce(&mut mesa::config::Config)) -> World {
    let mist = FakeMist::start().await;
    mist.add_site(SITE, "HQ");
    mist.add_site(SITE_B, "B");
    mist.add_switch(&sw1(), "sw1", SITE, "10.0.0.11");
    let ws = FakeMistStream::start_for(&mist).await.expect("fake stream");
    let url = ws.url();
    let mesa = start_with_mist(&mist, |c| {
        c.ingest.mode = mode;
        let s = &mut c.ingest.stream;
        s.url = url;
        s.silence = CfgDuration::from_millis(400);
        s.ping_interval = CfgDuration::from_secs(1);
        s.reconnect_min = CfgDuration::from_millis(50);
        s.reconnect_max = CfgDuration::from_millis(200);
        s.rate_limited_wait = CfgDuration::from_millis(300);
        tweak(c);
    })
    .await;
    let w = World { mist, ws, mesa };
    for site in [SITE, SITE_B] {
        assert!(
            w.ws.wait_subscribed(&site_channel(site), WAIT).await,
            "mesa subscribes {site}"
        );
    }
    w
}

/// Polls `check` every 20 ms until it holds; panics with `what` after [`WAIT`].
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn decisions(mesa: &TestMesa) -> Vec<Decision> {
    mesa.app.store.recent_decisions(1000).await.unwrap()
}

async fn decisions_of(mesa: &TestMesa, ap: &Mac, kind: EventKind) -> Vec<Decision> {
    decisions(mesa)
        .await
        .into_iter()
        .filter(|d| &d.event.ap_mac == ap && d.event.kind == kind && !d.will_retry)
        .collect()
}

fn metric(mesa: &TestMesa, line_start: &str) -> f64 {
    mesa.app
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Plugs APs `ids` into sw1 and lets the stream report them until their ports are AP ports.
async fn plug_and_stream(w: &World, ids: &[u8]) {
    for &i in ids {
        w.mist.plug_ap(&ap(i), &sw1(), &port_of(i));
    }
    w.ws.publish_ap_stats(&w.mist);
    for &i in ids {
        until(&format!("AP {i} gets its AP port"), || async move {
            w.mesa.profile("sw1", &port_of(i)) == Some(Profile::Ap)
        })
        .await;
    }
    w.mesa.idle().await;
}

#[tokio::test]
async fn an_ap_seen_with_lldp_gets_its_port_without_any_webhook() {
    let w = &world(IngestMode::Stream, |_| {}).await;
    plug_and_stream(w, &[1]).await;

    let connects = decisions_of(&w.mesa, &ap(1), EventKind::ApConnected).await;
    assert_eq!(connects.len(), 1);
    assert_eq!(connects[0].event.source, Source::Stream);
    assert_eq!(connects[0].outcome, Outcome::Applied);
    assert!(
        connects[0].event.timestamp.millis() > 0,
        "the event carries Mist's time of the report"
    );
    // The LLDP data of the message served the lookup: no AP search in Mist.
    assert_eq!(
        w.mist
            .call_count(&format!("/api/v1/sites/{SITE}/devices/search")),
        0
    );

    // Later reports of the same port (full, partial, data as an object) change nothing.
    w.ws.publish_ap_stats(&w.mist);
    w.ws.publish_partial(SITE, ap(1).as_str(), mesa::sim::mist::now());
    w.ws.publish(
        &site_channel(SITE),
        serde_json::json!({"mac": ap(1).as_str(), "type": "ap", "last_seen": mesa::sim::mist::now()}),
        false,
    );
    until("the stream's data frames are counted", || async move {
        metric(&w.mesa, "mesa_stream_messages_total{kind=\"data\"}") >= 4.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.mesa.idle().await;
    assert_eq!(decisions(&w.mesa).await.len(), 1);

    // The webhook route is not served in stream mode.
    let body = device_event("AP_CONNECTED", ap(1).as_str(), SITE, 1);
    assert_eq!(w.mesa.post_signed(&body).await.status(), 404);
}

#[tokio::test]
async fn a_silent_ap_is_reverted_only_after_mist_confirms_and_through_the_guards() {
    let w = &world(IngestMode::Stream, |_| {}).await;
    plug_and_stream(w, &[1, 2, 3, 4]).await;
    let others = |a: &mesa::sim::mist::FakeAp| a.status == ApStatus::Connected && a.mac != ap(1);

    // AP 1 stops reporting while Mist still calls it connected: nothing happens.
    until(
        "a silence check finds AP 1 still connected",
        || async move {
            w.ws.publish_ap_stats_where(&w.mist, others);
            metric(
                &w.mesa,
                "mesa_stream_silence_checks_total{result=\"connected\"}",
            ) >= 1.0
        },
    )
    .await;
    w.mesa.idle().await;
    assert!(decisions_of(&w.mesa, &ap(1), EventKind::ApDisconnected)
        .await
        .is_empty());
    assert_eq!(w.mesa.profile("sw1", &port_of(1)), Some(Profile::Ap));

    // Unplugged: Mist says disconnected, the port went down; the guards let it through.
    w.mist.unplug_ap(&ap(1));
    until("AP 1's port is secured", || async move {
        w.ws.publish_ap_stats_where(&w.mist, others);
        w.mesa.profile("sw1", &port_of(1)) == Some(Profile::Secured)
    })
    .await;
    w.mesa.idle().await;
    let reverts = decisions_of(&w.mesa, &ap(1), EventKind::ApDisconnected).await;
    assert_eq!(reverts.len(), 1);
    let revert = &reverts[0];
    assert_eq!(revert.event.source, Source::Stream);
    assert_eq!(revert.outcome, Outcome::Applied);
    let guards: Vec<&str> = revert.verdicts.iter().map(|v| v.guard.as_str()).collect();
    assert!(
        guards.contains(&"site-outage"),
        "outage guard asked: {guards:?}"
    );
    for i in 2..=4 {
        assert_eq!(w.mesa.profile("sw1", &port_of(i)), Some(Profile::Ap));
    }

    // Plugged back in: the stream sees it on its port again and restores the AP profile.
    w.mist.plug_ap(&ap(1), &sw1(), &port_of(1));
    until("AP 1's port is an AP port again", || async move {
        w.ws.publish_ap_stats(&w.mist);
        w.mesa.profile("sw1", &port_of(1)) == Some(Profile::Ap)
    })
    .await;
}

#[tokio::test]
async fn a_site_going_silent_at_once_changes_nothing() {
    let w = &world(IngestMode::Stream, |_| {}).await;
    let ids = [1, 2, 3, 4];
    plug_and_stream(w, &ids).await;

    // The WAN is cut: every AP loses the cloud (and stops reporting), all stay plugged in.
    w.mist.site_outage(SITE);
    for &i in &ids {
        until(&format!("AP {i}'s disconnect is decided"), || async move {
            !decisions_of(&w.mesa, &ap(i), EventKind::ApDisconnected)
                .await
                .is_empty()
        })
        .await;
    }
    w.mesa.idle().await;
    for &i in &ids {
        let decided = decisions_of(&w.mesa, &ap(i), EventKind::ApDisconnected).await;
        assert_eq!(decided.len(), 1);
        assert!(
            matches!(&decided[0].outcome, Outcome::Skipped { guard, .. } if guard == "site-outage"),
            "AP {i}: {:?}",
            decided[0].outcome
        );
        assert_eq!(w.mesa.profile("sw1", &port_of(i)), Some(Profile::Ap));
    }
    assert!(w.mesa.never_reverted());

    // The WAN is back: the APs report on the same ports again, nothing to do.
    for &i in &ids {
        w.mist
            .set_ap_status(&ap(i), ApStatus::Connected, mesa::sim::mist::now());
    }
    w.ws.publish_ap_stats(&w.mist);
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.mesa.idle().await;
    // An AP reporting while its held disconnect waits for its re-check in the journal gets a
    // connect that voids the re-check and keeps the AP profile (the dry-run backend reports
    // every write as a change).
    for &i in &ids {
        let connects = decisions_of(&w.mesa, &ap(i), EventKind::ApConnected).await;
        assert!(!connects.is_empty(), "AP {i}: its first connect");
        for later in &connects[1..] {
            assert!(
                matches!(later.outcome, Outcome::Applied | Outcome::AlreadyInPlace),
                "AP {i}: {:?}",
                later.outcome
            );
        }
        assert_eq!(w.mesa.profile("sw1", &port_of(i)), Some(Profile::Ap));
    }
    assert!(w.mesa.never_reverted());
}

#[tokio::test]
async fn a_connection_dropped_mid_rollout_loses_nothing() {
    let w = &world(IngestMode::Stream, |_| {}).await;
    plug_and_stream(w, &[1, 2, 3]).await;

    // The connection drops (and the first reconnect is refused with 429) while more APs
    // are plugged in: their stats are sent to nobody.
    w.ws.fail_next_handshakes_with_429(1);
    let handshakes = w.ws.handshakes();
    w.ws.drop_connections();
    for i in 4..=6 {
        w.mist.plug_ap(&ap(i), &sw1(), &port_of(i));
    }
    assert_eq!(
        w.ws.publish_ap_stats(&w.mist),
        0,
        "nobody listens during the gap"
    );

    // No stats are sent after the reconnect: only the catch-up can find them.
    for i in 4..=6 {
        until(
            &format!("AP {i} gets its AP port after the gap"),
            || async move { w.mesa.profile("sw1", &port_of(i)) == Some(Profile::Ap) },
        )
        .await;
    }
    w.mesa.idle().await;
    for i in 4..=6 {
        let connects = decisions_of(&w.mesa, &ap(i), EventKind::ApConnected).await;
        assert_eq!(connects.len(), 1);
        assert_eq!(connects[0].event.source, Source::Reconcile);
    }
    assert!(
        w.ws.handshakes() >= handshakes + 2,
        "refused with 429, then accepted"
    );
    assert!(metric(&w.mesa, "mesa_stream_reconnects_total") >= 2.0);
    assert!(metric(&w.mesa, "mesa_stream_gap_seconds_total") > 0.0);
    assert!(metric(&w.mesa, "mesa_stream_catchups_total") >= 1.0);
    assert!(w.mesa.never_reverted());
}

#[tokio::test]
async fn the_same_change_from_webhook_and_stream_is_decided_once() {
    let w = &world(IngestMode::Both, |_| {}).await;

    // Connect: the webhook first, then the stream reports the AP on the same port.
    w.mist.plug_ap(&ap(1), &sw1(), &port_of(1));
    let ts = mesa::sim::mist::now() as i64;
    let body = device_event("AP_CONNECTED", ap(1).as_str(), SITE, ts);
    assert!(w.mesa.post_signed(&body).await.status().is_success());
    w.mesa.idle().await;
    assert_eq!(w.mesa.profile("sw1", &port_of(1)), Some(Profile::Ap));
    let data_before = metric(&w.mesa, "mesa_stream_messages_total{kind=\"data\"}");
    w.ws.publish_ap_stats(&w.mist);
    w.ws.publish_ap_stats(&w.mist);
    until("the stream's reports arrived", || async move {
        metric(&w.mesa, "mesa_stream_messages_total{kind=\"data\"}") >= data_before + 2.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.mesa.idle().await;
    let connects = decisions_of(&w.mesa, &ap(1), EventKind::ApConnected).await;
    assert_eq!(connects.len(), 1, "{connects:#?}");
    assert_eq!(connects[0].event.source, Source::Webhook);

    // Disconnect: the webhook first, then the stream's silence check finds the same.
    w.mist.unplug_ap(&ap(1));
    let body = device_event(
        "AP_DISCONNECTED",
        ap(1).as_str(),
        SITE,
        mesa::sim::mist::now() as i64,
    );
    assert!(w.mesa.post_signed(&body).await.status().is_success());
    w.mesa.idle().await;
    assert_eq!(w.mesa.profile("sw1", &port_of(1)), Some(Profile::Secured));
    until("the stream confirmed AP 1 disconnected", || async move {
        metric(
            &w.mesa,
            "mesa_stream_silence_checks_total{result=\"disconnected\"}",
        ) >= 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.mesa.idle().await;
    let reverts = decisions_of(&w.mesa, &ap(1), EventKind::ApDisconnected).await;
    assert_eq!(reverts.len(), 1, "{reverts:#?}");
    assert_eq!(reverts[0].event.source, Source::Webhook);
}

#[tokio::test]
async fn subscriptions_are_spread_refusals_tolerated_and_readiness_reported() {
    let extra: Vec<String> = (0..3)
        .map(|i| format!("00000000-0000-0000-0000-00000000000{i}"))
        .collect();
    let mist = FakeMist::start().await;
    mist.add_site(SITE, "HQ");
    mist.add_site(SITE_B, "B");
    for site in &extra {
        mist.add_site(site, "extra");
    }
    let ws = FakeMistStream::start_for(&mist).await.expect("fake stream");
    ws.fail_subscribe(&site_channel(&extra[2]), "no privilege on this site");
    ws.fail_next_handshakes_with_429(3);
    let url = ws.url();
    let mesa = start_with_mist(&mist, |c| {
        c.ingest.mode = IngestMode::Stream;
        c.ingest.stream.url = url;
        c.ingest.stream.channels_per_connection = 2;
        // Long enough that the first /readyz below surely comes before the retry.
        c.ingest.stream.rate_limited_wait = CfgDuration::from_secs(3);
        c.ingest.stream.reconnect_min = CfgDuration::from_millis(50);
    })
    .await;
    let mesa = &mesa;
    let ws = &ws;
    let readyz = || async move {
        let r = mesa.http.get(mesa.url("/readyz")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "not connected yet: {body}");
    assert!(body.contains("Mist stream"), "{body}");

    until("no longer held by the stream", || async move {
        !readyz().await.1.contains("Mist stream")
    })
    .await;
    until("four channels subscribed", || async move {
        metric(mesa, "mesa_stream_channels ") == 4.0
    })
    .await;
    // Five sites in id order, two per connection; the refused one leaves its neighbour alone.
    assert_eq!(ws.channels_per_connection(), vec![1, 1, 2]);
    assert!(!ws.is_subscribed(&site_channel(&extra[2])));
    assert_eq!(
        metric(
            mesa,
            "mesa_stream_messages_total{kind=\"subscribe_failed\"}"
        ),
        1.0
    );
    assert_eq!(metric(mesa, "mesa_stream_connections "), 3.0);
    assert!(
        ws.handshakes() >= 6,
        "three refused with 429, three accepted"
    );

    // Frames mesa cannot use are counted and change nothing.
    ws.publish(&site_channel(SITE), serde_json::json!("{not json"), false);
    ws.publish(
        &site_channel(SITE),
        serde_json::json!({"mac": "d420b0000001", "type": "switch"}),
        true,
    );
    until("the undecodable frame is counted", || async move {
        metric(mesa, "mesa_stream_messages_total{kind=\"undecodable\"}") >= 1.0
    })
    .await;
    assert!(decisions(mesa).await.is_empty());
}

#[tokio::test]
async fn stream_configuration_is_checked_before_start() {
    let toml = |extra: &str| {
        format!("[mist]\napi_token = \"t\"\norg_id = \"o\"\n[ingest]\nmode = \"stream\"\n{extra}")
    };
    let load =
        |text: &str| mesa::config::Config::from_toml(text, std::path::Path::new("mesa.toml"));
    assert!(load(&toml("")).is_ok());
    let e = load("[ingest]\nmode = \"stream\"\n").unwrap_err();
    assert_eq!(e.first().key, "mist.api_token");
    let e = load("[mist]\napi_token = \"t\"\n[ingest]\nmode = \"both\"\n").unwrap_err();
    assert_eq!(e.first().key, "mist.org_id");
    let e = load(&toml("[ingest.stream]\nurl = \"https://api.mist.com\"\n")).unwrap_err();
    assert_eq!(e.first().key, "ingest.stream.url");
    let e = load(&toml("[ingest.stream]\nchannels_per_connection = 0\n")).unwrap_err();
    assert_eq!(e.first().key, "ingest.stream.channels_per_connection");
    let e = load(&toml("[ingest.stream]\nsilence = \"0s\"\n")).unwrap_err();
    assert_eq!(e.first().key, "ingest.stream.silence");
    let e = load("[ingest]\nmode = \"carrier-pigeon\"\n").unwrap_err();
    assert_eq!(e.first().key, "ingest.mode");
}

/// `mesa.sh init --ingest stream`: a config that passes `check-config` in stream mode, and
/// nothing of the webhook's public face (no reverse proxy, no certificate, no webhook body).
#[test]
fn init_for_the_stream_writes_no_public_face() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sandbox = tempfile::tempdir().unwrap();
    let dir = sandbox.path().join("mesa");
    // init checks for Docker Compose v2 first: a stub answers for it.
    let bin = sandbox.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("docker"),
        "#!/bin/sh\n[ \"$*\" = \"compose version --short\" ] && echo 2.29.1\nexit 0\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(bin.join("docker"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg(root.join("mesa.sh"))
        .args([
            "init", "--yes", "--ingest", "stream", "--org-id", "org-1", "--dir",
        ])
        .arg(&dir)
        .env("MIST_API_TOKEN", "stream-token")
        .env("PATH", &path)
        .env("MESA_EXAMPLE_CONFIG", root.join("config.example.toml"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Mist WebSocket stream"), "{stdout}");
    for absent in ["nginx", "certs", "mist-webhook.json"] {
        assert!(
            !dir.join(absent).exists(),
            "{absent} written in stream mode"
        );
    }
    // check-config with the secrets init put in .env.
    let env_text = std::fs::read_to_string(dir.join(".env")).unwrap();
    let mut check = std::process::Command::new(env!("CARGO_BIN_EXE_mesa"));
    check
        .args(["check-config", "--config"])
        .arg(dir.join("config.toml"));
    for line in env_text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((key, value)) = line.split_once('=') {
            check.env(key, value.trim_matches('\''));
        }
    }
    let out = check.output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("mode = \"stream\""), "{shown}");
}

/// `mesa demo --stream` tells the story without a webhook: connect, confirmed disconnect,
/// a WAN cut held, an AP plugged in while the connection was down.
#[test]
fn demo_stream_plays_the_scenario() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesa"))
        .args(["demo", "--stream"])
        .env("MESA_LOG", "warn")
        .env_remove("MESA_CONFIG")
        .output()
        .expect("mesa demo --stream runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no webhook is sent"));
    assert!(stdout.contains("via stream"));
    assert!(stdout.contains("AP_DISCONNECTED 5c:5b:35:00:00:01"));
    assert!(stdout
        .contains("set protocols dot1x authenticator interface ge-0/0/12 mac-radius restrict"));
    assert_eq!(
        stdout.matches("skipped by site-outage").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("sw-hq-01       ge-0/0/30   ap"), "{stdout}");
}

#[tokio::test]
async fn an_ap_reporting_again_before_its_disconnect_is_acted_on_keeps_its_port() {
    let w = &world(IngestMode::Stream, |c| {
        c.guards.disconnect_delay = CfgDuration::from_secs(3);
    })
    .await;
    plug_and_stream(w, &[1, 2, 3, 4]).await;
    let others = |a: &mesa::sim::mist::FakeAp| a.status == ApStatus::Connected && a.mac != ap(1);

    // A short power cut: Mist marks AP 1 disconnected, its silence is confirmed, the
    // disconnect waits out `guards.disconnect_delay` in the journal...
    w.mist
        .set_ap_status(&ap(1), ApStatus::Disconnected, mesa::sim::mist::now());
    until("AP 1's disconnect is journaled", || async move {
        w.ws.publish_ap_stats_where(&w.mist, others);
        w.mesa
            .app
            .store
            .journal_pending()
            .await
            .unwrap()
            .iter()
            .any(|e| e.event.ap_mac == ap(1) && e.event.kind == EventKind::ApDisconnected)
    })
    .await;
    // ...and the AP reports again on the same port before the delay is over.
    w.mist
        .set_ap_status(&ap(1), ApStatus::Connected, mesa::sim::mist::now());
    w.ws.publish_ap_stats(&w.mist);
    until("AP 1's disconnect is decided", || async move {
        !decisions_of(&w.mesa, &ap(1), EventKind::ApDisconnected)
            .await
            .is_empty()
    })
    .await;
    w.mesa.idle().await;
    let reverts = decisions_of(&w.mesa, &ap(1), EventKind::ApDisconnected).await;
    assert!(
        matches!(&reverts[0].outcome, Outcome::Skipped { guard, .. } if guard == "superseded"),
        "{:?}",
        reverts[0].outcome
    );
    assert_eq!(w.mesa.profile("sw1", &port_of(1)), Some(Profile::Ap));
    assert!(w.mesa.never_reverted());
}

#[tokio::test]
async fn a_chassis_mac_mist_does_not_know_falls_back_to_the_lldp_lookup() {
    let w = &world(IngestMode::Stream, |_| {}).await;
    w.mist.plug_ap(&ap(1), &sw1(), &port_of(1));
    // A Virtual Chassis may advertise a chassis MAC that is not the MAC Mist lists.
    w.ws.publish(
        &site_channel(SITE),
        serde_json::json!({
            "mac": ap(1).as_str(), "type": "ap", "model": "AP43", "name": "ap-1",
            "last_seen": mesa::sim::mist::now(),
            "lldp_stat": {"system_name": "sw1", "port_id": port_of(1), "port_desc": port_of(1),
                          "chassis_id": "d4:20:b0:ff:ff:ff"}
        }),
        true,
    );
    until("AP 1 gets its AP port", || async move {
        w.mesa.profile("sw1", &port_of(1)) == Some(Profile::Ap)
    })
    .await;
    w.mesa.idle().await;
    let connects = decisions_of(&w.mesa, &ap(1), EventKind::ApConnected).await;
    assert_eq!(connects.len(), 1);
    assert_eq!(connects[0].outcome, Outcome::Applied);
    assert_eq!(connects[0].event.known_port, None);
    assert!(
        connects[0]
            .lookups
            .iter()
            .any(|l| l.starts_with("LLDP: switch")),
        "{:?}",
        connects[0].lookups
    );
}

#[tokio::test]
async fn a_connection_that_goes_quiet_is_found_by_its_pings_and_replaced() {
    let w = &world(IngestMode::Stream, |c| {
        c.ingest.stream.ping_interval = CfgDuration::from_millis(200);
    })
    .await;
    let handshakes = w.ws.handshakes();
    w.ws.stall_connections();
    until("a new connection replaces the quiet one", || async move {
        w.ws.handshakes() > handshakes && w.ws.is_subscribed(&site_channel(SITE))
    })
    .await;
    assert!(metric(&w.mesa, "mesa_stream_reconnects_total") >= 1.0);
    plug_and_stream(w, &[1]).await;
}

/// mesa was down while an AP it had given a port was unplugged: the AP never reports again,
/// and the stream still finds it by its silence once the site is subscribed.
#[tokio::test]
async fn an_ap_gone_while_mesa_was_down_is_found_by_its_silence() {
    use mesa::store::{sqlite::SqliteStore, ApRecord, PortRecord, Store};

    let mist = FakeMist::start().await;
    mist.add_site(SITE, "HQ");
    mist.add_site(SITE_B, "B");
    mist.add_switch(&sw1(), "sw1", SITE, "10.0.0.11");
    for i in 1..=4 {
        mist.plug_ap(&ap(i), &sw1(), &port_of(i));
    }
    mist.unplug_ap(&ap(1));
    // What mesa remembered from before: AP 1 on its AP port.
    let data = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(data.path(), false).unwrap();
        let port = mesa::model::InterfaceName::parse(&port_of(1)).unwrap();
        let since = chrono::Utc::now();
        store
            .upsert_port(&PortRecord {
                switch_name: "sw1".into(),
                switch_mac: None,
                port: port.clone(),
                site_id: SITE.into(),
                profile: Profile::Ap,
                managed: true,
                ap_mac: Some(ap(1)),
                since,
                event_id: None,
            })
            .await
            .unwrap();
        store
            .upsert_ap(&ApRecord {
                mac: ap(1),
                name: None,
                site_id: SITE.into(),
                switch_name: "sw1".into(),
                switch_mac: Some(sw1()),
                port,
                last_event: "AP_CONNECTED".into(),
                last_seen: since,
            })
            .await
            .unwrap();
    }
    let ws = FakeMistStream::start_for(&mist).await.unwrap();
    let (url, path) = (ws.url(), data.path().to_path_buf());
    let mesa = &start_with_mist(&mist, |c| {
        c.server.data_dir = path;
        c.ingest.mode = IngestMode::Stream;
        c.ingest.stream.url = url;
        c.ingest.stream.silence = CfgDuration::from_millis(400);
    })
    .await;
    let (mist, ws) = (&mist, &ws);
    until("AP 1's port is secured", || async move {
        ws.publish_ap_stats(mist);
        mesa.profile("sw1", &port_of(1)) == Some(Profile::Secured)
    })
    .await;
    mesa.idle().await;
    let reverts = decisions_of(mesa, &ap(1), EventKind::ApDisconnected).await;
    assert_eq!(reverts.len(), 1);
    assert_eq!(reverts[0].event.source, Source::Stream);
}

/// A `wss://` endpoint goes through rustls: a peer that is not a TLS server makes the
/// handshake fail and the connection retry, it does not stop the stream.
#[tokio::test]
async fn a_failing_tls_handshake_is_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let mist = FakeMist::start().await;
    mist.add_site(SITE, "HQ");
    let mesa = &start_with_mist(&mist, |c| {
        c.ingest.mode = IngestMode::Stream;
        c.ingest.stream.url = format!("wss://{addr}/api-ws/v1/stream");
        c.ingest.stream.reconnect_min = CfgDuration::from_millis(20);
        c.ingest.stream.reconnect_max = CfgDuration::from_millis(50);
    })
    .await;
    until("the connection is retried", || async move {
        metric(mesa, "mesa_stream_reconnects_total") >= 2.0
    })
    .await;
    let r = mesa.http.get(mesa.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("0 of 1 Mist stream connections open"));
}

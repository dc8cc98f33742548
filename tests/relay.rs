//! The relay end to end: signed webhook bodies of every topic (tests/fixtures/relay, shaped
//! from the spec's examples) over real HTTP → verification → bounded relay queue → rules →
//! the notify layer → chat receivers on loopback, which record what each platform got.

mod support;

use std::time::Duration;

use mesa::config::{Config, NotifyConfig, NotifyKind, Secret};
use mesa::model::{Mac, Profile, Severity};
use mesa::relay::RelayRuleConfig;
use mesa::sim::mist::FakeMist;
use serde_json::Value;
use support::mesa::{device_event, start_with, start_with_mist, Receiver, TestMesa};

const HQ: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const BRANCH: &str = "4ac1dcf4-9d8b-7211-65c4-057819f0862b";

fn fixture(topic: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/relay/{topic}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn target(name: &str, kind: NotifyKind, url: &str) -> NotifyConfig {
    NotifyConfig {
        kind,
        url: Secret::new(url),
        min_severity: Severity::Info,
        outcomes: vec![],
        sites: vec![],
        token: None,
        room_id: None,
        name: Some(name.into()),
        decisions: false,
    }
}

/// A rule from TOML, as an operator writes it.
fn rule(toml: &str) -> RelayRuleConfig {
    toml::from_str(toml).unwrap_or_else(|e| panic!("{toml}: {e}"))
}

/// Waits until `rx` recorded at least `n` bodies (at most 20 s), then returns them all.
async fn wait_for(rx: &Receiver, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let bodies = rx.bodies.lock().unwrap().clone();
        if bodies.len() >= n || tokio::time::Instant::now() > deadline {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the relay has looked at every queued event and delivered what it sent.
async fn settle(mesa: &TestMesa) {
    mesa.app.relay.flush(Duration::from_secs(20)).await;
    assert!(mesa.app.notify.flush(Duration::from_secs(20)).await);
}

fn metric(mesa: &TestMesa, line_start: &str) -> u64 {
    mesa.app
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn all_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(all_text).collect::<Vec<_>>().join(" "),
        Value::Object(map) => map.values().map(all_text).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

async fn start_relay(tweak: impl FnOnce(&mut Config)) -> TestMesa {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = support::mesa::config(dir.path());
    config.mist.api_url = "https://api.eu.mist.com".into();
    tweak(&mut config);
    config.validate().expect("test configuration is valid");
    start_with(dir, config).await
}

#[tokio::test]
async fn every_topic_is_verified_and_routed_by_severity_and_site() {
    let oncall = Receiver::start().await;
    let hq = Receiver::start().await;
    let audit = Receiver::start().await;
    let webex = Receiver::start().await;
    let mattermost = Receiver::start().await;
    let mesa = start_relay(|c| {
        c.notify = vec![
            target("oncall", NotifyKind::Slack, &oncall.url),
            target("hq-log", NotifyKind::Teams, &hq.url),
            target("audit", NotifyKind::Gchat, &audit.url),
            target("all-webex", NotifyKind::Webex, &webex.url),
            target("all-mm", NotifyKind::Mattermost, &mattermost.url),
        ];
        c.relay = vec![
            rule(
                r#"name = "critical"
                    severities = ["critical"]
                    notify = ["oncall"]
                    group_within = "0s""#,
            ),
            rule(&format!(
                r#"name = "hq"
                   sites = ["{HQ}"]
                   severities = ["info", "warn"]
                   topics = ["device-updowns", "device-events"]
                   notify = ["hq-log"]
                   group_within = "0s""#
            )),
            rule(
                r#"name = "audits"
                    topics = ["audits"]
                    notify = ["audit"]
                    group_within = "0s""#,
            ),
            rule(
                r#"name = "everything"
                    notify = ["all-webex", "all-mm"]
                    group_within = "0s""#,
            ),
        ];
    })
    .await;

    // Unsigned: refused before anything is read, nothing relayed.
    let unsigned = mesa
        .http
        .post(mesa.url("/mist/webhook"))
        .header("content-type", "application/json")
        .body(fixture("alarms"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    for topic in [
        "alarms",
        "audits",
        "device-updowns",
        "device-events",
        "mxedge-events",
    ] {
        let response = mesa.post_signed(&fixture(topic)).await;
        assert_eq!(response.status(), 200, "{topic}");
    }
    assert_eq!(wait_for(&webex, 5).await.len(), 5);
    settle(&mesa).await;

    // Critical: only the alarm (critical, at the branch).
    let oncall = oncall.bodies.lock().unwrap().clone();
    assert_eq!(oncall.len(), 1, "{oncall:#?}");
    let slack = &oncall[0];
    assert!(slack["blocks"].is_array(), "Slack Block Kit: {slack}");
    let text = all_text(slack);
    assert!(
        text.contains("CRITICAL") && text.contains("rogue_ap_detected"),
        "{text}"
    );
    assert!(
        text.contains(BRANCH) && text.contains("2023-11-14 22:15:00 UTC"),
        "{text}"
    );
    assert!(
        text.contains("aps: 5c5b35000010") && text.contains("ssids: corp"),
        "{text}"
    );

    // HQ, info and warn, up/downs and device events: the AP that went down, the switch port.
    let hq = hq.bodies.lock().unwrap().clone();
    assert_eq!(hq.len(), 2, "{hq:#?}");
    for teams in &hq {
        assert_eq!(
            teams["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
    }
    let down = all_text(&hq[0]);
    assert!(
        down.contains("AP_DISCONNECTED") && down.contains("ap-lobby"),
        "{down}"
    );
    assert!(
        down.contains("Warning"),
        "warn is the Adaptive Card's Warning colour: {down}"
    );
    let port = all_text(&hq[1]);
    assert!(
        port.contains("SW_PORT_UP") && port.contains("ge-0/0/3"),
        "{port}"
    );
    let link = hq[1]["attachments"][0]["content"]["actions"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        link,
        format!(
            "https://manage.eu.mist.com/admin/?org_id={}#!switch/detail/\
             00000000-0000-0000-1000-d420b0000001/{HQ}",
            mesa::sim::mist::ORG_ID
        )
    );

    // Audits to their own Google Chat space.
    let audit = audit.bodies.lock().unwrap().clone();
    assert_eq!(audit.len(), 1);
    assert!(audit[0]["cardsV2"].is_array());
    let text = all_text(&audit[0]);
    assert!(
        text.contains("Update Device Config sw-idf1") && text.contains("Jane Doe"),
        "{text}"
    );

    // Everything, mxedge included, to Webex and Mattermost.
    let webex = webex.bodies.lock().unwrap().clone();
    assert!(webex.iter().all(|b| b["markdown"].is_string()));
    assert!(webex
        .iter()
        .any(|b| all_text(b).contains("ME_SERVICE_STOPPED")));
    let mattermost = wait_for(&mattermost, 5).await;
    assert_eq!(mattermost.len(), 5);
    assert!(mattermost
        .iter()
        .all(|b| b["attachments"][0]["color"].is_string()));

    assert_eq!(
        metric(&mesa, "mesa_relay_matched_total{rule=\"everything\"}"),
        5
    );
    assert_eq!(
        metric(&mesa, "mesa_relay_sent_total{rule=\"everything\"}"),
        10
    );
    assert_eq!(metric(&mesa, "mesa_relay_received_total"), 5);
}

#[tokio::test]
async fn an_updown_storm_of_one_site_becomes_one_summary() {
    let slack = Receiver::start().await;
    let mesa = start_relay(|c| {
        c.notify = vec![target("noc", NotifyKind::Slack, &slack.url)];
        c.relay = vec![rule(
            r#"name = "updowns"
               topics = ["device-updowns"]
               notify = ["noc"]
               group_within = "60s""#,
        )];
    })
    .await;
    for i in 0..50 {
        let body = serde_json::json!({
            "topic": "device-updowns",
            "events": [{
                "ap": format!("5c5b350000{i:02x}"), "ap_name": format!("ap-{i}"),
                "org_id": mesa::sim::mist::ORG_ID, "site_id": HQ, "site_name": "HQ",
                "timestamp": 1_700_000_000 + i, "type": "AP_DISCONNECTED",
            }]
        });
        assert_eq!(mesa.post_signed(&body.to_string()).await.status(), 200);
    }
    // The window is a minute; the flush (as at shutdown) closes it now.
    settle(&mesa).await;
    let bodies = slack.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one summary, not 50 messages: {bodies:#?}");
    let text = all_text(&bodies[0]);
    assert!(text.contains("50 × device-updowns at HQ"), "{text}");
    assert!(text.contains("AP_DISCONNECTED ×50"), "{text}");
    assert!(text.contains("ap-0") && text.contains("ap-49"), "{text}");
    assert_eq!(
        metric(&mesa, "mesa_relay_grouped_total{rule=\"updowns\"}"),
        50
    );
    assert_eq!(metric(&mesa, "mesa_relay_sent_total{rule=\"updowns\"}"), 1);
}

#[tokio::test]
async fn org_and_site_deliveries_of_one_event_are_posted_once() {
    let slack = Receiver::start().await;
    let mesa = start_relay(|c| {
        c.notify = vec![target("noc", NotifyKind::Slack, &slack.url)];
        c.relay = vec![rule(
            r#"name = "alarms"
               topics = ["alarms"]
               notify = ["noc"]
               group_within = "0s""#,
        )];
    })
    .await;
    let site_copy = fixture("alarms");
    // The org-level webhook's copy: same event, `for_site` false, fields in another order.
    let mut org_copy: Value = serde_json::from_str(&site_copy).unwrap();
    org_copy["events"][0]["for_site"] = Value::Bool(false);
    assert_eq!(mesa.post_signed(&site_copy).await.status(), 200);
    assert_eq!(mesa.post_signed(&org_copy.to_string()).await.status(), 200);
    settle(&mesa).await;
    assert_eq!(slack.bodies.lock().unwrap().len(), 1);
    assert_eq!(metric(&mesa, "mesa_relay_duplicates_total"), 1);

    // A later update of the alarm (count changed) is news, not a duplicate.
    let mut update: Value = serde_json::from_str(&site_copy).unwrap();
    update["events"][0]["count"] = Value::from(7);
    update["events"][0]["update"] = Value::Bool(true);
    assert_eq!(mesa.post_signed(&update.to_string()).await.status(), 200);
    settle(&mesa).await;
    assert_eq!(slack.bodies.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_full_relay_queue_drops_relay_messages_while_the_ap_still_gets_its_port() {
    let fake = FakeMist::start().await;
    fake.add_site(HQ, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", HQ, "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let slack = Receiver::start().await;
    let url = slack.url.clone();
    let mesa = start_with_mist(&fake, move |c| {
        c.ingest.relay_queue = 1;
        c.notify = vec![target("noc", NotifyKind::Slack, &url)];
        c.relay = vec![rule(
            r#"name = "alarms"
               notify = ["noc"]
               group_within = "0s""#,
        )];
    })
    .await;

    // A burst: 20 bodies of 2,000 alarms each at once, and in the same second the AP's
    // connect. The relay reads each body on its own task; its queue holds one.
    let bursts: Vec<String> = (0..20)
        .map(|b| {
            let alarms: Vec<Value> = (0..2000)
                .map(|i| {
                    serde_json::json!({
                        "id": format!("00000000-0000-0000-{b:04}-{i:012}"), "type": "switch_down",
                        "severity": "critical", "org_id": mesa::sim::mist::ORG_ID, "site_id": HQ,
                        "last_seen": 1_700_000_000, "timestamp": 1_700_000_000,
                    })
                })
                .collect();
            serde_json::json!({"topic": "alarms", "events": alarms}).to_string()
        })
        .collect();
    let connect = device_event(
        "AP_CONNECTED",
        ap.as_str(),
        HQ,
        chrono::Utc::now().timestamp(),
    );
    let posts = bursts.iter().map(|b| mesa.post_signed(b));
    let (answers, connect) = tokio::join!(
        futures_util::future::join_all(posts),
        mesa.post_signed(&connect)
    );
    assert!(
        answers.iter().all(|a| a.status() == 200),
        "the relay never refuses a webhook"
    );
    assert_eq!(connect.status(), 200);

    mesa.idle().await;
    let decision = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_eq!(decision.outcome.label(), "applied", "{decision:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Ap));

    settle(&mesa).await;
    let dropped = metric(&mesa, "mesa_relay_queue_dropped_total");
    let relayed = metric(&mesa, "mesa_relay_received_total");
    println!(
        "relay queue of 1, 21 bodies at once: {dropped} bodies dropped, {relayed} events relayed"
    );
    assert!(dropped > 0, "a queue of one body cannot take 21 at once");
    assert!(dropped <= 21);
}

#[tokio::test]
async fn relay_test_sends_a_sample_of_each_topic_to_the_rule_targets() {
    let slack = Receiver::start().await;
    let teams = Receiver::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mesa.toml");
    let text = format!(
        r#"
[server]
data_dir = "{data}"

[[notify]]
kind = "slack"
url = "{slack}"
name = "noc"

[[notify]]
kind = "teams"
url = "{teams}"
name = "log"

[[relay]]
name = "critical"
topics = ["alarms", "device-updowns", "audits"]
severities = ["critical"]
notify = ["noc", "log"]
"#,
        data = dir.path().display(),
        slack = slack.url,
        teams = teams.url,
    );
    std::fs::write(&path, text).unwrap();
    let run = |rule: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_mesa"))
            .arg("--config")
            .arg(&path)
            .args(["relay", "test", "--rule", rule])
            .output()
    };
    let out = run("critical").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("noc: 3 sample(s) delivered"), "{stdout}");
    assert!(stdout.contains("log: 3 sample(s) delivered"), "{stdout}");
    for rx in [&slack, &teams] {
        let bodies = rx.bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 3);
        let texts: Vec<String> = bodies.iter().map(all_text).collect();
        assert!(texts
            .iter()
            .all(|t| t.contains("[test]") && t.contains("CRITICAL")));
        for kind in ["switch_down", "AP_DISCONNECTED", "Update Device Config"] {
            assert!(texts.iter().any(|t| t.contains(kind)), "{kind}: {texts:?}");
        }
    }

    let unknown = run("nope").await.unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no [[relay]] rule named \"nope\""));
}

#[tokio::test]
async fn a_rule_over_its_rate_limit_holds_the_rest_for_one_summary() {
    let slack = Receiver::start().await;
    let mesa = start_relay(|c| {
        c.notify = vec![target("noc", NotifyKind::Slack, &slack.url)];
        c.relay = vec![rule(
            r#"name = "alarms"
               notify = ["noc"]
               group_within = "0s"
               max_per_minute = 2"#,
        )];
    })
    .await;
    for i in 0..5 {
        let mut alarm: Value = serde_json::from_str(&fixture("alarms")).unwrap();
        alarm["events"][0]["id"] = Value::from(format!("alarm-{i}"));
        assert_eq!(mesa.post_signed(&alarm.to_string()).await.status(), 200);
    }
    assert_eq!(wait_for(&slack, 2).await.len(), 2);
    // The next free place is a minute away; the flush (as at shutdown) sends what waits.
    settle(&mesa).await;
    let bodies = slack.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "{bodies:#?}");
    let text = all_text(&bodies[2]);
    assert!(
        text.contains("3 events held back by rule alarms (max_per_minute = 2)"),
        "{text}"
    );
    assert!(text.contains("rogue_ap_detected ×3"), "{text}");
    assert_eq!(metric(&mesa, "mesa_relay_dropped_total"), 0);
}

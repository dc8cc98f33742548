//! Notifications over real HTTP: every destination posts to a local axum receiver on
//! 127.0.0.1:0 that records what it gets and answers what the test scripts (429, 500, slow...).
//!
//! The payload checks follow each platform's documentation (not our own builder):
//! - Slack: <https://api.slack.com/messaging/webhooks>, blocks
//!   <https://api.slack.com/reference/block-kit/blocks>, `text` fallback
//!   <https://api.slack.com/methods/chat.postMessage#arg_text>, escaping
//!   <https://api.slack.com/reference/surfaces/formatting#escaping>
//! - Teams Workflows webhook:
//!   <https://learn.microsoft.com/en-us/connectors/teams/?tabs=text1%2Cdotnet#microsoft-teams-webhook>
//!   (`type: message`, `attachments[].contentType = application/vnd.microsoft.card.adaptive`,
//!   `content` an AdaptiveCard with `$schema`, `type`, `version`, `body`)
//! - Google Chat: <https://developers.google.com/workspace/chat/messages-overview> (`text`,
//!   `cardsV2[].cardId`, `cardsV2[].card.sections[].widgets`),
//!   <https://developers.google.com/workspace/chat/format-messages>
//! - Webex: <https://developer.webex.com/docs/api/v1/messages/create-a-message> (`roomId`,
//!   `markdown`, `Authorization: Bearer`)
//! - Mattermost: <https://developers.mattermost.com/integrate/webhooks/incoming/>,
//!   <https://developers.mattermost.com/integrate/reference/message-attachments/> (`fallback`
//!   required, `color`, `title`, `text`, `fields[].title/value/short`)

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};

use mesa::config::{NotifyConfig, NotifyKind, Secret};
use mesa::metrics::Metrics;
use mesa::model::*;
use mesa::notify::{Notifications, NotifyOptions};

const ORG: &str = "6f4bf402-45f9-4b6b-a2e0-1a2b3c4d5e6f";
const SITE_A: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const SITE_B: &str = "1d3f5b7a-0000-4000-8000-00000000000b";
const LINK: &str = "https://manage.eu.mist.com/admin/?org_id=6f4bf402-45f9-4b6b-a2e0-1a2b3c4d5e6f\
                    #!ap/detail/00000000-0000-0000-1000-5c5b35aabbcc/978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

// ---------------------------------------------------------------------------------------------
// The receiver

#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Value,
    at: Instant,
}

#[derive(Clone)]
struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
    body: String,
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    delay: Mutex<Duration>,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next replies, in order; 200 "ok" once they run out.
    fn script(&self, replies: Vec<Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    fn delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = state.script.lock().unwrap().pop_front();
    match reply {
        None => (StatusCode::OK, "ok").into_response(),
        Some(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap();
            let mut response = (status, reply.body).into_response();
            if let Some(secs) = reply.retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.parse().unwrap());
            }
            response
        }
    }
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        retry_after: None,
        body: String::new(),
    }
}

/// A port nobody listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn entry(kind: NotifyKind, url: &str) -> NotifyConfig {
    NotifyConfig {
        kind,
        url: Secret::new(url),
        min_severity: Severity::Info,
        outcomes: vec![],
        sites: vec![],
        token: None,
        room_id: None,
        name: None,
        decisions: true,
    }
}

fn decision(id: &str, outcome: Outcome, site_id: &str) -> Decision {
    let mac = Mac::parse("5c:5b:35:aa:bb:cc").unwrap();
    Decision {
        event: ApEvent {
            id: id.into(),
            kind: EventKind::ApConnected,
            ap_mac: mac.clone(),
            ap_name: Some("ap-lobby-1".into()),
            org_id: Some(ORG.into()),
            site_id: site_id.into(),
            site_name: Some("Campus North".into()),
            timestamp: mesa::model::EventTime::from_secs(1_700_000_000),
            source: Source::Webhook,
            received_at: Utc::now(),
            known_port: None,
        },
        lookups: vec!["AP 5c5b35aabbcc on sw-a ge-0/0/12 (LLDP)".into()],
        verdicts: vec![],
        changes: vec![PortChange {
            switch: SwitchRef {
                name: "sw-a".into(),
                site_id: site_id.into(),
                mac: None,
                mgmt_addr: Some("10.0.0.2".into()),
            },
            port: InterfaceName::parse("ge-0/0/12").unwrap(),
            profile: Profile::Ap,
            ap: ApRef {
                mac,
                name: Some("ap-lobby-1".into()),
            },
            site_name: Some("Campus North".into()),
            reason: "AP connected".into(),
        }],
        outcome,
        diff: Some(
            "[edit interfaces ge-0/0/12 unit 0 family ethernet-switching]\n\
             -    interface-mode access;\n\
             +    interface-mode trunk;\n\
             +    vlan members [ ap-mgmt guests ];\n"
                .into(),
        ),
        backend: "netconf".into(),
        decided_at: Utc::now(),
        duration_ms: 840,
        will_retry: false,
    }
}

fn outage_hold(id: &str, site: &str) -> Decision {
    let mut d = decision(
        id,
        Outcome::Skipped {
            guard: "outage".into(),
            reason: "site outage: 41 of 52 APs down within 30s".into(),
        },
        site,
    );
    d.event.kind = EventKind::ApDisconnected;
    d.diff = None;
    d.verdicts = vec![
        GuardVerdict::hold("outage", "site outage: 41 of 52 APs down within 30s")
            .with_numbers(json!({"down": 41, "total": 52, "window_s": 30})),
    ];
    d
}

fn fast() -> NotifyOptions {
    NotifyOptions {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(10),
        ..NotifyOptions::default()
    }
}

fn start(entries: &[NotifyConfig], metrics: &Metrics) -> Notifications {
    Notifications::with_options(entries, "https://api.eu.mist.com", metrics.clone(), fast())
}

/// `mesa_notifications_total{kind=..., result=...}`.
fn count(metrics: &Metrics, kind: &str, result: &str) -> u64 {
    metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("mesa_notifications_total{"))
        .filter(|l| {
            l.contains(&format!("kind=\"{kind}\"")) && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn deliver_one(kind: NotifyKind, url: &str, d: &Decision, rx: &Receiver) -> Recorded {
    let metrics = Metrics::new();
    let n = start(&[entry(kind, url)], &metrics);
    n.publish(d);
    assert!(
        n.flush(Duration::from_secs(10)).await,
        "not delivered in time"
    );
    let got = rx.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    got.into_iter().next().unwrap()
}

fn all_text(v: &Value) -> String {
    v.to_string()
}

// ---------------------------------------------------------------------------------------------
// Payloads, per platform

/// Slack: Block Kit `blocks` plus the top-level `text` used as notification fallback.
/// <https://api.slack.com/messaging/webhooks>, <https://api.slack.com/reference/block-kit/blocks>
#[tokio::test]
async fn slack_payload_is_block_kit_with_text_fallback() {
    let rx = Receiver::start().await;
    let mut d = decision("ev-slack", Outcome::Applied, SITE_A);
    d.event.ap_name = Some("<!channel> & *co*".into());
    d.diff = Some(
        (1..=100)
            .map(|i| format!("+ set vlan line {i}\n"))
            .collect(),
    );
    let req = deliver_one(NotifyKind::Slack, &rx.url("/services/T0/B0/x"), &d, &rx).await;

    assert_eq!(req.path, "/services/T0/B0/x");
    assert!(req.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body = &req.body;
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("Applied: ge-0/0/12 on sw-a → ap"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks.iter().all(|b| b["type"].is_string()));

    let fields: Vec<&str> = blocks
        .iter()
        .filter_map(|b| b["fields"].as_array())
        .flatten()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"*Site*\nCampus North (978c48e6-6ef6-11e6-8bbf-02e208b2d34f)"),
        "{fields:?}"
    );
    assert!(fields.contains(&"*Switch*\nsw-a (10.0.0.2)"), "{fields:?}");
    assert!(fields.contains(&"*Backend*\nnetconf"), "{fields:?}");
    // Escaped: Slack's control characters as entities, so no @channel ping.
    assert!(
        fields.contains(&"*AP*\n&lt;!channel&gt; &amp; *co* (5c:5b:35:aa:bb:cc)"),
        "{fields:?}"
    );
    assert!(!all_text(body).contains("<!channel>"));

    let diff = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .find(|t| t.contains("```"))
        .expect("diff section");
    assert!(diff.contains("+ set vlan line 1\n"), "{diff}");
    assert!(!diff.contains("line 41\n"), "head kept, tail cut: {diff}");
    assert!(diff.contains("… 60 more lines cut"), "{diff}");
    assert!(diff.chars().count() <= 3000);

    assert!(
        all_text(body).contains(&format!("<{LINK}|")),
        "dashboard link: {body}"
    );
}

/// Teams Workflows webhook: a `message` with one Adaptive Card attachment.
/// <https://learn.microsoft.com/en-us/connectors/teams/?tabs=text1%2Cdotnet#microsoft-teams-webhook>
#[tokio::test]
async fn teams_payload_is_an_adaptive_card_message() {
    let rx = Receiver::start().await;
    let d = outage_hold("ev-teams", SITE_A);
    let req = deliver_one(
        NotifyKind::Teams,
        &rx.url("/workflows/abc/triggers/manual/paths/invoke"),
        &d,
        &rx,
    )
    .await;

    let body = &req.body;
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert!(card["version"].as_str().unwrap().starts_with("1."));
    let card_body = card["body"].as_array().unwrap();
    assert!(!card_body.is_empty());
    let text = all_text(card);
    assert!(
        text.contains("skipped by outage: site outage: 41 of 52 APs down within 30s"),
        "{text}"
    );
    assert!(text.contains("down=41 · total=52 · window_s=30"), "{text}");
    assert!(text.contains("AP_DISCONNECTED (webhook)"), "{text}");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], LINK);
    assert!(card["fallbackText"]
        .as_str()
        .unwrap()
        .contains("Held by outage"));
}

/// Google Chat: `cardsV2` and `text`.
/// <https://developers.google.com/workspace/chat/messages-overview>
#[tokio::test]
async fn gchat_payload_has_cards_v2_and_text() {
    let rx = Receiver::start().await;
    let mut d = decision(
        "ev-gchat",
        Outcome::Failed {
            error: "commit failed: <rpc-error>".into(),
        },
        SITE_A,
    );
    d.event.ap_name = Some("<b>ap</b> <users/all>".into());
    let req = deliver_one(
        NotifyKind::Gchat,
        &rx.url("/v1/spaces/AAAA/messages"),
        &d,
        &rx,
    )
    .await;

    let body = &req.body;
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("Failed"), "{text}");
    assert!(
        text.contains("```\n[edit interfaces ge-0/0/12"),
        "diff in a monospace block: {text}"
    );
    assert!(
        !text.contains("<users/all>"),
        "no mention of everyone: {text}"
    );
    let card = &body["cardsV2"][0];
    assert!(card["cardId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(card["card"]["header"]["title"]
        .as_str()
        .unwrap()
        .contains("Failed"));
    let widgets = card["card"]["sections"][0]["widgets"].as_array().unwrap();
    let texts: Vec<&str> = widgets
        .iter()
        .filter_map(|w| w["decoratedText"]["text"].as_str())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("commit failed: &lt;rpc-error&gt;")),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"&lt;b&gt;ap&lt;/b&gt; &lt;users/all&gt; (5c:5b:35:aa:bb:cc)"),
        "{texts:?}"
    );
    assert!(all_text(body).contains(LINK));
}

/// Webex incoming webhook: `{"markdown": ...}` POSTed to the webhook URL, no token.
/// <https://developer.webex.com/docs/api/v1/messages/create-a-message>
#[tokio::test]
async fn webex_webhook_payload_is_markdown() {
    let rx = Receiver::start().await;
    let d = decision("ev-webex", Outcome::Applied, SITE_A);
    let req = deliver_one(
        NotifyKind::Webex,
        &rx.url("/v1/webhooks/incoming/XYZ"),
        &d,
        &rx,
    )
    .await;

    assert_eq!(req.path, "/v1/webhooks/incoming/XYZ");
    assert!(req.headers.get("authorization").is_none());
    let md = req.body["markdown"].as_str().unwrap();
    assert!(md.contains("**Outcome:** applied"), "{md}");
    assert!(md.contains("```\n[edit interfaces ge-0/0/12"), "{md}");
    assert!(md.contains(&format!("]({LINK})")), "{md}");
    assert!(req.body["text"].as_str().unwrap().contains("Applied"));
    assert!(req.body.get("roomId").is_none());
}

/// Webex bot: `roomId` + `markdown` to `<api>/v1/messages` with `Authorization: Bearer`.
/// <https://developer.webex.com/docs/api/v1/messages/create-a-message>
#[tokio::test]
async fn webex_bot_posts_to_messages_api_with_bearer_token() {
    let rx = Receiver::start().await;
    let mut bot = entry(NotifyKind::Webex, &rx.url(""));
    bot.token = Some(Secret::new("bot-token-1"));
    bot.room_id = Some("Y2lzY29zcGFyazovL3VzL1JPT00vYmJj".into());
    let metrics = Metrics::new();
    let n = start(&[bot], &metrics);
    n.publish(&decision("ev-bot", Outcome::Applied, SITE_A));
    assert!(n.flush(Duration::from_secs(10)).await);

    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/messages");
    assert_eq!(got[0].headers["authorization"], "Bearer bot-token-1");
    assert_eq!(got[0].body["roomId"], "Y2lzY29zcGFyazovL3VzL1JPT00vYmJj");
    assert!(got[0].body["markdown"]
        .as_str()
        .unwrap()
        .contains("ev\\-bot"));
}

/// Mattermost: `text` + Slack-compatible attachment (`fallback` required).
/// <https://developers.mattermost.com/integrate/reference/message-attachments/>
#[tokio::test]
async fn mattermost_payload_has_slack_compatible_attachment() {
    let rx = Receiver::start().await;
    let mut d = outage_hold("ev-mm", SITE_A);
    d.event.ap_name = Some("@channel [x](http://evil)".into());
    let req = deliver_one(NotifyKind::Mattermost, &rx.url("/hooks/xyz"), &d, &rx).await;

    let body = &req.body;
    assert!(body["text"].as_str().unwrap().contains("Held by outage"));
    let a = &body["attachments"][0];
    assert!(a["fallback"].as_str().unwrap().contains("Held by outage"));
    assert!(a["color"].as_str().unwrap().starts_with('#'));
    assert!(a["title"].as_str().unwrap().contains("ge-0/0/12 on sw-a"));
    assert_eq!(a["title_link"], LINK);
    assert!(a["text"]
        .as_str()
        .unwrap()
        .contains("41 of 52 APs down within 30s"));
    let fields = a["fields"].as_array().unwrap();
    let ap = fields.iter().find(|f| f["title"] == "AP").unwrap();
    assert_eq!(ap["short"], true);
    let value = ap["value"].as_str().unwrap();
    assert!(
        !value.contains("@channel") && !value.contains("[x](http"),
        "{value}"
    );
}

// ---------------------------------------------------------------------------------------------
// Routing

#[tokio::test]
async fn each_outcome_goes_to_the_matching_entries_only() {
    let rx = Receiver::start().await;
    let mut oncall = entry(NotifyKind::Slack, &rx.url("/oncall"));
    oncall.min_severity = Severity::Warning;
    oncall.outcomes = vec!["failed".into(), "skipped".into()];
    let mut log = entry(NotifyKind::Slack, &rx.url("/log"));
    log.outcomes = vec!["applied".into()];
    let mut site_b = entry(NotifyKind::Mattermost, &rx.url("/site-b"));
    site_b.min_severity = Severity::Debug;
    site_b.sites = vec![SITE_B.into()];
    let everything = entry(NotifyKind::Teams, &rx.url("/all"));

    let metrics = Metrics::new();
    let n = start(&[oncall, log, site_b, everything], &metrics);
    n.publish(&decision(
        "failed-a",
        Outcome::Failed {
            error: "unreachable".into(),
        },
        SITE_A,
    ));
    n.publish(&outage_hold("held-a", SITE_A));
    n.publish(&decision("applied-a", Outcome::Applied, SITE_A));
    n.publish(&decision("in-place-b", Outcome::AlreadyInPlace, SITE_B));
    n.publish(&decision("applied-b", Outcome::Applied, SITE_B));
    n.publish(&decision(
        "duplicate-a",
        Outcome::Skipped {
            guard: "duplicate".into(),
            reason: "same delivery twice".into(),
        },
        SITE_A,
    ));
    assert!(n.flush(Duration::from_secs(10)).await);

    let got = rx.requests();
    let ids_at = |path: &str| -> Vec<&str> {
        let mut ids: Vec<&str> = got
            .iter()
            .filter(|r| r.path == path)
            .map(|r| {
                let text = r.body.to_string();
                [
                    "failed-a",
                    "held-a",
                    "applied-a",
                    "in-place-b",
                    "applied-b",
                    "duplicate-a",
                ]
                .into_iter()
                .find(|id| text.contains(id) || text.contains(&id.replace('-', "\\\\-")))
                .unwrap_or("?")
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids_at("/oncall"), vec!["failed-a", "held-a"]);
    assert_eq!(ids_at("/log"), vec!["applied-a", "applied-b"]);
    assert_eq!(ids_at("/site-b"), vec!["applied-b", "in-place-b"]);
    assert_eq!(
        ids_at("/all"),
        vec!["applied-a", "applied-b", "failed-a", "held-a"]
    );
    assert_eq!(got.len(), 10);
    assert_eq!(count(&metrics, "slack", "ok"), 4);
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn too_many_requests_with_retry_after_is_delivered_once() {
    let rx = Receiver::start().await;
    rx.script(vec![Reply {
        status: 429,
        retry_after: Some("1"),
        body: "rate_limited".into(),
    }]);
    let metrics = Metrics::new();
    let n = start(&[entry(NotifyKind::Slack, &rx.url("/hook"))], &metrics);
    n.publish(&decision("ev-429", Outcome::Applied, SITE_A));
    assert!(n.flush(Duration::from_secs(10)).await);

    let got = rx.requests();
    assert_eq!(got.len(), 2, "one refused, one delivered");
    assert_eq!(got[0].body, got[1].body);
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After honoured, waited {gap:?}"
    );
    assert_eq!(count(&metrics, "slack", "retry"), 1);
    assert_eq!(count(&metrics, "slack", "ok"), 1);
    assert_eq!(count(&metrics, "slack", "failed"), 0);
}

#[tokio::test]
async fn server_error_is_retried_and_delivered_once() {
    let rx = Receiver::start().await;
    rx.script(vec![reply(500)]);
    let metrics = Metrics::new();
    let n = start(
        &[entry(NotifyKind::Mattermost, &rx.url("/hooks/m"))],
        &metrics,
    );
    n.publish(&decision("ev-500", Outcome::Applied, SITE_A));
    assert!(n.flush(Duration::from_secs(10)).await);

    assert_eq!(rx.requests().len(), 2);
    assert_eq!(count(&metrics, "mattermost", "retry"), 1);
    assert_eq!(count(&metrics, "mattermost", "ok"), 1);
}

#[tokio::test]
async fn client_error_is_not_retried() {
    let rx = Receiver::start().await;
    rx.script(vec![Reply {
        status: 404,
        retry_after: None,
        body: "no_service".into(),
    }]);
    let metrics = Metrics::new();
    let n = start(&[entry(NotifyKind::Slack, &rx.url("/gone"))], &metrics);
    n.publish(&decision("ev-404", Outcome::Applied, SITE_A));
    assert!(n.flush(Duration::from_secs(10)).await);

    assert_eq!(rx.requests().len(), 1);
    assert_eq!(count(&metrics, "slack", "failed"), 1);
    assert_eq!(count(&metrics, "slack", "retry"), 0);
}

// ---------------------------------------------------------------------------------------------
// Isolation: a down or slow receiver delays nobody

#[tokio::test]
async fn a_down_receiver_delays_neither_publish_nor_other_destinations() {
    let down = closed_port().await;
    let healthy = Receiver::start().await;
    let metrics = Metrics::new();
    let options = NotifyOptions {
        max_attempts: 3,
        ..fast()
    };
    let n = Notifications::with_options(
        &[
            entry(NotifyKind::Slack, &format!("http://{down}/hook")),
            entry(NotifyKind::Gchat, &healthy.url("/g")),
        ],
        "https://api.mist.com",
        metrics.clone(),
        options,
    );

    let started = Instant::now();
    n.publish(&decision(
        "ev-down",
        Outcome::Failed { error: "x".into() },
        SITE_A,
    ));
    let publish_took = started.elapsed();
    assert!(
        publish_took < Duration::from_millis(50),
        "publish took {publish_took:?}"
    );

    let got = healthy.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let delivered_after = got[0].at - started;
    assert!(
        delivered_after < Duration::from_secs(1),
        "healthy destination waited {delivered_after:?}"
    );

    assert!(
        n.flush(Duration::from_secs(10)).await,
        "the down destination gives up within bounds"
    );
    assert_eq!(count(&metrics, "slack", "retry"), 2);
    assert_eq!(count(&metrics, "slack", "failed"), 1);
    assert_eq!(count(&metrics, "gchat", "ok"), 1);
}

#[tokio::test]
async fn a_slow_receiver_does_not_delay_another() {
    let slow = Receiver::start().await;
    slow.delay(Duration::from_secs(3));
    let healthy = Receiver::start().await;
    let metrics = Metrics::new();
    let n = start(
        &[
            entry(NotifyKind::Teams, &slow.url("/slow")),
            entry(NotifyKind::Slack, &healthy.url("/fast")),
        ],
        &metrics,
    );
    let started = Instant::now();
    for i in 0..3 {
        n.publish(&decision(&format!("ev-slow-{i}"), Outcome::Applied, SITE_A));
    }
    assert!(started.elapsed() < Duration::from_millis(50));
    let got = healthy.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3);
    assert!(
        got[2].at - started < Duration::from_secs(1),
        "fast one waited {:?}",
        got[2].at - started
    );
    assert!(
        slow.requests().len() <= 1,
        "the slow one is still on its first message"
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let rx = Receiver::start().await;
    let metrics = Metrics::new();
    let options = NotifyOptions {
        queue_capacity: 1,
        ..fast()
    };
    let n = Notifications::with_options(
        &[entry(NotifyKind::Slack, &rx.url("/q"))],
        "https://api.mist.com",
        metrics.clone(),
        options,
    );
    // Nothing yields in between, so the delivery task has not taken the first one yet.
    for i in 0..5 {
        n.publish(&decision(&format!("ev-q{i}"), Outcome::Applied, SITE_A));
    }
    assert_eq!(count(&metrics, "slack", "dropped"), 4);
    assert!(n.flush(Duration::from_secs(10)).await);
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn none_publishes_nothing_and_flushes_at_once() {
    let n = Notifications::none();
    n.publish(&decision("ev-none", Outcome::Applied, SITE_A));
    assert!(n.flush(Duration::from_millis(1)).await);
    assert_eq!(n.destinations(), 0);
}

// ---------------------------------------------------------------------------------------------
// Secrets stay out of the logs

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs on the test's current-thread runtime, so the thread-local subscriber also sees the
/// delivery tasks' events.
#[tokio::test]
async fn webhook_urls_and_tokens_never_reach_the_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let down = closed_port().await;
    // A receiver that echoes the secret path back in its error body.
    let echo = Receiver::start().await;
    echo.script(vec![Reply {
        status: 400,
        retry_after: None,
        body: "invalid_payload for /services/T1/B1/SlackSecretPath42".into(),
    }]);

    let slack = entry(
        NotifyKind::Slack,
        &echo.url("/services/T1/B1/SlackSecretPath42"),
    );
    let gchat = entry(
        NotifyKind::Gchat,
        &format!("http://{down}/v1/spaces/S/messages?key=GKey77&token=GToken88"),
    );
    let mut bot = entry(NotifyKind::Webex, &format!("http://{down}"));
    bot.token = Some(Secret::new("WebexBotToken99"));
    bot.room_id = Some("room-1".into());

    let metrics = Metrics::new();
    let options = NotifyOptions {
        max_attempts: 2,
        ..fast()
    };
    let n = Notifications::with_options(
        &[slack, gchat, bot],
        "https://api.mist.com",
        metrics.clone(),
        options,
    );
    n.publish(&decision(
        "ev-secret",
        Outcome::Failed { error: "x".into() },
        SITE_A,
    ));
    assert!(n.flush(Duration::from_secs(10)).await);

    let text = logs.text();
    assert!(
        text.contains("notification failed; giving up"),
        "a failure was logged:\n{text}"
    );
    assert!(
        text.contains("notify[0] (slack)") && text.contains("notify[2] (webex)"),
        "{text}"
    );
    assert!(text.contains("HTTP 400"), "{text}");
    for secret in [
        "SlackSecretPath42",
        "GKey77",
        "GToken88",
        "WebexBotToken99",
        "/services/T1",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the logs:\n{text}"
        );
    }
    assert_eq!(count(&metrics, "slack", "failed"), 1);
    assert_eq!(count(&metrics, "gchat", "failed"), 1);
    assert_eq!(count(&metrics, "webex", "failed"), 1);
}

// ---------------------------------------------------------------------------------------------
// Configuration checks added for notify entries

#[test]
fn config_refuses_half_a_webex_bot_and_a_bad_url_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let load = |toml: &str| {
        let path = dir.path().join("mesa.toml");
        std::fs::write(&path, toml).unwrap();
        mesa::config::Config::load(&path, true)
    };
    let half =
        load("[[notify]]\nkind = \"webex\"\nurl = \"https://webexapis.com\"\ntoken = \"t0ken\"\n");
    let err = half.unwrap_err().to_string();
    assert!(
        err.contains("notify[0]") && err.contains("room_id"),
        "{err}"
    );

    let bad = load("[[notify]]\nkind = \"slack\"\nurl = \"hooks.slack.com/services/SECRETPART\"\n");
    let err = bad.unwrap_err().to_string();
    assert!(
        err.contains("notify[0].url") && !err.contains("SECRETPART"),
        "{err}"
    );

    let ok = load(
        "[[notify]]\nkind = \"webex\"\nurl = \"https://webexapis.com\"\ntoken = \"t0ken\"\nroom_id = \"r\"\n\
         [[notify]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/x\"\noutcomes = [\"failed\", \"skipped\"]\nmin_severity = \"warning\"\n",
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
}

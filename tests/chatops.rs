//! ChatOps over real HTTP: form-encoded slash commands signed the way Slack signs them (and
//! Mattermost's command token), roles, and maintenance holds that steer the engine, survive
//! a restart and expire.

mod support;

use std::process::Command;
use std::time::Duration;

use mesa::chatops::slack::sign;
use mesa::config::{Config, Secret};
use mesa::model::{Decision, EventKind, Mac, Profile, Source};
use mesa::sim::mist::FakeMist;
use support::mesa::{device_event, start_with, start_with_mist, Receiver, TestMesa};

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const MM_TOKEN: &str = "mm-command-token";
const ADMIN: &str = "UADMIN01";
const OPERATOR: &str = "UOPER001";
const VIEWER: &str = "UVIEW001";

fn chatops(config: &mut Config) {
    config.chatops.slack.signing_secret = Some(Secret::new(SLACK_SECRET));
    config.chatops.mattermost.command_token = Some(Secret::new(MM_TOKEN));
    config.chatops.roles.admin = vec![ADMIN.into()];
    config.chatops.roles.operator = vec![OPERATOR.into()];
    config.chatops.roles.viewer = vec![VIEWER.into()];
}

async fn start() -> TestMesa {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    start_with(dir, config).await
}

/// A slash command body as Slack sends it (form-encoded, more fields than mesa reads).
fn slash_body(user_id: &str, text: &str) -> String {
    slash_body_with(user_id, text, "https://hooks.slack.com/commands/1234/5678")
}

fn slash_body_with(user_id: &str, text: &str, response_url: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0001"),
        ("channel_id", "C2147483705"),
        ("user_id", user_id),
        ("user_name", "someone"),
        ("command", "/mesa"),
        ("text", text),
        ("response_url", response_url),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ])
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn post_slack(
    mesa: &TestMesa,
    body: &str,
    timestamp: i64,
    signature: &str,
) -> reqwest::Response {
    mesa.http
        .post(mesa.url("/chatops/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A correctly signed slash command; returns the JSON reply.
async fn slack(mesa: &TestMesa, user_id: &str, text: &str) -> serde_json::Value {
    let body = slash_body(user_id, text);
    let ts = now();
    let signature = sign(SLACK_SECRET.as_bytes(), &ts.to_string(), body.as_bytes());
    let response = post_slack(mesa, &body, ts, &signature).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn signed_slash_command_is_answered_ephemerally() {
    let mesa = start().await;
    let reply = slack(&mesa, VIEWER, "status").await;
    assert_eq!(reply["response_type"], "ephemeral", "{reply}");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("mesa manages 0 ports"), "{text}");
    assert!(text.contains("no maintenance holds"), "{text}");
    let help = slack(&mesa, VIEWER, "help").await;
    assert!(help["text"].as_str().unwrap().contains("/mesa hold"));
}

#[tokio::test]
async fn stale_wrong_and_replayed_requests_get_401() {
    let mesa = start().await;
    let body = slash_body(ADMIN, "status");
    let sign_at = |ts: i64| sign(SLACK_SECRET.as_bytes(), &ts.to_string(), body.as_bytes());

    let stale = now() - 6 * 60;
    let r = post_slack(&mesa, &body, stale, &sign_at(stale)).await;
    assert_eq!(r.status(), 401, "stale timestamp");
    assert!(r.text().await.unwrap().contains("5 minutes"));

    let ts = now();
    let wrong = sign(b"another-secret", &ts.to_string(), body.as_bytes());
    assert_eq!(post_slack(&mesa, &body, ts, &wrong).await.status(), 401);

    // A captured request's signature does not fit a changed body or timestamp.
    let signed = sign_at(ts);
    let tampered = body.replace("status", "hold+x");
    assert_eq!(
        post_slack(&mesa, &tampered, ts, &signed).await.status(),
        401
    );
    assert_eq!(
        post_slack(&mesa, &body, ts + 1, &signed).await.status(),
        401
    );
    // Sent as is, it works once; the same request again is a replay.
    assert_eq!(post_slack(&mesa, &body, ts, &signed).await.status(), 200);
    let replayed = post_slack(&mesa, &body, ts, &signed).await;
    assert_eq!(replayed.status(), 401);
    assert!(replayed.text().await.unwrap().contains("already received"));

    let no_headers = mesa
        .http
        .post(mesa.url("/chatops/slack/commands"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_headers.status(), 401);
    let metrics = mesa.app.metrics.render();
    for reason in ["stale-timestamp", "bad-signature", "replayed"] {
        assert!(
            metrics.contains(&format!("result=\"{reason}\"")),
            "{reason} counted: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_viewer_trying_revert_is_told_which_role_it_needs() {
    let mesa = start().await;
    let reply = slack(&mesa, VIEWER, "revert sw1 ge-0/0/12").await;
    assert_eq!(reply["response_type"], "ephemeral");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("needs the admin role"), "{text}");
    assert!(text.contains("you are a viewer"), "{text}");
    let hold = slack(&mesa, VIEWER, &format!("hold {SITE}")).await;
    assert!(hold["text"]
        .as_str()
        .unwrap()
        .contains("needs the operator role"));
    assert!(mesa.app.store.maintenance_holds().await.unwrap().is_empty());
    // An unlisted user is a viewer by default.
    let unknown = slack(&mesa, "USTRANGER", "release x").await;
    assert!(unknown["text"]
        .as_str()
        .unwrap()
        .contains("you are a viewer"));
    assert!(mesa
        .app
        .metrics
        .render()
        .contains("command=\"revert\",result=\"refused\""));
}

#[tokio::test]
async fn unknown_users_can_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config.chatops.unknown_users = mesa::config::UnknownUsers::Deny;
    let mesa = start_with(dir, config).await;
    let reply = slack(&mesa, "USTRANGER", "status").await;
    assert!(reply["text"]
        .as_str()
        .unwrap()
        .contains("does not know you"));
    let listed = slack(&mesa, VIEWER, "status").await;
    assert!(listed["text"].as_str().unwrap().contains("mesa manages"));
}

#[tokio::test]
async fn mattermost_command_needs_its_token() {
    let mesa = start().await;
    let body = serde_urlencoded::to_string([
        ("channel_id", "c1"),
        ("team_id", "t1"),
        ("token", MM_TOKEN),
        ("user_id", OPERATOR),
        ("user_name", "op"),
        ("command", "/mesa"),
        ("text", "hold site-mm for 1h uplink swap"),
    ])
    .unwrap();
    let post = |auth: Option<&'static str>, body: String| {
        let mut request = mesa
            .http
            .post(mesa.url("/chatops/mattermost/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let wrong = body.replace(MM_TOKEN, "guess");
    assert_eq!(
        post(Some("Token guess"), wrong.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(post(None, wrong).await.unwrap().status(), 401);
    let ok = post(Some("Token mm-command-token"), body).await.unwrap();
    assert_eq!(ok.status(), 200);
    let reply: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("site site-mm on maintenance hold by mattermost:op (UOPER001)"));
    assert!(text.contains("(uplink swap)"), "{text}");
}

/// Posts a form-encoded Mattermost slash command with its token header; the JSON answer.
async fn mattermost(mesa: &TestMesa, body: String) -> serde_json::Value {
    mesa.http
        .post(mesa.url("/chatops/mattermost/commands"))
        .header("authorization", format!("Token {MM_TOKEN}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn send(mesa: &TestMesa, kind: &str, ap: &Mac, ts: i64) -> Decision {
    let r = mesa
        .post_signed(&device_event(kind, ap.as_str(), SITE, ts))
        .await;
    assert_eq!(r.status(), 200);
    mesa.idle().await;
    mesa.app.store.recent_decisions(1).await.unwrap().remove(0)
}

/// The newest decision once the engine is idle (a re-check joins its lane just after the
/// release answered).
async fn settled(mesa: &TestMesa) -> Decision {
    tokio::time::sleep(Duration::from_millis(100)).await;
    mesa.idle().await;
    mesa.app.store.recent_decisions(1).await.unwrap().remove(0)
}

/// A site with one AP plugged into sw1 ge-0/0/12, and mesa with chatops on.
async fn held_site() -> (FakeMist, Mac, TestMesa) {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let mesa = start_with_mist(&fake, chatops).await;
    (fake, ap, mesa)
}

#[tokio::test]
async fn an_ap_back_during_the_hold_is_not_reverted_at_the_release() {
    let (fake, ap, mesa) = held_site().await;
    let sw = Mac::parse("d420b0000001").unwrap();
    assert_eq!(
        send(&mesa, "AP_CONNECTED", &ap, 1_700_000_001)
            .await
            .outcome
            .label(),
        "applied"
    );
    slack(&mesa, OPERATOR, &format!("hold {SITE} for 2h")).await;
    fake.unplug_ap(&ap);
    let d = send(&mesa, "AP_DISCONNECTED", &ap, 1_700_000_002).await;
    assert_eq!(d.outcome.label(), "skipped", "{d:?}");
    // The AP comes back while the site is still on hold.
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let d = send(&mesa, "AP_CONNECTED", &ap, 1_700_000_400).await;
    assert_eq!(d.outcome, mesa::model::Outcome::AlreadyInPlace, "{d:?}");

    let released = slack(&mesa, OPERATOR, &format!("release {SITE}")).await;
    let text = released["text"].as_str().unwrap();
    assert!(
        !text.contains("re-checked"),
        "nothing was left held: {text}"
    );
    let d = settled(&mesa).await;
    assert_eq!(d.event.kind, EventKind::ApConnected, "{d:?}");
    assert!(mesa.never_reverted());
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Ap));
}

#[tokio::test]
async fn an_expired_hold_re_checks_what_it_held() {
    let (fake, ap, mesa) = held_site().await;
    send(&mesa, "AP_CONNECTED", &ap, 1_700_000_001).await;
    slack(&mesa, OPERATOR, &format!("hold {SITE} for 1s")).await;
    fake.unplug_ap(&ap);
    let d = send(&mesa, "AP_DISCONNECTED", &ap, 1_700_000_002).await;
    assert_eq!(d.outcome.label(), "skipped", "{d:?}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let app = &mesa.app;
    let expired = mesa::maintenance::end_expired(app.store.as_ref(), &app.notify, &app.journal)
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    let d = settled(&mesa).await;
    assert!(matches!(d.event.source, Source::Recheck { .. }), "{d:?}");
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Secured));
}

#[tokio::test]
async fn held_site_connects_apply_and_say_so_reverts_wait_for_the_release() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/12");
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    let mesa = start_with_mist(&fake, move |c| {
        chatops(c);
        c.notify
            .push(toml::from_str(&format!("kind = \"slack\"\nurl = \"{url}\"")).unwrap());
    })
    .await;

    let reply = slack(&mesa, OPERATOR, &format!("hold {SITE} for 2h uplink swap")).await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");

    let d = send(&mesa, "AP_CONNECTED", &ap, 1_700_000_001).await;
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    let note = d
        .verdicts
        .iter()
        .find(|v| v.guard == "maintenance-hold")
        .expect("the connect says the site is on hold");
    assert!(note.proceed && note.reason.contains("connects still apply"));
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Ap));

    fake.unplug_ap(&ap);
    let d = send(&mesa, "AP_DISCONNECTED", &ap, 1_700_000_002).await;
    assert_eq!(d.outcome.label(), "skipped", "{d:?}");
    let held = d.verdicts.last().unwrap();
    assert_eq!(held.guard, "maintenance-hold");
    assert!(
        !held.proceed && held.reason.contains("uplink swap"),
        "{held:?}"
    );
    assert_eq!(held.numbers["actor"], "slack:someone (UOPER001)");
    assert!(mesa.never_reverted());

    let why = slack(&mesa, VIEWER, &format!("why {}", ap.colon())).await;
    let text = why["text"].as_str().unwrap();
    assert!(text.contains("✗ maintenance-hold"), "{text}");
    let status = slack(&mesa, VIEWER, &format!("status {SITE}")).await;
    assert!(status["text"]
        .as_str()
        .unwrap()
        .contains("on maintenance hold"));

    // The release re-checks the held revert: the AP is really gone, so its port is secured
    // without waiting for another event from Mist.
    let released = slack(&mesa, OPERATOR, &format!("release {SITE}")).await;
    assert_eq!(released["response_type"], "in_channel");
    assert!(
        released["text"]
            .as_str()
            .unwrap()
            .contains("1 revert it held re-checked now"),
        "{released}"
    );
    let d = settled(&mesa).await;
    assert!(
        matches!(d.event.source, Source::Recheck { .. }),
        "the release re-checks the held event: {d:?}"
    );
    assert_eq!(d.event.kind, EventKind::ApDisconnected);
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Secured));
    // Releasing is not repeated by the expiry sweep: the re-check is journaled once.
    assert_eq!(
        mesa::maintenance::recheck::hold_ended(mesa.app.store.as_ref(), &mesa.app.journal, SITE)
            .await
            .unwrap(),
        0
    );

    assert!(mesa.app.notify.flush(Duration::from_secs(10)).await);
    let texts = receiver.texts().join("\n");
    assert!(texts.contains("Maintenance hold on site"), "{texts}");
    assert!(texts.contains("released"), "{texts}");
}

#[tokio::test]
async fn a_hold_survives_a_restart_and_expires() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config
        .notify
        .push(toml::from_str(&format!("kind = \"slack\"\nurl = \"{}\"", receiver.url)).unwrap());
    let data_dir = dir.path().to_path_buf();
    let first = start_with(dir, config.clone()).await;
    let reply = slack(&first, OPERATOR, &format!("hold {SITE} for 3s switch swap")).await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    let holds: serde_json::Value = first
        .http
        .get(first.url("/api/v1/holds"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(holds[0]["site_id"], SITE, "{holds}");
    let TestMesa { app, dir, .. } = first;
    app.drain().await;
    drop(app);

    // A new mesa on the same data directory.
    config.server.data_dir = data_dir;
    let second = start_with(dir, config).await;
    let holds: Vec<serde_json::Value> = second
        .http
        .get(second.url("/api/v1/holds"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(holds.len(), 1, "the hold is still there after the restart");
    assert_eq!(holds[0]["reason"], "switch swap");

    let expires =
        chrono::DateTime::parse_from_rfc3339(holds[0]["expires_at"].as_str().unwrap()).unwrap();
    while chrono::Utc::now() <= expires {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let holds: Vec<serde_json::Value> = second
        .http
        .get(second.url("/api/v1/holds"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        holds.is_empty(),
        "an expired hold is no longer in force: {holds:?}"
    );
    let expired = mesa::maintenance::expire_once(second.app.store.as_ref(), &second.app.notify)
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert!(second.app.notify.flush(Duration::from_secs(10)).await);
    let texts = receiver.texts().join("\n");
    assert!(texts.contains("expired"), "expiry announced: {texts}");
}

fn cli(config: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MESA_LOG", "warn")
        .env("USER", "noc")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_sets_lists_and_releases_holds() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[server]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let (ok, out, err) = cli(
        &config,
        &["hold", "site-7", "--for", "2h", "--reason", "core swap"],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("site site-7 on maintenance hold by cli:noc until"),
        "{out}"
    );
    let (ok, out, _) = cli(&config, &["holds", "--json"]);
    assert!(ok);
    let holds: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(holds[0]["site_id"], "site-7");
    assert_eq!(holds[0]["reason"], "core swap");
    let (ok, _, err) = cli(&config, &["hold", "site-8", "--for", "soon"]);
    assert!(!ok && err.contains("not a duration"), "{err}");
    let (ok, out, _) = cli(&config, &["release", "site-7"]);
    assert!(ok && out.contains("released"), "{out}");
    let (ok, out, _) = cli(&config, &["holds"]);
    assert!(ok && out.contains("no maintenance holds"), "{out}");
    let (ok, _, err) = cli(&config, &["release", "site-7"]);
    assert!(!ok && err.contains("not on hold"), "{err}");
}

#[test]
fn manifests_point_at_the_chat_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let (ok, out, err) = cli(
        &config,
        &[
            "chatops",
            "manifest",
            "--platform",
            "slack",
            "--url",
            "https://mesa.example.net/",
        ],
    );
    assert!(ok, "{err}");
    let manifest: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        manifest["features"]["slash_commands"][0]["url"],
        "https://mesa.example.net/chatops/slack/commands"
    );
    let (ok, out, _) = cli(
        &config,
        &[
            "chatops",
            "manifest",
            "--platform",
            "mattermost",
            "--url",
            "https://mesa.example.net",
        ],
    );
    assert!(ok && out.contains("https://mesa.example.net/chatops/mattermost/commands"));
    let (ok, out, err) = cli(
        &config,
        &[
            "chatops",
            "manifest",
            "--platform",
            "slack",
            "--socket-mode",
        ],
    );
    assert!(ok, "{err}");
    let manifest: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(manifest["settings"]["socket_mode_enabled"], true);
    assert!(manifest["features"]["slash_commands"][0]
        .get("url")
        .is_none());
    assert!(out.contains("usergroups:read"), "{out}");
}

/// Signs and POSTs a form body to any mesa chat endpoint.
async fn signed_post(http: &reqwest::Client, url: &str, body: &str) -> reqwest::Response {
    let ts = now();
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header(
            "x-slack-signature",
            sign(SLACK_SECRET.as_bytes(), &ts.to_string(), body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A `block_actions` interaction as Slack sends it when a button is pressed.
fn button_press(user_id: &str, action_id: &str, value: &str, response_url: &str) -> String {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": { "id": user_id, "username": "alice", "team_id": "T0001" },
        "api_app_id": "A0001",
        "container": { "type": "message", "is_ephemeral": true },
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "response_url": response_url,
        "actions": [{
            "type": "button",
            "block_id": "b1",
            "action_id": action_id,
            "value": value,
            "action_ts": "1700000000.000001",
        }],
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

mod junos {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use mesa::backend::netconf::NetconfBackend;
    use mesa::config::{HostKeyPolicy, NetconfConfig, SwitchOverride, TemplatesConfig};
    use mesa::model::{ApRef, InterfaceName, Mac, PortChange, Profile, SwitchRef};
    use mesa::templates::Templates;

    use super::support::sshd::JunosSwitch;

    pub const SWITCH: &str = "sw-idf-1";

    pub fn backend(sw: &JunosSwitch) -> NetconfBackend {
        let cfg = NetconfConfig {
            username: sw.sshd.user.clone(),
            private_key: Some(sw.sshd.key_path.clone()),
            known_hosts: sw.sshd.known_hosts_path.clone(),
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: mesa::config::Duration::from_secs(10),
            rpc_timeout: mesa::config::Duration::from_secs(30),
            lock_timeout: mesa::config::Duration::from_secs(5),
            commit_confirm: mesa::config::Duration::from_secs(60),
            ..NetconfConfig::default()
        };
        let mut switches = BTreeMap::new();
        switches.insert(
            SWITCH.to_string(),
            SwitchOverride {
                host: Some(sw.sshd.host.clone()),
                port: Some(sw.sshd.port),
            },
        );
        let mut templates = TemplatesConfig::default();
        templates.vars.insert(
            "ap_vlans".into(),
            toml::Value::Array(vec![toml::Value::Integer(10), toml::Value::Integer(20)]),
        );
        NetconfBackend::new(
            &cfg,
            &switches,
            Arc::new(Templates::load(&templates).unwrap()),
        )
    }

    /// A switch whose ge-0/0/5 is secured, with the VLANs the templates name.
    pub fn seeded() -> JunosSwitch {
        let sw = JunosSwitch::start();
        let switch = SwitchRef {
            name: SWITCH.into(),
            site_id: String::new(),
            mac: None,
            mgmt_addr: None,
        };
        let change = PortChange {
            switch: switch.clone(),
            port: InterfaceName::parse("ge-0/0/5").unwrap(),
            profile: Profile::Secured,
            ap: ApRef {
                mac: Mac::parse("5c5b35000005").unwrap(),
                name: None,
            },
            site_name: None,
            reason: "seed".into(),
        };
        let mut text = String::from(
            "set system host-name sw-idf-1\nset vlans default vlan-id 1\nset vlans ap-mgmt vlan-id 10\n\
             set vlans ap-data vlan-id 20\nset vlans guest vlan-id 99\nset vlans server-fail vlan-id 98\n",
        );
        for p in backend(&sw).plan(&switch, &[change]).unwrap().ports {
            for line in p.lines.iter().filter(|l| l.starts_with("set ")) {
                text.push_str(line);
                text.push('\n');
            }
        }
        sw.seed_running(&text);
        sw
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_apply_and_revert_from_chat_land_on_the_junos_simulator() {
    let sw = junos::seeded();
    assert!(sw
        .running_config()
        .contains("dot1x authenticator interface ge-0/0/5 "));
    let response_url = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config.backend.kind = mesa::config::BackendKind::Netconf;
    let mesa =
        support::mesa::start_with_backend(dir, config, std::sync::Arc::new(junos::backend(&sw)))
            .await;
    let commands = format!("http://{}/chatops/slack/commands", mesa.addr);
    let interactions = format!("http://{}/chatops/slack/interactions", mesa.addr);

    let button = |text: &'static str| {
        let (http, commands) = (mesa.http.clone(), commands.clone());
        async move {
            let reply: serde_json::Value = signed_post(&http, &commands, &slash_body(ADMIN, text))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(reply["response_type"], "ephemeral", "{reply}");
            reply["blocks"][1]["elements"][0]["value"]
                .as_str()
                .expect("a Confirm button")
                .to_string()
        }
    };
    // Nothing changes until Confirm; a tampered button (another port) is refused.
    let sealed = button("apply sw-idf-1 ge-0/0/5").await;
    assert!(sw
        .running_config()
        .contains("dot1x authenticator interface ge-0/0/5 "));
    let tampered = sealed.replace("ge-0/0/5", "ge-0/0/6");
    let r = signed_post(
        &mesa.http,
        &interactions,
        &button_press(ADMIN, "mesa_confirm", &tampered, &response_url.url),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = signed_post(
        &mesa.http,
        &interactions,
        &button_press(VIEWER, "mesa_confirm", &sealed, &response_url.url),
    )
    .await;
    assert_eq!(r.status(), 401, "a button pressed by someone else");
    let r = signed_post(
        &mesa.http,
        &interactions,
        &button_press(ADMIN, "mesa_confirm", &sealed, &response_url.url),
    )
    .await;
    assert_eq!(r.status(), 200);
    let applied =
        support::scenario::poll(Duration::from_secs(60), Duration::from_millis(100), || {
            response_url.texts().len() == 1
        })
        .await;
    assert!(applied, "the outcome goes to response_url");
    assert!(!sw
        .running_config()
        .contains("dot1x authenticator interface ge-0/0/5 "));

    let sealed = button("revert sw-idf-1 ge-0/0/5").await;
    let r = signed_post(
        &mesa.http,
        &interactions,
        &button_press(ADMIN, "mesa_confirm", &sealed, &response_url.url),
    )
    .await;
    assert_eq!(r.status(), 200);
    let reverted =
        support::scenario::poll(Duration::from_secs(60), Duration::from_millis(100), || {
            response_url.texts().len() == 2
        })
        .await;
    assert!(reverted);
    let texts = response_url.texts();
    assert!(
        texts[1].contains("asked to revert `sw-idf-1 ge-0/0/5`"),
        "{texts:?}"
    );
    assert!(sw
        .running_config()
        .contains("dot1x authenticator interface ge-0/0/5 "));

    // `mesa events` shows the change came from the chat, and who asked.
    let config_file = data_dir.join("config.toml");
    std::fs::write(
        &config_file,
        format!("[server]\ndata_dir = \"{}\"\n", data_dir.display()),
    )
    .unwrap();
    let (ok, out, err) = cli(&config_file, &["events", "--limit", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains("via chat"), "{out}");
    assert!(
        out.contains("requested from the chat by slack:alice (UADMIN01)"),
        "{out}"
    );
    assert_eq!(
        mesa.app
            .store
            .port(
                &mesa::model::SwitchRef::named(junos::SWITCH),
                &mesa::model::InterfaceName::parse("ge-0/0/5").unwrap()
            )
            .await
            .unwrap()
            .unwrap()
            .profile,
        Profile::Secured
    );
}

#[tokio::test]
async fn mattermost_confirm_button_is_sealed_by_mesa() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config.chatops.mattermost.action_secret = Some(Secret::new("mm-action-secret"));
    // Where Mattermost would post the press; the test posts it itself.
    config.chatops.mattermost.actions_url =
        Some("https://mesa.example.net/chatops/mattermost/actions".into());
    let mesa = start_with(dir, config).await;
    let body = serde_urlencoded::to_string([
        ("token", MM_TOKEN),
        ("user_id", ADMIN),
        ("user_name", "root"),
        ("text", "apply sw1 ge-0/0/7"),
    ])
    .unwrap();
    let reply = mattermost(&mesa, body).await;
    let confirm = &reply["attachments"][0]["actions"][0]["integration"];
    assert_eq!(
        confirm["url"],
        "https://mesa.example.net/chatops/mattermost/actions"
    );
    let sealed = confirm["context"]["sealed"].as_str().unwrap().to_string();
    assert_eq!(
        mesa.profile("sw1", "ge-0/0/7"),
        None,
        "nothing before Confirm"
    );

    let press = |user: &str, sealed: &str| {
        let body = serde_json::json!({
            "user_id": user,
            "user_name": "root",
            "channel_id": "c1",
            "team_id": "t1",
            "post_id": "p1",
            "type": "",
            "context": { "sealed": sealed },
        });
        mesa.http
            .post(mesa.url("/chatops/mattermost/actions"))
            .json(&body)
            .send()
    };
    let tampered = sealed.replacen("ap|", "secured|", 1);
    assert_eq!(press(ADMIN, &tampered).await.unwrap().status(), 401);
    assert_eq!(press(OPERATOR, &sealed).await.unwrap().status(), 401);
    let ok = press(ADMIN, &sealed).await.unwrap();
    assert_eq!(ok.status(), 200);
    let answer: serde_json::Value = ok.json().await.unwrap();
    let text = answer["update"]["message"].as_str().unwrap();
    assert!(
        text.contains("mattermost:root (UADMIN01) asked to apply `sw1 ge-0/0/7`"),
        "{text}"
    );
    assert_eq!(mesa.profile("sw1", "ge-0/0/7"), Some(Profile::Ap));
    let d = mesa.app.store.recent_decisions(1).await.unwrap().remove(0);
    assert_eq!(d.event.source.as_str(), "chat");
}

#[tokio::test]
async fn roles_may_name_slack_user_groups_and_mattermost_teams() {
    let slack_api = support::slack::FakeSlack::start().await;
    slack_api.set_group("S0NETOPS1", &["UGROUP01"]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config.chatops.unknown_users = mesa::config::UnknownUsers::Deny;
    config.chatops.slack.bot_token = Some(Secret::new(support::slack::BOT_TOKEN));
    config.chatops.slack.api_url = slack_api.api_url();
    config.chatops.roles.operator.push("S0NETOPS1".into());
    // A Mattermost team id: everyone of that team is a viewer.
    config
        .chatops
        .roles
        .viewer
        .push("mmteam0000000000000000000a".into());
    let mesa = start_with(dir, config).await;

    let reply = slack(&mesa, "UGROUP01", "hold site-g for 1h").await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    let reply = slack(&mesa, "UGROUP01", "release site-g").await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    // Members are cached for chatops.slack.groups_ttl: one question to Slack for both.
    assert_eq!(slack_api.group_calls(), 1);

    let outsider = slack(&mesa, "UOUTSIDE", "status").await;
    assert!(
        outsider["text"]
            .as_str()
            .unwrap()
            .contains("does not know you"),
        "{outsider}"
    );
    // The viewer listed by id stays a viewer: a group grants no more than its entry.
    let viewer = slack(&mesa, VIEWER, "hold site-g").await;
    assert!(
        viewer["text"]
            .as_str()
            .unwrap()
            .contains("needs the operator role"),
        "{viewer}"
    );

    let mm = |user: &str, team: &str| {
        serde_urlencoded::to_string([
            ("token", MM_TOKEN),
            ("team_id", team),
            ("channel_id", "mmchan0000000000000000000a"),
            ("user_id", user),
            ("user_name", "someone"),
            ("command", "/mesa"),
            ("text", "status"),
        ])
        .unwrap()
    };
    let post = |body: String| {
        mesa.http
            .post(mesa.url("/chatops/mattermost/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let member: serde_json::Value = post(mm("mmuser", "mmteam0000000000000000000a"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        member["text"].as_str().unwrap().contains("mesa manages"),
        "{member}"
    );
    let other: serde_json::Value = post(mm("mmuser", "mmteam0000000000000000000b"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        other["text"]
            .as_str()
            .unwrap()
            .contains("does not know you"),
        "{other}"
    );
}

#[tokio::test]
async fn a_slow_command_is_acknowledged_and_answered_through_response_url() {
    let slack_api = support::slack::FakeSlack::start().await;
    slack_api.set_group("S0NETOPS1", &["UGROUP01"]);
    // Slack is slow to say who is in the group: the command outlasts ack_within.
    slack_api.set_group_delay(Duration::from_millis(1_500));
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config.chatops.slack.bot_token = Some(Secret::new(support::slack::BOT_TOKEN));
    config.chatops.slack.api_url = slack_api.api_url();
    config.chatops.slack.ack_within = mesa::config::Duration::from_millis(200);
    config.chatops.roles.operator.push("S0NETOPS1".into());
    let mesa = start_with(dir, config).await;

    let body = slash_body_with("UGROUP01", "status", &slack_api.response_url("r1"));
    let ts = now();
    let signature = sign(SLACK_SECRET.as_bytes(), &ts.to_string(), body.as_bytes());
    let ack: serde_json::Value = post_slack(&mesa, &body, ts, &signature)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ack["text"].as_str().unwrap().contains("working on it"),
        "{ack}"
    );
    assert!(slack_api.responses("r1").is_empty(), "acknowledged first");

    let mut answers = Vec::new();
    for _ in 0..100 {
        answers = slack_api.responses("r1");
        if !answers.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answers.len(), 1, "one answer through response_url");
    assert_eq!(answers[0]["response_type"], "ephemeral");
    assert!(
        answers[0]["text"]
            .as_str()
            .unwrap()
            .contains("mesa manages"),
        "{answers:?}"
    );
}

/// Polls `done` every 50 ms for up to 10 s (a bound for a local socket, not a speed claim).
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

fn socket_command(envelope_id: &str, user_id: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": true,
        "payload": {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C2147483705",
            "channel_name": "noc",
            "user_id": user_id,
            "user_name": "someone",
            "command": "/mesa",
            "text": text,
            "api_app_id": "A0FAKEAPP",
            "response_url": "https://hooks.slack.com/commands/1234/5678",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0"
        }
    })
}

/// The acknowledgement mesa sent for `envelope_id`, once it did.
async fn ack_of(slack_api: &support::slack::FakeSlack, envelope_id: &str) -> serde_json::Value {
    let find = || {
        slack_api
            .received()
            .into_iter()
            .find(|f| f["envelope_id"] == envelope_id)
    };
    assert!(
        eventually(|| find().is_some()).await,
        "{envelope_id} never acknowledged: {:?}",
        slack_api.received()
    );
    find().unwrap()
}

#[tokio::test]
async fn socket_mode_answers_and_acks_commands_and_reconnects_on_disconnect() {
    let slack_api = support::slack::FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    // Socket Mode alone: no public URL, no signing secret.
    config.chatops.slack.signing_secret = None;
    config.chatops.slack.app_token = Some(Secret::new(support::slack::APP_TOKEN));
    config.chatops.slack.api_url = slack_api.api_url();
    let mesa = start_with(dir, config).await;
    assert!(eventually(|| slack_api.connections() == 1).await);

    assert!(slack_api.push(socket_command("env-1", VIEWER, "status")));
    let ack = ack_of(&slack_api, "env-1").await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("mesa manages 0 ports"),
        "{ack}"
    );

    // Same roles as over HTTP.
    assert!(slack_api.push(socket_command("env-2", VIEWER, "revert sw1 ge-0/0/1")));
    let ack = ack_of(&slack_api, "env-2").await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("needs the admin role"),
        "{ack}"
    );
    assert!(slack_api.push(socket_command("env-3", OPERATOR, "hold site-s for 1h")));
    let ack = ack_of(&slack_api, "env-3").await;
    assert_eq!(ack["payload"]["response_type"], "in_channel", "{ack}");
    assert_eq!(mesa.app.store.maintenance_holds().await.unwrap().len(), 1);

    // Slack refreshes the connection: mesa opens a new one and goes on answering.
    assert!(slack_api.disconnect());
    assert!(eventually(|| slack_api.connections() == 2).await);
    assert_eq!(
        slack_api.opens(),
        2,
        "a fresh URL from apps.connections.open"
    );
    assert!(slack_api.push(socket_command("env-4", VIEWER, "pending")));
    let ack = ack_of(&slack_api, "env-4").await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");

    // apply/revert over Socket Mode: the Confirm button is sealed with the app-level token
    // (no signing secret here) and its press comes back as an `interactive` envelope.
    assert!(slack_api.push(socket_command("env-6", ADMIN, "revert sw1 ge-0/0/1")));
    let ack = ack_of(&slack_api, "env-6").await;
    let sealed = ack["payload"]["blocks"][1]["elements"][0]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("Confirm button expected: {ack}"))
        .to_string();
    let press = |envelope_id: &str, user: &str, value: &str| {
        serde_json::json!({
            "envelope_id": envelope_id,
            "type": "interactive",
            "accepts_response_payload": false,
            "payload": {
                "type": "block_actions",
                "user": {"id": user, "username": "admin", "team_id": "T0001"},
                "team": {"id": "T0001", "domain": "example"},
                "channel": {"id": "C2147483705", "name": "noc"},
                "response_url": slack_api.response_url("press"),
                "actions": [{"action_id": "mesa_confirm", "value": value,
                             "type": "button", "action_ts": "1767326130.289415"}]
            }
        })
    };
    // Pressed by someone else: acknowledged, refused, nothing posted.
    assert!(slack_api.push(press("env-7", OPERATOR, &sealed)));
    ack_of(&slack_api, "env-7").await;
    assert!(slack_api.push(press("env-8", ADMIN, &sealed)));
    ack_of(&slack_api, "env-8").await;
    assert!(eventually(|| !slack_api.responses("press").is_empty()).await);
    let answers = slack_api.responses("press");
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(
        answers[0]["text"]
            .as_str()
            .unwrap()
            .contains("asked to revert `sw1 ge-0/0/1`"),
        "{answers:?}"
    );

    // The connection dies without a word: mesa opens a new one after a short backoff.
    assert!(slack_api.cut());
    assert!(eventually(|| slack_api.connections() == 3).await);
    assert_eq!(slack_api.opens(), 3);

    // An envelope mesa has no use for is still acknowledged (no redelivery).
    assert!(slack_api.push(serde_json::json!({
        "envelope_id": "env-5",
        "type": "events_api",
        "payload": {"event": {"type": "app_mention"}}
    })));
    let ack = ack_of(&slack_api, "env-5").await;
    assert!(ack.get("payload").is_none(), "{ack}");
}

#[tokio::test]
async fn a_hold_released_from_another_process_is_re_checked_by_the_sweep() {
    let (fake, ap, mesa) = held_site().await;
    send(&mesa, "AP_CONNECTED", &ap, 1_700_000_001).await;
    slack(&mesa, OPERATOR, &format!("hold {SITE} for 2h")).await;
    fake.unplug_ap(&ap);
    let d = send(&mesa, "AP_DISCONNECTED", &ap, 1_700_000_002).await;
    assert_eq!(d.outcome.label(), "skipped", "{d:?}");
    let app = &mesa.app;
    let known = mesa::maintenance::sweep(
        app.store.as_ref(),
        &app.notify,
        &app.journal,
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(known.contains(SITE));
    // `mesa release` writes the store from its own process; the running mesa learns of it
    // at its next sweep.
    app.store.release_maintenance_hold(SITE).await.unwrap();
    let now = mesa::maintenance::sweep(app.store.as_ref(), &app.notify, &app.journal, &known)
        .await
        .unwrap();
    assert!(now.is_empty());
    let d = settled(&mesa).await;
    assert!(matches!(d.event.source, Source::Recheck { .. }), "{d:?}");
    assert_eq!(d.outcome.label(), "applied", "{d:?}");
    assert_eq!(mesa.profile("sw1", "ge-0/0/12"), Some(Profile::Secured));
}

#[tokio::test]
async fn a_slow_mattermost_command_is_acknowledged_and_answered_through_response_url() {
    // Mattermost drops a slash command not answered within its outgoing-integration timeout
    // (30 s by default): past `chatops.mattermost.ack_within` mesa says "working on it" and
    // posts the answer to the command's `response_url`. Zero makes every command late.
    let answers = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::mesa::config(dir.path());
    chatops(&mut config);
    config.chatops.mattermost.ack_within = mesa::config::Duration::from_millis(0);
    let mesa = start_with(dir, config).await;
    let body = serde_urlencoded::to_string([
        ("channel_id", "c1"),
        ("team_id", "t1"),
        ("token", MM_TOKEN),
        ("user_id", VIEWER),
        ("user_name", "viewer"),
        ("command", "/mesa"),
        ("text", "status"),
        ("response_url", answers.url.as_str()),
    ])
    .unwrap();
    let ack = mattermost(&mesa, body).await;
    assert!(
        ack["text"].as_str().unwrap().contains("working on it"),
        "{ack}"
    );
    assert!(
        eventually(|| answers.texts().len() == 1).await,
        "one answer through response_url"
    );
    assert!(
        answers.texts()[0].contains("mesa manages"),
        "{:?}",
        answers.texts()
    );
}

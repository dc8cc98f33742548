//! Secrets come from the environment or files and never reach the logs: a real `mesa serve`
//! with debug logging, driven through a full decision against the fake Mist, prints none of
//! its secrets.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mesa::ingest::signature::sign_v2;
use mesa::model::Mac;
use mesa::sim::mist::FakeMist;

const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

#[tokio::test(flavor = "multi_thread")]
async fn debug_logs_carry_no_secret() {
    let fake = FakeMist::start().await;
    fake.add_site(SITE, "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", SITE, "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.plug_ap(&ap, &sw, "ge-0/0/12");

    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("webhook_secret");
    std::fs::write(&secret_file, "webhook-secret-from-file-7f3a\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\napi_token = \"${{MESA_TEST_API_TOKEN}}\"\n\
             [mist]\napi_url = \"{}\"\napi_token = \"${{MESA_TEST_MIST_TOKEN}}\"\norg_id = \"{}\"\n\
             webhook_secret_file = \"{}\"\nlookup_delay = \"0s\"\n\
             [backend.netconf]\npassword = \"${{MESA_TEST_NETCONF_PASSWORD}}\"\n",
            dir.path().join("data").display(),
            fake.url(),
            fake.org_id(),
            secret_file.display()
        ),
    )
    .unwrap();
    let secrets = [
        fake.token(),
        "api-token-9c1e".to_string(),
        "webhook-secret-from-file-7f3a".to_string(),
        "netconf-password-55d2".to_string(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "serve"])
        .env("MESA_LOG", "debug")
        .env("MESA_TEST_MIST_TOKEN", &secrets[0])
        .env("MESA_TEST_API_TOKEN", &secrets[1])
        .env("MESA_TEST_NETCONF_PASSWORD", &secrets[3])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "mesa did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = chrono::Utc::now().timestamp();
    let body = format!(
        r#"{{"topic":"device-events","events":[{{"type":"AP_CONNECTED","mac":"{ap}","site_id":"{SITE}","timestamp":{now}}}]}}"#
    );
    let signature = sign_v2(b"webhook-secret-from-file-7f3a", body.as_bytes());
    let r = http
        .post(format!("{base}/mist/webhook"))
        .header("X-Mist-Signature-v2", signature)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A refused request is logged too.
    let r = http
        .post(format!("{base}/mist/webhook"))
        .header("X-Mist-Signature-v2", "00")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Wait for the decision through the authenticated API.
    loop {
        let events: serde_json::Value = http
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(&secrets[1])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if events.as_array().is_some_and(|e| !e.is_empty()) {
            assert_eq!(events[0]["outcome"]["outcome"], "applied", "{events}");
            break;
        }
        assert!(Instant::now() < deadline, "no decision");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.contains("decision"),
        "debug logs were captured: {logs}"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "secret {secret} in logs:\n{logs}"
        );
    }
}

//! Accepted means durable: events acknowledged with 200 by a `mesa serve` process that is then
//! killed with SIGKILL before handling them are each handled exactly once after a restart. An
//! event whose runs keep ending with mesa dying is parked after `journal.max_attempts` runs.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesa::store::sqlite::SqliteStore;
use mesa::store::Store;
use support::mesa::{device_event, SECRET};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("MESA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mesa serve starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("mesa did not become healthy");
}

async fn post_signed(http: &reqwest::Client, base: &str, body: String) -> reqwest::StatusCode {
    let signature = mesa::ingest::signature::sign_v2(SECRET.as_bytes(), body.as_bytes());
    http.post(format!("{base}/mist/webhook"))
        .header("X-Mist-Signature-v2", signature)
        .body(body)
        .send()
        .await
        .expect("request sent")
        .status()
}

fn write_config(dir: &Path, port: u16, lookup_delay: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n\
             [mist]\nwebhook_secret = \"{SECRET}\"\nmax_event_age = \"36500days\"\nlookup_delay = \"{lookup_delay}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn events_survive_kill_9_and_are_handled_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    // First life: events wait out a long lookup delay, so none is handled before the kill.
    let config = write_config(dir.path(), port, "1h");
    let mut first = spawn(&config);
    wait_healthy(&http, &base).await;
    for i in 0..20 {
        let body = device_event(
            "AP_CONNECTED",
            &format!("5c5b35{i:06}"),
            "site-1",
            1_700_000_000 + i,
        );
        assert_eq!(post_signed(&http, &base, body).await, 200);
    }
    first.kill().unwrap(); // SIGKILL: no chance to flush anything
    first.wait().unwrap();

    let store = SqliteStore::open(&dir.path().join("data"), false).unwrap();
    assert_eq!(
        store.journal_counts().await.unwrap(),
        (20, 0),
        "all accepted events are in the journal"
    );
    assert!(store.recent_decisions(100).await.unwrap().is_empty());

    // Second life: no delay; everything pending resumes.
    let config = write_config(dir.path(), port, "0s");
    let mut second = spawn(&config);
    wait_healthy(&http, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.journal_counts().await.unwrap().0 > 0 {
        assert!(Instant::now() < deadline, "pending events not handled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();

    let decisions = store.recent_decisions(100).await.unwrap();
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for d in &decisions {
        *per_event.entry(d.event.id.clone()).or_default() += 1;
    }
    assert_eq!(per_event.len(), 20, "every accepted event decided");
    assert!(
        per_event.values().all(|&n| n == 1),
        "each exactly once: {per_event:?}"
    );
    assert_eq!(store.journal_counts().await.unwrap(), (0, 20));
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_keeps_unfinished_events() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let config = write_config(dir.path(), port, "1h");
    let mut child = spawn(&config);
    wait_healthy(&http, &base).await;
    let body = device_event("AP_CONNECTED", "5c5b35000001", "site-1", 1_700_000_000);
    assert_eq!(post_signed(&http, &base, body).await, 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "mesa did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let store = SqliteStore::open(&dir.path().join("data"), false).unwrap();
    assert_eq!(
        store.journal_counts().await.unwrap(),
        (1, 0),
        "the accepted event waits for the next start"
    );
    let pending = store.journal_pending().await.unwrap();
    assert_eq!(pending[0].attempts, 0, "a graceful stop is not an attempt");
}

/// `kill -TERM`, then the exit status once the process is gone (polled: the fake Mist of the
/// test runs on this runtime and must keep answering meanwhile).
async fn terminate(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "mesa did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One AP plugged into sw1 ge-0/0/5 on a fake Mist that answers every call after `latency`,
/// and a config for a spawned `mesa serve` using it with a chat receiver.
async fn slow_mist_world(
    dir: &Path,
    port: u16,
    latency: Duration,
    extra: &str,
) -> (
    mesa::sim::mist::FakeMist,
    support::mesa::Receiver,
    std::path::PathBuf,
) {
    use mesa::model::Mac;
    let fake = mesa::sim::mist::FakeMist::start().await;
    fake.add_site("site-1", "HQ");
    let sw = Mac::parse("d420b0000001").unwrap();
    fake.add_switch(&sw, "sw1", "site-1", "10.0.0.11");
    let ap = Mac::parse("5c5b35000001").unwrap();
    fake.add_ap(&ap, "ap-1", "site-1");
    fake.plug_ap(&ap, &sw, "ge-0/0/5");
    fake.set_latency(latency);
    let chat = support::mesa::Receiver::start().await;
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\nfsync = false\n{extra}\n\
             [mist]\napi_url = \"{url}\"\napi_token = \"{token}\"\norg_id = \"{org}\"\n\
             webhook_secret = \"{SECRET}\"\nlookup_delay = \"0s\"\ntimeout = \"60s\"\n\
             [[notify]]\nkind = \"slack\"\nurl = \"{chat}\"\n",
            data = dir.join("data").display(),
            url = fake.url(),
            token = fake.token(),
            org = fake.org_id(),
            chat = chat.url,
        ),
    )
    .unwrap();
    (fake, chat, path)
}

#[tokio::test]
async fn sigterm_finishes_the_decisions_under_way_and_delivers_their_notices() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let (fake, chat, config) =
        slow_mist_world(dir.path(), port, Duration::from_millis(700), "").await;
    let mut child = spawn(&config);
    wait_healthy(&http, &base).await;
    let now = chrono::Utc::now().timestamp();
    let body = device_event("AP_CONNECTED", "5c5b35000001", "site-1", now);
    assert_eq!(post_signed(&http, &base, body).await, 200);
    // The decision is under way: its first Mist lookup has been asked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls().is_empty() {
        assert!(Instant::now() < deadline, "no lookup started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = terminate(&mut child, Duration::from_secs(25)).await;
    assert!(exit.success(), "{exit:?}");
    let store = SqliteStore::open(&dir.path().join("data"), false).unwrap();
    assert_eq!(store.journal_counts().await.unwrap(), (0, 1), "decided");
    let decisions = store.recent_decisions(5).await.unwrap();
    assert_eq!(decisions[0].outcome.label(), "applied", "{decisions:?}");
    assert_eq!(
        chat.bodies.lock().unwrap().len(),
        1,
        "notice delivered before exit"
    );
}

#[tokio::test]
async fn sigterm_hands_back_what_outlasts_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let (fake, _chat, config) = slow_mist_world(
        dir.path(),
        port,
        Duration::from_secs(30),
        "shutdown_grace = \"1s\"",
    )
    .await;
    let mut child = spawn(&config);
    wait_healthy(&http, &base).await;
    let now = chrono::Utc::now().timestamp();
    let body = device_event("AP_CONNECTED", "5c5b35000001", "site-1", now);
    assert_eq!(post_signed(&http, &base, body).await, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.calls().is_empty() {
        assert!(Instant::now() < deadline, "no lookup started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Each Mist answer takes 30 s: stopping before that means the grace ended the drain.
    let exit = terminate(&mut child, Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}");
    let store = SqliteStore::open(&dir.path().join("data"), false).unwrap();
    let pending = store.journal_pending().await.unwrap();
    assert_eq!(pending.len(), 1, "undecided, back in the journal");
    assert_eq!(pending[0].attempts, 0, "a graceful stop is not an attempt");
}

#[tokio::test]
async fn an_event_that_never_finishes_is_parked_after_max_attempts_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let chat = support::mesa::Receiver::start().await;
    let config = write_config(dir.path(), port, "1h");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[journal]\nmax_attempts = 3\n[[notify]]\nkind = \"slack\"\nurl = \"{}\"\n",
        chat.url
    ));
    std::fs::write(&config, text).unwrap();
    let store = SqliteStore::open(&dir.path().join("data"), false).unwrap();

    // Each life ends with SIGKILL while the event runs: as if the event crashed mesa.
    for life in 1..=3u32 {
        let mut child = spawn(&config);
        wait_healthy(&http, &base).await;
        if life == 1 {
            let body = device_event("AP_CONNECTED", "5c5b35000001", "site-1", 1_700_000_000);
            assert_eq!(post_signed(&http, &base, body).await, 200);
        }
        let pending = store.journal_pending().await.unwrap();
        assert_eq!(pending.len(), 1, "life {life}");
        assert_eq!(pending[0].attempts, life, "runs counted across restarts");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(store.recent_decisions(10).await.unwrap().is_empty());

    // Fourth life: three runs never finished, so it is parked, not run again.
    let mut child = spawn(&config);
    wait_healthy(&http, &base).await;
    assert_eq!(store.journal_counts().await.unwrap(), (0, 0), "parked");
    let decisions = store.recent_decisions(10).await.unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0].outcome.label(), "failed");
    let summary = decisions[0].outcome.summary();
    assert!(
        summary.contains("parked") && summary.contains("3 runs"),
        "{summary}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while !chat
        .bodies
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.to_string().contains("parked"))
    {
        assert!(
            Instant::now() < deadline,
            "no chat notice of the parked event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

//! Starts mesa in-process on a loopback port with a temp data dir, and talks to it over
//! real HTTP the way Mist does (signed bodies).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mesa::app::App;
use mesa::backend::dry_run::DryRun;
use mesa::backend::SwitchBackend;
use mesa::config::{Config, Secret};
use mesa::ingest::signature::sign_v2;

pub const SECRET: &str = "test-webhook-secret";

/// `mist.max_event_age` for tests whose events carry fixed 2023 timestamps.
pub const FIXTURE_EVENT_AGE: mesa::config::Duration =
    mesa::config::Duration::from_secs(100 * 365 * 86_400);

pub struct TestMesa {
    pub app: App,
    pub addr: SocketAddr,
    /// The dry-run backend of [`start`] / [`start_with`]; [`start_app`] uses the configured
    /// backend instead and leaves this one idle.
    pub backend: Arc<DryRun>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// A configuration for tests: temp data dir, port 0, no delays, webhook secret set.
pub fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = dir.to_path_buf();
    config.server.fsync = false;
    config.mist.webhook_secret = Some(Secret::new(SECRET));
    // Fixture events carry fixed timestamps from 2023; replay protection has its own tests.
    config.mist.max_event_age = FIXTURE_EVENT_AGE;
    config.mist.lookup_delay = mesa::config::Duration::from_secs(0);
    config.mist.lookup_backoff = mesa::config::Duration::from_millis(10);
    config.mist.lookup_gather = mesa::config::Duration::from_millis(20);
    config.guards.disconnect_delay = mesa::config::Duration::from_secs(0);
    config.guards.lldp.recheck_after = mesa::config::Duration::from_millis(50);
    config.engine.retry_backoff = mesa::config::Duration::from_millis(20);
    config.backend.batch_window = mesa::config::Duration::from_millis(20);
    // On by default in `serve`; a test that wants it runs it itself.
    config.reconcile.enabled = false;
    config
}

/// Serves `app` on its configured (loopback) address; returns the bound address.
async fn serve(app: &App) -> SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = app.clone();
    tokio::spawn(async move { server.serve(Some(tx)).await });
    rx.await.expect("server bound")
}

fn test_mesa(app: App, addr: SocketAddr, backend: Arc<DryRun>, dir: tempfile::TempDir) -> TestMesa {
    TestMesa {
        app,
        addr,
        backend,
        dir,
        http: reqwest::Client::new(),
    }
}

/// Starts mesa the way `mesa serve` does: `App::build`, with the backend `config` names.
pub async fn start_app(dir: tempfile::TempDir, config: Config) -> TestMesa {
    let app = App::build(config).await.expect("mesa starts");
    let addr = serve(&app).await;
    test_mesa(app, addr, Arc::new(DryRun::new()), dir)
}

pub async fn start_with(dir: tempfile::TempDir, config: Config) -> TestMesa {
    let backend = Arc::new(DryRun::new());
    let app = App::with_backend(config, backend.clone())
        .await
        .expect("mesa starts");
    let addr = serve(&app).await;
    test_mesa(app, addr, backend, dir)
}

pub async fn start() -> TestMesa {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path());
    start_with(dir, config).await
}

impl TestMesa {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a body to the webhook, signed with the test secret.
    pub async fn post_signed(&self, body: &str) -> reqwest::Response {
        post_signed(&self.http, self.addr, body).await
    }

    pub async fn idle(&self) {
        idle(&self.app).await
    }

    /// The profile the dry-run backend holds for `port` of `switch`.
    pub fn profile(&self, switch: &str, port: &str) -> Option<mesa::model::Profile> {
        let port = mesa::model::InterfaceName::parse(port).expect("test port name");
        self.backend.profile(switch, &port)
    }

    /// True when no change ever asked the dry-run backend for the secured profile.
    pub fn never_reverted(&self) -> bool {
        self.backend
            .batches()
            .iter()
            .flatten()
            .all(|c| c.profile == mesa::model::Profile::Ap)
    }
}

/// mesa around any backend (NETCONF to a simulated switch, ...), served like [`TestMesa`].
pub struct TestMesaWith {
    pub app: App,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub async fn start_with_backend(
    dir: tempfile::TempDir,
    config: Config,
    backend: Arc<dyn SwitchBackend>,
) -> TestMesaWith {
    let app = App::with_backend(config, backend)
        .await
        .expect("mesa starts");
    let addr = serve(&app).await;
    TestMesaWith {
        app,
        addr,
        dir,
        http: reqwest::Client::new(),
    }
}

impl TestMesaWith {
    pub async fn post_signed(&self, body: &str) -> reqwest::Response {
        post_signed(&self.http, self.addr, body).await
    }

    pub async fn idle(&self) {
        idle(&self.app).await
    }
}

async fn post_signed(http: &reqwest::Client, addr: SocketAddr, body: &str) -> reqwest::Response {
    http.post(format!("http://{addr}/mist/webhook"))
        .header(
            "X-Mist-Signature-v2",
            sign_v2(SECRET.as_bytes(), body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

async fn idle(app: &App) {
    tokio::time::timeout(Duration::from_secs(30), app.engine.wait_idle())
        .await
        .expect("engine settles within 30 s");
}

/// A device-events body as Mist sends it (`webhook_device_events` in the OpenAPI spec).
pub fn device_event(kind: &str, ap_mac: &str, site_id: &str, timestamp: i64) -> String {
    serde_json::json!({
        "topic": "device-events",
        "events": [{
            "type": kind,
            "mac": ap_mac,
            "device_name": format!("ap-{ap_mac}"),
            "device_type": "ap",
            "org_id": mesa::sim::mist::ORG_ID,
            "site_id": site_id,
            "site_name": "HQ",
            "timestamp": timestamp,
        }]
    })
    .to_string()
}

/// mesa wired to a fake Mist cloud, with fast retries for tests.
pub async fn start_with_mist(
    fake: &mesa::sim::mist::FakeMist,
    tweak: impl FnOnce(&mut Config),
) -> TestMesa {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(dir.path());
    let mist = fake.mist_config();
    config.mist.api_url = mist.api_url;
    config.mist.api_token = mist.api_token;
    config.mist.org_id = mist.org_id;
    config.mist.retry_backoff = mesa::config::Duration::from_millis(10);
    config.mist.lookup_attempts = 3;
    tweak(&mut config);
    start_with(dir, config).await
}

/// A chat webhook receiver on loopback that records every JSON body it gets.
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::routing::post;
        let bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Arc::default();
        let recorded = bodies.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |body: axum::Json<serde_json::Value>| {
                let recorded = recorded.clone();
                async move {
                    recorded.lock().unwrap().push(body.0);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, bodies }
    }

    pub fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

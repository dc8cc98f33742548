//! `mesa demo`: the real pipeline (signed webhooks over HTTP, journal, engine, guards,
//! store) against the built-in fake Mist cloud and the dry-run backend, playing a short
//! scenario so a newcomer sees every decision mesa takes, without a Mist account.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::app::App;
use crate::backend::dry_run::DryRun;
use crate::cli::print_decision;
use crate::config::{Config, Duration as CfgDuration, Secret};
use crate::ingest::signature::sign_v2;
use crate::model::Mac;
use crate::sim::mist::{FakeMist, ORG_ID};
use crate::templates::Templates;

const SECRET: &str = "demo-secret";
const HQ: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
const BRANCH: &str = "4ac1dcf4-9d8b-7211-65c4-057819f0862b";

struct Demo {
    app: App,
    http: reqwest::Client,
    url: String,
    shown: usize,
    clock: i64,
}

impl Demo {
    async fn event(&mut self, kind: &str, ap: &Mac, site: &str) -> anyhow::Result<()> {
        self.clock += 1;
        let body = serde_json::json!({"topic": "device-events", "events": [{
            "type": kind, "mac": ap.as_str(), "device_type": "ap", "org_id": ORG_ID,
            "site_id": site, "device_name": format!("ap-{}", &ap.as_str()[8..]), "timestamp": self.clock}]})
        .to_string();
        let response = self
            .http
            .post(&self.url)
            .header(
                "X-Mist-Signature-v2",
                sign_v2(SECRET.as_bytes(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .context("webhook to mesa")?;
        anyhow::ensure!(
            response.status().is_success(),
            "mesa answered {}",
            response.status()
        );
        Ok(())
    }

    /// Waits for the engine, then prints the decisions taken since the last call.
    async fn show(&mut self) -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(30), self.app.engine.wait_idle())
            .await
            .context("engine did not settle")?;
        let all = self.app.store.recent_decisions(1000).await?;
        let fresh = all.len().saturating_sub(self.shown);
        for decision in all.iter().take(fresh).rev() {
            print_decision(decision)?;
            crate::outln!()?;
        }
        self.shown = all.len();
        Ok(())
    }
}

fn chapter(text: &str) -> std::io::Result<()> {
    crate::outln!("\n━━ {text}\n")
}

pub async fn run() -> anyhow::Result<()> {
    let mist = FakeMist::try_start().await.context("fake Mist cloud")?;
    mist.add_site(HQ, "HQ");
    mist.add_site(BRANCH, "Branch");
    let hq_switch = Mac::parse("d420b0000001")?;
    let branch_switch = Mac::parse("d420b0000002")?;
    mist.add_switch(&hq_switch, "sw-hq-01", HQ, "10.0.0.11");
    mist.add_switch(&branch_switch, "sw-branch-01", BRANCH, "10.1.0.11");

    let data_dir =
        ScratchDir(std::env::temp_dir().join(format!("mesa-demo-{}", std::process::id())));
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = data_dir.0.clone();
    config.server.fsync = false;
    config.mist = mist.mist_config();
    config.mist.webhook_secret = Some(Secret::new(SECRET));
    config.mist.lookup_delay = CfgDuration::from_secs(0);
    config.guards.disconnect_delay = CfgDuration::from_secs(0);
    config.guards.lldp.recheck_after = CfgDuration::from_millis(300);
    config.backend.batch_window = CfgDuration::from_millis(50);
    let templates = Arc::new(Templates::load(&config.templates)?);
    let app = App::with_backend(config, Arc::new(DryRun::with_templates(templates))).await?;
    let (bound_tx, bound) = tokio::sync::oneshot::channel();
    let server = app.clone();
    tokio::spawn(async move { server.serve(Some(bound_tx)).await });
    let addr = bound.await.context("mesa did not start")?;
    let mut demo = Demo {
        app,
        http: reqwest::Client::new(),
        url: format!("http://{addr}/mist/webhook"),
        shown: 0,
        clock: crate::clock::now().timestamp(),
    };
    crate::outln!("mesa demo: a simulated Mist cloud with sites HQ and Branch, mesa on http://{addr} (dry-run backend)")?;

    chapter("1. An AP is plugged into sw-hq-01 ge-0/0/12: Mist sends AP_CONNECTED")?;
    let ap1 = Mac::parse("5c5b35000001")?;
    mist.plug_ap(&ap1, &hq_switch, "ge-0/0/12");
    demo.event("AP_CONNECTED", &ap1, HQ).await?;
    demo.show().await?;

    chapter("2. Three more APs come up at HQ")?;
    let others: Vec<Mac> = (2..=4)
        .map(|i| Mac::parse(&format!("5c5b3500000{i}")))
        .collect::<Result<_, _>>()?;
    for (i, ap) in others.iter().enumerate() {
        mist.plug_ap(ap, &hq_switch, &format!("ge-0/0/{}", 20 + i));
        demo.event("AP_CONNECTED", ap, HQ).await?;
    }
    demo.show().await?;

    chapter("3. Someone unplugs the first AP: the port goes back to 802.1X")?;
    mist.unplug_ap(&ap1);
    demo.event("AP_DISCONNECTED", &ap1, HQ).await?;
    demo.show().await?;

    chapter("4. The WAN at HQ goes down: every AP loses the cloud, all still plugged in")?;
    mist.site_outage(HQ);
    for ap in &others {
        demo.event("AP_DISCONNECTED", ap, HQ).await?;
    }
    demo.show().await?;

    chapter("5. An AP is carried to the Branch and restarts on sw-branch-01 ge-0/0/5")?;
    mist.move_ap(&others[0], BRANCH, &branch_switch, "ge-0/0/5");
    demo.event("AP_RESTARTED", &others[0], BRANCH).await?;
    demo.show().await?;

    chapter("Ports mesa now manages")?;
    for port in demo.app.store.ports().await? {
        crate::outln!(
            "  {:<14} {:<11} {:<8} {}",
            port.switch_name,
            port.port,
            port.profile,
            port.ap_mac
                .map(|m| format!("AP {}", m.colon()))
                .unwrap_or_default()
        )?;
    }
    crate::outln!(
        "\nMist API calls made: {}",
        demo.app.metrics.mist_api_calls_total()
    )?;
    Ok(())
}

/// The demo's store, removed however the demo ends (a reader gone, an error).
struct ScratchDir(std::path::PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

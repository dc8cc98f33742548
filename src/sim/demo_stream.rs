//! `mesa demo --stream`: the same pipeline as `mesa demo`, fed by a simulated Mist WebSocket
//! stream instead of webhooks: APs are seen by their stats reports, an unplugged AP by its
//! silence and one REST read, a WAN cut is held by the outage guard, and a dropped
//! connection is caught up. No Mist account, no public URL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::app::App;
use crate::backend::dry_run::DryRun;
use crate::cli::print_decision;
use crate::config::{Config, Duration as CfgDuration, IngestMode};
use crate::model::Mac;
use crate::sim::mist::{ApStatus, FakeMist};
use crate::sim::mist_ws::{site_channel, spawn_reporter, FakeMistStream};
use crate::templates::Templates;

const HQ: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";
/// How long the demo waits for mesa to decide what a chapter shows.
const CHAPTER: Duration = Duration::from_secs(60);

struct Demo {
    app: App,
    shown: usize,
}

impl Demo {
    /// Waits until `total` decisions exist and the engine is idle, then prints the new ones.
    async fn show(&mut self, total: usize) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + CHAPTER;
        loop {
            let count = self.app.store.recent_decisions(1000).await?.len();
            if count >= total {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "mesa decided {count} of {total} events in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
    let mist = Arc::new(FakeMist::try_start().await.context("fake Mist cloud")?);
    mist.add_site(HQ, "HQ");
    let switch = Mac::parse("d420b0000001")?;
    mist.add_switch(&switch, "sw-hq-01", HQ, "10.0.0.11");
    let stream = Arc::new(
        FakeMistStream::start_for(&mist)
            .await
            .context("fake Mist stream")?,
    );

    let data_dir = std::env::temp_dir().join(format!("mesa-demo-stream-{}", std::process::id()));
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = data_dir.clone();
    config.server.fsync = false;
    config.mist = mist.mist_config();
    config.guards.disconnect_delay = CfgDuration::from_secs(0);
    config.guards.lldp.recheck_after = CfgDuration::from_millis(300);
    config.backend.batch_window = CfgDuration::from_millis(50);
    config.ingest.mode = IngestMode::Stream;
    config.ingest.stream.url = stream.url();
    config.ingest.stream.silence = CfgDuration::from_secs(3);
    config.ingest.stream.reconnect_min = CfgDuration::from_millis(200);
    let templates = Arc::new(Templates::load(&config.templates)?);
    let app = App::with_backend(config, Arc::new(DryRun::with_templates(templates))).await?;
    let (bound_tx, bound) = tokio::sync::oneshot::channel();
    let server = app.clone();
    tokio::spawn(async move { server.serve(Some(bound_tx)).await });
    let addr = bound.await.context("mesa did not start")?;
    let subscribed = stream
        .wait_subscribed(&site_channel(HQ), Duration::from_secs(30))
        .await;
    anyhow::ensure!(subscribed, "mesa did not subscribe to the stream");
    let reporter = spawn_reporter(stream.clone(), mist.clone(), Duration::from_secs(1));
    let mut demo = Demo { app, shown: 0 };
    crate::outln!(
        "mesa demo --stream: a simulated Mist cloud and WebSocket stream, site HQ, mesa on http://{addr} (dry-run backend); no webhook is sent"
    )?;

    chapter("1. An AP is plugged into sw-hq-01 ge-0/0/12: its stats report the LLDP neighbour")?;
    let aps: Vec<Mac> = (1..=4)
        .map(|i| Mac::parse(&format!("5c5b3500000{i}")))
        .collect::<Result<_, _>>()?;
    mist.plug_ap(&aps[0], &switch, "ge-0/0/12");
    demo.show(1).await?;

    chapter("2. It is unplugged: silent on the stream, Mist confirms it disconnected")?;
    mist.unplug_ap(&aps[0]);
    demo.show(2).await?;

    chapter("3. Three more APs come up, then the WAN at HQ goes down: all silent at once")?;
    for (i, ap) in aps.iter().enumerate().skip(1) {
        mist.plug_ap(ap, &switch, &format!("ge-0/0/{}", 20 + i));
    }
    demo.show(5).await?;
    mist.site_outage(HQ);
    demo.show(8).await?;

    chapter("4. The WAN is back; the stream connection drops while an AP is plugged in")?;
    for ap in &aps[1..] {
        mist.set_ap_status(ap, ApStatus::Connected, crate::sim::mist::now());
    }
    stream.drop_connections();
    let late = Mac::parse("5c5b35000005")?;
    mist.plug_ap(&late, &switch, "ge-0/0/30");
    demo.show(9).await?;
    reporter.abort();

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
    let stream_metrics = demo.app.metrics.stream();
    crate::outln!(
        "\nMist API calls made: {}; stream reconnects: {}, gap: {:.1} s",
        demo.app.metrics.mist_api_calls_total(),
        stream_metrics.reconnects_total(),
        stream_metrics.gap_seconds_total()
    )?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

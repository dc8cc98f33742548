//! `mesa hold`, `mesa release`, `mesa holds`: holds from the shell of the mesa host. They
//! write the store a running `mesa serve` reads, so they take effect at its next decision;
//! set and release are announced to the configured notification destinations.

use std::time::Duration;

use super::MaintenanceHold;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::Notifications;

/// Time given to the announcement before the command exits.
const ANNOUNCE_WITHIN: Duration = Duration::from_secs(10);

fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn announce(config: &Config, site: &str, headline: String, detail: String) {
    let notify = Notifications::new(&config.notify, &config.mist.api_url, Metrics::new());
    notify.announce(site, headline, detail);
    if !notify.flush(ANNOUNCE_WITHIN).await {
        eprintln!("mesa: warning: the announcement was not delivered to every destination");
    }
}

pub async fn hold(
    config: &Config,
    site: &str,
    lasts: Option<&str>,
    reason: Option<String>,
) -> anyhow::Result<i32> {
    if site.trim().is_empty() {
        eprintln!("mesa: {}", super::HoldError::NoSite);
        return Ok(2);
    }
    let lasts = match lasts.map(super::parse_duration).transpose() {
        Ok(lasts) => lasts,
        Err(e) => {
            eprintln!("mesa: --for: {e}");
            return Ok(2);
        }
    };
    let store = crate::store::open(config).await?;
    let hold = MaintenanceHold::new(site.trim(), lasts, reason, &actor());
    store.set_maintenance_hold(&hold).await?;
    let text = format!(
        "🛠 {}. No reverts there; connects still apply.",
        hold.describe()
    );
    crate::outln!("{}", hold.describe())?;
    announce(
        config,
        &hold.site_id,
        format!("🛠 Maintenance hold on site {}", hold.site_id),
        text,
    )
    .await;
    Ok(0)
}

pub async fn release(config: &Config, site: &str) -> anyhow::Result<i32> {
    let store = crate::store::open(config).await?;
    match store.release_maintenance_hold(site).await? {
        Some(hold) => {
            let text = format!(
                "✅ {} released the maintenance hold on site {site} (set by {}); reverts apply again, and a running mesa re-checks the reverts it held within 30 s",
                actor(),
                hold.actor
            );
            crate::outln!("{text}")?;
            announce(
                config,
                site,
                format!("✅ Maintenance hold on site {site} released"),
                text,
            )
            .await;
            Ok(0)
        }
        None => {
            eprintln!("mesa: site {site} is not on hold");
            Ok(1)
        }
    }
}

pub async fn list(config: &Config, json: bool) -> anyhow::Result<i32> {
    let store = crate::store::open(config).await?;
    let holds = super::all_active(store.as_ref()).await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&holds)?)?;
    } else if holds.is_empty() {
        crate::outln!("no maintenance holds")?;
    } else {
        crate::outln!(
            "{:<38} {:<20} {:<20} {:<24} REASON",
            "SITE",
            "SET",
            "EXPIRES",
            "BY"
        )?;
        for h in holds {
            crate::outln!(
                "{:<38} {:<20} {:<20} {:<24} {}",
                h.site_id,
                h.set_at.format("%Y-%m-%d %H:%M:%S"),
                h.expires_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "when released".into()),
                h.actor,
                h.reason.as_deref().unwrap_or("-")
            )?;
        }
    }
    Ok(0)
}

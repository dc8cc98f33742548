//! Maintenance holds: a person puts a site on hold before working on it (pulling an uplink,
//! replacing a switch), so mesa reverts no port there while it holds. Connects still apply:
//! an AP that comes up must get service. A hold is data: durable in the store, visible in
//! `/api/v1/holds` and `mesa holds`, set from the CLI or the chat, and it ends by itself at
//! its expiry (the engine treats an expired hold as gone even before it is cleared).

pub mod command;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::notify::Notifications;
use crate::store::{Store, StoreError};

/// How often expired holds are cleared and announced.
const EXPIRY_SWEEP: Duration = Duration::from_secs(30);

/// One site on maintenance hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceHold {
    pub site_id: String,
    pub reason: Option<String>,
    /// Who set it: `cli:<user>`, `slack:<user id>`, `mattermost:<user id>`.
    pub actor: String,
    pub set_at: DateTime<Utc>,
    /// None: holds until released.
    pub expires_at: Option<DateTime<Utc>>,
}

impl MaintenanceHold {
    pub fn new(
        site_id: &str,
        lasts: Option<Duration>,
        reason: Option<String>,
        actor: &str,
    ) -> MaintenanceHold {
        let set_at = Utc::now();
        let expires_at = lasts
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| set_at.checked_add_signed(d));
        MaintenanceHold {
            site_id: site_id.to_string(),
            reason: reason.filter(|r| !r.trim().is_empty()),
            actor: actor.to_string(),
            set_at,
            expires_at,
        }
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| end > now)
    }

    /// One line for people: `site X on hold by Y until Z (reason)`.
    pub fn describe(&self) -> String {
        let until = match self.expires_at {
            Some(end) => format!("until {}", end.format("%Y-%m-%d %H:%M UTC")),
            None => "until released".to_string(),
        };
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!(
            "site {} on maintenance hold by {} {until}{reason}",
            self.site_id, self.actor
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("not a duration: {0:?} (examples: 30m, 2h, 1d)")]
    Duration(String),
    #[error("a site id is required")]
    NoSite,
}

/// `2h`, `30m`, `1d`, `90s`.
pub fn parse_duration(text: &str) -> Result<Duration, HoldError> {
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| HoldError::Duration(text.chars().take(40).collect()))
}

/// The hold in force for `site_id` now, if any.
pub async fn active(
    store: &dyn Store,
    site_id: &str,
) -> Result<Option<MaintenanceHold>, StoreError> {
    let now = Utc::now();
    Ok(store
        .maintenance_hold(site_id)
        .await?
        .filter(|h| h.is_active(now)))
}

/// Every hold in force now.
pub async fn all_active(store: &dyn Store) -> Result<Vec<MaintenanceHold>, StoreError> {
    let now = Utc::now();
    Ok(store
        .maintenance_holds()
        .await?
        .into_iter()
        .filter(|h| h.is_active(now))
        .collect())
}

/// Clears expired holds and announces each one; returns them.
pub async fn expire_once(
    store: &dyn Store,
    notify: &Notifications,
) -> Result<Vec<MaintenanceHold>, StoreError> {
    let expired = store.expire_maintenance_holds(Utc::now()).await?;
    for hold in &expired {
        tracing::info!(site_id = %hold.site_id, actor = %hold.actor, "maintenance hold expired");
        notify.announce(
            &hold.site_id,
            format!("⏱ Maintenance hold on site {} expired", hold.site_id),
            format!(
                "{}; reverts apply again from now on (ports left in place during the hold stay as they are until their AP's next event or a reconcile)",
                hold.describe()
            ),
        );
    }
    Ok(expired)
}

/// Sweeps expired holds now and every 30 s until the task is aborted.
pub fn spawn_expiry(store: Arc<dyn Store>, notify: Notifications) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_SWEEP);
        loop {
            tick.tick().await;
            if let Err(e) = expire_once(store.as_ref(), &notify).await {
                tracing::warn!(error = %e, "maintenance hold expiry sweep failed; tried again shortly");
            }
        }
    })
}

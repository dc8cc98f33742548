//! Maintenance holds: a person puts a site on hold before working on it (pulling an uplink,
//! replacing a switch), so mesa reverts no port there while it holds. Connects still apply:
//! an AP that comes up must get service. A hold is data: durable in the store, visible in
//! `/api/v1/holds` and `mesa holds`, set from the CLI or the chat, and it ends by itself at
//! its expiry (the engine treats an expired hold as gone even before it is cleared).

pub mod command;
pub mod recheck;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::journal::Journal;
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
        let set_at = crate::clock::now();
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
    let now = crate::clock::now();
    Ok(store
        .maintenance_hold(site_id)
        .await?
        .filter(|h| h.is_active(now)))
}

/// Every hold in force now.
pub async fn all_active(store: &dyn Store) -> Result<Vec<MaintenanceHold>, StoreError> {
    let now = crate::clock::now();
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
    let expired = store.expire_maintenance_holds(crate::clock::now()).await?;
    for hold in &expired {
        tracing::info!(site_id = %hold.site_id, actor = %hold.actor, "maintenance hold expired");
        notify.announce(
            &hold.site_id,
            format!("⏱ Maintenance hold on site {} expired", hold.site_id),
            format!(
                "{}; reverts apply again from now on, and the reverts it held are re-checked now",
                hold.describe()
            ),
        );
    }
    Ok(expired)
}

/// Sweeps expired holds now and every 30 s until the task is aborted. A hold that ended
/// since the last sweep (expired, or released by `mesa release` from another process) gets
/// its held reverts re-checked ([`recheck`]).
pub fn spawn_expiry(
    store: Arc<dyn Store>,
    notify: Notifications,
    journal: Journal,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_SWEEP);
        let mut known: HashSet<String> = HashSet::new();
        loop {
            tick.tick().await;
            match sweep(store.as_ref(), &notify, &journal, &known).await {
                Ok(now) => known = now,
                Err(e) => {
                    tracing::warn!(error = %e, "maintenance hold expiry sweep failed; tried again shortly")
                }
            }
        }
    })
}

/// One sweep: clears expired holds, re-checks the reverts of every hold that ended since
/// the sites in `known` were seen on hold; returns the sites on hold now.
pub async fn sweep(
    store: &dyn Store,
    notify: &Notifications,
    journal: &Journal,
    known: &HashSet<String>,
) -> Result<HashSet<String>, StoreError> {
    let expired = end_expired(store, notify, journal).await?;
    let now: HashSet<String> = store
        .maintenance_holds()
        .await?
        .into_iter()
        .map(|h| h.site_id)
        .collect();
    // Gone without expiring here: released by `mesa release` (another process).
    let released = known
        .iter()
        .filter(|site| !now.contains(*site) && !expired.iter().any(|h| h.site_id == **site));
    for site in released {
        recheck::hold_ended(store, journal, site).await?;
    }
    Ok(now)
}

/// Clears and announces expired holds ([`expire_once`]) and re-checks the reverts each one
/// held; returns them.
pub async fn end_expired(
    store: &dyn Store,
    notify: &Notifications,
    journal: &Journal,
) -> Result<Vec<MaintenanceHold>, StoreError> {
    let expired = expire_once(store, notify).await?;
    for hold in &expired {
        recheck::hold_ended(store, journal, &hold.site_id).await?;
    }
    Ok(expired)
}

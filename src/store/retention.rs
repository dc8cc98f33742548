//! `store.retention`: finished journal rows and decisions older than the retention are
//! pruned in the background, at start and then every hour, in small chunks so webhooks never
//! wait behind a large delete. Unfinished events, ports and APs are never pruned.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{Pruned, Store, StoreError};
use crate::metrics::Metrics;

const EVERY: Duration = Duration::from_secs(3600);
const CHUNK: u32 = 1_000;

/// One prune of everything finished before `now - retention`.
pub async fn prune_once(
    store: &dyn Store,
    retention: Duration,
    metrics: &Metrics,
) -> Result<Pruned, StoreError> {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let before = crate::clock::now()
        .checked_sub_signed(retention)
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let pruned = store.prune(before, CHUNK).await?;
    metrics.store_pruned("journal", pruned.journal);
    metrics.store_pruned("decisions", pruned.decisions);
    if pruned != Pruned::default() {
        tracing::info!(
            journal = pruned.journal,
            decisions = pruned.decisions,
            before = %before.to_rfc3339(),
            "pruned rows older than store.retention"
        );
    }
    Ok(pruned)
}

/// Prunes now and every hour until the task is aborted.
pub fn spawn(
    store: Arc<dyn Store>,
    retention: Duration,
    metrics: Metrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = prune_once(store.as_ref(), retention, &metrics).await {
                tracing::warn!(error = %e, "retention prune failed; trying again in an hour");
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

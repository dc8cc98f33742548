//! Catch-up after a stream gap: messages sent while a connection was down are lost for good
//! (Mist keeps no backlog), so the sites of that connection are reconciled against Mist's
//! current state through the reconcile's public API: one site alone, or the whole org in
//! one paged read when several came back together.

use crate::app::App;
use crate::reconcile::{self, ProgressMode, ReconcileOptions};

/// Reconciles `sites`; returns the sites still to catch up (all of them if the run failed).
pub async fn run(app: &App, sites: Vec<String>) -> Vec<String> {
    let opts = ReconcileOptions {
        site: match sites.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        progress: ProgressMode::Off,
        ..ReconcileOptions::default()
    };
    match reconcile::run(app, &opts).await {
        Ok(report) => {
            tracing::info!(
                scope = %report.scope,
                sites = sites.len(),
                journaled = report.submitted,
                mist_calls = report.mist_calls_read,
                "stream gap caught up by a reconcile"
            );
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, sites = sites.len(), "stream catch-up failed; trying again shortly");
            sites
        }
    }
}

//! A maintenance hold only postpones reverts: when it ends (released from the chat or the
//! CLI, or expired), every AP whose last decision was a revert held by it is judged again.
//! The held event goes back to the journal as a re-check (`source = recheck`, same AP, kind
//! and event time), so it takes the normal path: an AP that came back meanwhile has a newer
//! event and the re-check is stale; an AP still gone gets its port reverted, with the guards
//! (outage, LLDP) asked afresh.
//!
//! Idempotent: a re-check's journal key is derived from the held event (its time and re-check
//! attempt), so ending the same hold twice (the chat release, then the sweep noticing it is
//! gone) journals each re-check once.

use std::collections::HashSet;

use crate::engine::guards::maintenance::NAME as GUARD;
use crate::journal::Journal;
use crate::model::{ApEvent, Decision, Outcome, Source, Subject};
use crate::store::{Store, StoreError};

/// Decisions searched for held reverts, newest first. A site's hold of a few hours holds at
/// most a few hundred APs; this bounds the read at one query however long mesa ran.
const SEARCHED: u32 = 5_000;

/// The held revert of `site_id`, if `decision` is one.
fn held_on(decision: &Decision, site_id: &str) -> bool {
    matches!(&decision.outcome, Outcome::Skipped { guard, .. } if guard == GUARD)
        && decision
            .verdicts
            .iter()
            .any(|v| v.guard == GUARD && !v.proceed && v.numbers["site_id"] == site_id)
}

/// The re-check of a held event: same AP, kind and time, next re-check attempt.
fn recheck_of(event: &ApEvent) -> ApEvent {
    let attempt = match event.source {
        Source::Recheck { attempt } => attempt.saturating_add(1),
        _ => 1,
    };
    let mut recheck = event.clone();
    recheck.id = uuid::Uuid::new_v4().to_string();
    recheck.source = Source::Recheck { attempt };
    recheck.received_at = crate::clock::now();
    recheck
}

/// The re-checks due now that the hold of `site_id` ended: one per AP (or triggered port)
/// whose newest final decision is a revert that hold stopped.
pub async fn held_reverts(store: &dyn Store, site_id: &str) -> Result<Vec<ApEvent>, StoreError> {
    let decisions = store.recent_decisions(SEARCHED).await?;
    // Per lane: an AP, or the port of a NAC trigger that names no AP.
    let mut seen: HashSet<Subject> = HashSet::new();
    let mut due = Vec::new();
    for decision in decisions.iter().filter(|d| !d.will_retry) {
        if !seen.insert(decision.event.subject()) {
            continue;
        }
        if held_on(decision, site_id) {
            due.push(recheck_of(&decision.event));
        }
    }
    Ok(due)
}

/// Journals the re-checks of the reverts the ended hold of `site_id` stopped; returns how
/// many are new (not journaled by an earlier end of the same hold).
pub async fn hold_ended(
    store: &dyn Store,
    journal: &Journal,
    site_id: &str,
) -> Result<usize, StoreError> {
    let due = held_reverts(store, site_id).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let accepted = journal.accept(due).await?;
    if accepted.new > 0 {
        tracing::info!(
            site_id,
            rechecks = accepted.new,
            "maintenance hold ended: held reverts re-checked"
        );
    }
    Ok(accepted.new)
}

//! A port change a person asked for (chat `apply` / `revert`, after its Confirm): no lookup
//! and no AP guards (the person decided), but the protected-port rule, the per-port lock,
//! the batching backend, the store and the audit are the same as for an event. The decision
//! is journaled (appended and closed in one write) with source `chat` and the actor in its
//! steps, so `mesa events` shows who did it.

use crate::clock::Instant;

use super::guards::maintenance;
use super::{plan, Engine};
use crate::model::{
    ApEvent, Decision, EventKind, EventTime, GuardVerdict, InterfaceName, Mac, Outcome, Profile,
    Source, SwitchRef,
};

/// Stands for "no AP" in the audit row of a port that carries none.
const NO_AP: &str = "000000000000";

impl Engine {
    /// Gives `port` of `switch` the `profile`, for `actor`; returns the recorded decision.
    pub async fn manual_change(
        &self,
        switch_name: &str,
        port: &InterfaceName,
        profile: Profile,
        actor: &str,
    ) -> Decision {
        let inner = &self.inner;
        let started = Instant::now();
        let record = inner
            .store
            .port(&SwitchRef::named(switch_name), port)
            .await
            .ok()
            .flatten();
        let site_id = record
            .as_ref()
            .map(|r| r.site_id.clone())
            .unwrap_or_default();
        let ap_mac = record
            .as_ref()
            .and_then(|r| r.ap_mac.clone())
            .or_else(|| Mac::parse(NO_AP).ok());
        let now = crate::clock::now();
        let Some(ap_mac) = ap_mac else {
            unreachable!("NO_AP is a valid MAC")
        };
        let event = ApEvent {
            id: uuid::Uuid::new_v4().to_string(),
            kind: match profile {
                Profile::Ap => EventKind::ApConnected,
                Profile::Secured => EventKind::ApDisconnected,
            },
            ap_mac,
            ap_name: None,
            org_id: None,
            site_id: site_id.clone(),
            site_name: None,
            timestamp: EventTime::from_millis(now.timestamp_millis()),
            source: Source::Chat,
            received_at: now,
            known_port: None,
        };
        let mut lookups = vec![format!(
            "{} profile for {switch_name} {port} requested from the chat by {actor}",
            profile
        )];
        let mut verdicts: Vec<GuardVerdict> = Vec::new();
        let switch = SwitchRef {
            name: switch_name.to_string(),
            site_id: site_id.clone(),
            mac: record.as_ref().and_then(|r| r.switch_mac.clone()),
            mgmt_addr: None,
        };
        let change = plan::change(&event, &switch, port, profile, format!("asked by {actor}"));
        let mut changes = Vec::new();
        let mut diff = None;
        let protected = inner.protected.check(port);
        let proceed = protected.proceed;
        let outcome = if !proceed {
            let outcome = Outcome::Skipped {
                guard: protected.guard.clone(),
                reason: protected.reason.clone(),
            };
            verdicts.push(protected);
            outcome
        } else {
            verdicts.push(protected);
            if let Ok(Some(hold)) = crate::maintenance::active(inner.store.as_ref(), &site_id).await
            {
                // A person's explicit change goes ahead on a held site; the audit says so.
                if let Some(mut note) = maintenance::note_connect(Some(&hold)) {
                    note.reason = format!("{}: a change asked for by a person", hold.describe());
                    verdicts.push(note);
                }
            }
            changes.push(change.clone());
            let lock = inner.port_lock(&switch, port);
            let _port = lock.lock().await;
            match inner.batcher.apply(change.clone()).await {
                Ok(result) => {
                    if !result.diff.is_empty() {
                        diff = Some(result.diff.clone());
                    }
                    let mut record = plan::port_record(&change, &event.id);
                    if profile == Profile::Ap {
                        // No AP behind a port set by hand: keep the one mesa knew, if any.
                        record.ap_mac = record.ap_mac.filter(|m| m.as_str() != NO_AP);
                    }
                    match inner.store.upsert_port(&record).await {
                        Ok(()) if result.changed => Outcome::Applied,
                        Ok(()) => Outcome::AlreadyInPlace,
                        Err(e) => Outcome::Failed {
                            error: format!("applied, but not remembered: store: {e}"),
                        },
                    }
                }
                Err(e) => Outcome::Failed {
                    error: e.to_string(),
                },
            }
        };
        lookups.push(format!("outcome: {}", outcome.summary()));
        let decision = Decision {
            event,
            lookups,
            verdicts,
            changes,
            outcome,
            diff,
            backend: inner.batcher.backend_kind().to_string(),
            decided_at: crate::clock::now(),
            duration_ms: started.elapsed().as_millis() as u64,
            will_retry: false,
        };
        if let Err(e) = inner
            .store
            .journal_write(
                std::slice::from_ref(&decision.event),
                std::slice::from_ref(&decision),
            )
            .await
        {
            tracing::error!(error = %e, "chat change not recorded in the audit log");
        }
        inner.metrics.decision(decision.outcome.label(), 0.0);
        tracing::info!(outcome = %decision.outcome.summary(), actor, "chat change");
        inner.notify.publish(&decision);
        decision
    }
}

//! No hold is final. A decision held by the flap, site-outage or LLDP guard, or a connect
//! whose LLDP neighbor Mist never reported, leaves a re-check behind: a follow-up event of
//! the same AP and kind (`source = recheck`) written to the journal with its due time as
//! `received_at`. Being in the journal, it survives a restart; being an event, it takes the
//! normal path (lane, guards, backend, audit) and converges the port once the AP is stable.
//!
//! When it is due:
//! - flap holds after `guards.flap.within` (the AP had time to be quiet for the window);
//! - the others after `guards.holds.recheck_after`, doubling per re-check of the same hold
//!   up to `guards.holds.max_interval` (a mesh AP never has an LLDP neighbor: it costs a
//!   lookup an hour, not one every few minutes).
//!
//! A re-check is void once a newer event of its AP arrived: that event decides (and, if
//! held, leaves its own re-check). Re-checks wait outside the lanes, so `wait_idle` and the
//! in-flight count only see them while they run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

use crate::config::GuardsConfig;
use crate::engine::guards::{flap, lldp, outage};
use crate::model::{ApEvent, Mac, Source};

/// Why a decision was held; sets when it is looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    Flap,
    Outage,
    Lldp,
    /// Mist reported no LLDP neighbor for the AP.
    NoNeighbor,
}

impl HoldKind {
    /// The hold kind of a guard's name, for the guards whose holds are re-checked. Port
    /// rules (protected, managed-only, ignored site) are configuration: they stay final.
    pub fn of_guard(guard: &str) -> Option<HoldKind> {
        match guard {
            flap::NAME => Some(HoldKind::Flap),
            outage::GUARD => Some(HoldKind::Outage),
            lldp::GUARD => Some(HoldKind::Lldp),
            _ => None,
        }
    }
}

pub struct Holds {
    recheck_after: Duration,
    max_interval: Duration,
    flap_within: Duration,
    /// Newest event number of each AP (re-checks excluded).
    latest: DashMap<Mac, u64>,
    /// Re-checks waiting or running: event id → the event number current when it was
    /// scheduled; any newer event of the AP voids it.
    waiting: DashMap<String, u64>,
    scheduled: AtomicU64,
}

impl Holds {
    pub fn new(guards: &GuardsConfig) -> Holds {
        Holds {
            recheck_after: guards.holds.recheck_after.get(),
            max_interval: guards.holds.max_interval.get(),
            flap_within: guards.flap.within.get(),
            latest: DashMap::new(),
            waiting: DashMap::new(),
            scheduled: AtomicU64::new(0),
        }
    }

    /// How long after a hold of `kind` its `attempt`-th re-check is due.
    pub fn delay(&self, kind: HoldKind, attempt: u32) -> Duration {
        match kind {
            // The flap window counts events strictly older than `within` out.
            HoldKind::Flap => self.flap_within + Duration::from_secs(1),
            _ => {
                let doubling = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
                self.recheck_after
                    .saturating_mul(doubling)
                    .min(self.max_interval.max(self.recheck_after))
            }
        }
    }

    /// The re-check of a held `event` (event number `held_seq` of its lane): same AP, kind
    /// and timestamp, its own id, due after [`Holds::delay`]. Returns it with that delay.
    /// Any later event of the AP, even one already queued, makes it void.
    pub fn follow_up(&self, event: &ApEvent, kind: HoldKind, held_seq: u64) -> (ApEvent, Duration) {
        let attempt = match event.source {
            Source::Recheck { attempt } => attempt.saturating_add(1),
            _ => 1,
        };
        let delay = self.delay(kind, attempt);
        let due = crate::clock::now()
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        let mut recheck = event.clone();
        recheck.id = uuid::Uuid::new_v4().to_string();
        recheck.source = Source::Recheck { attempt };
        recheck.received_at = due;
        self.waiting
            .insert(recheck.id.clone(), held_seq.saturating_add(1));
        (recheck, delay)
    }

    /// A re-check reaches the engine while the next event number is `next_seq`: returns how
    /// long it still waits before joining its lane (None for any other event). One read
    /// from the journal at start is void once any event that follows it arrives.
    pub(crate) fn defer(&self, event: &ApEvent, next_seq: u64) -> Option<Duration> {
        if !matches!(event.source, Source::Recheck { .. }) {
            return None;
        }
        self.waiting.entry(event.id.clone()).or_insert(next_seq);
        self.scheduled.fetch_add(1, Ordering::Relaxed);
        Some(
            (event.received_at - crate::clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }

    /// Event number `seq` of an AP joined its lane; a re-check does not count as news.
    pub(crate) fn note(&self, event: &ApEvent, seq: u64) {
        if matches!(event.source, Source::Recheck { .. }) {
            return;
        }
        self.latest
            .entry(event.ap_mac.clone())
            .and_modify(|n| *n = (*n).max(seq))
            .or_insert(seq);
    }

    /// True when a newer event of the re-check's AP arrived after it was scheduled. Forgets
    /// the re-check either way.
    pub(crate) fn stale(&self, recheck: &ApEvent) -> bool {
        let Some((_, scheduled_at)) = self.waiting.remove(&recheck.id) else {
            return false;
        };
        self.latest
            .get(&recheck.ap_mac)
            .is_some_and(|newest| *newest >= scheduled_at)
    }

    /// Re-checks scheduled since start (for tests and logs).
    pub fn scheduled(&self) -> u64 {
        self.scheduled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rechecks_back_off_up_to_the_cap() {
        let mut guards = GuardsConfig::default();
        guards.holds.recheck_after = crate::config::Duration::from_secs(300);
        guards.holds.max_interval = crate::config::Duration::from_secs(3600);
        guards.flap.within = crate::config::Duration::from_secs(600);
        let holds = Holds::new(&guards);
        let secs = |k, a| holds.delay(k, a).as_secs();
        assert_eq!(secs(HoldKind::Outage, 1), 300);
        assert_eq!(secs(HoldKind::Outage, 2), 600);
        assert_eq!(secs(HoldKind::NoNeighbor, 4), 2400);
        assert_eq!(secs(HoldKind::Lldp, 5), 3600);
        assert_eq!(secs(HoldKind::Lldp, 500), 3600);
        assert_eq!(secs(HoldKind::Flap, 3), 601);
    }

    fn event(kind: crate::model::EventKind) -> ApEvent {
        ApEvent {
            id: "e1".into(),
            kind,
            ap_mac: Mac::parse("5c5b35000001").unwrap(),
            ap_name: None,
            org_id: None,
            site_id: "s".into(),
            site_name: None,
            timestamp: crate::model::EventTime::from_secs(1_700_000_000),
            source: Source::Webhook,
            received_at: crate::clock::now(),
            known_port: None,
        }
    }

    #[test]
    fn a_recheck_is_void_once_a_later_event_of_its_ap_was_queued() {
        use crate::model::EventKind;
        let holds = Holds::new(&GuardsConfig::default());
        let held = event(EventKind::ApConnected);
        holds.note(&held, 5);
        // A disconnect of the same AP was already queued behind the held connect.
        let queued = event(EventKind::ApDisconnected);
        holds.note(&queued, 6);
        let (recheck, _) = holds.follow_up(&held, HoldKind::Flap, 5);
        assert_eq!(recheck.source, Source::Recheck { attempt: 1 });
        assert_ne!(recheck.dedupe_key(), held.dedupe_key());
        assert!(holds.defer(&recheck, 9).is_some());
        assert!(holds.stale(&recheck));

        // The re-check of the later event stays valid while nothing newer arrives.
        let (again, _) = holds.follow_up(&queued, HoldKind::Flap, 6);
        assert!(holds.defer(&again, 9).is_some());
        assert!(!holds.stale(&again));
        let (third, _) = holds.follow_up(&again, HoldKind::Outage, 12);
        assert_eq!(third.source, Source::Recheck { attempt: 2 });
    }
}

//! Flap damping: an AP that keeps connecting and disconnecting (bad cable, PoE budget,
//! boot loop) would otherwise make mesa flip its port over and over. Past `max_events`
//! within `within`, the AP is held (no changes) until it has been quiet for `within`.

use std::collections::VecDeque;
use std::time::Duration;

use dashmap::DashMap;
use serde_json::json;
use tokio::time::Instant;

use crate::config::FlapGuardConfig;
use crate::model::{GuardVerdict, Subject};

pub const NAME: &str = "flap";

pub struct FlapGuard {
    enabled: bool,
    max_events: usize,
    within: Duration,
    history: DashMap<Subject, History>,
}

#[derive(Default)]
struct History {
    seen: VecDeque<Instant>,
    /// Set while held, so the hold is announced once, not at every flap.
    announced: bool,
}

/// The verdict, and whether this hold is the first one (to notify once).
pub struct FlapVerdict {
    pub verdict: GuardVerdict,
    pub first_hold: bool,
}

impl FlapGuard {
    pub fn new(cfg: &FlapGuardConfig) -> FlapGuard {
        FlapGuard {
            enabled: cfg.enabled,
            max_events: cfg.max_events as usize,
            within: cfg.within.get(),
            history: DashMap::new(),
        }
    }

    /// Records one event of `subject` (an AP, or a port a NAC trigger named) now and judges it.
    pub fn observe(&self, subject: impl Into<Subject>) -> FlapVerdict {
        self.observe_at(subject, Instant::now())
    }

    /// Judges `subject` as things stand, without counting an event: a re-check of a hold is
    /// not a flap.
    pub fn peek(&self, subject: impl Into<Subject>) -> FlapVerdict {
        self.judge_at(subject, Instant::now(), false)
    }

    fn observe_at(&self, subject: impl Into<Subject>, now: Instant) -> FlapVerdict {
        self.judge_at(subject, now, true)
    }

    fn judge_at(&self, subject: impl Into<Subject>, now: Instant, record: bool) -> FlapVerdict {
        if !self.enabled {
            return FlapVerdict {
                verdict: GuardVerdict::proceed(NAME, "flap damping disabled"),
                first_hold: false,
            };
        }
        let mut history = self.history.entry(subject.into()).or_default();
        while history
            .seen
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.within)
        {
            history.seen.pop_front();
        }
        if record {
            history.seen.push_back(now);
        }
        let count = history.seen.len();
        let numbers = json!({"events": count, "max_events": self.max_events, "within_s": self.within.as_secs()});
        if count > self.max_events {
            let first_hold = record && !history.announced;
            history.announced |= record;
            FlapVerdict {
                verdict: GuardVerdict::hold(
                    NAME,
                    format!(
                        "AP flapping: {count} events within {}s (max {}); held until stable",
                        self.within.as_secs(),
                        self.max_events
                    ),
                )
                .with_numbers(numbers),
                first_hold,
            }
        } else {
            if record {
                history.announced = false;
            }
            FlapVerdict {
                verdict: GuardVerdict::proceed(
                    NAME,
                    format!(
                        "{} within {}s",
                        crate::output::count(count as u64, "event"),
                        self.within.as_secs()
                    ),
                )
                .with_numbers(numbers),
                first_hold: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration as CfgDuration;

    #[test]
    fn holds_after_too_many_events_and_announces_once() {
        let guard = FlapGuard::new(&FlapGuardConfig {
            enabled: true,
            max_events: 3,
            within: CfgDuration::from_secs(60),
        });
        let ap = crate::model::Mac::parse("5c5b35000001").unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(
                guard
                    .observe_at(&ap, t0 + Duration::from_secs(i))
                    .verdict
                    .proceed
            );
        }
        let fourth = guard.observe_at(&ap, t0 + Duration::from_secs(4));
        assert!(!fourth.verdict.proceed && fourth.first_hold);
        let fifth = guard.observe_at(&ap, t0 + Duration::from_secs(5));
        assert!(!fifth.verdict.proceed && !fifth.first_hold);
        // Quiet for longer than the window: stable again.
        assert!(
            guard
                .observe_at(&ap, t0 + Duration::from_secs(200))
                .verdict
                .proceed
        );
    }
}

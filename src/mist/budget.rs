//! Mist's hourly call budget as mesa spends it: 5,000 calls per hour per token (the 429 body
//! says so). [`Budget`] counts every call sent in a sliding hour (one-minute buckets), knows
//! when Mist said the budget is gone (a 429, until a call passes again), and says once per
//! hour when 80 % of it is used, so a person hears of it before lookups start to fail.
//!
//! One [`Budget`] lives in [`crate::metrics::Metrics`], so `/metrics` reads it at scrape time
//! (`mesa_mist_api_calls_last_hour`, `mesa_mist_api_budget_remaining`) and every client
//! sharing those metrics (one token per mesa) spends from the same count.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Instant;

use tokio::sync::broadcast;

/// Mist's documented budget per token and hour.
pub const DEFAULT_PER_HOUR: u32 = 5_000;
/// Share of the hour's budget at which mesa warns.
pub const WARN_PERCENT: u32 = 80;

const BUCKETS: usize = 60;
const BUCKET: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);

/// Said once per hour when the calls of the last hour reach [`WARN_PERCENT`] of the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetWarning {
    pub used: u64,
    pub per_hour: u32,
}

impl std::fmt::Display for BudgetWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mist API budget: {} of {} calls used in the last hour ({} %); at {} Mist answers 429 and lookups wait",
            self.used,
            self.per_hour,
            self.used * 100 / u64::from(self.per_hour.max(1)),
            self.per_hour
        )
    }
}

pub struct Budget {
    per_hour: AtomicU32,
    started: Instant,
    /// (minute since `started`, calls in that minute).
    buckets: Mutex<[(u64, u64); BUCKETS]>,
    /// Mist answered 429 and no call has passed since.
    exhausted: AtomicBool,
    warned_at: Mutex<Option<Instant>>,
    warnings: broadcast::Sender<BudgetWarning>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_PER_HOUR)
    }
}

impl Budget {
    pub fn new(per_hour: u32) -> Budget {
        Budget {
            per_hour: AtomicU32::new(per_hour),
            started: Instant::now(),
            buckets: Mutex::new([(u64::MAX, 0); BUCKETS]),
            exhausted: AtomicBool::new(false),
            warned_at: Mutex::new(None),
            warnings: broadcast::channel(4).0,
        }
    }

    /// `mist.hourly_budget`; the clients set it when they start.
    pub fn set_per_hour(&self, per_hour: u32) {
        self.per_hour.store(per_hour.max(1), Ordering::Relaxed);
    }

    pub fn per_hour(&self) -> u32 {
        self.per_hour.load(Ordering::Relaxed)
    }

    /// One call sent to Mist. Returns the 80 % warning the first time the hour reaches it.
    pub fn record(&self) -> Option<BudgetWarning> {
        self.record_at(Instant::now())
    }

    fn record_at(&self, now: Instant) -> Option<BudgetWarning> {
        let minute = self.minute(now);
        {
            let mut buckets = lock(&self.buckets);
            let slot = &mut buckets[(minute % BUCKETS as u64) as usize];
            if slot.0 != minute {
                *slot = (minute, 0);
            }
            slot.1 += 1;
        }
        let used = self.used_at(now);
        let per_hour = self.per_hour();
        if used * 100 < u64::from(per_hour) * u64::from(WARN_PERCENT) {
            return None;
        }
        let mut warned_at = lock(&self.warned_at);
        if warned_at.is_some_and(|at| now.duration_since(at) < HOUR) {
            return None;
        }
        *warned_at = Some(now);
        let warning = BudgetWarning { used, per_hour };
        let _ = self.warnings.send(warning.clone());
        Some(warning)
    }

    /// Calls sent in the last hour (to the minute).
    pub fn used(&self) -> u64 {
        self.used_at(Instant::now())
    }

    fn used_at(&self, now: Instant) -> u64 {
        let minute = self.minute(now);
        lock(&self.buckets)
            .iter()
            .filter(|(m, _)| *m != u64::MAX && *m + (BUCKETS as u64) > minute)
            .map(|(_, n)| n)
            .sum()
    }

    /// What is left of the hour's budget: 0 while Mist refuses calls with 429, whatever the
    /// count says (another client may share the token).
    pub fn remaining(&self) -> u64 {
        if self.exhausted.load(Ordering::Relaxed) {
            return 0;
        }
        u64::from(self.per_hour()).saturating_sub(self.used())
    }

    /// Mist answered 429 (`true`), or a call passed again (`false`).
    pub fn set_exhausted(&self, exhausted: bool) {
        self.exhausted.store(exhausted, Ordering::Relaxed);
    }

    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Every 80 % warning from now on (for chat; the client logs them itself).
    pub fn warnings(&self) -> broadcast::Receiver<BudgetWarning> {
        self.warnings.subscribe()
    }

    fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs() / BUCKET.as_secs()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_sliding_hour_and_warns_once_at_80_percent() {
        let budget = Budget::new(10);
        let t0 = budget.started;
        for i in 0..7 {
            assert_eq!(budget.record_at(t0 + BUCKET * i), None);
        }
        let warning = budget.record_at(t0 + BUCKET * 7).expect("8 of 10 warns");
        assert_eq!(
            warning,
            BudgetWarning {
                used: 8,
                per_hour: 10
            }
        );
        assert!(warning.to_string().contains("8 of 10 calls"), "{warning}");
        assert_eq!(budget.record_at(t0 + BUCKET * 8), None, "once per hour");
        assert_eq!(budget.used_at(t0 + BUCKET * 8), 9);
        // An hour later the first minutes have left the window.
        assert_eq!(budget.used_at(t0 + BUCKET * 62), 6);
        assert_eq!(budget.used_at(t0 + BUCKET * 200), 0);
        budget.set_exhausted(true);
        assert_eq!(budget.remaining(), 0);
        budget.set_exhausted(false);
        assert_eq!(budget.remaining(), 10 - budget.used());
    }
}

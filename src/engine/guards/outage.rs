//! Site outage guard for `AP_DISCONNECTED`: Mist says "disconnected" when an AP loses the
//! cloud, not its cable. When a large share of a site's APs went down together, the site lost
//! its uplink and every port should stay as it is.
//!
//! One stats read per site serves all pending events of that site: an outage brings hundreds
//! of events at once, and they share one in-flight call and its cached answer. A reading that
//! shows an outage is reused for the whole `window`; a calm reading is shared only by the
//! checks already waiting for it: a calm answer taken
//! a moment before the rest of the site dropped would otherwise let the first events of an
//! outage revert their ports (seen in `mesa demo` with a 10 s reuse).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::config::OutageGuardConfig;
use crate::mist::cache::FlightCache;
use crate::mist::{ApStat, MistClient, MistError};
use crate::model::GuardVerdict;

pub const GUARD: &str = "site-outage";

/// How a site looked at one stats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SiteCount {
    /// APs disconnected within `window`.
    down: usize,
    /// Connected APs, plus disconnected ones not yet `ignore_disconnected_for` old.
    present: usize,
    /// Every AP in the stats, to show what was left out.
    listed: usize,
}

pub struct OutageGuard {
    mist: Arc<MistClient>,
    enabled: bool,
    window: Duration,
    ignore_for: Duration,
    min_percent: u32,
    min_site_aps: u32,
    calm_ttl: Duration,
    reads: FlightCache<String, SiteCount>,
}

impl OutageGuard {
    pub fn new(mist: Arc<MistClient>, cfg: &OutageGuardConfig) -> OutageGuard {
        OutageGuard {
            mist,
            enabled: cfg.enabled,
            window: cfg.window.get(),
            ignore_for: cfg.ignore_disconnected_for.get(),
            min_percent: cfg.min_percent,
            min_site_aps: cfg.min_site_aps,
            calm_ttl: Duration::ZERO,
            reads: FlightCache::new(),
        }
    }

    /// How long a reading without an outage is reused. Default: not at all beyond the checks
    /// already waiting for it (tests use a short reuse to show what it would cost).
    pub fn with_calm_ttl(mut self, ttl: Duration) -> OutageGuard {
        self.calm_ttl = ttl;
        self
    }

    /// present = connected + disconnected less than `ignore_disconnected_for` ago;
    /// down = disconnected within `window`; outage when down*100/present >= `min_percent`.
    /// Sites with at most `min_site_aps` APs present skip the guard.
    /// With `enabled = false`, proceeds without asking Mist.
    pub async fn check(&self, site_id: &str) -> Result<GuardVerdict, MistError> {
        if !self.enabled {
            return Ok(GuardVerdict::proceed(GUARD, "site outage guard disabled"));
        }
        let count = self
            .reads
            .get_or_fetch(site_id.to_string(), || async {
                let stats = self.mist.site_ap_stats(site_id).await?;
                let count = self.count(&stats, epoch_now());
                let ttl = if self.is_outage(&count) {
                    self.window
                } else {
                    self.calm_ttl
                };
                Ok::<_, MistError>((count, ttl))
            })
            .await?;
        Ok(self.verdict(&count))
    }

    fn count(&self, stats: &[ApStat], now: f64) -> SiteCount {
        let (window, ignore_for) = (self.window.as_secs_f64(), self.ignore_for.as_secs_f64());
        let mut count = SiteCount {
            down: 0,
            present: 0,
            listed: stats.len(),
        };
        for ap in stats {
            if !ap.is_disconnected() {
                count.present += 1;
                continue;
            }
            // Without last_seen there is no telling when it went down: count it as long gone.
            let age = ap
                .last_seen
                .map(|seen| (now - seen).max(0.0))
                .unwrap_or(f64::INFINITY);
            if age <= ignore_for {
                count.present += 1;
            }
            if age <= window {
                count.down += 1;
            }
        }
        count
    }

    fn too_small(&self, count: &SiteCount) -> bool {
        count.present <= self.min_site_aps as usize
    }

    fn is_outage(&self, count: &SiteCount) -> bool {
        !self.too_small(count) && count.down * 100 >= count.present * self.min_percent as usize
    }

    fn verdict(&self, count: &SiteCount) -> GuardVerdict {
        let window = humantime::format_duration(self.window);
        let numbers = json!({
            "down": count.down,
            "present": count.present,
            "listed": count.listed,
            "window_s": self.window.as_secs(),
            "min_percent": self.min_percent,
            "min_site_aps": self.min_site_aps,
        });
        let verdict = if self.too_small(count) {
            GuardVerdict::proceed(
                GUARD,
                format!(
                    "site has {} APs present (at most {}): outage guard not applied",
                    count.present, self.min_site_aps
                ),
            )
        } else if self.is_outage(count) {
            GuardVerdict::hold(
                GUARD,
                format!(
                    "site outage: {} of {} APs down within {window}",
                    count.down, count.present
                ),
            )
        } else {
            GuardVerdict::proceed(
                GUARD,
                format!(
                    "no site outage: {} of {} APs down within {window} (below {}%)",
                    count.down, count.present, self.min_percent
                ),
            )
        };
        verdict.with_numbers(numbers)
    }
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

//! Site outage guard for `AP_DISCONNECTED`: Mist says "disconnected" when an AP loses the
//! cloud, not its cable. When a large share of a site's APs went down together, the site lost
//! its uplink and every port should stay as it is.
//!
//! Real outages are seen gradually: Mist declares the APs of a cut site disconnected one by
//! one over a minute or more, so the first events would be judged while the site still looks
//! calm. Hence:
//! - a lone drop on a calm site (no other AP of the site went down within `window`, neither
//!   by the events mesa received nor by Mist's stats) is judged on one stats read;
//! - otherwise direct evidence comes first: the port's switch disconnected from Mist is an
//!   outage; the switch connected and reporting the port down or another neighbor is an
//!   unplug, whatever the count says (a small site may lose three of six APs to real unplugs);
//! - without evidence, the guard waits until no AP of the site went down for `settle`
//!   (at most `settle_max`) and judges on the final count;
//! - the re-check of a hold ends it when Mist has heard other APs of the site well after this
//!   one dropped ([`HEARD_AFTER`]): a WAN cut silences every AP of the site, so the site's
//!   uplink is up and the AP is gone for real. Without this, real unplugs that are a large
//!   share of a site whose switch Mist does not manage would stay held, and their ports open,
//!   for good.
//!
//! One stats read per site serves all pending events of that site: an outage brings hundreds
//! of events at once, and they share one in-flight call and its cached answer. A reading that
//! shows an outage is reused for the whole `window`; a calm reading is shared only by the
//! checks already waiting for it: a calm answer taken
//! a moment before the rest of the site dropped would otherwise let the first events of an
//! outage revert their ports (seen in `mesa demo` with a 10 s reuse).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde_json::json;
use tokio::time::Instant;

use super::evidence::{Evidence, SwitchEvidence};
use crate::config::OutageGuardConfig;
use crate::engine::wait::Wait;
use crate::mist::cache::FlightCache;
use crate::mist::{ApStat, MistClient, MistError};
use crate::model::{GuardVerdict, InterfaceName, Mac, SwitchRef};

pub const GUARD: &str = "site-outage";

/// An AP heard this long (seconds) after the judged AP's last contact proves the site's
/// uplink outlived that drop: a WAN cut that caused the drop began within one report
/// interval of the last contact (Mist APs report far more often than this), and silenced
/// every AP of the site from then on.
pub const HEARD_AFTER: f64 = 120.0;

/// How a site looked at one stats read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SiteCount {
    /// APs disconnected within `window` of the drop being judged.
    down: usize,
    /// Connected APs, plus disconnected ones not yet `ignore_disconnected_for` old.
    present: usize,
    /// Every AP in the stats, to show what was left out.
    listed: usize,
    /// Of `down`, the APs other than the one being judged.
    others: usize,
    /// Epoch seconds of the latest drop in `down` (by `last_seen`).
    latest_drop: f64,
    /// Connected APs other than the judged one that Mist heard more than [`HEARD_AFTER`]
    /// after the judged AP's last contact.
    heard_after: usize,
}

/// The port whose revert is being judged.
pub struct Revert<'a> {
    pub site_id: &'a str,
    pub ap: &'a Mac,
    pub switch: &'a SwitchRef,
    pub port: &'a InterfaceName,
    /// Read Mist anew rather than reuse the reading of an outage.
    pub fresh: bool,
    /// The re-check of a hold: the site heard since the drop ends an outage hold.
    pub recheck: bool,
}

pub struct OutageGuard {
    mist: Arc<MistClient>,
    enabled: bool,
    window: Duration,
    ignore_for: Duration,
    min_percent: u32,
    min_site_aps: u32,
    settle: Duration,
    settle_max: Duration,
    calm_ttl: Duration,
    reads: FlightCache<String, Arc<Vec<ApStat>>>,
    evidence: SwitchEvidence,
    /// AP_DISCONNECTED arrivals per site, newest last, kept for `window`.
    drops: DashMap<String, VecDeque<(Instant, Mac)>>,
}

impl OutageGuard {
    pub fn new(mist: Arc<MistClient>, cfg: &OutageGuardConfig) -> OutageGuard {
        let evidence = SwitchEvidence::new(mist.clone(), cfg.window.get());
        OutageGuard {
            mist,
            enabled: cfg.enabled,
            window: cfg.window.get(),
            ignore_for: cfg.ignore_disconnected_for.get(),
            min_percent: cfg.min_percent,
            min_site_aps: cfg.min_site_aps,
            settle: cfg.settle.get(),
            settle_max: cfg.settle_max.get(),
            calm_ttl: Duration::ZERO,
            reads: FlightCache::new(),
            evidence,
            drops: DashMap::new(),
        }
    }

    /// How long a reading without an outage is reused. Default: not at all beyond the checks
    /// already waiting for it (tests use a short reuse to show what it would cost).
    pub fn with_calm_ttl(mut self, ttl: Duration) -> OutageGuard {
        self.calm_ttl = ttl;
        self.evidence = self.evidence.with_calm_ttl(ttl);
        self
    }

    /// An `AP_DISCONNECTED` of `ap` on `site_id` arrived just now: the other drops of the
    /// site wait for it before they are judged.
    pub fn note_drop(&self, site_id: &str, ap: &Mac) {
        if !self.enabled || site_id.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut drops = self.drops.entry(site_id.to_string()).or_default();
        while drops
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > self.window)
        {
            drops.pop_front();
        }
        drops.push_back((now, ap.clone()));
    }

    /// (other APs whose drop arrived within `window`, time since the latest drop of any AP).
    fn noted(&self, site_id: &str, ap: &Mac) -> (usize, Option<Duration>) {
        let Some(drops) = self.drops.get(site_id) else {
            return (0, None);
        };
        let now = Instant::now();
        let recent = drops
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= self.window);
        let mut others = std::collections::HashSet::new();
        let mut latest = None;
        for (t, mac) in recent {
            if mac != ap {
                others.insert(mac);
            }
            latest = Some(now.duration_since(*t));
        }
        (others.len(), latest)
    }

    /// The site as a whole, right now: present = connected + disconnected less than
    /// `ignore_disconnected_for` ago; down = disconnected within `window`; outage when
    /// down*100/present >= `min_percent`. Sites with at most `min_site_aps` APs present skip
    /// the guard. With `enabled = false`, proceeds without asking Mist.
    pub async fn check(&self, site_id: &str) -> Result<GuardVerdict, MistError> {
        if !self.enabled {
            return Ok(GuardVerdict::proceed(GUARD, "site outage guard disabled"));
        }
        let stats = self.read(site_id, false).await?;
        let count = self.count(&stats, None, crate::clock::epoch_seconds());
        Ok(self.verdict(&count, json!({})))
    }

    /// Judges the revert of one port (see the module documentation): calm site → one read;
    /// otherwise evidence from the switch, then the count once the site's drop settled.
    /// A wait cut short by a newer event of the AP returns a hold (`wait.superseded()`).
    pub async fn check_port(
        &self,
        revert: &Revert<'_>,
        wait: &mut Wait,
    ) -> Result<GuardVerdict, MistError> {
        if !self.enabled {
            return Ok(GuardVerdict::proceed(GUARD, "site outage guard disabled"));
        }
        let started = Instant::now();
        let site = revert.site_id;
        let stats = self.read(site, revert.fresh).await?;
        let mut count = self.count(&stats, Some(revert.ap), crate::clock::epoch_seconds());
        let (noted, _) = self.noted(site, revert.ap);
        let mut seen = json!({"others_noted": noted});
        if self.too_small(&count) || (noted == 0 && count.others == 0) {
            if !self.too_small(&count) {
                seen["calm"] = json!(true);
            }
            return Ok(self.verdict(&count, seen));
        }
        match self.evidence.look(revert).await? {
            Evidence::Unplug(what) => {
                seen["evidence"] = json!("unplug");
                return Ok(GuardVerdict::proceed(
                    GUARD,
                    format!(
                        "{what}: an unplug, not an outage ({} of {} APs of the site down within {}, {noted} drops received)",
                        count.down,
                        count.present,
                        humantime::format_duration(self.window)
                    ),
                )
                .with_numbers(self.numbers(&count, seen)));
            }
            Evidence::SwitchDown(what) => {
                seen["evidence"] = json!("switch-disconnected");
                return Ok(GuardVerdict::hold(
                    GUARD,
                    format!(
                        "{what}: site outage ({} of {} APs of the site down within {})",
                        count.down,
                        count.present,
                        humantime::format_duration(self.window)
                    ),
                )
                .with_numbers(self.numbers(&count, seen)));
            }
            Evidence::None(what) => seen["evidence"] = json!(what),
        }
        if self.is_outage(&count) {
            return Ok(self.judged(&count, seen, revert.recheck));
        }
        // Others went down recently, not (yet) enough for an outage: wait until no AP of the
        // site went down for `settle` (by the events received and by Mist's `last_seen`), read
        // again to catch drops no event told of, and judge on the count at that point.
        let cap = started + self.settle_max;
        let mut reads = 1;
        let mut slept_since_read = false;
        loop {
            let now = Instant::now();
            let quiet = self.quiet(site, revert.ap, &count);
            if quiet < self.settle && now < cap {
                let wake = (now + (self.settle - quiet)).min(cap);
                if !wait.sleep(wake.saturating_duration_since(now)).await {
                    return Ok(GuardVerdict::hold(
                        GUARD,
                        "a newer event of the AP arrived while the site's drop settled",
                    ));
                }
                slept_since_read = true;
                continue;
            }
            if !slept_since_read {
                break;
            }
            let before = count.down;
            let stats = self.read(site, revert.fresh).await?;
            count = self.count(&stats, Some(revert.ap), crate::clock::epoch_seconds());
            reads += 1;
            slept_since_read = false;
            if count.down <= before || self.is_outage(&count) || Instant::now() >= cap {
                break;
            }
        }
        let waited = started.elapsed();
        seen["settle_waited_s"] = json!(waited.as_secs());
        seen["reads"] = json!(reads);
        if reads == 1 {
            let mut verdict = self.verdict(&count, seen);
            verdict.reason = format!(
                "{} (the other drops of the site had already settled)",
                verdict.reason
            );
            return Ok(verdict);
        }
        // Mist may declare the switch lost a while after its first APs: look once more.
        if !self.is_outage(&count) {
            if let Evidence::SwitchDown(what) = self.evidence.look(revert).await? {
                seen["evidence"] = json!("switch-disconnected");
                return Ok(GuardVerdict::hold(
                    GUARD,
                    format!(
                        "{what}: site outage ({} of {} APs of the site down within {}, after waiting {}s)",
                        count.down,
                        count.present,
                        humantime::format_duration(self.window),
                        waited.as_secs()
                    ),
                )
                .with_numbers(self.numbers(&count, seen)));
            }
        }
        let mut verdict = self.judged(&count, seen, revert.recheck);
        verdict.reason = format!(
            "{} (judged after waiting {} for the site's drop to settle)",
            verdict.reason,
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        );
        Ok(verdict)
    }

    /// A second opinion after the other guards waited (the LLDP recheck, up to minutes): a
    /// WAN cut that began during that wait looked calm at the first read, and the AP itself
    /// may be back. Reads the site anew; holds for an outage or for the AP seen connected.
    pub async fn confirm(
        &self,
        revert: &Revert<'_>,
        waited: Duration,
    ) -> Result<GuardVerdict, MistError> {
        if !self.enabled {
            return Ok(GuardVerdict::proceed(GUARD, "site outage guard disabled"));
        }
        let stats = self.read(revert.site_id, true).await?;
        let count = self.count(&stats, Some(revert.ap), crate::clock::epoch_seconds());
        let waited_s = waited.as_secs();
        let seen = json!({"confirm_after_s": waited_s});
        if let Some(own) = stats.iter().find(|s| &s.mac == revert.ap) {
            if !own.is_disconnected() {
                return Ok(GuardVerdict::hold(
                    GUARD,
                    format!(
                        "Mist reports the AP {} again after the {waited_s}s the guards waited; its own event follows",
                        own.status
                    ),
                )
                .with_numbers(self.numbers(&count, seen)));
            }
        }
        let mut seen = seen;
        if count.others > 0 && !self.too_small(&count) {
            // Direct evidence beats the count here too (see `check_port`).
            let (unplug, what) = match self.evidence.look(revert).await? {
                Evidence::Unplug(what) => (true, what),
                Evidence::SwitchDown(what) => (false, what),
                Evidence::None(what) => {
                    seen["evidence"] = json!(what);
                    return Ok(after_wait(
                        self.judged(&count, seen, revert.recheck),
                        waited_s,
                    ));
                }
            };
            seen["evidence"] = json!(if unplug {
                "unplug"
            } else {
                "switch-disconnected"
            });
            let verdict = if unplug {
                GuardVerdict::proceed(GUARD, format!("{what}: an unplug, not an outage"))
            } else {
                GuardVerdict::hold(GUARD, format!("{what}: site outage"))
            };
            let mut verdict = verdict.with_numbers(self.numbers(&count, seen));
            verdict.reason = format!(
                "{} ({} of {} APs of the site down)",
                verdict.reason, count.down, count.present
            );
            return Ok(after_wait(verdict, waited_s));
        }
        Ok(after_wait(self.verdict(&count, seen), waited_s))
    }

    /// Time since the latest drop on the site: an event received, or a `last_seen` of a
    /// disconnected AP counted in `count`.
    fn quiet(&self, site_id: &str, ap: &Mac, count: &SiteCount) -> Duration {
        let (_, since_noted) = self.noted(site_id, ap);
        let by_stats = crate::clock::epoch_seconds() - count.latest_drop;
        let by_stats = if by_stats.is_finite() {
            Duration::from_secs_f64(by_stats.max(0.0))
        } else {
            Duration::MAX
        };
        since_noted.unwrap_or(Duration::MAX).min(by_stats)
    }

    /// AP stats of the site, shared by concurrent checks; an outage reading is reused for
    /// `window`, except by re-checks (`fresh`), which share only a read in flight.
    async fn read(&self, site_id: &str, fresh: bool) -> Result<Arc<Vec<ApStat>>, MistError> {
        self.reads
            .get_or_fetch(cache_key(site_id, fresh), || async {
                let stats = Arc::new(self.mist.site_ap_stats(site_id).await?);
                let count = self.count(&stats, None, crate::clock::epoch_seconds());
                let ttl = if self.is_outage(&count) && !fresh {
                    self.window
                } else {
                    self.calm_ttl
                };
                Ok::<_, MistError>((stats, ttl))
            })
            .await
    }

    /// `ap`: the AP being judged; its own drop time anchors `window` (a re-check of an old
    /// hold still counts the APs that went down with it). None anchors on `now`.
    fn count(&self, stats: &[ApStat], ap: Option<&Mac>, now: f64) -> SiteCount {
        let (window, ignore_for) = (self.window.as_secs_f64(), self.ignore_for.as_secs_f64());
        let own_drop = ap
            .and_then(|ap| stats.iter().find(|s| &s.mac == ap))
            .filter(|s| s.is_disconnected())
            .and_then(|s| s.last_seen)
            .map(|seen| seen.min(now));
        let anchor = own_drop.unwrap_or(now).min(now);
        let mut count = SiteCount {
            down: 0,
            present: 0,
            listed: stats.len(),
            others: 0,
            latest_drop: f64::NEG_INFINITY,
            heard_after: 0,
        };
        for stat in stats {
            if !stat.is_disconnected() {
                count.present += 1;
                let heard = stat.last_seen.unwrap_or(f64::NEG_INFINITY);
                if own_drop.is_some_and(|drop| heard > drop + HEARD_AFTER) && ap != Some(&stat.mac)
                {
                    count.heard_after += 1;
                }
                continue;
            }
            // Without last_seen there is no telling when it went down: count it as long gone.
            let seen = stat.last_seen.unwrap_or(f64::NEG_INFINITY);
            if now - seen <= ignore_for {
                count.present += 1;
            }
            if (seen - anchor).abs() <= window {
                count.down += 1;
                if ap != Some(&stat.mac) {
                    count.others += 1;
                }
                count.latest_drop = count.latest_drop.max(seen);
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

    fn numbers(&self, count: &SiteCount, seen: serde_json::Value) -> serde_json::Value {
        let mut numbers = json!({
            "down": count.down,
            "present": count.present,
            "listed": count.listed,
            "others_down": count.others,
            "window_s": self.window.as_secs(),
            "min_percent": self.min_percent,
            "min_site_aps": self.min_site_aps,
            "heard_after_drop": count.heard_after,
        });
        if let (Some(numbers), Some(seen)) = (numbers.as_object_mut(), seen.as_object()) {
            numbers.extend(seen.clone());
        }
        numbers
    }

    /// [`OutageGuard::verdict`] for one port; on a hold's re-check, an outage by the count
    /// gives way to the site heard since the drop (see the module documentation).
    fn judged(&self, count: &SiteCount, seen: serde_json::Value, recheck: bool) -> GuardVerdict {
        if recheck && self.is_outage(count) && count.heard_after > 0 {
            return GuardVerdict::proceed(
                GUARD,
                format!(
                    "{} of {} APs of the site down within {}, but Mist heard {} other APs of the site more than {}s after this one dropped: the site's uplink is up, an unplug, not an outage",
                    count.down,
                    count.present,
                    humantime::format_duration(self.window),
                    count.heard_after,
                    HEARD_AFTER
                ),
            )
            .with_numbers(self.numbers(count, seen));
        }
        self.verdict(count, seen)
    }

    fn verdict(&self, count: &SiteCount, seen: serde_json::Value) -> GuardVerdict {
        let window = humantime::format_duration(self.window);
        let numbers = self.numbers(count, seen);
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

/// A verdict of [`OutageGuard::confirm`] says it was read after the other guards waited.
fn after_wait(mut verdict: GuardVerdict, waited_s: u64) -> GuardVerdict {
    verdict.reason = format!(
        "{} (read again after the guards waited {waited_s}s)",
        verdict.reason
    );
    verdict
}

pub(super) fn cache_key(site_id: &str, fresh: bool) -> String {
    if fresh {
        format!("{site_id}#recheck")
    } else {
        site_id.to_string()
    }
}

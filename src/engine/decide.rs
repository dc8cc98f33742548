//! One event, start to finish: wait out its delay, find the port, ask the guards, apply the
//! change, remember it, and leave one audit row and one announcement. Transient failures
//! (Mist down, switch unreachable or locked) are retried with backoff; the event stays in
//! the journal until it has a final outcome.

use std::time::Duration;

use crate::clock::Instant;

use tokio::sync::watch;

use super::guards::outage::Revert;
use super::guards::{maintenance, ports, sites};
use super::holds::HoldKind;
use super::lookup::{Lookup, LookupError};
use super::wait::Wait;
use super::{plan, Inner, Order};
use crate::model::{
    ApEvent, Decision, EventKind, GuardVerdict, InterfaceName, KnownPort, Outcome, PortChange,
    Profile, Source, SwitchRef,
};

/// Why a step stopped the flow.
enum Stop {
    /// Worth another attempt later (the cause is outside the event).
    Transient(String),
    /// Mist refuses calls for now (429: the token's hourly budget is spent). Tried again when
    /// Mist's rate-limit gate reopens, for as long as the budget may take to come back: an
    /// event must not fail for good because another tool of the org spent the hour's calls.
    MistBusy(String),
    /// The decision is made.
    Final(Outcome),
}

type Flow<T> = Result<T, Stop>;

pub(crate) struct Run<'a> {
    inner: &'a Inner,
    event: ApEvent,
    order: Order,
    /// None for `mesa replay`: no delays, nothing can supersede.
    newest: Option<watch::Receiver<Order>>,
    lookups: Vec<String>,
    verdicts: Vec<GuardVerdict>,
    changes: Vec<PortChange>,
    diffs: Vec<String>,
    changed: bool,
    /// Set for repeated flap holds: recorded, not announced again.
    quiet: bool,
    /// The flap verdict, taken once per event (retries are not flaps).
    flap: Option<GuardVerdict>,
    /// Set when the webhook was already older than `mist.max_event_age` on arrival.
    stale: Option<GuardVerdict>,
    /// mesa is stopping and this event was waiting: it goes back to the journal undecided.
    handed_back: bool,
    /// Set when the outcome is a hold that gets a re-check.
    hold: Option<HoldKind>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        inner: &'a Inner,
        event: ApEvent,
        order: Order,
        newest: Option<watch::Receiver<Order>>,
    ) -> Run<'a> {
        Run {
            inner,
            event,
            order,
            newest,
            lookups: Vec::new(),
            verdicts: Vec::new(),
            changes: Vec::new(),
            diffs: Vec::new(),
            changed: false,
            quiet: false,
            flap: None,
            stale: None,
            handed_back: false,
            hold: None,
        }
    }

    /// Runs the event to a final outcome (retrying transient failures), records it,
    /// announces it and closes its journal entry.
    pub(crate) async fn finish(mut self) -> Decision {
        let started = Instant::now();
        let outcome = match self.older_than_journaled().await {
            Some(outcome) => outcome,
            None => self.run_to_the_end(started).await,
        };
        if self.handed_back {
            // No decision recorded: the journal entry stays open and the event resumes at the
            // next start, from its beginning (its wait was cut short, not done).
            tracing::info!("mesa is stopping: event handed back to the journal");
            let handed_back = self.superseded();
            return self.decision(handed_back, started);
        }
        // A re-check that is held again or found nothing new was already announced once.
        let recheck = matches!(self.event.source, Source::Recheck { .. });
        if recheck && (matches!(outcome, Outcome::Skipped { .. }) || self.hold.is_some()) {
            self.quiet = true;
        }
        self.schedule_recheck().await;
        let decision = self.decision(outcome, started);
        if let Err(e) = self.inner.journal.finish(decision.clone()).await {
            tracing::error!(error = %e, "decision not recorded, journal entry not closed; the event will be re-run at the next start");
        }
        self.announce(&decision);
        decision
    }

    /// An event that happened before one already journaled for the same AP (or port) is an
    /// older observation: recorded, never acted on, so it cannot undo the newer one.
    async fn older_than_journaled(&mut self) -> Option<Outcome> {
        // `mesa replay` runs an old event on purpose.
        self.newest.as_ref()?;
        let newer = match self.inner.store.journal_newer(&self.event).await {
            Ok(newer) => newer?,
            Err(e) => {
                tracing::warn!(error = %e, "could not check for newer events; handling this one");
                return None;
            }
        };
        let reason = format!(
            "stale: {} {} at {} (via {}) is newer than this event ({}); recorded, not acted on",
            newer.kind,
            newer.id,
            newer.timestamp,
            newer.source.as_str(),
            self.event.timestamp
        );
        let verdict = GuardVerdict::hold("stale", reason.clone()).with_numbers(serde_json::json!({
            "event_time": self.event.timestamp.secs_f64(),
            "newer_event_time": newer.timestamp.secs_f64(),
            "newer_event_id": newer.id,
        }));
        self.inner.metrics.guard_verdict(&verdict.guard, false);
        self.verdicts.push(verdict);
        Some(Outcome::Skipped {
            guard: "stale".into(),
            reason,
        })
    }

    /// The flow with its retries, to a final outcome.
    async fn run_to_the_end(&mut self, started: Instant) -> Outcome {
        let engine = &self.inner.config.engine;
        let mut attempt = 0u32;
        let max_age = self.inner.config.mist.max_event_age.get();
        self.stale = super::freshness::check(&self.event, max_age);
        let recheck = matches!(self.event.source, Source::Recheck { .. });
        // A replayed event is not a sign of life of the AP: it does not count as a flap.
        if self.stale.is_none() {
            let flapping = if recheck {
                self.inner.flap.peek(self.event.subject())
            } else {
                self.inner.flap.observe(self.event.subject())
            };
            self.quiet = !flapping.verdict.proceed && !flapping.first_hold;
            self.flap = Some(flapping.verdict);
        }
        // Time spent waiting for Mist's rate-limit gate: bounded by how long Mist's hourly
        // budget may take to come back, not by `retry_attempts`.
        let mut busy_waited = Duration::ZERO;
        let busy_cap = self
            .inner
            .config
            .mist
            .rate_limit_wait
            .get()
            .saturating_mul(120);
        loop {
            attempt += 1;
            self.reset();
            match self.flow().await {
                Ok(outcome) | Err(Stop::Final(outcome)) => break outcome,
                Err(Stop::MistBusy(error)) if busy_waited < busy_cap && self.newest.is_some() => {
                    // Not an attempt: the event did nothing wrong, Mist asked to wait.
                    attempt -= 1;
                    let wait = self.mist_gate_wait();
                    busy_waited += wait;
                    tracing::info!(%error, wait_ms = wait.as_millis() as u64, "Mist refuses calls for now; the event waits for its rate-limit gate");
                    if busy_waited == wait {
                        let error = format!(
                            "{error}; waiting for Mist to accept calls again (up to {})",
                            humantime::format_duration(busy_cap)
                        );
                        self.say_it_will_retry(error, started).await;
                    }
                    if self.retry_wait(wait).await {
                        break self.superseded();
                    }
                }
                Err(Stop::MistBusy(error)) => {
                    break Outcome::Failed {
                        error: format!(
                            "{error}; Mist refused calls for {} in all",
                            humantime::format_duration(Duration::from_secs(busy_waited.as_secs()))
                        ),
                    };
                }
                Err(Stop::Transient(error))
                    if attempt < engine.retry_attempts && self.newest.is_some() =>
                {
                    let base = engine.retry_backoff.get();
                    let backoff = crate::backoff::delay(base, attempt, base.saturating_mul(16));
                    tracing::warn!(%error, attempt, retry_in = ?backoff, "transient failure; will retry");
                    if attempt == 1 {
                        // Said once, so the team knows before the retries run out.
                        let error = format!(
                            "{error} (retrying up to {})",
                            crate::output::count(u64::from(engine.retry_attempts - 1), "time")
                        );
                        self.say_it_will_retry(error, started).await;
                    }
                    if self.retry_wait(backoff).await {
                        break self.superseded();
                    }
                }
                // One engine attempt: the error already says how often its client tried.
                Err(Stop::Transient(error)) if attempt == 1 => break Outcome::Failed { error },
                Err(Stop::Transient(error)) => {
                    break Outcome::Failed {
                        // The error carries its own call's attempts; this counts the event's.
                        error: format!("{error} (event tried {attempt} time(s))"),
                    };
                }
            }
        }
    }

    /// Writes the re-check of a hold to the journal before the held decision closes, so a
    /// crash between the two leaves the hold to run again, never a hold without a re-check.
    async fn schedule_recheck(&mut self) {
        let Some(kind) = self.hold else {
            return;
        };
        // `mesa replay` only shows what would happen.
        if self.newest.is_none() {
            return;
        }
        let (recheck, delay) = self.inner.holds.follow_up(&self.event, kind, self.order.1);
        let due = recheck.received_at;
        match self.inner.journal.accept(vec![recheck]).await {
            Ok(_) => self.step(format!(
                "held: re-checked in {} ({})",
                humantime::format_duration(Duration::from_secs(delay.as_secs())),
                due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            Err(e) => {
                tracing::error!(error = %e, "re-check of a hold not journaled; periodic reconcile is left to catch up");
                self.step(format!(
                    "re-check not scheduled ({e}); left to periodic reconcile"
                ));
            }
        }
    }

    /// Records and announces, once, that the event failed for now and will be tried again.
    async fn say_it_will_retry(&mut self, error: String, started: Instant) {
        let mut interim = self.decision(Outcome::Failed { error }, started);
        interim.will_retry = true;
        if let Err(e) = self.inner.store.record_decision(&interim).await {
            tracing::error!(error = %e, "decision not recorded in the audit log");
        }
        self.announce(&interim);
    }

    /// Until Mist's rate-limit gate reopens, spread a little so that the events waiting for
    /// it do not all call at the same instant (one probe goes first anyway).
    fn mist_gate_wait(&self) -> Duration {
        let first = self.inner.config.mist.rate_limit_wait.get();
        let closed = self
            .inner
            .mist
            .as_ref()
            .and_then(|mist| mist.rate_limited_for())
            .unwrap_or(first / 10);
        let floor = first / 20;
        closed.max(floor) + floor.mul_f64(rand::random::<f64>())
    }

    fn reset(&mut self) {
        self.hold = None;
        self.lookups.clear();
        self.verdicts.clear();
        self.changes.clear();
        self.diffs.clear();
        self.changed = false;
    }

    fn decision(&self, outcome: Outcome, started: Instant) -> Decision {
        let mut lookups = self.lookups.clone();
        if let Some(calls) = crate::mist::calls::current().filter(|n| *n > 0) {
            lookups.push(format!("Mist API calls made for this event: {calls}"));
        }
        Decision {
            event: self.event.clone(),
            lookups,
            verdicts: self.verdicts.clone(),
            changes: self.changes.clone(),
            outcome,
            diff: (!self.diffs.is_empty()).then(|| self.diffs.join("\n")),
            backend: self.inner.batcher.backend_kind().to_string(),
            decided_at: crate::clock::now(),
            duration_ms: started.elapsed().as_millis() as u64,
            will_retry: false,
        }
    }

    fn announce(&self, decision: &Decision) {
        let seconds = (crate::clock::now() - self.event.received_at)
            .num_milliseconds()
            .max(0) as f64
            / 1000.0;
        if !decision.will_retry {
            self.inner
                .metrics
                .decision(decision.outcome.label(), seconds);
        }
        let (outcome, changes) = (decision.outcome.summary(), decision.changes.len());
        // A failure is what an operator must see: ERROR when final, WARN while retried.
        match (&decision.outcome, decision.will_retry) {
            (Outcome::Failed { .. }, false) => tracing::error!(%outcome, changes, "decision"),
            (Outcome::Failed { .. }, true) => tracing::warn!(%outcome, changes, "decision"),
            _ => tracing::info!(%outcome, changes, "decision"),
        }
        if !self.quiet {
            self.inner.notify.publish(decision);
        }
    }

    fn step(&mut self, line: impl Into<String>) {
        let line = line.into();
        tracing::debug!(step = %line);
        self.lookups.push(line);
    }

    /// Records a verdict; true when it lets the flow go on.
    fn guard(&mut self, verdict: GuardVerdict) -> Flow<()> {
        self.inner
            .metrics
            .guard_verdict(&verdict.guard, verdict.proceed);
        let proceed = verdict.proceed;
        if !proceed {
            self.hold = HoldKind::of_guard(&verdict.guard);
        }
        let outcome = Outcome::Skipped {
            guard: verdict.guard.clone(),
            reason: verdict.reason.clone(),
        };
        self.verdicts.push(verdict);
        if proceed {
            Ok(())
        } else {
            Err(Stop::Final(outcome))
        }
    }

    /// Waits `delay` unless a newer event of the same AP arrives first (returns true then).
    async fn pause(&mut self, delay: Duration) -> bool {
        // A NAC trigger names its port and saw the change itself: nothing to wait for.
        if self.event.source == Source::External || self.newest.is_none() {
            return false;
        }
        self.sleep_unless(delay, true).await
    }

    /// The wait before the next attempt of a failed run. Like [`Run::pause`], but a NAC
    /// trigger waits too: it has nothing to settle, yet the switch or Mist that failed it
    /// needs the time as much.
    async fn retry_wait(&mut self, delay: Duration) -> bool {
        if self.event.source != Source::External {
            return self.pause(delay).await;
        }
        self.sleep_unless(delay, false).await
    }

    /// Sleeps `delay`; true when cut short: by mesa stopping (the event is handed back), or,
    /// with `newer`, by a newer event of the same AP.
    async fn sleep_unless(&mut self, delay: Duration, newer: bool) -> bool {
        let order = self.order;
        let mut newest = self.newest.clone().filter(|_| newer);
        // Checked before the zero-delay shortcut: a newer event already queued wins even
        // when this one has nothing to wait for.
        if newest.as_ref().is_some_and(|n| *n.borrow() > order) {
            return true;
        }
        if delay.is_zero() {
            return false;
        }
        // Stopping ends every wait: finishing it would outlast `server.shutdown_grace`.
        let mut stopping = self.inner.stopping();
        if *stopping.borrow() {
            self.handed_back = true;
            return true;
        }
        let newer_event = async {
            match newest.as_mut() {
                Some(n) => n.wait_for(|n| *n > order).await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let woken_early = tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            changed = newer_event => changed,
            stop = stopping.wait_for(|s| *s) => {
                self.handed_back = stop.is_ok();
                self.handed_back
            }
        };
        woken_early || newest.as_ref().is_some_and(|n| *n.borrow() > order)
    }

    /// The wait before acting on an event: Mist needs a moment to learn a new LLDP neighbor,
    /// a disconnect may be undone. A reconcile event was planned from Mist's state read
    /// just now (and a disconnect already lasted `reconcile.revert_after`): no wait.
    fn settle(&self, configured: Duration) -> Duration {
        if matches!(
            self.event.source,
            Source::Reconcile | Source::FollowUp | Source::Recheck { .. }
        ) {
            Duration::ZERO
        } else {
            configured
        }
    }

    fn superseded(&mut self) -> Outcome {
        if self.handed_back {
            return Outcome::Skipped {
                guard: "stopping".into(),
                reason: "mesa stopped while this event waited; it resumes at the next start".into(),
            };
        }
        let verdict = GuardVerdict::hold(
            "superseded",
            "a newer event for this AP arrived while this one waited",
        );
        self.inner.metrics.guard_verdict(&verdict.guard, false);
        self.verdicts.push(verdict);
        Outcome::Skipped {
            guard: "superseded".into(),
            reason: "a newer event for this AP arrived while this one waited".into(),
        }
    }

    async fn flow(&mut self) -> Flow<Outcome> {
        let cfg = &self.inner.config;
        self.step(format!(
            "{} for AP {} ({}) on site {} via {}",
            self.event.kind,
            self.event.ap_mac.colon(),
            self.event.ap_name.as_deref().unwrap_or("unnamed"),
            if self.event.site_id.is_empty() {
                "(from switch)"
            } else {
                &self.event.site_id
            },
            self.event.source.as_str()
        ));
        if let Some(stale) = self.stale.clone() {
            self.guard(stale)?;
        }
        if matches!(self.event.source, Source::Recheck { .. })
            && self.inner.holds.stale(&self.event)
        {
            self.quiet = true;
            return Ok(self.superseded());
        }
        if !self.event.site_id.is_empty() {
            self.guard(sites::check(&cfg.mist.ignored_sites, &self.event.site_id))?;
        }
        if let Some(flapping) = self.flap.clone() {
            self.guard(flapping)?;
        }
        match self.event.kind {
            EventKind::ApConnected | EventKind::ApRestarted => self.connected().await,
            EventKind::ApDisconnected => self.disconnected().await,
        }
    }

    /// AP_CONNECTED and AP_RESTARTED: give the AP's port the AP profile. If mesa knew the
    /// AP on another port, the AP is provably elsewhere now, so that port is reverted too, by
    /// a follow-up event of its own (a quick move can supersede the AP_DISCONNECTED that
    /// would have reverted it).
    async fn connected(&mut self) -> Flow<Outcome> {
        let restarted = self.event.kind == EventKind::ApRestarted;
        if self.event.known_port.is_none()
            && self
                .pause(self.settle(self.inner.config.mist.lookup_delay.get()))
                .await
        {
            return Ok(self.superseded());
        }
        let found = self.locate().await?;
        let reason = if restarted {
            "AP restarted"
        } else {
            "AP connected"
        };
        if self.event.is_port_only() {
            return self.set_ap_port(&found.switch, &found.port, reason).await;
        }
        let previous = self
            .inner
            .store
            .ap(&self.event.ap_mac)
            .await
            .map_err(store_error)?;
        let Some(previous) = previous else {
            let outcome = self.set_ap_port(&found.switch, &found.port, reason).await?;
            self.remember_ap(&found.switch, &found.port).await?;
            return Ok(outcome);
        };
        if previous.switch().same_as(&found.switch) && previous.port == found.port {
            if restarted {
                let record = self
                    .inner
                    .store
                    .port(&found.switch, &found.port)
                    .await
                    .map_err(store_error)?;
                if record.is_some_and(|r| r.profile == Profile::Ap) {
                    self.step(format!(
                        "same port as before ({} {}): nothing to do",
                        found.switch.name, found.port
                    ));
                    self.remember_ap(&found.switch, &found.port).await?;
                    return Ok(Outcome::AlreadyInPlace);
                }
            }
            let outcome = self.set_ap_port(&found.switch, &found.port, reason).await?;
            self.remember_ap(&found.switch, &found.port).await?;
            return Ok(outcome);
        }
        self.step(format!(
            "AP moved: was on {} {}, now on {} {}",
            previous.switch_name, previous.port, found.switch.name, found.port
        ));
        // The new port first: the AP needs service more than the old port needs closing, and
        // a locked or unreachable old switch must not hold it up. Only once the new port is
        // set does the store move the AP: until then a retry still sees the old location.
        let set = self
            .set_ap_port(&found.switch, &found.port, "AP on a new port")
            .await;
        if let Err(Stop::Transient(_) | Stop::MistBusy(_)) = set {
            // Retried as a whole; the old port waits for the new one's outcome.
            return set;
        }
        // The AP left the old port whatever became of the new one. Its revert is its own
        // durable event (own lane, own retries), journaled before the AP record moves so
        // that a crash in between re-runs this event, never forgets the old port.
        self.follow_up_old_port(&previous).await?;
        let set = set?;
        self.remember_ap(&found.switch, &found.port).await?;
        Ok(set)
    }

    /// Journals the revert of the port a moved AP left: the AP is provably elsewhere, so no
    /// outage / LLDP guard applies to it, but the port rules (managed by mesa for this AP,
    /// protected ports) are checked when it runs.
    async fn follow_up_old_port(&mut self, previous: &crate::store::ApRecord) -> Flow<()> {
        let old_switch = previous.switch();
        let follow_up = ApEvent {
            // Derived from this event: a re-run of this event journals the same follow-up
            // once.
            id: format!("{}-old-port", self.event.id),
            kind: EventKind::ApDisconnected,
            ap_mac: self.event.ap_mac.clone(),
            ap_name: self.event.ap_name.clone(),
            org_id: self.event.org_id.clone(),
            site_id: old_switch.site_id.clone(),
            site_name: None,
            timestamp: self.event.timestamp,
            source: Source::FollowUp,
            received_at: crate::clock::now(),
            known_port: Some(KnownPort {
                switch_mac: old_switch.mac.clone(),
                port: previous.port.to_string(),
                port_only: true,
                recorded: Some(old_switch),
            }),
        };
        self.inner
            .journal
            .accept(vec![follow_up.clone()])
            .await
            .map_err(store_error)?;
        self.step(format!(
            "old port {} {}: reverted by its own event {}",
            previous.switch_name, previous.port, follow_up.id
        ));
        Ok(())
    }

    async fn disconnected(&mut self) -> Flow<Outcome> {
        // Other drops of the site wait for this one before they are judged (outage guard).
        if self.event.source == Source::Webhook {
            if let Some(outage) = &self.inner.outage {
                outage.note_drop(&self.event.site_id, &self.event.ap_mac);
            }
        }
        if self
            .pause(self.settle(self.inner.config.guards.disconnect_delay.get()))
            .await
        {
            return Ok(self.superseded());
        }
        if self.event.known_port.is_some() {
            // The trigger names the port; the NAC saw the device leave it, so Mist's cloud
            // view (outage, LLDP) has nothing to add.
            let found = self.locate().await?;
            let reason = match &self.event.known_port {
                Some(known) if known.recorded.is_some() => "AP seen on another port",
                _ => "device left (external trigger)",
            };
            return self
                .revert_port(&found.switch, &found.port, false, reason)
                .await;
        }
        let (switch, port) = match self
            .inner
            .store
            .ap(&self.event.ap_mac)
            .await
            .map_err(store_error)?
        {
            Some(ap) => {
                self.step(format!(
                    "last seen on {} {} ({})",
                    ap.switch_name,
                    ap.port,
                    ap.last_seen.to_rfc3339()
                ));
                if self.event.site_id.is_empty() {
                    self.event.site_id = ap.site_id.clone();
                }
                (ap.switch(), ap.port)
            }
            None => {
                self.step("no stored port for this AP; asking Mist for its last LLDP neighbor");
                let found = self.locate().await?;
                (found.switch, found.port)
            }
        };
        self.revert_port(&switch, &port, true, "AP disconnected")
            .await
    }

    /// Turns `port` back into the secured profile, if the guards agree.
    async fn revert_port(
        &mut self,
        switch: &SwitchRef,
        port: &InterfaceName,
        disconnect_guards: bool,
        reason: &str,
    ) -> Flow<Outcome> {
        self.port_site_guard(switch)?;
        self.maintenance_guard(switch, true).await?;
        self.guard(self.inner.protected.check(port))?;
        let record = self
            .inner
            .store
            .port(switch, port)
            .await
            .map_err(store_error)?;
        let only_managed = self.inner.config.guards.only_revert_managed;
        self.guard(ports::check_managed(
            record.as_ref(),
            &self.event.ap_mac,
            only_managed,
        ))?;
        if disconnect_guards {
            // No permits here: both guards spend most of their time waiting (for a site's
            // drop to settle, for the LLDP recheck); their Mist reads are shared per site.
            let mut wait = Wait::lane(self.newest.clone(), self.order);
            let recheck = matches!(self.event.source, Source::Recheck { .. });
            if let Some(outage) = &self.inner.outage {
                let revert = Revert {
                    site_id: &switch.site_id,
                    ap: &self.event.ap_mac,
                    switch,
                    port,
                    fresh: recheck,
                    recheck,
                };
                let verdict = outage
                    .check_port(&revert, &mut wait)
                    .await
                    .map_err(|e| mist_stop("site outage check", e))?;
                if wait.superseded() {
                    return Ok(self.superseded());
                }
                self.guard(verdict)?;
            }
            if let Some(lldp) = &self.inner.lldp {
                let looked = Instant::now();
                let verdict = lldp
                    .check_waiting(&switch.site_id, switch, port, &self.event.ap_mac, &mut wait)
                    .await
                    .map_err(|e| mist_stop("LLDP check", e))?;
                if wait.superseded() {
                    return Ok(self.superseded());
                }
                self.guard(verdict)?;
                // The site was judged before that wait: a WAN cut may have begun since.
                let waited = looked.elapsed();
                if let Some(outage) = self
                    .inner
                    .outage
                    .as_ref()
                    .filter(|_| waited >= self.inner.config.guards.lldp.recheck_after.get() / 2)
                {
                    let revert = Revert {
                        site_id: &switch.site_id,
                        ap: &self.event.ap_mac,
                        switch,
                        port,
                        fresh: true,
                        recheck,
                    };
                    let verdict = outage
                        .confirm(&revert, waited)
                        .await
                        .map_err(|e| mist_stop("site outage check", e))?;
                    self.guard(verdict)?;
                }
            }
        }
        let change = plan::change(&self.event, switch, port, Profile::Secured, reason);
        self.apply(change).await
    }

    /// The port's own site may be ignored even when the event's is not (an AP that moved).
    fn port_site_guard(&mut self, switch: &SwitchRef) -> Flow<()> {
        if switch.site_id.is_empty() || switch.site_id == self.event.site_id {
            return Ok(());
        }
        let ignored = &self.inner.config.mist.ignored_sites;
        self.guard(sites::check(ignored, &switch.site_id))
    }

    /// A maintenance hold on the port's site stops a revert; a connect goes ahead and its
    /// decision says the site is on hold.
    async fn maintenance_guard(&mut self, switch: &SwitchRef, revert: bool) -> Flow<()> {
        let site = if switch.site_id.is_empty() {
            self.event.site_id.clone()
        } else {
            switch.site_id.clone()
        };
        if site.is_empty() {
            return Ok(());
        }
        let hold = crate::maintenance::active(self.inner.store.as_ref(), &site)
            .await
            .map_err(store_error)?;
        if revert {
            self.guard(maintenance::check_revert(hold.as_ref(), &site))
        } else {
            match maintenance::note_connect(hold.as_ref()) {
                Some(note) => self.guard(note),
                None => Ok(()),
            }
        }
    }

    /// Gives `port` the AP profile, if the port rules agree.
    async fn set_ap_port(
        &mut self,
        switch: &SwitchRef,
        port: &InterfaceName,
        reason: &str,
    ) -> Flow<Outcome> {
        self.port_site_guard(switch)?;
        self.maintenance_guard(switch, false).await?;
        self.guard(self.inner.protected.check(port))?;
        let change = plan::change(&self.event, switch, port, Profile::Ap, reason);
        self.apply(change).await
    }

    async fn remember_ap(&mut self, switch: &SwitchRef, port: &InterfaceName) -> Flow<()> {
        let record = plan::ap_record(&self.event, switch, port);
        self.inner
            .store
            .upsert_ap(&record)
            .await
            .map_err(store_error)
    }

    async fn apply(&mut self, change: PortChange) -> Flow<Outcome> {
        self.step(format!(
            "plan: {} {} -> {} profile ({})",
            change.switch.name, change.port, change.profile, change.reason
        ));
        self.changes.push(change.clone());
        // One decision at a time per port: two APs swapping a port must not interleave
        // "check who owns it" and "apply". A revert re-checks ownership under the lock,
        // since the guards before it may have waited minutes (LLDP recheck).
        let lock = self.inner.port_lock(&change.switch, &change.port);
        let _port = lock.lock().await;
        if change.profile == Profile::Secured {
            let record = self
                .inner
                .store
                .port(&change.switch, &change.port)
                .await
                .map_err(store_error)?;
            let only_managed = self.inner.config.guards.only_revert_managed;
            let mut verdict =
                ports::check_managed(record.as_ref(), &self.event.ap_mac, only_managed);
            if !verdict.proceed {
                verdict.reason = format!("{} (re-checked just before applying)", verdict.reason);
                self.guard(verdict)?;
            }
        }
        // No engine permit while queued for the switch: a change waiting there costs nothing,
        // and holding one made a burst larger than `max_concurrent` reach a busy switch in
        // several batches (one commit each) instead of joining the next one. The batcher and
        // `backend.netconf.max_sessions` bound the switch work.
        match self.inner.batcher.apply(change.clone()).await {
            Ok(result) => {
                if !result.diff.is_empty() {
                    self.diffs.push(result.diff.clone());
                }
                self.changed |= result.changed;
                let record = plan::port_record(&change, &self.event.id);
                self.inner
                    .store
                    .upsert_port(&record)
                    .await
                    .map_err(store_error)?;
                Ok(if self.changed {
                    Outcome::Applied
                } else {
                    Outcome::AlreadyInPlace
                })
            }
            Err(e) if e.is_transient() => Err(Stop::Transient(e.to_string())),
            Err(e) => Err(Stop::Final(Outcome::Failed {
                error: e.to_string(),
            })),
        }
    }

    /// Where is the AP now? Known port (external trigger) or LLDP via Mist.
    async fn locate(&mut self) -> Flow<Lookup> {
        let inner = self.inner;
        let Some(mist) = self.inner.mist.clone() else {
            return Err(Stop::Final(Outcome::Failed {
                error: "no Mist API token configured (mist.api_token)".into(),
            }));
        };
        if let Some(known) = self.event.known_port.clone() {
            let port = InterfaceName::parse(&known.port).map_err(|e| {
                Stop::Final(Outcome::Rejected {
                    reason: e.to_string(),
                })
            })?;
            if let Some(mut switch) = known.recorded {
                self.step(format!(
                    "switch {} on site {}, port {port} as mesa recorded it",
                    switch.name, switch.site_id
                ));
                // The store keeps no address: Mist's record of the switch has it. Without
                // it (Mist down, switch gone from Mist) the name still reaches the switch.
                let org = self
                    .event
                    .org_id
                    .clone()
                    .or_else(|| self.inner.config.mist.org_id.clone());
                if let (Some(mac), Some(org)) = (switch.mac.clone(), org) {
                    let info = {
                        let _permit = inner.permit().await;
                        mist.switch_by_mac(&org, &mac).await
                    };
                    if let Ok(Some(info)) = info {
                        switch.mgmt_addr = info.mgmt_ip;
                    }
                }
                return Ok(Lookup {
                    site_id: switch.site_id.clone(),
                    ap_name: self.event.ap_name.clone(),
                    switch,
                    port,
                });
            }
            let Some(switch_mac) = known.switch_mac else {
                return Err(Stop::Final(Outcome::Rejected {
                    reason: "the event names a port but no switch".into(),
                }));
            };
            let org = self
                .event
                .org_id
                .clone()
                .or_else(|| self.inner.config.mist.org_id.clone())
                .ok_or_else(|| {
                    Stop::Final(Outcome::Failed {
                        error: "mist.org_id is needed to find a switch by MAC".into(),
                    })
                })?;
            let switch = {
                let _permit = inner.permit().await;
                mist.switch_by_mac(&org, &switch_mac).await
            }
            .map_err(|e| mist_stop("", e))?;
            let Some(switch) = switch else {
                return Err(Stop::Final(Outcome::Failed {
                    error: format!("no switch with MAC {switch_mac} in the org"),
                }));
            };
            self.step(format!(
                "switch {} ({}) on site {}, port {port} named by the trigger",
                switch.name, switch.mac, switch.site_id
            ));
            self.event.site_id = switch.site_id.clone();
            self.guard(sites::check(
                &self.inner.config.mist.ignored_sites,
                &self.event.site_id,
            ))?;
            return Ok(Lookup {
                site_id: switch.site_id.clone(),
                ap_name: self.event.ap_name.clone(),
                switch: SwitchRef {
                    name: switch.name,
                    site_id: switch.site_id,
                    mac: Some(switch.mac),
                    mgmt_addr: switch.mgmt_ip,
                },
                port,
            });
        }
        let Some(locator) = &inner.locator else {
            return Err(Stop::Final(Outcome::Failed {
                error: "no Mist API token configured (mist.api_token)".into(),
            }));
        };
        // One lookup at a time under a permit; the waits between lookups (Mist has not learned
        // the LLDP neighbor yet) hold none, and a newer event of the AP ends them.
        let mut attempt = 0;
        let found = loop {
            attempt += 1;
            let mut steps = Vec::new();
            let once = {
                let _permit = inner.permit().await;
                locator.locate_once(&self.event, &mut steps).await
            };
            for line in steps.drain(..) {
                self.step(line);
            }
            match once {
                Ok(Some(found)) => break Ok(found),
                Ok(None) if attempt < locator.attempts() => {
                    self.step(locator.waiting(attempt));
                    if self.newest.is_none() {
                        // `mesa replay` has nothing to be superseded by; it just waits.
                        tokio::time::sleep(locator.backoff(attempt)).await;
                    } else if self.pause(locator.backoff(attempt)).await {
                        return Err(Stop::Final(self.superseded()));
                    }
                }
                Ok(None) => {
                    let error = locator.give_up(attempt, &mut steps);
                    for line in steps {
                        self.step(line);
                    }
                    break Err(error);
                }
                Err(e) => break Err(e),
            }
        };
        match found {
            Ok(found) => {
                if found.site_id != self.event.site_id {
                    self.step(format!(
                        "AP is now on site {} (event said {})",
                        found.site_id, self.event.site_id
                    ));
                    self.event.site_id = found.site_id.clone();
                    self.guard(sites::check(
                        &self.inner.config.mist.ignored_sites,
                        &self.event.site_id,
                    ))?;
                }
                if self.event.ap_name.is_none() {
                    self.event.ap_name = found.ap_name.clone();
                }
                Ok(found)
            }
            Err(LookupError::InvalidPort(raw)) => Err(Stop::Final(Outcome::Rejected {
                reason: format!("LLDP port is not a Junos interface name: {raw}"),
            })),
            Err(LookupError::NoLldp { attempts }) => {
                self.hold = Some(HoldKind::NoNeighbor);
                Err(Stop::Final(Outcome::Failed {
                    error: format!("no LLDP neighbor reported by Mist after {attempts} lookups"),
                }))
            }
            Err(LookupError::ApNotFound) => Err(Stop::Final(Outcome::Failed {
                error: "AP not found in Mist".into(),
            })),
            Err(LookupError::Mist(e @ crate::mist::MistError::TokenRejected(_))) => {
                Err(Stop::Final(Outcome::Failed {
                    error: e.to_string(),
                }))
            }
            Err(LookupError::Mist(e)) => Err(mist_stop("", e)),
        }
    }
}

/// A Mist failure as the flow's stop: a spent budget waits for the gate, the rest retries.
fn mist_stop(context: &str, e: crate::mist::MistError) -> Stop {
    let error = if context.is_empty() {
        e.to_string()
    } else {
        format!("{context}: {e}")
    };
    match e {
        crate::mist::MistError::RateLimited { .. } => Stop::MistBusy(error),
        _ => Stop::Transient(error),
    }
}

fn store_error(e: crate::store::StoreError) -> Stop {
    Stop::Transient(format!("store: {e}"))
}

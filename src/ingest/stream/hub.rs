//! The hub: one task that owns the AP state of the stream ([`Tracker`]) and turns what the
//! connections report into journaled events.
//!
//! - An AP report whose LLDP names a port that is new for the AP becomes `AP_CONNECTED`
//!   (`source = stream`) with the port already named (the switch by its chassis MAC): the
//!   engine needs no AP lookup. Not when the store already shows the AP on that port as an
//!   AP port (the webhook or an earlier run got there first), and not while another event of
//!   the AP waits in the journal (it is judged again at the AP's next report) -- except a
//!   waiting disconnect, which the connect supersedes: an AP back in time keeps its port.
//! - APs silent for `ingest.stream.silence` on a live site are confirmed with one REST read
//!   per site; those Mist reports disconnected become `AP_DISCONNECTED` and meet the same
//!   guards as a webhook's (a whole site going silent is the outage guard's to judge).
//! - A site that comes back after a connection gap is caught up with a reconcile.
//! - At the first subscription, the APs the store holds AP ports for are expected to report:
//!   one that vanished while mesa was down is found by its silence like any other.
//!
//! Event times are Mist's (`last_seen`), so the journal can tell the stream's report of a
//! change from the webhook's report of the same change.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::clock::Instant;

use tokio::sync::mpsc;

use super::catchup;
use super::message::ApReport;
use super::tracker::{Heard, PortSeen, Tracker};
use crate::app::App;
use crate::mist::{ApStat, MistError};
use crate::model::{ApEvent, EventKind, EventTime, KnownPort, Mac, Profile, Source};
use crate::store::StoreError;

/// Sites coming back after a gap are gathered this long into one catch-up.
const CATCHUP_SETTLE: Duration = Duration::from_millis(500);
/// A failed catch-up is tried again after this long.
const CATCHUP_RETRY: Duration = Duration::from_secs(30);
/// How long one read of the journal's pending events serves the connect checks: a fresh
/// install reports hundreds of new APs within seconds, each would read the whole journal.
const PENDING_REUSE: Duration = Duration::from_secs(1);

/// What the connections and the hub's own tasks tell the hub.
#[derive(Debug)]
pub enum Input {
    Report(ApReport),
    ChannelUp {
        site: String,
        after_gap: bool,
    },
    ChannelsDown {
        sites: Vec<String>,
    },
    /// The answer of a silence check: `site`'s AP stats.
    Confirmed {
        site: String,
        macs: Vec<Mac>,
        answer: Result<Vec<ApStat>, MistError>,
    },
    /// A catch-up ended; the sites it could not cover are tried again.
    CaughtUp {
        failed: Vec<String>,
    },
}

pub struct Hub {
    app: App,
    tracker: Tracker,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    /// Sites waiting for a catch-up, and when the last one was added.
    catchup: BTreeSet<String>,
    catchup_at: Option<Instant>,
    catchup_running: bool,
    /// The last read of the journal's pending events, for [`Hub::connect`].
    pending: Option<(Instant, HashSet<(Mac, EventKind)>)>,
    /// Whether the store's AP ports were loaded into the tracker.
    seeded: bool,
    /// The event time last given to each AP's stream event.
    stamps: HashMap<Mac, i64>,
}

impl Hub {
    pub fn new(
        app: App,
        tx: mpsc::UnboundedSender<Input>,
        rx: mpsc::UnboundedReceiver<Input>,
    ) -> Hub {
        let silence = app.config.ingest.stream.silence.get();
        Hub {
            app,
            tracker: Tracker::new(silence),
            tx,
            rx,
            catchup: BTreeSet::new(),
            catchup_at: None,
            catchup_running: false,
            pending: None,
            seeded: false,
            stamps: HashMap::new(),
        }
    }

    pub async fn run(mut self) {
        let silence = self.app.config.ingest.stream.silence.get();
        let period = (silence / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                input = self.rx.recv() => match input {
                    Some(input) => self.handle(input).await,
                    None => return,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Report(report) => self.on_report(report).await,
            Input::ChannelUp { site, after_gap } => {
                if !self.seeded {
                    self.seed().await;
                }
                self.tracker.site_up(&site, Instant::now());
                if after_gap {
                    self.catchup.insert(site);
                    self.catchup_at = Some(Instant::now());
                }
            }
            Input::ChannelsDown { sites } => {
                for site in &sites {
                    self.tracker.site_down(site);
                }
            }
            Input::Confirmed { site, macs, answer } => self.on_confirmed(&site, macs, answer).await,
            Input::CaughtUp { failed } => {
                self.catchup_running = false;
                if !failed.is_empty() {
                    self.catchup.extend(failed);
                    self.catchup_at = Some(Instant::now() + CATCHUP_RETRY);
                }
            }
        }
    }

    /// Loads the AP ports of the store into the tracker (once; retried at the next
    /// subscription if the store cannot be read).
    async fn seed(&mut self) {
        let ports = match self.app.store.ports().await {
            Ok(ports) => ports,
            Err(e) => {
                tracing::warn!(error = %e, "stream: stored AP ports not read; tried again at the next subscription");
                return;
            }
        };
        let now = Instant::now();
        let mut expected = 0;
        for port in ports.into_iter().filter(|p| p.profile == Profile::Ap) {
            let Some(mac) = port.ap_mac else {
                continue;
            };
            let seen = PortSeen {
                switch_name: port.switch_name,
                switch_mac: None,
                port: port.port,
            };
            self.tracker.expect(&mac, &port.site_id, seen, now);
            expected += 1;
        }
        self.seeded = true;
        tracing::info!(
            aps = expected,
            "stream: APs on stored AP ports expected to report"
        );
    }

    async fn on_report(&mut self, report: ApReport) {
        let Heard::NewPort(seen) = self.tracker.heard(&report, Instant::now()) else {
            return;
        };
        match self.connect(&report, &seen).await {
            Ok(true) => self.tracker.settle(&report.mac, seen),
            Ok(false) => {}
            // Not settled: the AP's next report (every 20-30 s) tries again.
            Err(e) => {
                tracing::warn!(ap = %report.mac, error = %e, "stream connect not journaled; retried at the AP's next report")
            }
        }
    }

    /// Journals `AP_CONNECTED` for a port new to the AP. `Ok(true)`: the port is settled
    /// (journaled, or already the AP's port); `Ok(false)`: judge again at the next report.
    ///
    /// A disconnect of the AP still waiting in the journal (its delay, its guards) is
    /// answered with a connect even on the AP's own port: the newer event supersedes it, so
    /// an AP that comes back in time keeps its port.
    async fn connect(&mut self, report: &ApReport, seen: &PortSeen) -> Result<bool, StoreError> {
        let mac = &report.mac;
        let fresh = self
            .pending
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < PENDING_REUSE);
        if !fresh {
            self.pending = Some((Instant::now(), self.pending_kinds().await?));
        }
        let (waiting, disconnecting) = match &self.pending {
            Some((_, pending)) => (
                pending.iter().any(|(m, _)| m == mac),
                pending.contains(&(mac.clone(), EventKind::ApDisconnected)),
            ),
            None => (false, false),
        };
        if !disconnecting {
            if self.on_its_ap_port(mac, seen).await? {
                tracing::debug!(ap = %mac, port = %seen.port, "stream: AP already on its AP port");
                return Ok(true);
            }
            if waiting {
                tracing::debug!(ap = %mac, "stream: an event of this AP is still in the journal; judged again at its next report");
                return Ok(false);
            }
        }
        let known_port = self.known_port(seen).await;
        let now = crate::clock::now();
        let event = ApEvent {
            id: uuid::Uuid::new_v4().to_string(),
            kind: EventKind::ApConnected,
            ap_mac: mac.clone(),
            ap_name: report.name.clone(),
            org_id: self.app.config.mist.org_id.clone(),
            site_id: report.site_id.clone(),
            site_name: None,
            timestamp: EventTime::from_secs(self.stamp(mac, report.last_seen)),
            source: Source::Stream,
            received_at: now,
            known_port,
        };
        let id = event.id.clone();
        let accepted = self.app.journal.accept(vec![event]).await?;
        tracing::info!(
            event_id = %id,
            ap = %mac,
            switch = %seen.switch_name,
            port = %seen.port,
            new = accepted.new,
            "stream: AP seen by LLDP on a new port; AP_CONNECTED journaled"
        );
        Ok(true)
    }

    /// The port for the engine to act on directly, when the LLDP chassis MAC is a switch Mist
    /// knows (the answer is cached for the engine's own check). Otherwise (no chassis MAC, a
    /// Virtual Chassis or third-party switch advertising another MAC) `None`: the engine then
    /// finds the switch through its usual LLDP lookup rather than failing the event.
    async fn known_port(&self, seen: &PortSeen) -> Option<KnownPort> {
        let switch_mac = seen.switch_mac.clone()?;
        let known = KnownPort {
            switch_mac: Some(switch_mac.clone()),
            port: seen.port.to_string(),
            port_only: false,
            recorded: None,
        };
        let (Some(mist), Some(org)) = (&self.app.mist, self.app.config.mist.org_id.as_deref())
        else {
            return None;
        };
        match mist.switch_by_mac(org, &switch_mac).await {
            Ok(Some(_)) => Some(known),
            Ok(None) => {
                tracing::info!(switch = %seen.switch_name, chassis = %switch_mac, "stream: LLDP chassis MAC is no switch of the org; the engine looks the AP up");
                None
            }
            // The engine asks again and retries a Mist that is down.
            Err(_) => Some(known),
        }
    }

    /// Whether the store shows the AP on `seen` and that port as its AP port.
    async fn on_its_ap_port(&self, mac: &Mac, seen: &PortSeen) -> Result<bool, StoreError> {
        let store = &self.app.store;
        let Some(record) = store.ap(mac).await? else {
            return Ok(false);
        };
        if !seen.same_place(
            &record.switch_name,
            record.switch_mac.as_ref(),
            &record.port,
        ) {
            return Ok(false);
        }
        let port = store.port(&record.switch(), &record.port).await?;
        Ok(port.is_some_and(|p| p.profile == Profile::Ap && p.ap_mac.as_ref() == Some(mac)))
    }

    /// (AP, kind) of every event waiting in the journal.
    async fn pending_kinds(&self) -> Result<HashSet<(Mac, EventKind)>, StoreError> {
        Ok(self
            .app
            .store
            .journal_pending()
            .await?
            .into_iter()
            .map(|e| (e.event.ap_mac, e.event.kind))
            .collect())
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if let Some(mist) = self.app.mist.clone() {
            for (site, macs) in self.tracker.take_silent(now) {
                tracing::info!(site = %site, aps = macs.len(), "stream: APs silent; asking Mist whether they are disconnected");
                let tx = self.tx.clone();
                let mist = mist.clone();
                tokio::spawn(async move {
                    let answer = mist.site_ap_stats(&site).await;
                    let _ = tx.send(Input::Confirmed { site, macs, answer });
                });
            }
        }
        let settled = self
            .catchup_at
            .is_some_and(|at| now.saturating_duration_since(at) >= CATCHUP_SETTLE);
        if settled && !self.catchup_running && !self.catchup.is_empty() {
            let sites: Vec<String> = std::mem::take(&mut self.catchup).into_iter().collect();
            self.catchup_at = None;
            self.catchup_running = true;
            self.app.metrics.stream().catchup();
            let (app, tx) = (self.app.clone(), self.tx.clone());
            tokio::spawn(async move {
                let failed = catchup::run(&app, sites).await;
                let _ = tx.send(Input::CaughtUp { failed });
            });
        }
    }

    async fn on_confirmed(
        &mut self,
        site: &str,
        macs: Vec<Mac>,
        answer: Result<Vec<ApStat>, MistError>,
    ) {
        let metrics = self.app.metrics.stream().clone();
        let now = Instant::now();
        let stats = match answer {
            Ok(stats) => stats,
            Err(e) => {
                tracing::warn!(site, error = %e, "stream: silence check failed; asking again after another silence period");
                for mac in &macs {
                    metrics.silence_check("error");
                    self.tracker.still_there(mac, now);
                }
                return;
            }
        };
        let mut gone = Vec::new();
        for mac in macs {
            // It reported while Mist was asked: the answer is older than what it said.
            if !self.tracker.still_silent(&mac) {
                continue;
            }
            match stats.iter().find(|s| s.mac == mac) {
                Some(stat) if stat.is_disconnected() => {
                    metrics.silence_check("disconnected");
                    gone.push(stat);
                }
                Some(stat) => {
                    metrics.silence_check("connected");
                    tracing::info!(ap = %mac, site, status = %stat.status, "stream: AP silent on the stream but not disconnected in Mist; nothing to do");
                    self.tracker.still_there(&mac, now);
                }
                None => {
                    metrics.silence_check("not-on-site");
                    tracing::info!(ap = %mac, site, "stream: silent AP no longer on the site; its next report places it");
                    self.tracker.forget(&mac);
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        match self.disconnect(site, &gone).await {
            Ok(()) => gone.iter().for_each(|stat| self.tracker.forget(&stat.mac)),
            Err(e) => {
                tracing::warn!(site, aps = gone.len(), error = %e, "stream disconnects not journaled; asked again after another silence period");
                gone.iter()
                    .for_each(|stat| self.tracker.still_there(&stat.mac, now));
            }
        }
    }

    /// Journals `AP_DISCONNECTED`, in one append, for the APs Mist confirmed disconnected
    /// that still hold an AP port mesa set for them (nothing to revert otherwise, e.g. the
    /// webhook's disconnect already did).
    /// Mist's time of the observation (epoch seconds), made later than the AP's previous
    /// stream event: Mist's clock counts whole seconds here, and two events of one AP with the
    /// same kind and second would look like one delivery sent twice to the journal.
    fn stamp(&mut self, mac: &Mac, last_seen: Option<f64>) -> i64 {
        let time = mist_time(last_seen);
        let stamp = match self.stamps.get(mac) {
            Some(&previous) if time <= previous => previous + 1,
            _ => time,
        };
        self.stamps.insert(mac.clone(), stamp);
        stamp
    }

    async fn disconnect(&mut self, site: &str, gone: &[&ApStat]) -> Result<(), StoreError> {
        let store = self.app.store.clone();
        let pending = self.pending_kinds().await?;
        let mut events = Vec::new();
        for stat in gone {
            let mac = &stat.mac;
            let Some(record) = store.ap(mac).await? else {
                tracing::debug!(ap = %mac, "stream: disconnected AP has no port mesa knows; nothing to revert");
                continue;
            };
            let port = store.port(&record.switch(), &record.port).await?;
            if !port.is_some_and(|p| p.profile == Profile::Ap && p.ap_mac.as_ref() == Some(mac)) {
                tracing::info!(ap = %mac, switch = %record.switch_name, port = %record.port, "stream: disconnected AP's port is no longer its AP port; nothing to revert");
                continue;
            }
            if pending.contains(&(mac.clone(), EventKind::ApDisconnected)) {
                tracing::debug!(ap = %mac, "stream: a disconnect of this AP is already in the journal");
                continue;
            }
            events.push(ApEvent {
                id: uuid::Uuid::new_v4().to_string(),
                kind: EventKind::ApDisconnected,
                ap_mac: mac.clone(),
                ap_name: stat.name.clone().or(record.name),
                org_id: self.app.config.mist.org_id.clone(),
                site_id: site.to_string(),
                site_name: None,
                timestamp: EventTime::from_secs(self.stamp(mac, stat.last_seen)),
                source: Source::Stream,
                received_at: crate::clock::now(),
                known_port: None,
            });
        }
        if events.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        let accepted = self.app.journal.accept(events).await?;
        // These APs' next reports must see their disconnects waiting.
        self.pending = None;
        tracing::info!(site, events = ?ids, new = accepted.new, "stream: APs silent and disconnected in Mist; AP_DISCONNECTED journaled");
        Ok(())
    }
}

/// Epoch seconds of Mist's observation, else now.
fn mist_time(last_seen: Option<f64>) -> i64 {
    last_seen
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(|t| t as i64)
        .unwrap_or_else(|| crate::clock::now().timestamp())
}

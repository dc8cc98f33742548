//! Reconcile: converge ports with what Mist reports now, catching what webhooks missed (mesa
//! down for an upgrade, a dropped POST, hundreds of APs plugged in before day one). Mist
//! offers no way to audit device-event deliveries, so the only source of truth is its
//! current state.
//!
//! A run reads every AP of the org (or one site) with status, `last_seen` and LLDP neighbor
//! in a few paged calls ([`crate::mist::MistClient::org_ap_stats`]), compares them with the
//! store ([`plan`]), and hands one `ApEvent` per AP that needs a change to the journal with
//! `source = reconcile`. From there the event takes the webhook path: durable, ordered per
//! AP with webhook events, the same guards (outage, LLDP, managed-only, protected), backend,
//! audit and notifications. A reconcile never writes a port itself; `--adopt` only records.
//!
//! `mesa reconcile` runs it once ([`run`]); `serve` runs it every `reconcile.interval`
//! (±10%) when `reconcile.enabled` ([`spawn_periodic`]).

pub mod plan;
pub mod progress;
pub mod report;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::clock::Instant;

use crate::app::App;
use crate::engine::guards::ports::ProtectedPorts;
use crate::mist::{MistError, SwitchInfo};
use crate::model::{same_switch_name, ApEvent, EventTime, KnownPort, Mac, Profile, Source};
use crate::store::{ApRecord, PortRecord, StoreError};

pub use plan::{Adoption, Counts, Planned, PortAction};
pub use progress::ProgressMode;
pub use report::ReconcileReport;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reconcile needs the Mist API: {0} is not set")]
    NotConfigured(&'static str),
    #[error("reading Mist: {0}")]
    Mist(#[from] MistError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one run does.
#[derive(Debug, Clone, Default)]
pub struct ReconcileOptions {
    /// Only this site (`--site`); else the whole org.
    pub site: Option<String>,
    /// Plan and report only: no journal entry, no store write, no backend call.
    pub dry_run: bool,
    /// Record ports that already carry the AP profile as managed, touching nothing.
    pub adopt: bool,
    /// Wait until the engine has decided every planned event and report the outcomes.
    pub wait: bool,
    pub progress: ProgressMode,
}

/// The first periodic run comes this soon after start (or after `interval`, if shorter):
/// a restart after an upgrade is exactly when webhooks were missed.
const FIRST_RUN: Duration = Duration::from_secs(60);
/// Shortest period honoured: `interval = "0s"` must not turn into a loop hammering Mist.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// How often a waiting run looks at the journal.
const POLL: Duration = Duration::from_millis(100);

/// One reconcile run. See the module documentation.
pub async fn run(app: &App, opts: &ReconcileOptions) -> Result<ReconcileReport, ReconcileError> {
    let started = Instant::now();
    let started_at = crate::clock::now();
    let calls_before = app.metrics.mist_api_calls_total();
    let mist = app
        .mist
        .clone()
        .ok_or(ReconcileError::NotConfigured("mist.api_token"))?;
    let org = app
        .config
        .mist
        .org_id
        .clone()
        .ok_or(ReconcileError::NotConfigured("mist.org_id"))?;
    let site = opts.site.as_deref().filter(|s| !s.is_empty());
    let scope = match site {
        Some(site) => format!("site {site}"),
        None => format!("org {org}"),
    };
    let mut progress = progress::Progress::new(opts.progress);

    progress.phase("reading", 0);
    // What the read shows was true no earlier than this.
    let read_at = EventTime::now();
    let aps = mist.org_ap_stats(&org, site).await?;
    progress.set(0, format!("{} APs from Mist", aps.len()));

    let ports = app.store.ports().await?;
    let pending: HashSet<Mac> = app
        .store
        .journal_pending()
        .await?
        .into_iter()
        .map(|e| e.event.ap_mac)
        .collect();
    let stored_aps = stored_aps(app, &aps, &ports, &mut progress).await?;

    let protected = ProtectedPorts::new(&app.config.guards.protected_ports);
    let mut plan = plan::plan(
        &plan::Snapshot {
            aps: &aps,
            stored_aps: &stored_aps,
            ports: &ports,
            pending: &pending,
            now: epoch_now(),
            revert_after: app.config.reconcile.revert_after.get(),
            ignored_sites: &app.config.mist.ignored_sites,
            protected: &protected,
            site,
        },
        opts.adopt,
    );

    // Switch MACs are only needed for what will be journaled or adopted: a converged run
    // costs the AP stats pages and nothing more.
    let needs_switches = !opts.dry_run
        && (!plan.adoptions.is_empty() || plan.planned.iter().any(|p| p.ap_target().is_some()));
    if needs_switches {
        let switches = mist.org_switches(&org, site).await?;
        fill_switches(&mut plan, &switches);
    }
    let mist_calls_read = app.metrics.mist_api_calls_total() - calls_before;

    let mut event_ids = Vec::new();
    let mut submitted = 0;
    if opts.adopt && !opts.dry_run {
        adopt(app, &plan.adoptions).await?;
    } else if !opts.dry_run && !plan.planned.is_empty() {
        let stamp = run_stamp(read_at);
        let events: Vec<ApEvent> = plan.planned.iter().map(|p| event(p, &org, stamp)).collect();
        event_ids = events.iter().map(|e| e.id.clone()).collect();
        let accepted = app.journal.accept(events).await?;
        submitted = accepted.new;
        tracing::info!(
            new = accepted.new,
            duplicates = accepted.duplicates,
            "reconcile events journaled"
        );
    }

    let mut outcomes = BTreeMap::new();
    if opts.wait && submitted > 0 {
        outcomes = wait_for(app, &event_ids, &mut progress).await?;
    }
    progress.finish();

    Ok(ReconcileReport {
        scope,
        dry_run: opts.dry_run,
        adopt: opts.adopt,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        mist_calls_read,
        mist_calls: app.metrics.mist_api_calls_total() - calls_before,
        counts: plan.counts,
        planned: plan.planned,
        adopted: plan.adoptions,
        notes: plan.notes,
        submitted,
        event_ids,
        outcomes,
    })
}

/// Starts the periodic reconcile of `serve`: every `reconcile.interval` ±10%, the first one
/// shortly after start. Runs do not wait for their events; the next run leaves alone APs
/// whose events are still in the journal.
pub fn spawn_periodic(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if app.mist.is_none() || app.config.mist.org_id.is_none() {
            tracing::warn!("reconcile.enabled is set, but mist.api_token and mist.org_id are both needed: periodic reconcile not started");
            return;
        }
        let interval = app.config.reconcile.interval.get().max(MIN_INTERVAL);
        let mut delay = jitter(interval.min(FIRST_RUN));
        let opts = ReconcileOptions {
            progress: ProgressMode::Log,
            ..ReconcileOptions::default()
        };
        loop {
            tokio::time::sleep(delay).await;
            match run(&app, &opts).await {
                Ok(r) => tracing::info!(
                    aps = r.counts.aps,
                    in_place = r.counts.in_place,
                    waiting = r.counts.waiting,
                    ap_profile = r.counts.ap_profile,
                    secured = r.counts.secured,
                    moved = r.counts.moved,
                    journaled = r.submitted,
                    notes = r.notes.len(),
                    mist_calls = r.mist_calls_read,
                    "reconcile run done"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile run failed; trying again next interval")
                }
            }
            delay = jitter(interval);
        }
    })
}

/// ±10%, so several instances (or a restart loop) do not hit Mist in step.
fn jitter(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + rand::random::<f64>() * 0.2)
}

/// Store records of every AP Mist lists and every AP that owns a stored port.
async fn stored_aps(
    app: &App,
    aps: &[crate::mist::ApStat],
    ports: &[PortRecord],
    progress: &mut progress::Progress,
) -> Result<HashMap<Mac, ApRecord>, StoreError> {
    let mut macs: Vec<&Mac> = aps.iter().map(|a| &a.mac).collect();
    macs.extend(ports.iter().filter_map(|p| p.ap_mac.as_ref()));
    macs.sort();
    macs.dedup();
    let site_of: HashMap<&Mac, &str> = aps
        .iter()
        .map(|a| (&a.mac, a.site_id.as_deref().unwrap_or("")))
        .collect();
    let total_sites = site_of.values().collect::<HashSet<_>>().len();
    let mut sites_seen = HashSet::new();
    progress.phase("checking", macs.len() as u64);
    let mut out = HashMap::new();
    for (i, mac) in macs.iter().enumerate() {
        if let Some(record) = app.store.ap(mac).await? {
            out.insert((*mac).clone(), record);
        }
        if let Some(site) = site_of.get(mac) {
            sites_seen.insert(*site);
        }
        progress.set(
            i as u64 + 1,
            format!("APs, {}/{total_sites} sites", sites_seen.len()),
        );
    }
    Ok(out)
}

/// The switch as Mist knows it on `site`: by MAC when the plan knows it, else by name (exact
/// before first label). Never a switch of another site: two sites may both have an "sw1",
/// and naming the wrong one would configure an unrelated port. Without a match the engine
/// does its own (site-scoped) lookup.
fn find_switch<'a>(
    switches: &'a [SwitchInfo],
    site: &str,
    mac: Option<&Mac>,
    name: &str,
) -> Option<&'a SwitchInfo> {
    let on_site = |s: &&SwitchInfo| s.site_id == site;
    if let Some(found) = mac.and_then(|m| switches.iter().filter(on_site).find(|s| &s.mac == m)) {
        return Some(found);
    }
    let exact = |s: &&SwitchInfo| s.name.trim().eq_ignore_ascii_case(name.trim());
    let short = |s: &&SwitchInfo| same_switch_name(&s.name, name);
    switches
        .iter()
        .filter(on_site)
        .find(exact)
        .or_else(|| switches.iter().filter(on_site).find(short))
}

/// Names the port for the engine (no second LLDP lookup) where the switch is known to Mist.
fn fill_switches(plan: &mut plan::Plan, switches: &[SwitchInfo]) {
    for planned in &mut plan.planned {
        let Some(target) = planned.ap_target() else {
            continue;
        };
        planned.known_port = find_switch(
            switches,
            &target.site_id,
            target.switch_mac.as_ref(),
            &target.switch,
        )
        .map(|s| KnownPort {
            switch_mac: Some(s.mac.clone()),
            port: target.port.to_string(),
            port_only: false,
            recorded: None,
        });
    }
    for adoption in &mut plan.adoptions {
        adoption.switch_mac = find_switch(
            switches,
            &adoption.site_id,
            adoption.switch_mac.as_ref(),
            &adoption.switch,
        )
        .map(|s| s.mac.clone())
        .or(adoption.switch_mac.take());
    }
}

/// Records adopted ports (and where their APs are) without touching any switch.
async fn adopt(app: &App, adoptions: &[Adoption]) -> Result<(), StoreError> {
    let now = crate::clock::now();
    for a in adoptions {
        app.store
            .upsert_port(&PortRecord {
                switch_name: a.switch.clone(),
                switch_mac: a.switch_mac.clone(),
                port: a.port.clone(),
                site_id: a.site_id.clone(),
                profile: Profile::Ap,
                managed: true,
                ap_mac: Some(a.ap_mac.clone()),
                since: now,
                event_id: None,
            })
            .await?;
        if a.record_ap {
            app.store
                .upsert_ap(&ApRecord {
                    mac: a.ap_mac.clone(),
                    name: a.ap_name.clone(),
                    site_id: a.site_id.clone(),
                    switch_name: a.switch.clone(),
                    switch_mac: a.switch_mac.clone(),
                    port: a.port.clone(),
                    last_event: "ADOPTED".into(),
                    last_seen: now,
                })
                .await?;
        }
        tracing::info!(switch = %a.switch, port = %a.port, ap = %a.ap_mac, "port adopted as managed AP port");
    }
    Ok(())
}

/// The event for a plan, timed when its reading was true (see [`Planned::observed`]): a
/// newer event of the AP that arrived meanwhile makes it stale, never the other way round.
fn event(p: &Planned, org: &str, stamp: EventTime) -> ApEvent {
    ApEvent {
        id: uuid::Uuid::new_v4().to_string(),
        kind: p.kind,
        ap_mac: p.ap_mac.clone(),
        ap_name: p.ap_name.clone(),
        org_id: Some(org.to_string()),
        site_id: p.site_id.clone(),
        site_name: None,
        timestamp: p.observed.unwrap_or(stamp),
        source: Source::Reconcile,
        received_at: crate::clock::now(),
        known_port: p.known_port.clone(),
    }
}

/// The time of this run's read, strictly increasing within the process (milliseconds), so
/// each run's events timed by it have their own dedupe keys (`reconcile:mac:kind:ts`).
fn run_stamp(read_at: EventTime) -> EventTime {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let at = read_at.millis();
    match LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        Some(at.max(last + 1))
    }) {
        Ok(previous) | Err(previous) => EventTime::from_millis(at.max(previous + 1)),
    }
}

/// Waits until none of `ids` is pending in the journal, then counts their final outcomes.
async fn wait_for(
    app: &App,
    ids: &[String],
    progress: &mut progress::Progress,
) -> Result<BTreeMap<String, usize>, StoreError> {
    let ours: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let total = ids.len() as u64;
    progress.phase("applying", total);
    let mut engine_idle_polls = 0;
    loop {
        let open = app
            .store
            .journal_pending()
            .await?
            .iter()
            .filter(|e| ours.contains(e.event.id.as_str()))
            .count() as u64;
        progress.set(total - open, "events decided");
        if open == 0 {
            break;
        }
        // Entries still open while the engine has nothing left to do were not closed (a
        // store error, logged where it happened): they re-run at the next start. Several
        // polls, since events reach the engine a moment after the journal.
        engine_idle_polls = if app.engine.in_flight() == 0 {
            engine_idle_polls + 1
        } else {
            0
        };
        if engine_idle_polls >= 5 {
            tracing::warn!(
                open,
                "reconcile events left open in the journal; they resume at the next start"
            );
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    // Newest first: the first decision seen per event is its final one (a retried event also
    // has an earlier "failed, retrying" row).
    let limit = u32::try_from(ids.len().saturating_mul(4).saturating_add(64)).unwrap_or(u32::MAX);
    let mut seen = HashSet::new();
    let mut outcomes = BTreeMap::new();
    for d in app.store.recent_decisions(limit).await? {
        if ours.contains(d.event.id.as_str()) && seen.insert(d.event.id.clone()) {
            *outcomes.entry(d.outcome.label().to_string()).or_insert(0) += 1;
        }
    }
    Ok(outcomes)
}

fn epoch_now() -> f64 {
    crate::clock::now().timestamp_millis() as f64 / 1000.0
}

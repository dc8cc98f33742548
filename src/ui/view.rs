//! What the pages show, read from the store in one go: the managed ports, the holds in
//! force, the recent decisions and the pending journal. [`PortState`] is what one port is
//! now; the same rule colours the grid, counts the overview and heads the port page.

use std::collections::{BTreeMap, BTreeSet};

use crate::maintenance::{self, MaintenanceHold};
use crate::model::{Decision, InterfaceName, Outcome};
use crate::store::{JournalEntry, PortRecord, Store, StoreError};

/// Decisions read per page: the same window `/mesa why` and `/mesa status` search.
pub const RECENT: u32 = 500;

/// What a port is now, by priority: a final failure is what an operator must see first, a
/// hold next (nothing will be reverted there), then the profile mesa set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortState {
    Failed,
    Held,
    Ap,
    Secured,
    Unmanaged,
}

impl PortState {
    pub const ALL: [PortState; 5] = [
        PortState::Ap,
        PortState::Secured,
        PortState::Held,
        PortState::Failed,
        PortState::Unmanaged,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PortState::Ap => "AP",
            PortState::Secured => "secured",
            PortState::Held => "held",
            PortState::Failed => "failed",
            PortState::Unmanaged => "not managed",
        }
    }

    /// Shown in the cell next to the colour, so colour is never the only signal.
    pub fn glyph(self) -> &'static str {
        match self {
            PortState::Ap => "▲",
            PortState::Secured => "■",
            PortState::Held => "‖",
            PortState::Failed => "✖",
            PortState::Unmanaged => "·",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            PortState::Ap => "st-ap",
            PortState::Secured => "st-secured",
            PortState::Held => "st-held",
            PortState::Failed => "st-failed",
            PortState::Unmanaged => "st-none",
        }
    }
}

pub struct Snapshot {
    pub ports: Vec<PortRecord>,
    /// Holds in force now.
    pub holds: Vec<MaintenanceHold>,
    /// Newest first.
    pub decisions: Vec<Decision>,
    pub pending: Vec<JournalEntry>,
}

/// One site's line of the overview.
#[derive(Debug, Default)]
pub struct SiteSummary {
    pub site_id: String,
    pub site_name: Option<String>,
    pub aps: usize,
    pub counts: BTreeMap<PortState, usize>,
    pub hold: Option<MaintenanceHold>,
    /// The newest outage guard verdict: proceed?, reason.
    pub outage: Option<(bool, String)>,
    pub pending: usize,
}

/// `ge-0/0/12` → (`ge`, fpc 0, pic 0, port 12).
pub fn slot(port: &InterfaceName) -> Option<(String, u32, u32, u32)> {
    let (media, rest) = port.as_str().split_once('-')?;
    let mut parts = rest.split('/').map(|p| p.parse::<u32>().ok());
    Some((
        media.to_string(),
        parts.next()??,
        parts.next()??,
        parts.next()??,
    ))
}

/// True when the decision planned or made a change on `port` of `switch`.
pub fn touches(decision: &Decision, switch: &str, port: &InterfaceName) -> bool {
    decision
        .changes
        .iter()
        .any(|c| crate::model::same_switch_name(&c.switch.name, switch) && c.port == *port)
        || decision.event.known_port.as_ref().is_some_and(|k| {
            k.port == port.as_str()
                && k.recorded
                    .as_ref()
                    .is_some_and(|s| crate::model::same_switch_name(&s.name, switch))
        })
}

impl Snapshot {
    pub async fn load(store: &dyn Store) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            ports: store.ports().await?,
            holds: maintenance::all_active(store).await?,
            decisions: store.recent_decisions(RECENT).await?,
            pending: store.journal_pending().await?,
        })
    }

    pub fn hold(&self, site_id: &str) -> Option<&MaintenanceHold> {
        self.holds.iter().find(|h| h.site_id == site_id)
    }

    /// The port's decisions, newest first.
    pub fn port_decisions<'a>(
        &'a self,
        switch: &'a str,
        port: &'a InterfaceName,
    ) -> impl Iterator<Item = &'a Decision> + 'a {
        self.decisions
            .iter()
            .filter(move |d| touches(d, switch, port))
    }

    pub fn state_of(&self, record: &PortRecord) -> PortState {
        let last = self
            .port_decisions(&record.switch_name, &record.port)
            .find(|d| !d.will_retry);
        match last.map(|d| &d.outcome) {
            Some(Outcome::Failed { .. }) => return PortState::Failed,
            Some(Outcome::Skipped { guard, .. })
                if !matches!(guard.as_str(), "superseded" | "duplicate" | "stale") =>
            {
                return PortState::Held
            }
            _ => {}
        }
        if self.hold(&record.site_id).is_some() {
            return PortState::Held;
        }
        match record.profile {
            crate::model::Profile::Ap => PortState::Ap,
            crate::model::Profile::Secured => PortState::Secured,
        }
    }

    /// A site's name as the newest event that named it said.
    pub fn site_name(&self, site_id: &str) -> Option<String> {
        self.decisions
            .iter()
            .filter(|d| d.event.site_id == site_id)
            .find_map(|d| d.event.site_name.clone())
    }

    /// Every site mesa knows of (ports, holds, decisions, pending events), by id.
    pub fn sites(&self) -> Vec<SiteSummary> {
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        ids.extend(self.ports.iter().map(|p| p.site_id.as_str()));
        ids.extend(self.holds.iter().map(|h| h.site_id.as_str()));
        ids.extend(self.decisions.iter().map(|d| d.event.site_id.as_str()));
        ids.extend(self.pending.iter().map(|e| e.event.site_id.as_str()));
        ids.into_iter()
            .filter(|id| !id.is_empty())
            .map(|id| self.site(id))
            .collect()
    }

    pub fn site(&self, site_id: &str) -> SiteSummary {
        let mut counts = BTreeMap::new();
        let mut aps = BTreeSet::new();
        for record in self.ports.iter().filter(|p| p.site_id == site_id) {
            *counts.entry(self.state_of(record)).or_insert(0) += 1;
            if let Some(ap) = &record.ap_mac {
                aps.insert(ap.clone());
            }
        }
        for d in self.decisions.iter().filter(|d| d.event.site_id == site_id) {
            if d.event.known_port.as_ref().is_none_or(|k| !k.port_only) {
                aps.insert(d.event.ap_mac.clone());
            }
        }
        let outage = self
            .decisions
            .iter()
            .filter(|d| d.event.site_id == site_id)
            .flat_map(|d| d.verdicts.iter())
            .find(|v| v.guard == crate::engine::guards::outage::GUARD)
            .map(|v| (v.proceed, v.reason.clone()));
        SiteSummary {
            site_id: site_id.to_string(),
            site_name: self.site_name(site_id),
            aps: aps.len(),
            counts,
            hold: self.hold(site_id).cloned(),
            outage,
            pending: self
                .pending
                .iter()
                .filter(|e| e.event.site_id == site_id)
                .count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{
        ApEvent, ApRef, Decision, EventKind, EventTime, Mac, Profile, Source, SwitchRef,
    };
    use crate::store::JournalEntry;

    fn record(port: &str, profile: Profile) -> PortRecord {
        PortRecord {
            switch_name: "sw1".into(),
            switch_mac: None,
            port: InterfaceName::parse(port).unwrap(),
            site_id: "s1".into(),
            profile,
            managed: true,
            ap_mac: None,
            since: crate::clock::now(),
            event_id: None,
        }
    }

    /// A final failure planned on `port` of sw1.
    fn failed_on(port: &str) -> Decision {
        let event = ApEvent {
            id: "e1".into(),
            kind: EventKind::ApConnected,
            ap_mac: Mac::parse("5c5b35000001").unwrap(),
            ap_name: None,
            org_id: None,
            site_id: "s1".into(),
            site_name: None,
            timestamp: EventTime::from_secs(1),
            source: Source::Webhook,
            received_at: crate::clock::now(),
            known_port: None,
        };
        let mut d = crate::journal::parked(&JournalEntry { event, attempts: 5 }, 5, "dry-run");
        d.changes.push(crate::model::PortChange {
            switch: SwitchRef::named("sw1"),
            port: InterfaceName::parse(port).unwrap(),
            profile: Profile::Ap,
            ap: ApRef {
                mac: Mac::parse("5c5b35000001").unwrap(),
                name: None,
            },
            site_name: None,
            reason: "AP connected".into(),
        });
        d
    }

    #[test]
    fn a_failure_shows_before_a_hold_and_a_hold_before_the_profile() {
        let mut snapshot = Snapshot {
            ports: vec![
                record("ge-0/0/1", Profile::Ap),
                record("ge-0/0/2", Profile::Secured),
            ],
            holds: Vec::new(),
            decisions: vec![failed_on("ge-0/0/1")],
            pending: Vec::new(),
        };
        assert_eq!(snapshot.state_of(&snapshot.ports[0]), PortState::Failed);
        assert_eq!(snapshot.state_of(&snapshot.ports[1]), PortState::Secured);
        snapshot
            .holds
            .push(crate::maintenance::MaintenanceHold::new(
                "s1", None, None, "cli:x",
            ));
        assert_eq!(snapshot.state_of(&snapshot.ports[0]), PortState::Failed);
        assert_eq!(snapshot.state_of(&snapshot.ports[1]), PortState::Held);
        let site = snapshot.site("s1");
        assert_eq!(site.counts.get(&PortState::Failed), Some(&1));
        assert_eq!(site.counts.get(&PortState::Held), Some(&1));
        assert!(site.hold.is_some());
    }

    #[test]
    fn slots_follow_fpc_pic_port() {
        let port = InterfaceName::parse("mge-1/0/47").unwrap();
        assert_eq!(slot(&port), Some(("mge".into(), 1, 0, 47)));
    }
}

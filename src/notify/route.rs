//! Which decisions go to which `[[notify]]` entry: a minimum severity, a list of outcome labels
//! and a list of sites, all of which must match (an empty list matches everything). With it,
//! failures and guard holds go to the on-call channel and successes to a log channel.

use crate::config::NotifyConfig;
use crate::model::{Decision, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub min_severity: Severity,
    /// `Outcome::label()` values; all when empty.
    pub outcomes: Vec<String>,
    /// Site ids (a site name is accepted as well); all when empty.
    pub sites: Vec<String>,
}

impl Route {
    pub fn from_config(entry: &NotifyConfig) -> Route {
        Route {
            min_severity: entry.min_severity,
            outcomes: entry.outcomes.clone(),
            sites: entry.sites.clone(),
        }
    }

    /// A notice about mesa itself: severity and label as for a decision; an entry limited
    /// to some sites does not get it (it concerns them all).
    pub fn accepts_notice(&self, severity: Severity, label: &str) -> bool {
        severity >= self.min_severity
            && (self.outcomes.is_empty() || self.outcomes.iter().any(|o| o == label))
            && self.sites.is_empty()
    }

    /// Site filter only, for announcements that are not decisions.
    pub fn accepts_site(&self, site_id: &str) -> bool {
        self.sites.is_empty() || self.sites.iter().any(|s| s == site_id)
    }

    pub fn accepts(&self, decision: &Decision) -> bool {
        if decision.severity() < self.min_severity {
            return false;
        }
        let label = decision.outcome.label();
        if !self.outcomes.is_empty() && !self.outcomes.iter().any(|o| o == label) {
            return false;
        }
        if self.sites.is_empty() {
            return true;
        }
        let event = &decision.event;
        self.sites
            .iter()
            .any(|s| *s == event.site_id || event.site_name.as_deref() == Some(s.as_str()))
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::model::*;

    fn decision(outcome: Outcome, site: &str) -> Decision {
        Decision {
            event: ApEvent {
                id: "e".into(),
                kind: EventKind::ApConnected,
                ap_mac: Mac::parse("5c5b35aabbcc").unwrap(),
                ap_name: None,
                org_id: None,
                site_id: site.into(),
                site_name: Some(format!("name-{site}")),
                timestamp: crate::model::EventTime::from_secs(0),
                source: Source::Webhook,
                received_at: crate::clock::now(),
                known_port: None,
            },
            lookups: vec![],
            verdicts: vec![],
            changes: vec![],
            outcome,
            diff: None,
            backend: "dry-run".into(),
            decided_at: crate::clock::now(),
            duration_ms: 0,
            will_retry: false,
        }
    }

    fn route(min: Severity, outcomes: &[&str], sites: &[&str]) -> Route {
        Route {
            min_severity: min,
            outcomes: outcomes.iter().map(|s| s.to_string()).collect(),
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn severity_outcome_and_site_must_all_match() {
        let failed = decision(Outcome::Failed { error: "x".into() }, "s1");
        let applied = decision(Outcome::Applied, "s1");
        let in_place = decision(Outcome::AlreadyInPlace, "s2");
        let duplicate = decision(
            Outcome::Skipped {
                guard: "duplicate".into(),
                reason: "".into(),
            },
            "s1",
        );

        let oncall = route(Severity::Warning, &[], &[]);
        assert!(oncall.accepts(&failed));
        assert!(!oncall.accepts(&applied));

        let log = route(Severity::Debug, &["applied", "already-in-place"], &[]);
        assert!(log.accepts(&applied) && log.accepts(&in_place));
        assert!(!log.accepts(&failed) && !log.accepts(&duplicate));

        let default = route(Severity::Info, &[], &[]);
        assert!(!default.accepts(&in_place), "already-in-place is debug");

        let site = route(Severity::Debug, &[], &["s2"]);
        assert!(site.accepts(&in_place) && !site.accepts(&applied));
        assert!(route(Severity::Debug, &[], &["name-s1"]).accepts(&applied));
    }
}

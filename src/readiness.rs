//! What mesa still lacks to provision ports, read from its configuration. One list, said in
//! three places: at startup (WARN), by `check-config`, and by `/readyz`.
//!
//! A gap either blocks provisioning (every event would fail: `/readyz` answers 503) or only
//! weakens it (`/readyz` answers 200 with status `degraded`).

use serde::Serialize;

use crate::config::{BackendKind, Config};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// No event can succeed.
    Blocking,
    /// Events succeed, but something an operator expects is missing.
    Degraded,
}

/// One thing missing from the configuration, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub key: &'static str,
    pub impact: Impact,
    pub reason: &'static str,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Every gap of `config`, blocking ones first.
pub fn gaps(config: &Config) -> Vec<Gap> {
    let mut gaps = Vec::new();
    if config.mist.api_token.is_none() {
        gaps.push(Gap {
            key: "mist.api_token",
            impact: Impact::Blocking,
            reason: "not set: mesa cannot ask Mist which switch port an AP is on, so every event fails (set it, or mist.api_token_file)",
        });
    }
    if config.mist.org_id.is_none() {
        gaps.push(Gap {
            key: "mist.org_id",
            impact: Impact::Degraded,
            reason: "not set: reconcile cannot read the org, and switches cannot be found by MAC",
        });
    }
    if config.mist.webhook_secret.is_none() {
        gaps.push(Gap {
            key: "mist.webhook_secret",
            impact: Impact::Degraded,
            reason: "not set: webhooks are accepted unsigned (set the same secret here and in the Mist webhook)",
        });
    }
    // The built-in AP template trunks `ap_vlans`; without them an AP gets its native VLAN only.
    if config.templates.dir.is_none() && !config.templates.vars.contains_key("ap_vlans") {
        gaps.push(Gap {
            key: "templates.vars.ap_vlans",
            impact: Impact::Degraded,
            reason: "not set: an AP port becomes a trunk carrying only its native VLAN",
        });
    }
    if config.backend.kind == BackendKind::DryRun {
        gaps.push(Gap {
            key: "backend.kind",
            impact: Impact::Degraded,
            reason: "\"dry-run\": decisions are made and recorded, but no switch is changed",
        });
    }
    gaps
}

/// Some gap stops every event.
pub fn blocked(gaps: &[Gap]) -> bool {
    gaps.iter().any(|g| g.impact == Impact::Blocking)
}

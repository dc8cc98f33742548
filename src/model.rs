//! The domain words every stage shares: what Mist told us (`ApEvent`), what we want a port to
//! become (`PortChange`), what the guards said (`GuardVerdict`) and how it ended (`Outcome`),
//! all gathered in one audit row (`Decision`).
//!
//! Values here are validated on construction (`Mac`, `InterfaceName`), so a later stage never
//! has to wonder whether a string coming from outside is safe to put into a switch command.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A MAC address normalised to 12 lowercase hex digits, no separators (Mist's own spelling).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mac(String);

impl Mac {
    /// Accepts `5c5b35aabbcc`, `5C:5B:35:AA:BB:CC`, `5c-5b-35-aa-bb-cc`, `5c5b.35aa.bbcc`.
    pub fn parse(raw: &str) -> Result<Mac, InvalidMac> {
        let hex: String = raw
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Mac(hex))
        } else {
            Err(InvalidMac(raw.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `aa:bb:cc:dd:ee:ff`, for people.
    pub fn colon(&self) -> String {
        self.0
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<String> for Mac {
    type Error = InvalidMac;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Mac::parse(&value)
    }
}

impl From<Mac> for String {
    fn from(mac: Mac) -> String {
        mac.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address: {0:?}")]
pub struct InvalidMac(pub String);

/// A physical Junos interface name such as `ge-0/0/12`: the only port string that may reach a
/// switch. Built only through [`InterfaceName::parse`], which strips a logical unit (`.0`) and
/// refuses anything else, which also closes the path for configuration injection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InterfaceName(String);

/// Junos physical interface media prefixes that can face an access point.
const MEDIA: &[&str] = &[
    "ge", "xe", "mge", "et", "fe", "gr", "me", "fte", "xle", "ae",
];

impl InterfaceName {
    pub fn parse(raw: &str) -> Result<InterfaceName, InvalidInterface> {
        let reject = || InvalidInterface(raw.chars().take(60).collect());
        let trimmed = raw.trim();
        let physical = match trimmed.split_once('.') {
            Some((name, unit)) if !unit.is_empty() && unit.chars().all(|c| c.is_ascii_digit()) => {
                name
            }
            Some(_) => return Err(reject()),
            None => trimmed,
        };
        let (media, slots) = physical.split_once('-').ok_or_else(reject)?;
        if !MEDIA.contains(&media) {
            return Err(reject());
        }
        let parts: Vec<&str> = slots.split('/').collect();
        let numeric =
            |p: &&str| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit());
        if parts.len() != 3 || !parts.iter().all(numeric) {
            return Err(reject());
        }
        Ok(InterfaceName(physical.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<String> for InterfaceName {
    type Error = InvalidInterface;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        InterfaceName::parse(&value)
    }
}

impl From<InterfaceName> for String {
    fn from(name: InterfaceName) -> String {
        name.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Junos physical interface name: {0:?}")]
pub struct InvalidInterface(pub String);

/// The Mist device events mesa acts on. Anything else is ignored and counted at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    ApConnected,
    ApDisconnected,
    ApRestarted,
}

impl EventKind {
    pub fn from_mist(kind: &str) -> Option<EventKind> {
        match kind {
            "AP_CONNECTED" => Some(EventKind::ApConnected),
            "AP_DISCONNECTED" => Some(EventKind::ApDisconnected),
            "AP_RESTARTED" => Some(EventKind::ApRestarted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ApConnected => "AP_CONNECTED",
            EventKind::ApDisconnected => "AP_DISCONNECTED",
            EventKind::ApRestarted => "AP_RESTARTED",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where an event came from; shown in the audit and in notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Webhook,
    External,
    Reconcile,
    Replay,
    /// A person's `apply` / `revert` from Slack or Mattermost.
    Chat,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::External => "external",
            Source::Reconcile => "reconcile",
            Source::Replay => "replay",
            Source::Chat => "chat",
        }
    }
}

/// A switch and port named directly by the event (external NAC trigger, reconcile), so no
/// LLDP lookup is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPort {
    pub switch_mac: Mac,
    pub port: String,
}

/// What Mist (or another source) told us about one access point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApEvent {
    /// Our id for this event: every log line and audit row of its decision carries it.
    pub id: String,
    pub kind: EventKind,
    pub ap_mac: Mac,
    pub ap_name: Option<String>,
    pub org_id: Option<String>,
    pub site_id: String,
    pub site_name: Option<String>,
    /// Mist's event timestamp (epoch seconds); part of the duplicate-delivery key.
    pub timestamp: i64,
    pub source: Source,
    pub received_at: DateTime<Utc>,
    pub known_port: Option<KnownPort>,
}

impl ApEvent {
    /// Identical for the same delivery sent twice (org- and site-level webhooks).
    pub fn dedupe_key(&self) -> String {
        let (source, mac, kind, ts) = (
            self.source.as_str(),
            &self.ap_mac,
            self.kind,
            self.timestamp,
        );
        match &self.known_port {
            // Triggers without an AP share the switch MAC: the port tells them apart.
            Some(known) => format!("{source}:{mac}:{}:{kind}:{ts}", known.port),
            None => format!("{source}:{mac}:{kind}:{ts}"),
        }
    }

    /// An external trigger that named a port but no AP: mesa cannot follow "the AP" across
    /// ports or ask LLDP about it, only act on the port named.
    pub fn is_portless_trigger(&self) -> bool {
        self.known_port
            .as_ref()
            .is_some_and(|known| known.switch_mac == self.ap_mac)
    }
}

/// The two port personalities mesa manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Trunk with the AP VLANs.
    Ap,
    /// 802.1X / MAB access port.
    Secured,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Ap => "ap",
            Profile::Secured => "secured",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "ap" => Some(Profile::Ap),
            "secured" => Some(Profile::Secured),
            _ => None,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A switch as far as mesa knows it: enough for any backend to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SwitchRef {
    /// LLDP system name / Mist hostname.
    pub name: String,
    pub site_id: String,
    pub mac: Option<Mac>,
    /// LLDP management address, when Mist knows it.
    pub mgmt_addr: Option<String>,
}

/// The AP a change is made for, to fill templates and messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApRef {
    pub mac: Mac,
    pub name: Option<String>,
}

/// One port to turn into one profile, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortChange {
    pub switch: SwitchRef,
    pub port: InterfaceName,
    pub profile: Profile,
    pub ap: ApRef,
    pub site_name: Option<String>,
    pub reason: String,
}

/// What one guard concluded, with the numbers behind it so a person can check the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardVerdict {
    pub guard: String,
    pub proceed: bool,
    pub reason: String,
    #[serde(default)]
    pub numbers: serde_json::Value,
}

impl GuardVerdict {
    pub fn proceed(guard: &str, reason: impl Into<String>) -> GuardVerdict {
        GuardVerdict {
            guard: guard.into(),
            proceed: true,
            reason: reason.into(),
            numbers: serde_json::Value::Null,
        }
    }

    pub fn hold(guard: &str, reason: impl Into<String>) -> GuardVerdict {
        GuardVerdict {
            guard: guard.into(),
            proceed: false,
            reason: reason.into(),
            numbers: serde_json::Value::Null,
        }
    }

    pub fn with_numbers(mut self, numbers: serde_json::Value) -> GuardVerdict {
        self.numbers = numbers;
        self
    }
}

/// How a decision ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Applied,
    AlreadyInPlace,
    Skipped { guard: String, reason: String },
    Rejected { reason: String },
    Failed { error: String },
}

impl Outcome {
    /// The short label used in metrics, filters and `mesa events`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::AlreadyInPlace => "already-in-place",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Failed { .. } => "failed",
        }
    }

    pub fn summary(&self) -> String {
        match self {
            Outcome::Applied => "applied".into(),
            Outcome::AlreadyInPlace => "already in place".into(),
            Outcome::Skipped { guard, reason } => format!("skipped by {guard}: {reason}"),
            Outcome::Rejected { reason } => format!("rejected: {reason}"),
            Outcome::Failed { error } => format!("failed: {error}"),
        }
    }
}

/// How loud a decision is, for notification routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Debug,
    Info,
    Warning,
    Critical,
}

/// The audit row: everything mesa knew and did for one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub event: ApEvent,
    /// What Mist returned, step by step, as shown to a person (`mesa replay`, `mesa events`).
    pub lookups: Vec<String>,
    pub verdicts: Vec<GuardVerdict>,
    pub changes: Vec<PortChange>,
    pub outcome: Outcome,
    /// Configuration diff as the backend reported it, per port.
    pub diff: Option<String>,
    pub backend: String,
    pub decided_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Not the event's last word: a transient failure, announced once while the event is
    /// retried. The final decision for the same event id follows.
    #[serde(default)]
    pub will_retry: bool,
}

impl Decision {
    pub fn severity(&self) -> Severity {
        match &self.outcome {
            Outcome::Failed { .. } => Severity::Critical,
            Outcome::Rejected { .. } => Severity::Warning,
            Outcome::Skipped { guard, .. } if guard == "superseded" || guard == "duplicate" => {
                Severity::Debug
            }
            Outcome::Skipped { .. } => Severity::Warning,
            Outcome::Applied => Severity::Info,
            Outcome::AlreadyInPlace => Severity::Debug,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_normalised() {
        for raw in [
            "5c5b35aabbcc",
            "5C:5B:35:AA:BB:CC",
            "5c-5b-35-aa-bb-cc",
            "5c5b.35aa.bbcc",
        ] {
            assert_eq!(
                Mac::parse(raw).map(|m| m.to_string()),
                Ok("5c5b35aabbcc".into())
            );
        }
        assert!(Mac::parse("5c5b35aabbc").is_err());
        assert!(Mac::parse("zz5b35aabbcc").is_err());
        assert_eq!(
            Mac::parse("5c5b35aabbcc").map(|m| m.colon()),
            Ok("5c:5b:35:aa:bb:cc".into())
        );
    }

    #[test]
    fn interface_names_are_strict() {
        assert_eq!(
            InterfaceName::parse("ge-0/0/12.0").map(String::from),
            Ok("ge-0/0/12".into())
        );
        assert_eq!(
            InterfaceName::parse("mge-1/0/47").map(String::from),
            Ok("mge-1/0/47".into())
        );
        for bad in [
            "ge-0/0/1; delete",
            "ge-0/0/1\nset system root-authentication",
            "ge-0/0",
            "526",
            "eth0",
            "ge-0/0/1.x",
            "ge-0/0/1.",
            "",
            "ge-a/0/1",
        ] {
            assert!(InterfaceName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}

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

/// When something happened, as its source tells it (Mist's event `timestamp`, the moment a
/// reconcile's reading of Mist was true), to the millisecond: Mist sends epoch seconds,
/// sometimes with a fraction, and one second can hold a connect, a disconnect and a connect.
/// Written as epoch seconds (with a fraction) in the journal and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(i64);

/// Above this an epoch number is milliseconds, not seconds (seconds reach it in year 5138):
/// journal rows of external triggers were once written in milliseconds, and a sender in
/// milliseconds must not put its events 50,000 years after everyone else's.
const MILLIS_FROM: f64 = 1e11;

impl EventTime {
    /// Epoch seconds, fraction kept to the millisecond. Not finite → 0 (callers refuse
    /// such input before).
    pub fn from_secs_f64(secs: f64) -> EventTime {
        if secs.is_finite() {
            EventTime((secs * 1000.0).round() as i64)
        } else {
            EventTime(0)
        }
    }

    /// An epoch number as senders write it: seconds (with a fraction), or milliseconds
    /// when it is too large to be seconds. Not finite → 0.
    pub fn from_epoch(number: f64) -> EventTime {
        if number.is_finite() && number.abs() >= MILLIS_FROM {
            EventTime(number.round() as i64)
        } else {
            EventTime::from_secs_f64(number)
        }
    }

    pub fn from_secs(secs: i64) -> EventTime {
        EventTime(secs.saturating_mul(1000))
    }

    pub fn from_millis(millis: i64) -> EventTime {
        EventTime(millis)
    }

    pub fn now() -> EventTime {
        crate::clock::now().into()
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The time to order events by, in ms. A whole-second time (Mist often cuts its
    /// timestamps to the second) stands for "within that second" and orders at its end: a
    /// webhook event at `12:00:05` is not older than a reconcile reading at `12:00:05.705`.
    pub fn ordering(self) -> i64 {
        if self.0 % 1000 == 0 {
            self.0 + 999
        } else {
            self.0
        }
    }

    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl From<DateTime<Utc>> for EventTime {
    fn from(at: DateTime<Utc>) -> EventTime {
        EventTime(at.timestamp_millis())
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(at) => write!(
                f,
                "{}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            None => write!(f, "{} ms", self.0),
        }
    }
}

impl Serialize for EventTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.secs_f64())
        }
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EventTime, D::Error> {
        let number = f64::deserialize(d)?;
        if !number.is_finite() {
            return Err(serde::de::Error::custom("event time is not a number"));
        }
        Ok(EventTime::from_epoch(number))
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
    /// A held decision looked at again (`engine::holds`); `attempt` counts the re-checks of
    /// one hold.
    Recheck {
        attempt: u32,
    },
    /// The Mist WebSocket stream (`ingest.mode = "stream"`).
    Stream,
    /// mesa's own follow-up of an earlier decision: the old port of a moved AP.
    FollowUp,
    /// A person's `apply` / `revert` from Slack or Mattermost.
    Chat,
}

impl Source {
    /// Sources that relay Mist's own device events: two of them reporting the same change
    /// (org- and site-level webhooks) are one event.
    pub fn reports_mist_events(self) -> bool {
        match self {
            Source::Webhook | Source::Stream => true,
            Source::External
            | Source::Reconcile
            | Source::Replay
            | Source::FollowUp
            | Source::Recheck { .. }
            | Source::Chat => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::External => "external",
            Source::Reconcile => "reconcile",
            Source::Replay => "replay",
            Source::Recheck { .. } => "recheck",
            Source::Stream => "stream",
            Source::FollowUp => "follow-up",
            Source::Chat => "chat",
        }
    }
}

/// A switch and port named directly by the event (external NAC trigger, reconcile, the old
/// port of a moved AP), so no LLDP lookup is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPort {
    /// Mist's MAC of the switch, by which it is looked up; `None` only for a switch mesa
    /// recorded by name alone (then `recorded` says which).
    pub switch_mac: Option<Mac>,
    pub port: String,
    /// The event is about this port, not about an AP (a NAC trigger that named none): it is
    /// ordered and flap-counted per port, and never follows "the AP" to another port.
    #[serde(default)]
    pub port_only: bool,
    /// The switch as mesa recorded it, used as is without asking Mist (the old port of a
    /// moved AP: Mist no longer shows the AP there).
    #[serde(default)]
    pub recorded: Option<SwitchRef>,
}

impl KnownPort {
    /// The key of the named switch (see [`SwitchRef::key`]).
    pub fn switch_key(&self) -> String {
        match (&self.switch_mac, &self.recorded) {
            (Some(mac), _) => mac.to_string(),
            (None, Some(switch)) => switch.key(),
            (None, None) => String::new(),
        }
    }
}

/// Whom an event is about: its ordering lane and its flap count follow this.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Ap(Mac),
    /// One switch port (switch key, interface) for events that name no AP.
    Port(String, String),
}

impl Subject {
    /// The journal's spelling: the AP MAC, or `<switch MAC>/<port>`.
    pub fn key(&self) -> String {
        match self {
            Subject::Ap(mac) => mac.to_string(),
            Subject::Port(switch, port) => format!("{switch}/{port}"),
        }
    }
}

impl From<&Mac> for Subject {
    fn from(mac: &Mac) -> Subject {
        Subject::Ap(mac.clone())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Ap(mac) => write!(f, "AP {}", mac.colon()),
            Subject::Port(switch, port) => write!(f, "port {port} of switch {switch}"),
        }
    }
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
    /// When it happened per its source (Mist's event timestamp): orders the events of one
    /// lane and is part of the duplicate-delivery key.
    pub timestamp: EventTime,
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
            self.timestamp.millis(),
        );
        let key = match &self.known_port {
            // Triggers without an AP share the switch MAC: the port tells them apart.
            Some(known) => format!("{source}:{mac}:{}:{kind}:{ts}", known.port),
            None => format!("{source}:{mac}:{kind}:{ts}"),
        };
        match self.source {
            // Re-checks keep the held event's timestamp; each of them is its own event.
            Source::Recheck { attempt } => format!("{key}:{attempt}"),
            _ => key,
        }
    }

    /// True for an event about a port alone (see [`KnownPort::port_only`]). Journal rows
    /// written before that flag existed spelled it as "the switch MAC in place of the AP".
    pub fn is_port_only(&self) -> bool {
        self.known_port
            .as_ref()
            .is_some_and(|known| known.port_only || known.switch_mac.as_ref() == Some(&self.ap_mac))
    }

    /// The lane this event is ordered in and the subject of its flap count.
    pub fn subject(&self) -> Subject {
        match &self.known_port {
            Some(known) if self.is_port_only() => {
                Subject::Port(known.switch_key(), known.port.clone())
            }
            _ => Subject::Ap(self.ap_mac.clone()),
        }
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
///
/// A switch *is* its MAC (Mist's device record): LLDP may call it `sw1.campus.example` where
/// Mist says `sw1`, and Mist keeps former hostnames. The name is for people and for reaching
/// the switch (NETCONF host, CSO device); only a switch whose MAC is unknown is told apart by
/// its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SwitchRef {
    /// LLDP system name / Mist hostname.
    pub name: String,
    pub site_id: String,
    pub mac: Option<Mac>,
    /// LLDP management address, when Mist knows it.
    pub mgmt_addr: Option<String>,
}

impl SwitchRef {
    /// A switch known only by its name (tools, tests, records from before MACs were kept).
    pub fn named(name: impl Into<String>) -> SwitchRef {
        SwitchRef {
            name: name.into(),
            site_id: String::new(),
            mac: None,
            mgmt_addr: None,
        }
    }

    /// What locks, batches and store rows are keyed by: the MAC, else the name.
    pub fn key(&self) -> String {
        switch_key(self.mac.as_ref(), &self.name)
    }

    /// True when both denote the same switch (see [`same_switch`]).
    pub fn same_as(&self, other: &SwitchRef) -> bool {
        same_switch(
            self.mac.as_ref(),
            &self.name,
            other.mac.as_ref(),
            &other.name,
        )
    }
}

/// The key of a switch: its MAC (12 hex digits) where known, else its lowercased name.
pub fn switch_key(mac: Option<&Mac>, name: &str) -> String {
    match mac {
        Some(mac) => mac.to_string(),
        None => name.trim().to_ascii_lowercase(),
    }
}

/// Two references to switches name the same one: by MAC when both know it (names do not
/// matter then), else by name, case-insensitively and tolerant of an FQDN against its first
/// label (`sw1.campus.example` is `sw1`).
pub fn same_switch(a_mac: Option<&Mac>, a_name: &str, b_mac: Option<&Mac>, b_name: &str) -> bool {
    match (a_mac, b_mac) {
        (Some(a), Some(b)) => a == b,
        _ => same_switch_name(a_name, b_name),
    }
}

/// Switch names compared the way LLDP and Mist spell them: exact (case-insensitive), else by
/// their first DNS label.
pub fn same_switch_name(a: &str, b: &str) -> bool {
    let short = |name: &str| {
        let name = name.trim();
        name.split('.')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(name)
            .to_ascii_lowercase()
    };
    a.trim().eq_ignore_ascii_case(b.trim()) || short(a) == short(b)
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
            Outcome::Skipped { guard, .. }
                if guard == "superseded" || guard == "duplicate" || guard == "stale" =>
            {
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
    fn event_times_keep_milliseconds_and_read_old_rows() {
        let read = |json: &str| serde_json::from_str::<EventTime>(json).map(EventTime::millis);
        assert_eq!(read("1700000000").ok(), Some(1_700_000_000_000));
        assert_eq!(read("1700000000.25").ok(), Some(1_700_000_000_250));
        // External triggers were journaled in milliseconds once.
        assert_eq!(read("1796199204661").ok(), Some(1_796_199_204_661));
        let t = EventTime::from_secs_f64(1_596_588_619.007);
        assert_eq!(t.millis(), 1_596_588_619_007);
        assert_eq!(
            serde_json::to_string(&t).ok().and_then(|j| read(&j).ok()),
            Some(t.millis())
        );
        assert_eq!(
            serde_json::to_string(&EventTime::from_secs(5))
                .ok()
                .as_deref(),
            Some("5")
        );
        // Whole seconds order at the end of their second.
        assert!(EventTime::from_secs(5).ordering() > EventTime::from_millis(5_705).ordering());
        assert!(EventTime::from_secs(5).ordering() < EventTime::from_millis(6_001).ordering());
    }

    #[test]
    fn a_switch_is_its_mac_and_else_its_name() {
        let mac = |s: &str| Mac::parse(s).ok();
        let (a, b) = (mac("d420b0000001"), mac("d420b0000002"));
        assert!(same_switch(
            a.as_ref(),
            "sw1.campus.example",
            a.as_ref(),
            "sw1"
        ));
        assert!(same_switch(a.as_ref(), "old-name", a.as_ref(), "sw1"));
        assert!(!same_switch(a.as_ref(), "sw1", b.as_ref(), "sw1"));
        assert!(same_switch(None, "SW1.campus.example", a.as_ref(), "sw1"));
        assert!(!same_switch(None, "sw1", None, "sw10"));
        assert_eq!(switch_key(a.as_ref(), "sw1"), "d420b0000001");
        assert_eq!(switch_key(None, " SW1 "), "sw1");
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

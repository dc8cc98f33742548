//! Webhook bodies of every topic → [`RelayEvent`]s. The topics mesa knows (`alarms`,
//! `audits`, `device-updowns`, `device-events`, `mxedge-events`) have their fields read
//! where the spec puts them (`webhook_alarm_event`, `webhook_audit_event`,
//! `webhook_device_updowns_event`, `webhook_device_events_event`); any other topic is read
//! generically. Every event keeps its whole JSON object, unknown fields included.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

/// How loud an event is, in Mist's own words (alarm `major` / `minor` folded in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Info,
    Warn,
    Critical,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Critical => "critical",
        }
    }

    /// Mist's words: `ev_type` (`notice`, `warn`) and alarm `severity` (`critical`, `major`,
    /// `minor`, `warn`, `info`). Major alarms count as critical, minor ones as warn.
    pub fn from_mist(word: &str) -> Option<Level> {
        match word.trim().to_ascii_lowercase().as_str() {
            "info" | "notice" | "informational" => Some(Level::Info),
            "warn" | "warning" | "minor" => Some(Level::Warn),
            "critical" | "major" | "error" => Some(Level::Critical),
            _ => None,
        }
    }

    pub fn severity(self) -> crate::model::Severity {
        match self {
            Level::Info => crate::model::Severity::Info,
            Level::Warn => crate::model::Severity::Warning,
            Level::Critical => crate::model::Severity::Critical,
        }
    }
}

/// One event of any topic, with the fields rules match on and messages show.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayEvent {
    /// `device-events` (the spec's `device_events` is normalised to it).
    pub topic: String,
    /// The event `type` (`AP_DISCONNECTED`, `rogue_client`...); empty for audits.
    pub kind: String,
    pub level: Level,
    /// The word Mist gave (`major`, `notice`...), when it gave one.
    pub severity_word: Option<String>,
    pub org_id: Option<String>,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    /// `ap`, `switch`, `gateway`, `mxedge`, when the event says or its type implies it.
    pub device_type: Option<String>,
    pub device_name: Option<String>,
    /// Lowercase hex, no separators, when the event names a device MAC.
    pub device_mac: Option<String>,
    pub port: Option<String>,
    /// What the event says in words (`text`, `reason`, audit `message`).
    pub text: Option<String>,
    /// Who did it (audits).
    pub admin: Option<String>,
    /// Epoch seconds, when given.
    pub timestamp: Option<f64>,
    /// The whole event as received.
    pub raw: Value,
}

/// Why a body could not be read as a webhook body at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("not JSON")]
    NotJson,
    #[error("no \"topic\" (string) or no \"events\" (array)")]
    NotWebhook,
}

/// Reads every object of `events` of a webhook body; non-objects are skipped.
pub fn parse_body(body: &[u8]) -> Result<Vec<RelayEvent>, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| BodyError::NotJson)?;
    let topic = value
        .get("topic")
        .and_then(Value::as_str)
        .ok_or(BodyError::NotWebhook)?;
    let events = value
        .get("events")
        .and_then(Value::as_array)
        .ok_or(BodyError::NotWebhook)?;
    let topic = normalise_topic(topic);
    Ok(events
        .iter()
        .filter_map(Value::as_object)
        .map(|event| from_object(&topic, event))
        .collect())
}

/// Real senders write `device-events`; the spec's samples `device_events`.
pub fn normalise_topic(topic: &str) -> String {
    topic.trim().replace('_', "-")
}

pub fn from_object(topic: &str, event: &Map<String, Value>) -> RelayEvent {
    let text = |key: &str| {
        event
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let kind = text("type").unwrap_or_default();
    let severity_word = text("severity").or_else(|| text("ev_type"));
    let level = severity_word
        .as_deref()
        .and_then(Level::from_mist)
        .unwrap_or_else(|| default_level(topic, &kind));
    let device_mac = text("mac")
        .or_else(|| text("ap"))
        .or_else(|| text("mxedge_id").and_then(|id| mac_of_device_id(&id)))
        .or_else(|| text("device_id").and_then(|id| mac_of_device_id(&id)))
        .map(|m| m.replace([':', '-', '.'], "").to_ascii_lowercase())
        .filter(|m| m.len() == 12 && m.chars().all(|c| c.is_ascii_hexdigit()));
    let device_type = text("device_type")
        .map(|t| t.to_ascii_lowercase())
        .or_else(|| implied_device_type(topic, &kind, event));
    RelayEvent {
        topic: topic.to_string(),
        kind,
        level,
        severity_word,
        org_id: text("org_id"),
        site_id: text("site_id"),
        site_name: text("site_name"),
        device_type,
        device_name: text("device_name")
            .or_else(|| text("ap_name"))
            .or_else(|| text("mxedge_name"))
            .or_else(|| text("hostname")),
        device_mac,
        port: text("port_id").or_else(|| text("port")),
        text: text("text")
            .or_else(|| text("message"))
            .or_else(|| text("reason"))
            .or_else(|| text("note"))
            .or_else(|| text("service").map(|s| format!("service {s}")))
            .or_else(|| text("component").map(|c| format!("component {c}"))),
        admin: text("admin_name"),
        timestamp: event.get("timestamp").and_then(Value::as_f64),
        raw: Value::Object(event.clone()),
    }
}

/// Without a severity in the event: a device gone is a warning, everything else news.
fn default_level(topic: &str, kind: &str) -> Level {
    let upper = kind.to_ascii_uppercase();
    let gone = upper.ends_with("_DISCONNECTED")
        || upper.ends_with("_DOWN")
        || upper.contains("DISCONNECTED_LONG");
    match topic {
        "device-updowns" | "device-events" | "mxedge-events" if gone => Level::Warn,
        _ => Level::Info,
    }
}

/// `AP_*` / `SW_*` / `GW_*` / `ME_*` types name their device; mxedge-events are mxedges.
fn implied_device_type(topic: &str, kind: &str, event: &Map<String, Value>) -> Option<String> {
    if topic == "mxedge-events" {
        return Some("mxedge".into());
    }
    let prefix = kind.split('_').next().unwrap_or_default();
    let implied = match prefix {
        "AP" => "ap",
        "SW" => "switch",
        "GW" => "gateway",
        "ME" => "mxedge",
        _ if event.contains_key("ap") => "ap",
        _ => return None,
    };
    Some(implied.into())
}

/// Mist device ids are `00000000-0000-0000-1000-<mac>`.
fn mac_of_device_id(id: &str) -> Option<String> {
    let tail = id.strip_prefix("00000000-0000-0000-1000-")?;
    (tail.len() == 12).then(|| tail.to_string())
}

impl RelayEvent {
    /// The same event delivered twice (an org and a site webhook) gives the same key: the
    /// topic and the event's content, without `for_site`, which is what differs.
    pub fn dedupe_key(&self) -> u64 {
        let mut raw = self.raw.clone();
        if let Value::Object(map) = &mut raw {
            map.remove("for_site");
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.topic.hash(&mut hasher);
        // serde_json's map is ordered by key: equal objects print equal.
        raw.to_string().hash(&mut hasher);
        hasher.finish()
    }

    /// The site as people know it: name, else id, else "no site".
    pub fn site_label(&self) -> String {
        self.site_name
            .clone()
            .or_else(|| self.site_id.clone())
            .unwrap_or_else(|| "no site".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_read_where_the_spec_puts_fields() {
        let body = br#"{"topic":"device_events","events":[{"device_name":"sw1","device_type":"switch",
            "ev_type":"warn","mac":"D4:20:B0:00:00:01","org_id":"o","site_id":"s","port_id":"ge-0/0/3",
            "text":"port down","timestamp":1700000000,"type":"SW_PORT_DOWN","extra":1}, 7]}"#;
        let events = parse_body(body).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.topic, "device-events");
        assert_eq!(e.level, Level::Warn);
        assert_eq!(e.device_type.as_deref(), Some("switch"));
        assert_eq!(e.device_mac.as_deref(), Some("d420b0000001"));
        assert_eq!(e.port.as_deref(), Some("ge-0/0/3"));
        assert_eq!(e.raw["extra"], 1, "unknown fields are kept");

        let alarm = br#"{"topic":"alarms","events":[{"type":"rogue_client","severity":"major","site_id":"s","org_id":"o","id":"a1","last_seen":1,"timestamp":1}]}"#;
        let a = &parse_body(alarm).unwrap()[0];
        assert_eq!(a.level, Level::Critical);
        assert_eq!(a.severity_word.as_deref(), Some("major"));

        let updown = br#"{"topic":"device-updowns","events":[{"ap":"5c5b35000001","ap_name":"ap1","type":"AP_DISCONNECTED","site_id":"s","site_name":"HQ","org_id":"o","timestamp":1}]}"#;
        let u = &parse_body(updown).unwrap()[0];
        assert_eq!(u.level, Level::Warn);
        assert_eq!(u.device_type.as_deref(), Some("ap"));
        assert_eq!(u.device_name.as_deref(), Some("ap1"));
    }

    #[test]
    fn org_and_site_copies_share_a_key() {
        let org = br#"{"topic":"alarms","events":[{"id":"a","type":"x","for_site":false,"timestamp":1}]}"#;
        let site =
            br#"{"topic":"alarms","events":[{"timestamp":1,"type":"x","id":"a","for_site":true}]}"#;
        let other = br#"{"topic":"alarms","events":[{"id":"b","type":"x","timestamp":1}]}"#;
        let key = |b: &[u8]| parse_body(b).unwrap()[0].dedupe_key();
        assert_eq!(key(org), key(site));
        assert_ne!(key(org), key(other));
    }

    #[test]
    fn bad_bodies() {
        assert_eq!(parse_body(b"nope"), Err(BodyError::NotJson));
        assert_eq!(parse_body(b"{\"topic\":1}"), Err(BodyError::NotWebhook));
    }
}

//! Mist webhook bodies → `ApEvent`s. Shapes follow the spec's `webhook_device_events`
//! (`topic`, `events[]`) and `webhook_device_events_event` (`mac`, deprecated `ap`, `type`,
//! `site_id`, `org_id`, `device_name`, `timestamp`).
//!
//! A body is refused as a whole (400) only when it is not JSON or not a webhook body. Each
//! event is then judged on its own: Mist does not redeliver device-events, so one odd event
//! must not cost the good ones beside it. An unusable event (no MAC, bad timestamp, not an
//! object) is skipped with its reason; an event mesa does not act on is ignored; both are
//! counted. `site_id` is optional in the spec: an event without one is kept with an empty
//! site, and the engine finds the site through the org.

use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use crate::model::{ApEvent, EventKind, EventTime, Mac, Source};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("not a Mist webhook body: {0}")]
    NotWebhook(&'static str),
}

/// Why an event in an accepted body was not acted on, on purpose (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    Topic,
    EventType,
    DeviceType,
    /// `AP_RESTART_BY_USER`: an admin asked the AP to reboot. It comes back on the same port
    /// and its `AP_CONNECTED` / `AP_RESTARTED` is what mesa acts on; looking up LLDP while it
    /// reboots would only find stale or missing data.
    RestartByUser,
    /// `AP_DISCONNECTED_LONG`: the same disconnect mesa already judged at `AP_DISCONNECTED`.
    /// Judging it again, long after the outage window, would let a long site outage revert
    /// the ports the outage guard held; held ports are re-checked by reconcile instead.
    DisconnectedLong,
}

impl Ignored {
    pub fn label(self) -> &'static str {
        match self {
            Ignored::Topic => "topic",
            Ignored::EventType => "event-type",
            Ignored::DeviceType => "device-type",
            Ignored::RestartByUser => "restart-by-user",
            Ignored::DisconnectedLong => "disconnected-long",
        }
    }
}

/// Why an event mesa would act on could not be used (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Not an object, or a field of the wrong JSON type.
    Undecodable,
    NoMac,
    BadMac,
    NoTimestamp,
    BadTimestamp,
}

impl SkipReason {
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Undecodable => "undecodable",
            SkipReason::NoMac => "no-mac",
            SkipReason::BadMac => "bad-mac",
            SkipReason::NoTimestamp => "no-timestamp",
            SkipReason::BadTimestamp => "bad-timestamp",
        }
    }
}

/// One event of the body that was skipped, and why (returned to the sender and logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub index: usize,
    pub reason: SkipReason,
    pub detail: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {}: {}", self.index, self.detail)
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<ApEvent>,
    pub ignored: Vec<Ignored>,
    pub skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
struct Body {
    topic: String,
    events: Vec<Value>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    mac: Option<String>,
    /// Deprecated by Mist in favour of `mac`; older senders still use it.
    ap: Option<String>,
    device_type: Option<String>,
    device_name: Option<String>,
    ap_name: Option<String>,
    site_id: Option<String>,
    site_name: Option<String>,
    org_id: Option<String>,
    timestamp: Option<f64>,
}

pub fn parse(body: &[u8]) -> Result<Parsed, PayloadError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(PayloadError::NotWebhook("expected a JSON object"));
    }
    let body: Body = serde_json::from_value(value).map_err(|_| {
        PayloadError::NotWebhook("expected \"topic\" (string) and \"events\" (array)")
    })?;
    let mut parsed = Parsed::default();
    // Real senders use `device-events`; the spec's sample says `device_events`.
    if body.topic != "device-events" && body.topic != "device_events" {
        parsed
            .ignored
            .extend(body.events.iter().map(|_| Ignored::Topic));
        return Ok(parsed);
    }
    let received_at = crate::clock::now();
    for (index, raw) in body.events.into_iter().enumerate() {
        match event(raw, received_at) {
            Ok(Judged::Event(event)) => parsed.events.push(*event),
            Ok(Judged::Ignored(why)) => parsed.ignored.push(why),
            Err((reason, detail)) => parsed.skipped.push(Skipped {
                index,
                reason,
                detail,
            }),
        }
    }
    Ok(parsed)
}

enum Judged {
    Event(Box<ApEvent>),
    Ignored(Ignored),
}

fn event(raw: Value, received_at: chrono::DateTime<Utc>) -> Result<Judged, (SkipReason, String)> {
    let raw: RawEvent = serde_json::from_value(raw)
        .map_err(|e| (SkipReason::Undecodable, format!("not a device event: {e}")))?;
    match raw.kind.as_deref() {
        Some("AP_RESTART_BY_USER") => return Ok(Judged::Ignored(Ignored::RestartByUser)),
        Some("AP_DISCONNECTED_LONG") => return Ok(Judged::Ignored(Ignored::DisconnectedLong)),
        _ => {}
    }
    let Some(kind) = raw.kind.as_deref().and_then(EventKind::from_mist) else {
        return Ok(Judged::Ignored(Ignored::EventType));
    };
    if raw.device_type.as_deref().is_some_and(|t| t != "ap") {
        return Ok(Judged::Ignored(Ignored::DeviceType));
    }
    let mac_text = raw
        .mac
        .or(raw.ap)
        .ok_or((SkipReason::NoMac, "no \"mac\" (or \"ap\")".to_string()))?;
    let ap_mac = Mac::parse(&mac_text).map_err(|e| (SkipReason::BadMac, e.to_string()))?;
    let timestamp = raw
        .timestamp
        .ok_or((SkipReason::NoTimestamp, "no \"timestamp\"".to_string()))?;
    // Epoch seconds; anything outside what i64 seconds can hold is not a time.
    if !timestamp.is_finite() || timestamp.abs() > 1e15 {
        return Err((
            SkipReason::BadTimestamp,
            "timestamp is not a time in seconds".into(),
        ));
    }
    Ok(Judged::Event(Box::new(ApEvent {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        ap_mac,
        ap_name: raw.device_name.or(raw.ap_name),
        org_id: raw.org_id.filter(|o| !o.is_empty()),
        // Optional in the spec: empty means "find it through the org".
        site_id: raw.site_id.unwrap_or_default().trim().to_string(),
        site_name: raw.site_name,
        timestamp: EventTime::from_epoch(timestamp),
        source: Source::Webhook,
        received_at,
        known_port: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_shape_parses() {
        // `paths["/webhook_example/_device_events_"]` in mist.openapi.json, trimmed.
        let body = br#"{"topic":"device_events","events":[{"ap":"5c5b35000010","ap_name":"AP43-1",
            "device_name":"AP43-1","device_type":"ap","ev_type":"NOTICE","mac":"5c5b35000010",
            "org_id":"2818e386-8dec-2562-9ede-5b8a0fbbdc71","site_id":"4ac1dcf4-9d8b-7211-65c4-057819f0862b",
            "site_name":"Site 1","timestamp":1461220784,"type":"AP_CONNECTED"}]}"#;
        let parsed = parse(body).unwrap();
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].ap_mac.as_str(), "5c5b35000010");
        assert_eq!(parsed.events[0].ap_name.as_deref(), Some("AP43-1"));
    }

    #[test]
    fn mac_or_deprecated_ap() {
        let only_ap = br#"{"topic":"device-events","events":[{"ap":"5C:5B:35:00:00:10","type":"AP_DISCONNECTED","site_id":"s","timestamp":1}]}"#;
        assert_eq!(
            parse(only_ap).unwrap().events[0].ap_mac.as_str(),
            "5c5b35000010"
        );
        let only_mac = br#"{"topic":"device-events","events":[{"mac":"5c5b35000011","type":"AP_RESTARTED","site_id":"s","timestamp":1.5}]}"#;
        assert_eq!(
            parse(only_mac).unwrap().events[0].kind,
            EventKind::ApRestarted
        );
    }

    #[test]
    fn ignores_and_rejects() {
        let other = br#"{"topic":"alarms","events":[{}]}"#;
        assert_eq!(parse(other).unwrap().ignored, vec![Ignored::Topic]);
        let other_type =
            br#"{"topic":"device-events","events":[{"type":"SW_CONFIGURED","mac":"x"}]}"#;
        assert_eq!(parse(other_type).unwrap().ignored, vec![Ignored::EventType]);
        assert!(matches!(parse(b"{not json"), Err(PayloadError::NotJson(_))));
        assert!(matches!(parse(b"[]"), Err(PayloadError::NotWebhook(_))));
        assert!(matches!(
            parse(br#"{"topic":"device-events"}"#),
            Err(PayloadError::NotWebhook(_))
        ));
    }

    #[test]
    fn one_odd_event_does_not_sink_its_neighbours() {
        let body = br#"{"topic":"device-events","events":[
            {"type":"AP_CONNECTED","site_id":"s","timestamp":1},
            {"type":"AP_CONNECTED","mac":"nope","site_id":"s","timestamp":1},
            {"type":"AP_CONNECTED","mac":"5c5b35000001","site_id":"s"},
            {"type":"AP_CONNECTED","mac":"5c5b35000001","site_id":"s","timestamp":"soon"},
            "not an object",
            {"type":"AP_CONNECTED","mac":"5c5b35000002","site_id":"s","timestamp":1e300},
            {"type":"AP_DISCONNECTED","mac":"5c5b35000003","org_id":"o","timestamp":7},
            {"type":"AP_CONNECTED","mac":"5c5b35000004","site_id":"s","timestamp":8}
        ]}"#;
        let parsed = parse(body).unwrap();
        let reasons: Vec<_> = parsed.skipped.iter().map(|s| (s.index, s.reason)).collect();
        assert_eq!(
            reasons,
            vec![
                (0, SkipReason::NoMac),
                (1, SkipReason::BadMac),
                (2, SkipReason::NoTimestamp),
                (3, SkipReason::Undecodable),
                (4, SkipReason::Undecodable),
                (5, SkipReason::BadTimestamp),
            ]
        );
        let macs: Vec<_> = parsed.events.iter().map(|e| e.ap_mac.as_str()).collect();
        assert_eq!(macs, ["5c5b35000003", "5c5b35000004"]);
        // No site in the event (not required by the spec): kept, found later via the org.
        assert_eq!(parsed.events[0].site_id, "");
        assert_eq!(parsed.events[0].org_id.as_deref(), Some("o"));
    }

    #[test]
    fn restart_by_user_and_disconnected_long_are_ignored_on_purpose() {
        let body = br#"{"topic":"device-events","events":[
            {"type":"AP_RESTART_BY_USER","mac":"5c5b35000001","site_id":"s","timestamp":1},
            {"type":"AP_DISCONNECTED_LONG","mac":"5c5b35000001","site_id":"s","timestamp":2}
        ]}"#;
        let parsed = parse(body).unwrap();
        assert!(parsed.events.is_empty());
        assert_eq!(
            parsed.ignored,
            vec![Ignored::RestartByUser, Ignored::DisconnectedLong]
        );
    }
}

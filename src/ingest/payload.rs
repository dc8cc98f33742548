//! Mist webhook bodies → `ApEvent`s. Shapes follow the spec's `webhook_device_events`
//! (`topic`, `events[]`) and `webhook_device_events_event` (`mac`, deprecated `ap`, `type`,
//! `site_id`, `org_id`, `device_name`, `timestamp`).
//!
//! A body is refused as a whole (400) when it is not JSON, not a webhook body, or when an
//! event mesa should act on is unusable (no MAC, no site): the sender then knows, and nothing
//! half of a body is journaled. Events mesa does not act on are ignored and counted.

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
    #[error("event {index}: {reason}")]
    BadEvent { index: usize, reason: String },
}

/// Why an event in an accepted body was not acted on (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    Topic,
    EventType,
    DeviceType,
}

impl Ignored {
    pub fn label(self) -> &'static str {
        match self {
            Ignored::Topic => "topic",
            Ignored::EventType => "event-type",
            Ignored::DeviceType => "device-type",
        }
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<ApEvent>,
    pub ignored: Vec<Ignored>,
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
    let received_at = Utc::now();
    for (index, raw) in body.events.into_iter().enumerate() {
        let bad = |reason: &str| PayloadError::BadEvent {
            index,
            reason: reason.to_string(),
        };
        let raw: RawEvent = serde_json::from_value(raw).map_err(|e| bad(&e.to_string()))?;
        let Some(kind) = raw.kind.as_deref().and_then(EventKind::from_mist) else {
            parsed.ignored.push(Ignored::EventType);
            continue;
        };
        if raw.device_type.as_deref().is_some_and(|t| t != "ap") {
            parsed.ignored.push(Ignored::DeviceType);
            continue;
        }
        let mac_text = raw
            .mac
            .or(raw.ap)
            .ok_or_else(|| bad("no \"mac\" (or \"ap\")"))?;
        let ap_mac = Mac::parse(&mac_text).map_err(|e| bad(&e.to_string()))?;
        let site_id = raw
            .site_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no \"site_id\""))?;
        let timestamp = raw.timestamp.ok_or_else(|| bad("no \"timestamp\""))?;
        if !timestamp.is_finite() {
            return Err(bad("timestamp is not a number"));
        }
        parsed.events.push(ApEvent {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            ap_mac,
            ap_name: raw.device_name.or(raw.ap_name),
            org_id: raw.org_id,
            site_id,
            site_name: raw.site_name,
            timestamp: EventTime::from_epoch(timestamp),
            source: Source::Webhook,
            received_at,
            known_port: None,
        });
    }
    Ok(parsed)
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
        let no_mac = br#"{"topic":"device-events","events":[{"type":"AP_CONNECTED","site_id":"s","timestamp":1}]}"#;
        assert!(matches!(
            parse(no_mac),
            Err(PayloadError::BadEvent { index: 0, .. })
        ));
        let bad_mac = br#"{"topic":"device-events","events":[{"type":"AP_CONNECTED","mac":"nope","site_id":"s","timestamp":1}]}"#;
        assert!(matches!(parse(bad_mac), Err(PayloadError::BadEvent { .. })));
    }
}

//! Replay bound for webhooks. Mist signs the body only, with no timestamp, so a captured
//! signed `AP_DISCONNECTED` stays valid forever; the duplicate check only catches it while
//! the first delivery is still in the journal (retention prunes it). An event whose Mist
//! timestamp was already older than `mist.max_event_age` when it arrived is recorded with a
//! verdict that says so, and not acted on.

use std::time::Duration;

use serde_json::json;

use crate::model::{ApEvent, GuardVerdict, Source};

pub const GUARD: &str = "event-age";

/// `Some(hold)` for a webhook event that was too old when received; `None` otherwise. Other
/// sources carry no Mist delivery time (reconcile reads state now, NAC triggers name a port).
pub fn check(event: &ApEvent, max_age: Duration) -> Option<GuardVerdict> {
    if event.source != Source::Webhook {
        return None;
    }
    let received = event.received_at.timestamp();
    // A sender clock ahead of ours is not a replay; only lateness counts.
    let late_ms = event
        .received_at
        .timestamp_millis()
        .saturating_sub(event.timestamp.millis());
    let age = (late_ms.max(0) / 1000) as u64;
    if age <= max_age.as_secs() {
        return None;
    }
    let reason = format!(
        "Mist's event time was {} before mesa received it (mist.max_event_age is {}): a \
         replayed or very late delivery; recorded, not acted on",
        humantime::format_duration(Duration::from_secs(age)),
        humantime::format_duration(max_age)
    );
    Some(GuardVerdict::hold(GUARD, reason).with_numbers(json!({
        "event_timestamp": event.timestamp,
        "received_at": received,
        "age_seconds": age,
        "max_event_age_seconds": max_age.as_secs(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, Mac};

    fn event(source: Source, age: i64) -> ApEvent {
        let received_at = crate::clock::now();
        ApEvent {
            id: "e".into(),
            kind: EventKind::ApDisconnected,
            ap_mac: Mac::parse("5c5b35000001").unwrap(),
            ap_name: None,
            org_id: None,
            site_id: "s".into(),
            site_name: None,
            timestamp: crate::model::EventTime::from_secs(received_at.timestamp() - age),
            source,
            received_at,
            known_port: None,
        }
    }

    #[test]
    fn old_webhook_events_are_held_with_the_numbers() {
        let max = Duration::from_secs(900);
        assert!(check(&event(Source::Webhook, 60), max).is_none());
        assert!(check(&event(Source::Webhook, 900), max).is_none());
        assert!(check(&event(Source::Webhook, -3600), max).is_none());
        let held = check(&event(Source::Webhook, 3600), max).unwrap();
        assert!(!held.proceed);
        assert_eq!(held.guard, GUARD);
        assert!(held.reason.contains("1h"), "{}", held.reason);
        assert_eq!(held.numbers["age_seconds"], 3600);
        for other in [Source::Reconcile, Source::External, Source::Replay] {
            assert!(check(&event(other, 86_400), max).is_none());
        }
    }
}

//! `mesa relay test --rule NAME`: one sample event per topic the rule takes (every known
//! topic when it names none), made to pass the rule's filters, rendered like the real thing
//! (marked `[test]`) and sent to the rule's targets, so an operator can check each channel.
//! Samples follow the spec's webhook examples (`/webhook_example/_alarm_`, `_audit_`,
//! `_device_updowns_`, `_device_events_`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::event::{from_object, normalise_topic};
use super::rule::Rule;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::Notifications;

/// The topics a rule without `topics` gets a sample of.
pub const KNOWN_TOPICS: &[&str] = &[
    "alarms",
    "audits",
    "device-updowns",
    "device-events",
    "mxedge-events",
];

const ORG: &str = "00000000-0000-0000-0000-00000000beef";
const SITE: &str = "00000000-0000-0000-0000-0000000051e0";

/// A sample event of `topic` as Mist would send it.
pub fn sample(topic: &str) -> Value {
    let now = crate::clock::now().timestamp();
    match topic {
        "alarms" => json!({
            "id": "489f6eca-6276-4993-bfeb-c3cbbbba1f08", "type": "switch_down",
            "severity": "critical", "group": "infrastructure", "count": 1,
            "org_id": ORG, "site_id": SITE, "hostnames": ["sw-test"],
            "last_seen": now, "timestamp": now, "for_site": true,
        }),
        "audits" => json!({
            "id": "0000122a-0000-0000-0000-000000000000", "admin_name": "mesa relay test",
            "device_id": "00000000-0000-0000-1000-d420b0000001",
            "message": "Update Device Config (sample from mesa relay test)",
            "org_id": ORG, "site_id": SITE, "src_ip": "192.0.2.10", "timestamp": now,
        }),
        "device-updowns" => json!({
            "ap": "5c5b35000001", "ap_name": "ap-test", "type": "AP_DISCONNECTED",
            "org_id": ORG, "site_id": SITE, "site_name": "mesa test site", "timestamp": now,
        }),
        "device-events" => json!({
            "mac": "d420b0000001", "device_name": "sw-test", "device_type": "switch",
            "ev_type": "warn", "type": "SW_PORT_DOWN", "port_id": "ge-0/0/1",
            "text": "sample from mesa relay test", "org_id": ORG, "site_id": SITE,
            "site_name": "mesa test site", "timestamp": now,
        }),
        "mxedge-events" => json!({
            "mxedge_id": "00000000-0000-0000-1000-020000000001", "mxedge_name": "mxedge-test",
            "type": "ME_DISCONNECTED", "org_id": ORG, "site_id": SITE, "timestamp": now,
        }),
        _ => json!({
            "type": "SAMPLE", "text": "sample from mesa relay test",
            "org_id": ORG, "site_id": SITE, "timestamp": now,
        }),
    }
}

/// `sample(topic)` changed to pass `rule`'s filters where it can.
fn fitted(topic: &str, rule: &Rule) -> Value {
    let mut event = sample(topic);
    let Value::Object(map) = &mut event else {
        return event;
    };
    if let Some(kind) = rule.literal_type() {
        map.insert("type".into(), json!(kind));
    }
    if let Some(word) = rule.severity_words().first() {
        map.insert("severity".into(), json!(word));
    }
    if let Some(site) = rule.site_filter().first() {
        map.insert("site_id".into(), json!(site));
        map.insert("site_name".into(), json!(site));
    }
    if let Some(device_type) = rule.device_types().first() {
        map.insert("device_type".into(), json!(device_type));
    }
    event
}

/// Sends the samples of rule `name`; prints what went where. Exit code 0 when every target
/// took every sample, 1 otherwise, 2 for an unknown rule.
pub async fn test_rule(config: &Config, name: &str) -> std::io::Result<i32> {
    let Some(entry) = config.relay.iter().find(|r| r.name == name) else {
        let names: Vec<&str> = config.relay.iter().map(|r| r.name.as_str()).collect();
        eprintln!("mesa: no [[relay]] rule named {name:?}; rules: {names:?}");
        return Ok(2);
    };
    let rule = Rule::from_config(entry);
    let metrics = Metrics::new();
    let notify = Notifications::new(&config.notify, &config.mist.api_url, metrics.clone());
    let relay = metrics.relay();
    let portal = crate::notify::message::dashboard_base(&config.mist.api_url);
    let topics: Vec<String> = if rule.topics().is_empty() {
        KNOWN_TOPICS.iter().map(|t| t.to_string()).collect()
    } else {
        rule.topics().to_vec()
    };
    for topic in &topics {
        let topic = normalise_topic(topic);
        let raw = fitted(&topic, &rule);
        let Value::Object(map) = &raw else { continue };
        let event = from_object(&topic, map);
        if !rule.matches(&event) {
            crate::outln!("{topic}: the sample does not pass the rule's filters; sent anyway")?;
        }
        let message = super::render::single(&event, portal.as_deref(), crate::clock::now(), true);
        crate::outln!("{topic}: {}", message.headline)?;
        super::worker::deliver(&notify, relay, &rule, Arc::new(message));
    }
    let delivered = notify.flush(Duration::from_secs(60)).await;
    let mut failed = !delivered;
    for target in &rule.targets {
        let errors = relay.target_errors(target);
        failed |= errors > 0;
        match errors {
            0 if delivered => crate::outln!("{target}: {} sample(s) delivered", topics.len())?,
            0 => crate::outln!("{target}: still delivering after 60 s")?,
            n => crate::outln!(
                "{target}: {n} of {} sample(s) failed (see the log)",
                topics.len()
            )?,
        }
    }
    Ok(i32::from(failed))
}

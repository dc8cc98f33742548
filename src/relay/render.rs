//! Relayed events as platform-neutral [`Message`]s, which the notify layer renders per
//! platform (Slack Block Kit, Teams Adaptive Card, Google Chat cardsV2, Webex, Mattermost):
//! what happened, where (site, device, port), when, severity as word and colour, and a link
//! to the device in the Mist portal (its host derived from `mist.api_url`).
//!
//! Times are shown in UTC, labelled so: mesa does not read the sites' timezones from Mist.

use chrono::{DateTime, Utc};

use super::event::{Level, RelayEvent};
use crate::notify::escape::one_line;
use crate::notify::message::{Fact, RELAY_LABEL};
use crate::notify::Message;

/// Items listed in a summary before "… and N more".
pub const SUMMARY_MAX_ITEMS: usize = 50;

fn icon(level: Level) -> &'static str {
    match level {
        Level::Critical => "🔴",
        Level::Warn => "🟠",
        Level::Info => "🔵",
    }
}

/// `2024-05-01 12:00:03 UTC`; `received` stands in when Mist gave no usable timestamp.
pub fn when(timestamp: Option<f64>, received: DateTime<Utc>) -> String {
    let at = timestamp
        .filter(|t| t.is_finite() && t.abs() < 1e12)
        .and_then(|t| DateTime::from_timestamp(t.trunc() as i64, 0))
        .unwrap_or(received);
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn device_label(event: &RelayEvent) -> Option<String> {
    let mac = event.device_mac.as_deref().map(colon);
    match (&event.device_name, mac) {
        (Some(name), Some(mac)) => Some(format!("{} ({mac})", one_line(name))),
        (Some(name), None) => Some(one_line(name)),
        (None, Some(mac)) => Some(mac),
        (None, None) => None,
    }
}

fn colon(mac: &str) -> String {
    mac.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn site_fact(event: &RelayEvent) -> Option<String> {
    match (&event.site_name, &event.site_id) {
        (Some(name), Some(id)) => Some(format!("{} ({})", one_line(name), one_line(id))),
        (Some(name), None) => Some(one_line(name)),
        (None, Some(id)) => Some(one_line(id)),
        (None, None) => None,
    }
}

fn severity_fact(event: &RelayEvent) -> String {
    match &event.severity_word {
        Some(word) if !word.eq_ignore_ascii_case(event.level.word()) => {
            format!("{} (Mist: {})", event.level.word(), one_line(word))
        }
        _ => event.level.word().to_string(),
    }
}

/// Alarm lists of what is affected (`hostnames`, `aps`, `switches`...), which Mist caps at
/// ten samples each: `aps: 5c5b35000010 · ssids: corp`.
fn affected(event: &RelayEvent) -> Option<String> {
    let parts: Vec<String> = [
        "hostnames",
        "aps",
        "switches",
        "gateways",
        "ssids",
        "bssids",
    ]
    .iter()
    .filter_map(|key| {
        let items: Vec<String> = event
            .raw
            .get(*key)?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str())
            .take(10)
            .map(one_line)
            .collect();
        (!items.is_empty()).then(|| format!("{key}: {}", items.join(", ")))
    })
    .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// One event, on its own.
pub fn single(
    event: &RelayEvent,
    portal: Option<&str>,
    received: DateTime<Utc>,
    test: bool,
) -> Message {
    let what = if event.kind.is_empty() {
        event.topic.clone()
    } else {
        one_line(&event.kind)
    };
    let subject = device_label(event).unwrap_or_else(|| event.site_label());
    let headline = format!(
        "{}{} {} · {what}: {}",
        if test { "[test] " } else { "" },
        icon(event.level),
        event.level.word().to_uppercase(),
        one_line(&subject),
    );
    let mut facts = Vec::new();
    let mut fact = |label: &'static str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            facts.push(Fact { label, value });
        }
    };
    fact("Severity", Some(severity_fact(event)));
    fact("Topic", Some(one_line(&event.topic)));
    fact(
        "Event",
        (!event.kind.is_empty()).then(|| one_line(&event.kind)),
    );
    fact("Site", site_fact(event));
    fact(
        "Device",
        device_label(event).map(|d| match &event.device_type {
            Some(t) => format!("{d} · {}", one_line(t)),
            None => d,
        }),
    );
    fact("Port", event.port.as_deref().map(one_line));
    fact("When", Some(when(event.timestamp, received)));
    fact("Admin", event.admin.as_deref().map(one_line));
    fact("Affected", affected(event));
    fact(
        "Count",
        event
            .raw
            .get("count")
            .and_then(|c| c.as_u64())
            .filter(|c| *c > 1)
            .map(|c| c.to_string()),
    );
    let link = portal.and_then(|base| device_link(base, event));
    Message {
        severity: event.level.severity(),
        outcome_label: RELAY_LABEL,
        headline,
        outcome: event
            .text
            .as_deref()
            .map(one_line)
            .unwrap_or_else(|| what.clone()),
        numbers: Vec::new(),
        facts,
        site: one_line(&event.site_label()),
        diff: None,
        link_text: link.as_ref().map(|_| {
            format!(
                "Open the {} in the Mist portal",
                event.device_type.as_deref().unwrap_or("device")
            )
        }),
        link,
        list: Vec::new(),
        event_id: String::new(),
    }
}

/// Why several events leave as one message.
#[derive(Debug, Clone, Copy)]
pub enum Heading<'a> {
    /// One site and topic within the rule's `group_within`.
    Window(std::time::Duration),
    /// Held back by the rule's `max_per_minute` (any sites and topics).
    RateLimited { rule: &'a str, per_minute: u32 },
}

/// Several events as one message with the count per type and the list.
pub fn summary(events: &[(RelayEvent, DateTime<Utc>)], heading: Heading, test: bool) -> Message {
    let level = events
        .iter()
        .map(|(e, _)| e.level)
        .max()
        .unwrap_or(Level::Info);
    let first = events.first().map(|(e, _)| e);
    let topic = first.map(|e| e.topic.clone()).unwrap_or_default();
    let site = first.map(|e| e.site_label()).unwrap_or_default();
    let mut per_type: Vec<(String, usize)> = Vec::new();
    for (e, _) in events {
        let kind = if e.kind.is_empty() {
            e.topic.clone()
        } else {
            one_line(&e.kind)
        };
        match per_type.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => per_type.push((kind, 1)),
        }
    }
    let counts: Vec<String> = per_type.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    let mut list: Vec<String> = events
        .iter()
        .take(SUMMARY_MAX_ITEMS)
        .map(|(e, received)| {
            let mut item = format!("{} {}", when(e.timestamp, *received), one_line(&e.kind));
            if matches!(heading, Heading::RateLimited { .. }) {
                item = format!(
                    "{item} ({} at {})",
                    one_line(&e.topic),
                    one_line(&e.site_label())
                );
            }
            if let Some(device) = device_label(e) {
                item.push(' ');
                item.push_str(&device);
            }
            if let Some(port) = &e.port {
                item.push_str(&format!(" port {}", one_line(port)));
            }
            if let Some(text) = &e.text {
                item.push_str(&format!(": {}", one_line(text)));
            }
            item
        })
        .collect();
    if events.len() > SUMMARY_MAX_ITEMS {
        list.push(format!("… and {} more", events.len() - SUMMARY_MAX_ITEMS));
    }
    let mut facts = vec![Fact {
        label: "Severity",
        value: level.word().to_string(),
    }];
    let site = match heading {
        Heading::Window(_) => {
            facts.push(Fact {
                label: "Topic",
                value: one_line(&topic),
            });
            if let Some(site) = first.and_then(site_fact) {
                facts.push(Fact {
                    label: "Site",
                    value: site,
                });
            }
            site
        }
        // Each item names its own topic and site.
        Heading::RateLimited { .. } => "several sites".to_string(),
    };
    Message {
        severity: level.severity(),
        outcome_label: RELAY_LABEL,
        headline: match heading {
            Heading::Window(window) => format!(
                "{}{} {} × {topic} at {} within {}",
                if test { "[test] " } else { "" },
                icon(level),
                events.len(),
                one_line(&site),
                humantime::format_duration(window),
            ),
            Heading::RateLimited { rule, per_minute } => format!(
                "{}{} {} events held back by rule {} (max_per_minute = {per_minute})",
                if test { "[test] " } else { "" },
                icon(level),
                events.len(),
                one_line(rule),
            ),
        },
        outcome: counts.join(", "),
        numbers: Vec::new(),
        facts,
        site: one_line(&site),
        diff: None,
        link: None,
        link_text: None,
        list,
        event_id: String::new(),
    }
}

/// The device's page in the Mist portal: `<portal>/admin/?org_id=<org>#!<type>/detail/
/// <device_id>/<site_id>` for APs, switches and gateways. Ids that are not UUID-shaped give no
/// link, so nothing from an event can smuggle text into a URL.
pub fn device_link(portal: &str, event: &RelayEvent) -> Option<String> {
    let page = match event.device_type.as_deref()? {
        "ap" => "ap",
        "switch" => "switch",
        "gateway" => "gateway",
        _ => return None,
    };
    let uuid_like = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    let (org, site, mac) = (
        event.org_id.as_deref()?,
        event.site_id.as_deref()?,
        event.device_mac.as_deref()?,
    );
    if !uuid_like(org) || !uuid_like(site) || !uuid_like(mac) {
        return None;
    }
    Some(format!(
        "{portal}/admin/?org_id={org}#!{page}/detail/00000000-0000-0000-1000-{mac}/{site}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::event::parse_body;

    const ORG: &str = "6748cfa6-4e12-11e6-9188-0242ac110007";
    const SITE: &str = "978c48e6-6ef6-11e6-8bbf-02e208b2d34f";

    fn switch_event() -> RelayEvent {
        let body = format!(
            r#"{{"topic":"device-events","events":[{{"device_name":"sw-idf1","device_type":"switch",
            "ev_type":"warn","mac":"d420b0000001","org_id":"{ORG}","site_id":"{SITE}","site_name":"HQ",
            "port_id":"ge-0/0/3","text":"Port ge-0/0/3 down","timestamp":1700000000,"type":"SW_PORT_DOWN"}}]}}"#
        );
        parse_body(body.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn single_event_says_what_where_when_and_links_the_device() {
        let portal = crate::notify::message::dashboard_base("https://api.eu.mist.com");
        let m = single(
            &switch_event(),
            portal.as_deref(),
            crate::clock::now(),
            false,
        );
        assert_eq!(
            m.headline,
            "🟠 WARN · SW_PORT_DOWN: sw-idf1 (d4:20:b0:00:00:01)"
        );
        assert_eq!(m.outcome, "Port ge-0/0/3 down");
        assert_eq!(m.severity, crate::model::Severity::Warning);
        let fact = |l: &str| {
            m.facts
                .iter()
                .find(|f| f.label == l)
                .map(|f| f.value.clone())
        };
        assert_eq!(fact("When").as_deref(), Some("2023-11-14 22:13:20 UTC"));
        assert_eq!(fact("Port").as_deref(), Some("ge-0/0/3"));
        assert_eq!(fact("Site").unwrap(), format!("HQ ({SITE})"));
        assert_eq!(
            m.link.as_deref().unwrap(),
            format!("https://manage.eu.mist.com/admin/?org_id={ORG}#!switch/detail/00000000-0000-0000-1000-d420b0000001/{SITE}")
        );
        assert_eq!(
            m.link_text.as_deref(),
            Some("Open the switch in the Mist portal")
        );
    }

    #[test]
    fn summary_counts_and_lists() {
        let events: Vec<_> = (0..60)
            .map(|_| (switch_event(), crate::clock::now()))
            .collect();
        let m = summary(
            &events,
            Heading::Window(std::time::Duration::from_secs(60)),
            false,
        );
        assert_eq!(m.headline, "🟠 60 × device-events at HQ within 1m");
        assert_eq!(m.outcome, "SW_PORT_DOWN ×60");
        assert_eq!(m.list.len(), SUMMARY_MAX_ITEMS + 1);
        assert_eq!(m.list.last().unwrap(), "… and 10 more");
    }
}

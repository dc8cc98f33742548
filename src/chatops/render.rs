//! Chat replies in the Markdown subset Slack and Mattermost both read (backticks, `•`
//! lists): short, one fact a line, numbers behind every verdict.

use chrono::{DateTime, Utc};

use crate::maintenance::MaintenanceHold;
use crate::model::{Decision, InterfaceName, Mac, Profile};
use crate::store::{ApRecord, JournalEntry, PortRecord};

/// Lines listed at most per reply; the rest is counted.
const MAX_LINES: usize = 20;

fn hold_line(holds: &[MaintenanceHold], site_id: &str) -> Option<String> {
    holds
        .iter()
        .find(|h| h.site_id == site_id)
        .map(|h| format!("🛠 {}", h.describe()))
}

fn port_line(p: &PortRecord) -> String {
    format!(
        "• `{} {}` {} ({}){}, since {}",
        p.switch_name,
        p.port,
        p.profile,
        if p.managed { "managed" } else { "not managed" },
        p.ap_mac
            .as_ref()
            .map(|m| format!(", AP {}", m.colon()))
            .unwrap_or_default(),
        p.since.format("%Y-%m-%d %H:%M UTC")
    )
}

fn capped(lines: impl Iterator<Item = String>) -> String {
    let lines: Vec<String> = lines.collect();
    let total = lines.len();
    let mut out: Vec<String> = lines.into_iter().take(MAX_LINES).collect();
    if total > MAX_LINES {
        out.push(format!("… and {} more", total - MAX_LINES));
    }
    out.join("\n")
}

pub fn overview(ports: &[PortRecord], holds: &[MaintenanceHold], pending: usize) -> String {
    let managed: Vec<&PortRecord> = ports.iter().filter(|p| p.managed).collect();
    let ap = managed.iter().filter(|p| p.profile == Profile::Ap).count();
    let mut out = format!(
        "mesa manages {} ports ({ap} AP, {} secured); {pending} events pending",
        managed.len(),
        managed.len() - ap
    );
    if holds.is_empty() {
        out.push_str("\nno maintenance holds");
    } else {
        out.push('\n');
        out.push_str(&capped(holds.iter().map(|h| format!("🛠 {}", h.describe()))));
    }
    out
}

pub fn port(
    switch: &str,
    port: &InterfaceName,
    record: Option<&PortRecord>,
    holds: &[MaintenanceHold],
) -> String {
    match record {
        None => format!("mesa has never set `{switch} {port}`"),
        Some(p) => {
            let mut out = port_line(p);
            if let Some(hold) = hold_line(holds, &p.site_id) {
                out.push('\n');
                out.push_str(&hold);
            }
            out
        }
    }
}

pub fn ap(
    mac: &Mac,
    ap: Option<&ApRecord>,
    ports: &[PortRecord],
    holds: &[MaintenanceHold],
) -> String {
    let Some(ap) = ap else {
        return format!("mesa has not seen AP {}", mac.colon());
    };
    let mut out = format!(
        "AP {} ({}) last seen on `{} {}` ({}, {}) on site {}",
        mac.colon(),
        ap.name.as_deref().unwrap_or("unnamed"),
        ap.switch_name,
        ap.port,
        ap.last_event,
        ap.last_seen.format("%Y-%m-%d %H:%M UTC"),
        ap.site_id
    );
    if let Some(p) = ports
        .iter()
        .find(|p| p.switch_name == ap.switch_name && p.port == ap.port)
    {
        out.push('\n');
        out.push_str(&port_line(p));
    }
    if let Some(hold) = hold_line(holds, &ap.site_id) {
        out.push('\n');
        out.push_str(&hold);
    }
    out
}

pub fn switch(name: &str, ports: &[PortRecord], holds: &[MaintenanceHold]) -> String {
    let mine: Vec<&PortRecord> = ports.iter().filter(|p| p.switch_name == name).collect();
    let mut out = format!("switch {name}: {} ports known to mesa", mine.len());
    if let Some(hold) = mine.first().and_then(|p| hold_line(holds, &p.site_id)) {
        out.push('\n');
        out.push_str(&hold);
    }
    out.push('\n');
    out.push_str(&capped(mine.into_iter().map(port_line)));
    out
}

pub fn site(
    site_id: &str,
    ports: &[PortRecord],
    holds: &[MaintenanceHold],
    pending: &[JournalEntry],
    decisions: &[Decision],
    now: DateTime<Utc>,
) -> String {
    let mine: Vec<&PortRecord> = ports
        .iter()
        .filter(|p| p.site_id == site_id && p.managed)
        .collect();
    let waiting = pending
        .iter()
        .filter(|e| e.event.site_id == site_id)
        .count();
    let mut out = format!(
        "site {site_id}: {} managed ports, {waiting} events pending",
        mine.len()
    );
    out.push('\n');
    out.push_str(&hold_line(holds, site_id).unwrap_or_else(|| "no maintenance hold".into()));
    let outage = decisions.iter().find_map(|d| {
        (d.event.site_id == site_id)
            .then(|| d.verdicts.iter().find(|v| v.guard == "outage"))
            .flatten()
            .map(|v| (d.decided_at, v))
    });
    if let Some((at, v)) = outage {
        let ago = (now - at).num_minutes();
        out.push_str(&format!(
            "\nlast outage verdict ({ago} min ago): {} {}{}",
            if v.proceed { "✓" } else { "✗" },
            v.reason,
            numbers(&v.numbers)
        ));
    }
    if !mine.is_empty() {
        out.push('\n');
        out.push_str(&capped(mine.into_iter().map(port_line)));
    }
    out
}

fn numbers(value: &serde_json::Value) -> String {
    if value.is_null() {
        String::new()
    } else {
        format!(" `{value}`")
    }
}

/// The last three decisions about `what`, newest first, with every verdict.
pub fn why<'a>(what: &str, decisions: impl Iterator<Item = &'a Decision>) -> String {
    let mut out = Vec::new();
    for d in decisions.take(3) {
        let e = &d.event;
        out.push(format!(
            "*{}* {} AP {} via {} → {}",
            d.decided_at.format("%Y-%m-%d %H:%M:%S UTC"),
            e.kind,
            e.ap_mac.colon(),
            e.source.as_str(),
            d.outcome.summary()
        ));
        for v in &d.verdicts {
            out.push(format!(
                "  {} {}: {}{}",
                if v.proceed { "✓" } else { "✗" },
                v.guard,
                v.reason,
                numbers(&v.numbers)
            ));
        }
    }
    if out.is_empty() {
        format!("no recent decision about {what}")
    } else {
        format!("last decisions about {what}:\n{}", out.join("\n"))
    }
}

pub fn pending(entries: &[JournalEntry], holds: &[MaintenanceHold]) -> String {
    let mut out = if entries.is_empty() {
        "no events pending".to_string()
    } else {
        format!(
            "{} events pending (in the journal, being decided or waiting for a delay, a lookup or a retry):\n{}",
            entries.len(),
            capped(entries.iter().map(|entry| {
                let e = &entry.event;
                format!(
                    "• {} AP {} site {} since {} (run {})",
                    e.kind,
                    e.ap_mac.colon(),
                    if e.site_id.is_empty() { "-" } else { &e.site_id },
                    e.received_at.format("%H:%M:%S UTC"),
                    entry.attempts
                )
            }))
        )
    };
    if !holds.is_empty() {
        out.push_str("\nreverts held back by maintenance holds:\n");
        out.push_str(&capped(holds.iter().map(|h| format!("🛠 {}", h.describe()))));
    }
    out
}

/// Slack blocks: the question, then Confirm (carrying `sealed`) and Cancel.
pub fn confirm_blocks(question: &str, sealed: &str) -> serde_json::Value {
    serde_json::json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": question } },
        { "type": "actions", "elements": [
            { "type": "button", "action_id": "mesa_confirm", "style": "danger",
              "text": { "type": "plain_text", "text": "Confirm" }, "value": sealed },
            { "type": "button", "action_id": "mesa_cancel",
              "text": { "type": "plain_text", "text": "Cancel" }, "value": "cancel" }
        ] }
    ])
}

/// Mattermost attachments: the question, then Confirm (its `context` carries `sealed`) and
/// Cancel, both posting to `url`.
pub fn confirm_attachments(question: &str, sealed: &str, url: &str) -> serde_json::Value {
    serde_json::json!([{
        "text": question,
        "actions": [
            { "id": "mesaconfirm", "name": "Confirm", "style": "danger",
              "integration": { "url": url, "context": { "sealed": sealed } } },
            { "id": "mesacancel", "name": "Cancel",
              "integration": { "url": url, "context": { "cancel": true } } }
        ]
    }])
}

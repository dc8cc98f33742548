//! Google Chat incoming webhook payload: a `cardsV2` card with the details plus a `text` (the
//! summary, and the diff in a monospace block, which text messages render and cards do not).
//!
//! Documentation:
//! - incoming webhooks (POST JSON to the space's webhook URL):
//!   <https://developers.google.com/workspace/chat/quickstart/webhooks>
//! - `text` and `cardsV2` (`cardId`, `card.header`, `card.sections[].widgets`):
//!   <https://developers.google.com/workspace/chat/messages-overview>
//! - text formatting (markdown subset in `text`, HTML subset in card text):
//!   <https://developers.google.com/workspace/chat/format-messages>

use serde_json::{json, Value};

use super::escape;
use super::message::{Message, DIFF_MAX_CHARS, DIFF_MAX_LINES};
use crate::model::Severity;

pub fn payload(msg: &Message) -> Value {
    let color = match msg.severity {
        Severity::Critical => "#d32f2f",
        Severity::Warning => "#e8a317",
        Severity::Info => "#2e7d32",
        Severity::Debug => "#757575",
    };
    let mut widgets = vec![decorated(
        "Outcome",
        &format!(
            "<font color=\"{color}\"><b>{}</b></font>",
            escape::html(&msg.outcome)
        ),
    )];
    if !msg.numbers.is_empty() {
        widgets.push(decorated("Numbers", &escape::html(&msg.numbers_line())));
    }
    for fact in &msg.facts {
        widgets.push(decorated(fact.label, &escape::html(&fact.value)));
    }
    if !msg.list.is_empty() {
        let items: Vec<String> = msg.list.iter().map(|i| escape::html(i)).collect();
        widgets.push(decorated("Events", &items.join("<br>")));
    }
    let mut sections = vec![json!({"widgets": widgets})];
    if let Some(link) = &msg.link {
        sections.push(json!({"widgets": [{"buttonList": {"buttons": [{
            "text": msg.link_text("Open the AP in Mist"),
            "onClick": {"openLink": {"url": link}},
        }]}}]}));
    }

    let mut text = escape::gchat_text(&msg.summary());
    if let Some(diff) = msg.diff(DIFF_MAX_LINES, DIFF_MAX_CHARS) {
        text.push_str(&format!(
            "\n```\n{}\n```",
            escape::code_block(&escape::gchat_text(&diff.text))
        ));
        if let Some(note) = diff.cut_note() {
            text.push_str(&format!("\n_{note}_"));
        }
    }

    json!({
        "text": text,
        "cardsV2": [{
            "cardId": format!("mesa-{}", msg.event_id),
            "card": {
                // Header title and subtitle are plain text (no HTML).
                "header": {"title": msg.headline, "subtitle": format!("mesa · site {}", msg.site)},
                "sections": sections,
            },
        }],
    })
}

fn decorated(label: &str, html_text: &str) -> Value {
    json!({"decoratedText": {"topLabel": label, "text": html_text, "wrapText": true}})
}

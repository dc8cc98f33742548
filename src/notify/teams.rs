//! Microsoft Teams payload for a Workflows (Power Automate) "When a Teams webhook request is
//! received" webhook: a `message` carrying one Adaptive Card attachment. The Office 365
//! connectors and their MessageCard format are retired, and Workflows accept Adaptive Cards
//! only.
//!
//! Documentation:
//! - payload shape (`type: message`, `attachments[].contentType =
//!   application/vnd.microsoft.card.adaptive`, `content` = AdaptiveCard):
//!   <https://learn.microsoft.com/en-us/connectors/teams/?tabs=text1%2Cdotnet#microsoft-teams-webhook>
//! - connectors retirement, Workflows accept Adaptive Cards only:
//!   <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using>
//! - card schema (`$schema`, `type`, `version`, `body`, `RichTextBlock`/`TextRun`,
//!   `Action.OpenUrl`): <https://adaptivecards.io/explorer/>
//!
//! User text goes only into `TextRun`s: unlike `TextBlock` and `FactSet`, a `TextRun` is never
//! read as markdown, so an AP name cannot become a link or a list.

use serde_json::{json, Value};

use super::message::{Message, DIFF_MAX_CHARS, DIFF_MAX_LINES};
use crate::model::Severity;

pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

pub fn payload(msg: &Message) -> Value {
    let color = match msg.severity {
        Severity::Critical => "Attention",
        Severity::Warning => "Warning",
        Severity::Info => "Good",
        Severity::Debug => "Default",
    };
    let mut body = vec![
        json!({
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": msg.headline, "weight": "Bolder", "size": "Medium", "color": color}],
        }),
        labelled("Outcome", &msg.outcome),
    ];
    if !msg.numbers.is_empty() {
        body.push(labelled("Numbers", &msg.numbers_line()));
    }
    for fact in &msg.facts {
        body.push(labelled(fact.label, &fact.value));
    }
    if !msg.list.is_empty() {
        let items: Vec<String> = msg.list.iter().map(|i| format!("• {i}")).collect();
        body.push(json!({
            "type": "RichTextBlock",
            "separator": true,
            "inlines": [{"type": "TextRun", "text": items.join("\n")}],
        }));
    }
    if let Some(diff) = msg.diff(DIFF_MAX_LINES, DIFF_MAX_CHARS) {
        body.push(json!({
            "type": "RichTextBlock",
            "separator": true,
            "inlines": [
                {"type": "TextRun", "text": "Configuration diff", "weight": "Bolder"},
            ],
        }));
        body.push(json!({
            "type": "RichTextBlock",
            "inlines": [{"type": "TextRun", "text": diff.text, "fontType": "Monospace"}],
        }));
        if let Some(note) = diff.cut_note() {
            body.push(json!({
                "type": "RichTextBlock",
                "inlines": [{"type": "TextRun", "text": note, "isSubtle": true, "italic": true}],
            }));
        }
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": msg.plain_text(),
        "msteams": {"width": "Full"},
        "body": body,
    });
    if let Some(link) = &msg.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": msg.link_text("Open the AP in Mist"), "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": null, "content": card}],
    })
}

fn labelled(label: &str, value: &str) -> Value {
    json!({
        "type": "RichTextBlock",
        "spacing": "Small",
        "inlines": [
            {"type": "TextRun", "text": format!("{label}: "), "weight": "Bolder"},
            {"type": "TextRun", "text": value},
        ],
    })
}

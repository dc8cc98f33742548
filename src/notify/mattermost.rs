//! Mattermost incoming webhook payload: `text` plus one Slack-compatible attachment
//! (`fallback`, `color`, `title`, `title_link`, `text`, `fields`).
//!
//! Documentation:
//! - incoming webhooks (POST JSON with `text` / `attachments`):
//!   <https://developers.mattermost.com/integrate/webhooks/incoming/>
//! - message attachments (`fallback` is required, plain text; `text` and field values are
//!   markdown): <https://developers.mattermost.com/integrate/reference/message-attachments/>

use serde_json::{json, Value};

use super::escape;
use super::message::{Message, DIFF_MAX_CHARS, DIFF_MAX_LINES};
use crate::model::Severity;

pub fn payload(msg: &Message) -> Value {
    let color = match msg.severity {
        Severity::Critical => "#d00000",
        Severity::Warning => "#e8a317",
        Severity::Info => "#2eb886",
        Severity::Debug => "#999999",
    };
    let mut text = format!("**Outcome:** {}", escape::markdown(&msg.outcome));
    if !msg.numbers.is_empty() {
        text.push_str(&format!(
            "\n**Numbers:** {}",
            escape::markdown(&msg.numbers_line())
        ));
    }
    if !msg.list.is_empty() {
        text.push('\n');
        for item in &msg.list {
            text.push_str(&format!("\n- {}", escape::markdown(item)));
        }
    }
    if let Some(diff) = msg.diff(DIFF_MAX_LINES, DIFF_MAX_CHARS) {
        text.push_str(&format!(
            "\n\n**Configuration diff**\n```\n{}\n```",
            escape::code_block(&diff.text)
        ));
        if let Some(note) = diff.cut_note() {
            text.push_str(&format!("\n_{note}_"));
        }
    }
    let fields: Vec<Value> = msg
        .facts
        .iter()
        .map(|f| json!({"short": true, "title": f.label, "value": escape::markdown(&f.value)}))
        .collect();
    let mut attachment = json!({
        "fallback": msg.summary(),
        "color": color,
        "title": msg.headline,
        "text": text,
        "fields": fields,
    });
    if let Some(link) = &msg.link {
        attachment["title_link"] = json!(link);
    }
    json!({"text": escape::markdown(&msg.summary()), "attachments": [attachment]})
}

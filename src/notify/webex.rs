//! Webex payload, for either an incoming webhook (`{"markdown": ...}` POSTed to the webhook URL)
//! or a bot (`roomId` + `markdown` POSTed to `/v1/messages` with `Authorization: Bearer`).
//! `text` rides along as the plain alternative for clients that cannot render markdown.
//!
//! Documentation:
//! - create a message (`roomId`, `text`, `markdown`, 7439-byte limit, Bearer token):
//!   <https://developer.webex.com/docs/api/v1/messages/create-a-message>
//! - markdown formatting: <https://developer.webex.com/docs/basics#formatting-messages>
//! - incoming webhooks app: <https://apphub.webex.com/applications/incoming-webhooks-cisco-systems-38054-23307>

use serde_json::{json, Value};

use super::escape;
use super::message::{Message, DIFF_MAX_CHARS, DIFF_MAX_LINES};

/// The public Webex API; a bot entry's `url` may point elsewhere (a proxy, a test receiver).
pub const API_BASE: &str = "https://webexapis.com";
/// Webex refuses a message body above this many bytes.
const MARKDOWN_MAX_BYTES: usize = 7_439;

/// `room_id` set means bot mode (the Messages API), otherwise an incoming webhook.
pub fn payload(msg: &Message, room_id: Option<&str>) -> Value {
    let mut body = json!({"text": msg.summary(), "markdown": markdown(msg)});
    if let Some(room) = room_id {
        body["roomId"] = json!(room);
    }
    body
}

/// The Messages API URL for a bot entry: `url` as given when it already ends in `/messages`,
/// else `url` taken as the API base (`https://webexapis.com` → `.../v1/messages`).
pub fn messages_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/messages") {
        base.to_string()
    } else {
        format!("{base}/v1/messages")
    }
}

/// The Webex markdown, its diff cut until the whole body fits the size limit.
pub fn markdown(msg: &Message) -> String {
    let mut budget = DIFF_MAX_CHARS;
    loop {
        let text = render(msg, budget);
        if text.len() <= MARKDOWN_MAX_BYTES || budget < 100 {
            return text;
        }
        budget /= 2;
    }
}

fn render(msg: &Message, diff_budget: usize) -> String {
    let mut out = format!("**{}**\n\n", escape::markdown(&msg.headline));
    out.push_str(&format!(
        "- **Outcome:** {}\n",
        escape::markdown(&msg.outcome)
    ));
    if !msg.numbers.is_empty() {
        out.push_str(&format!(
            "- **Numbers:** {}\n",
            escape::markdown(&msg.numbers_line())
        ));
    }
    for fact in &msg.facts {
        out.push_str(&format!(
            "- **{}:** {}\n",
            fact.label,
            escape::markdown(&fact.value)
        ));
    }
    if !msg.list.is_empty() {
        out.push('\n');
        for item in &msg.list {
            out.push_str(&format!("- {}\n", escape::markdown(item)));
        }
    }
    if let Some(diff) = msg.diff(DIFF_MAX_LINES, diff_budget) {
        out.push_str(&format!(
            "\n**Configuration diff**\n```\n{}\n```\n",
            escape::code_block(&diff.text)
        ));
        if let Some(note) = diff.cut_note() {
            out.push_str(&format!("_{note}_\n"));
        }
    }
    if let Some(link) = &msg.link {
        out.push_str(&format!(
            "\n[{}]({link})\n",
            escape::markdown(msg.link_text("Open the AP in the Mist dashboard"))
        ));
    }
    out
}

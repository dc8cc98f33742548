//! Slack incoming webhook payload: Block Kit `blocks` with a top-level `text`, which Slack uses
//! as the notification / fallback string when blocks are present.
//!
//! Documentation:
//! - incoming webhooks: <https://api.slack.com/messaging/webhooks>
//! - `text` as fallback with blocks: <https://api.slack.com/methods/chat.postMessage#arg_text>
//! - blocks (header ≤ 150 chars, section text ≤ 3000, ≤ 10 fields of ≤ 2000):
//!   <https://api.slack.com/reference/block-kit/blocks>
//! - escaping `&`, `<`, `>` in mrkdwn: <https://api.slack.com/reference/surfaces/formatting#escaping>

use serde_json::{json, Value};

use super::escape;
use super::message::{Message, DIFF_MAX_CHARS, DIFF_MAX_LINES};

const HEADER_MAX_CHARS: usize = 150;
const SECTION_MAX_CHARS: usize = 3_000;
const FIELDS_MAX: usize = 10;

pub fn payload(msg: &Message) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&msg.headline, HEADER_MAX_CHARS), "emoji": true},
    })];

    let mut outcome = format!("*Outcome:* {}", escape::slack(&msg.outcome));
    if !msg.numbers.is_empty() {
        outcome.push_str(&format!(
            "\n*Numbers:* {}",
            escape::slack(&msg.numbers_line())
        ));
    }
    blocks.push(section(&outcome));

    let fields: Vec<Value> = msg
        .facts
        .iter()
        .take(FIELDS_MAX)
        .map(|f| json!({"type": "mrkdwn", "text": format!("*{}*\n{}", f.label, escape::slack(&f.value))}))
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }

    // A long list takes several sections rather than being cut at one section's limit.
    let mut chunk = String::new();
    for item in &msg.list {
        let line = cut(&format!("• {}", escape::slack(item)), SECTION_MAX_CHARS);
        if !chunk.is_empty() && chunk.chars().count() + 1 + line.chars().count() > SECTION_MAX_CHARS
        {
            blocks.push(section(&chunk));
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push('\n');
        }
        chunk.push_str(&line);
    }
    if !chunk.is_empty() {
        blocks.push(section(&chunk));
    }

    if let Some(diff) = diff_section(msg) {
        blocks.push(section(&diff));
    }

    let mut context = Vec::new();
    if let Some(link) = &msg.link {
        // The link was built from validated ids only, so it holds no `|` or `>`.
        context.push(format!(
            "<{link}|{}>",
            escape::slack(msg.link_text("Open the AP in the Mist dashboard"))
        ));
    }
    if !msg.event_id.is_empty() {
        context.push(format!("`mesa events {}`", escape::slack(&msg.event_id)));
    }
    if !context.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": context.join("  ·  ")}],
        }));
    }

    json!({"text": escape::slack(&msg.summary()), "blocks": blocks})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_MAX_CHARS)}})
}

/// The diff in a code block, cut so that the escaped text still fits one section: escaping can
/// grow `<` fourfold, so the budget shrinks until it fits.
fn diff_section(msg: &Message) -> Option<String> {
    let mut budget = DIFF_MAX_CHARS;
    loop {
        let diff = msg.diff(DIFF_MAX_LINES, budget)?;
        let mut text = format!(
            "*Configuration diff*\n```\n{}\n```",
            escape::code_block(&escape::slack(&diff.text))
        );
        if let Some(note) = diff.cut_note() {
            text.push_str(&format!("\n_{note}_"));
        }
        if text.chars().count() <= SECTION_MAX_CHARS || budget < 100 {
            return Some(text);
        }
        budget /= 2;
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

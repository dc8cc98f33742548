//! Escaping of text that came from outside (AP names, site names, guard reasons, diffs) for
//! each chat dialect, so a name can neither format, link nor mention anybody.
//!
//! Every platform payload builder goes through one of these; nothing user-controlled is put
//! into a message unescaped.

/// Slack mrkdwn: `&`, `<` and `>` are Slack's control characters and are the only ones to
/// encode as HTML entities (`<!channel>`, `<url|text>` need them).
/// <https://api.slack.com/reference/surfaces/formatting#escaping>
pub fn slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML subset of Google Chat card text (`<b>`, `<font>`, `<a>`, `<br>`).
/// <https://developers.google.com/workspace/chat/format-messages#format-card-text>
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// CommonMark-style markdown (Webex, Mattermost): every ASCII punctuation character that can
/// start formatting is backslash-escaped, which CommonMark renders as the character itself.
/// `@` gets a zero-width space after it instead, so `@channel` / `@all` in an AP name cannot
/// notify a whole channel.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '<' | '>' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
    out
}

/// Google Chat plain `text` has no escape syntax at all, and `<users/all>` mentions everyone:
/// angle brackets are swapped for look-alikes.
/// <https://developers.google.com/workspace/chat/format-messages#format-texts>
pub fn gchat_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect()
}

/// Text going inside a triple-backtick code block: no two backticks stay adjacent (a zero-width
/// space goes between them), so the content can never close the fence early, whatever the
/// dialect's rule for fence length.
pub fn code_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_backtick = false;
    for c in text.chars() {
        if c == '`' && previous_backtick {
            out.push('\u{200B}');
        }
        previous_backtick = c == '`';
        out.push(c);
    }
    out
}

/// One line of user text for a label or value: control characters (newlines, carriage returns,
/// bidi overrides are left to the escapers; these are the invisible ones) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_escapes_only_control_characters() {
        assert_eq!(
            slack("a & b <!channel> 'x' \"y\""),
            "a &amp; b &lt;!channel&gt; 'x' \"y\""
        );
    }

    #[test]
    fn html_escapes_tags_and_quotes() {
        assert_eq!(
            html("<b>x</b> & \"q\""),
            "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn markdown_neutralises_links_emphasis_and_mentions() {
        assert_eq!(
            markdown("[x](http://e) *b* @all"),
            "\\[x\\]\\(http://e\\) \\*b\\* @\u{200B}all"
        );
        assert_eq!(markdown("ge-0/0/1"), "ge\\-0/0/1");
    }

    #[test]
    fn code_blocks_cannot_be_closed_from_inside() {
        let escaped = code_block("a ``` b ```` c ` d");
        assert!(!escaped.contains("``"), "{escaped:?}");
        assert_eq!(escaped.replace('\u{200B}', ""), "a ``` b ```` c ` d");
    }

    #[test]
    fn gchat_text_cannot_mention() {
        assert_eq!(gchat_text("<users/all>"), "‹users/all›");
    }

    #[test]
    fn one_line_drops_control_characters() {
        assert_eq!(one_line(" ap\n1\r\t2 "), "ap 1  2");
    }
}

//! A small element tree for incoming NETCONF messages (quick-xml underneath) and the escaping
//! used by the replies. Requests are tiny, so a tree is simpler than streaming dispatch.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Why a message could not be read as XML.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    #[error("no root element")]
    Empty,
}

/// One element: names without their namespace prefix in `name`, the written name in `qname`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub qname: String,
    /// Attributes as written (`xmlns:junos`, `message-id`, ...).
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Attribute by written name, or by local name when no prefixed form matches.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| {
                self.attrs
                    .iter()
                    .find(|(k, _)| k.rsplit(':').next() == Some(name) && !k.starts_with("xmlns"))
            })
            .map(|(_, v)| v.as_str())
    }

    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }
}

fn element_of(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let qname = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Syntax(e.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| XmlError::Syntax(e.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        qname,
        attrs,
        ..Element::default()
    })
}

/// Deepest nesting accepted: the tree is dropped recursively, so a client sending
/// `<a><a><a>...` by the megabyte would otherwise overflow the simulator's stack.
pub const MAX_DEPTH: usize = 256;

/// Parses one document into its root element. Comments, declarations and processing
/// instructions are skipped; anything after the root element is an error.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    let doc = doc.strip_prefix('\u{feff}').unwrap_or(doc);
    let mut reader = Reader::from_str(doc);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        match event {
            Event::Start(s) => {
                if root.is_some() {
                    return Err(XmlError::Syntax("content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::Syntax(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                stack.push(element_of(&s)?);
            }
            Event::Empty(s) => {
                if root.is_some() {
                    return Err(XmlError::Syntax("content after the root element".into()));
                }
                let el = element_of(&s)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Syntax("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| XmlError::Syntax(e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(XmlError::Syntax("text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                let text = c.decode().map_err(|e| XmlError::Syntax(e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None => return Err(XmlError::Syntax("CDATA outside the root element".into())),
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax("unclosed element".into()));
    }
    root.ok_or(XmlError::Empty)
}

/// Escapes text and attribute values for the replies.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaced_rpc_with_whitespace_and_comments() {
        let el = parse(
            "<?xml version=\"1.0\"?>\n<!-- hi -->\n<nc:rpc xmlns:nc=\"urn:ietf:params:xml:ns:netconf:base:1.0\" nc:message-id=\"7\">\n  <nc:lock>\n <nc:target><nc:candidate/></nc:target></nc:lock>\n</nc:rpc>\n",
        )
        .unwrap();
        assert_eq!(el.name, "rpc");
        assert_eq!(el.attr("message-id"), Some("7"));
        let lock = el.child("lock").unwrap();
        assert!(lock.child("target").unwrap().child("candidate").is_some());
    }

    #[test]
    fn rejects_broken_xml() {
        for doc in ["<rpc>", "<a></b>", "", "text", "<a/><b/>", "<a x=></a>"] {
            assert!(parse(doc).is_err(), "{doc}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let depth = 200_000;
        let deep = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(parse(&deep).is_err());
        let n = MAX_DEPTH;
        let fits = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(parse(&fits).is_ok());
    }

    #[test]
    fn unescapes_text() {
        let el = parse("<a>set x \"a &amp; b\" &lt;</a>").unwrap();
        assert_eq!(el.text, "set x \"a & b\" <");
        assert_eq!(escape("<&>\""), "&lt;&amp;&gt;&quot;");
    }
}

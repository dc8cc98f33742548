//! NETCONF messages as XML (quick-xml): building `<rpc>`s with every piece of text escaped,
//! and reading `<hello>`s and `<rpc-reply>`s into a small element tree.
//!
//! Errors come in two dialects and both end up as [`RpcError`]: RFC 6241 `<rpc-error>` (also
//! nested inside Junos' `<load-configuration-results>`), and Junos `xnm:error` /
//! `xnm:warning` inside `<commit-results>`. Warnings are kept but are not failures (Junos
//! answers `delete` of a missing statement with a warning).

use std::borrow::Cow;
use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

pub const BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
pub const CAP_BASE_10: &str = "urn:ietf:params:netconf:base:1.0";
pub const CAP_BASE_11: &str = "urn:ietf:params:netconf:base:1.1";

/// Escapes text and attribute values for XML (`<`, `>`, `&`, `'`, `"`).
pub fn escape(text: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(text)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad XML from the server: {0}")]
pub struct XmlError(pub String);

/// An XML element reduced to what NETCONF replies need: local names (prefixes dropped),
/// attributes, children and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Follows child names from here: `path(&["helloworld", "message"])`.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, name| e.child(name))
    }

    /// First element with this local name at any depth (self included).
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.elements().find_map(|e| e.find(name))
    }

    /// Every element with this local name at any depth, in document order.
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        if self.name == name {
            out.push(self);
        }
        for e in self.elements() {
            e.find_all(name, out);
        }
    }

    /// All text below this element, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
            }
        }
    }

    /// Trimmed text of a child, `None` when absent or blank.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|e| e.text().trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

/// Deepest element nesting accepted. Junos replies stay far below (a configuration is
/// about 15 deep); the tree is searched, cloned and dropped recursively, so without a bound
/// a hostile or broken peer overflows the stack with a few MiB of `<a><a><a>...`.
pub const MAX_DEPTH: usize = 256;

/// Parses one XML document into its root element.
pub fn parse(xml: &str) -> Result<Element, XmlError> {
    let xml = xml.trim_start_matches('\u{feff}').trim();
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                let e = element(&start)?;
                attach(&mut stack, &mut root, e)?;
            }
            Event::End(_) => {
                let e = stack
                    .pop()
                    .ok_or_else(|| XmlError("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, e)?;
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|e| XmlError(e.to_string()))?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Text(text.into_owned()));
                }
            }
            Event::CData(data) => {
                let text = String::from_utf8_lossy(&data.into_inner()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Text(text));
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError(format!(
            "unclosed element <{}>",
            stack[stack.len() - 1].name
        )));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn element(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError(e.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| XmlError(e.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, e: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(e)),
        None if root.is_none() => *root = Some(e),
        None => return Err(XmlError("more than one root element".into())),
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSeverity {
    Error,
    Warning,
}

/// One error or warning reported by the server, in either dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub severity: ErrorSeverity,
    /// `transport`, `rpc`, `protocol`, `application` (RFC 6241 only).
    pub error_type: Option<String>,
    /// `lock-denied`, `operation-failed`, ... (RFC 6241 only).
    pub tag: Option<String>,
    pub app_tag: Option<String>,
    pub path: Option<String>,
    pub message: Option<String>,
    /// `<error-info>` children as (name, text): `session-id`, `bad-element`, ...
    pub info: Vec<(String, String)>,
    /// Junos: `[edit interfaces ge-0/0/1]`.
    pub edit_path: Option<String>,
    /// Junos: the offending statement.
    pub statement: Option<String>,
    /// Junos: daemon that complained.
    pub source_daemon: Option<String>,
}

impl RpcError {
    pub fn is_error(&self) -> bool {
        self.severity == ErrorSeverity::Error
    }

    pub fn info(&self, name: &str) -> Option<&str> {
        self.info
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn from_rpc_error(e: &Element) -> RpcError {
        let severity = match e
            .child_text("error-severity")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("warning") => ErrorSeverity::Warning,
            _ => ErrorSeverity::Error,
        };
        let info = e
            .child("error-info")
            .map(|i| {
                i.elements()
                    .map(|c| (c.name.clone(), c.text().trim().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        RpcError {
            severity,
            error_type: e.child_text("error-type"),
            tag: e.child_text("error-tag"),
            app_tag: e.child_text("error-app-tag"),
            path: e.child_text("error-path"),
            message: e.child_text("error-message").map(|m| collapse(&m)),
            info,
            edit_path: None,
            statement: None,
            source_daemon: None,
        }
    }

    fn from_xnm(e: &Element, severity: ErrorSeverity) -> RpcError {
        RpcError {
            severity,
            error_type: None,
            tag: None,
            app_tag: None,
            path: None,
            message: e.child_text("message").map(|m| collapse(&m)),
            info: Vec::new(),
            edit_path: e.child_text("edit-path"),
            statement: e.child_text("statement"),
            source_daemon: e.child_text("source-daemon"),
        }
    }
}

/// Keeps line breaks (Junos lock holders are on their own lines) but trims each line.
fn collapse(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == ErrorSeverity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(tag) = &self.tag {
            write!(f, "{tag}: ")?;
        }
        f.write_str(self.message.as_deref().unwrap_or("(no message)"))?;
        if let Some(p) = &self.edit_path {
            write!(f, " {p}")?;
        }
        if let Some(s) = &self.statement {
            write!(f, " {s}")?;
        }
        if let Some(bad) = self.info("bad-element") {
            write!(f, " (bad element {bad})")?;
        }
        Ok(())
    }
}

/// Joins errors for a one-line message.
pub fn describe(errors: &[RpcError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A parsed `<rpc-reply>`.
#[derive(Debug, Clone)]
pub struct RpcReply {
    pub message_id: Option<String>,
    /// `<ok/>` directly under the reply.
    pub ok: bool,
    /// Errors and warnings in document order.
    pub errors: Vec<RpcError>,
    pub root: Element,
    pub raw: String,
}

impl RpcReply {
    pub fn parse(raw: &str) -> Result<RpcReply, XmlError> {
        let root = parse(raw)?;
        if root.name != "rpc-reply" {
            return Err(XmlError(format!(
                "expected <rpc-reply>, got <{}>",
                root.name
            )));
        }
        let mut errors = Vec::new();
        collect_errors(&root, &mut errors);
        Ok(RpcReply {
            message_id: root.attr("message-id").map(str::to_string),
            ok: root.child("ok").is_some(),
            errors,
            root,
            raw: raw.to_string(),
        })
    }

    /// Only the errors of severity error.
    pub fn failures(&self) -> Vec<RpcError> {
        self.errors
            .iter()
            .filter(|e| e.is_error())
            .cloned()
            .collect()
    }

    pub fn warnings(&self) -> Vec<RpcError> {
        self.errors
            .iter()
            .filter(|e| !e.is_error())
            .cloned()
            .collect()
    }

    pub fn has_failures(&self) -> bool {
        self.errors.iter().any(RpcError::is_error)
    }
}

fn collect_errors(e: &Element, out: &mut Vec<RpcError>) {
    for child in e.elements() {
        match child.name.as_str() {
            "rpc-error" => out.push(RpcError::from_rpc_error(child)),
            // Junos puts xnm:error / xnm:warning in commit-results and load results; the
            // local names are generic, so only trust them under a Junos results element.
            "error" if is_junos_results(e) => {
                out.push(RpcError::from_xnm(child, ErrorSeverity::Error))
            }
            "warning" if is_junos_results(e) => {
                out.push(RpcError::from_xnm(child, ErrorSeverity::Warning))
            }
            _ => collect_errors(child, out),
        }
    }
}

fn is_junos_results(e: &Element) -> bool {
    matches!(
        e.name.as_str(),
        "commit-results" | "load-configuration-results" | "routing-engine" | "rpc-reply"
    )
}

/// What the server said in its `<hello>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    pub capabilities: Vec<String>,
    pub session_id: Option<u32>,
}

impl ServerHello {
    pub fn parse(raw: &str) -> Result<ServerHello, XmlError> {
        let root = parse(raw)?;
        if root.name != "hello" {
            return Err(XmlError(format!("expected <hello>, got <{}>", root.name)));
        }
        let capabilities = root
            .child("capabilities")
            .map(|c| {
                c.elements()
                    .filter(|e| e.name == "capability")
                    .map(|e| e.text().trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let session_id = root.child_text("session-id").and_then(|s| s.parse().ok());
        Ok(ServerHello {
            capabilities,
            session_id,
        })
    }

    pub fn has(&self, capability: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c == capability || c.starts_with(&format!("{capability}?")))
    }
}

/// The client `<hello>`, offering base:1.1 only when asked to.
pub fn client_hello(offer_base11: bool) -> String {
    let mut caps = format!("<capability>{CAP_BASE_10}</capability>");
    if offer_base11 {
        caps.push_str(&format!("<capability>{CAP_BASE_11}</capability>"));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{BASE_NS}"><capabilities>{caps}</capabilities></hello>"#
    )
}

/// Wraps an operation (already valid XML) in `<rpc>` with an escaped message id.
pub fn rpc(message_id: &str, operation: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rpc xmlns="{BASE_NS}" message-id="{}">{operation}</rpc>"#,
        escape(message_id)
    )
}

/// Standard NETCONF datastores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datastore {
    Running,
    Candidate,
    Startup,
}

impl Datastore {
    pub fn tag(self) -> &'static str {
        match self {
            Datastore::Running => "<running/>",
            Datastore::Candidate => "<candidate/>",
            Datastore::Startup => "<startup/>",
        }
    }
}

/// Builders for the operations mesa sends. Caller-provided XML (`config`, `filter`) is
/// inserted as is; every plain-text argument is escaped.
pub mod ops {
    use super::{escape, Datastore};

    pub fn lock(target: Datastore) -> String {
        format!("<lock><target>{}</target></lock>", target.tag())
    }

    pub fn unlock(target: Datastore) -> String {
        format!("<unlock><target>{}</target></unlock>", target.tag())
    }

    pub fn edit_config(target: Datastore, config: &str) -> String {
        format!(
            "<edit-config><target>{}</target>{config}</edit-config>",
            target.tag()
        )
    }

    pub fn get_config(source: Datastore, subtree_filter: Option<&str>) -> String {
        match subtree_filter {
            Some(f) => format!(
                r#"<get-config><source>{}</source><filter type="subtree">{f}</filter></get-config>"#,
                source.tag()
            ),
            None => format!("<get-config><source>{}</source></get-config>", source.tag()),
        }
    }

    pub fn validate(source: Datastore) -> String {
        format!("<validate><source>{}</source></validate>", source.tag())
    }

    pub fn commit() -> String {
        "<commit/>".into()
    }

    /// RFC 6241 confirmed commit; the timeout counts SECONDS.
    pub fn commit_confirmed(timeout_secs: u32) -> String {
        format!("<commit><confirmed/><confirm-timeout>{timeout_secs}</confirm-timeout></commit>")
    }

    pub fn cancel_commit() -> String {
        "<cancel-commit/>".into()
    }

    pub fn discard_changes() -> String {
        "<discard-changes/>".into()
    }

    pub fn close_session() -> String {
        "<close-session/>".into()
    }

    /// Junos: load `set`/`delete` lines into the candidate.
    pub fn junos_load_set(lines: &[String]) -> String {
        let text: String = lines.iter().map(|l| format!("{}\n", escape(l))).collect();
        format!(
            r#"<load-configuration action="set" format="text"><configuration-set>{text}</configuration-set></load-configuration>"#
        )
    }

    /// Junos: candidate against the active configuration, as text (`show | compare`).
    pub fn junos_diff() -> String {
        r#"<get-configuration compare="rollback" rollback="0" format="text"/>"#.into()
    }

    /// Junos: the configuration as text; `database="committed"` reads what is active.
    pub fn junos_get_text(committed: bool) -> String {
        if committed {
            r#"<get-configuration database="committed" format="text"/>"#.into()
        } else {
            r#"<get-configuration format="text"/>"#.into()
        }
    }

    /// Junos: the candidate as text, limited to what `filter` (a `<configuration>`
    /// element, inserted as is) names.
    pub fn junos_get_text_filtered(filter: &str) -> String {
        format!(r#"<get-configuration format="text">{filter}</get-configuration>"#)
    }

    pub fn junos_commit_check() -> String {
        "<commit-configuration><check/></commit-configuration>".into()
    }

    /// Junos confirmed commit; the timeout counts MINUTES (1–65535).
    pub fn junos_commit_confirmed(minutes: u16, log: &str) -> String {
        format!(
            "<commit-configuration><confirmed/><confirm-timeout>{}</confirm-timeout><log>{}</log></commit-configuration>",
            minutes.max(1),
            escape(log)
        )
    }

    /// Junos plain commit, which also confirms a pending confirmed commit.
    pub fn junos_commit() -> String {
        "<commit-configuration/>".into()
    }

    /// Junos `show system commit`.
    pub fn junos_commit_information() -> String {
        "<get-commit-information/>".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_everywhere() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        let op = ops::junos_load_set(&["set interfaces ge-0/0/1 description \"<x> & y\"".into()]);
        assert!(
            op.contains("description &quot;&lt;x&gt; &amp; y&quot;\n"),
            "{op}"
        );
        let op = ops::junos_commit_confirmed(2, "mesa: AP </log><evil/>");
        assert!(
            op.contains("<log>mesa: AP &lt;/log&gt;&lt;evil/&gt;</log>"),
            "{op}"
        );
        assert!(rpc("1\"><x", "<commit/>").contains(r#"message-id="1&quot;&gt;&lt;x""#));
        // Round trip: what we escape is what a server's XML parser reads.
        let root =
            parse(&format!("<a>{}</a>", escape("if a < b && c > \"d\"")).to_string()).unwrap();
        assert_eq!(root.text(), "if a < b && c > \"d\"");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // Dropping (or searching) a 200k-deep tree recursed once per level and aborted
        // the whole agent with a stack overflow; one reply of a few MiB was enough.
        let depth = 200_000;
        let deep = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(parse(&deep).is_err());
        assert!(RpcReply::parse(&deep).is_err());
        let n = MAX_DEPTH - 1;
        let fits = format!(
            "<rpc-reply>{}{}</rpc-reply>",
            "<a>".repeat(n),
            "</a>".repeat(n)
        );
        let reply = RpcReply::parse(&fits).unwrap();
        assert!(reply.errors.is_empty());
    }

    #[test]
    fn hello_capabilities() {
        let hello = ServerHello::parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>
              <capability>urn:ietf:params:netconf:base:1.0</capability>
              <capability>urn:ietf:params:netconf:capability:candidate:1.0</capability>
            </capabilities><session-id>7</session-id></hello>"#,
        )
        .unwrap();
        assert!(hello.has(CAP_BASE_10));
        assert!(!hello.has(CAP_BASE_11));
        assert_eq!(hello.session_id, Some(7));
        assert!(ServerHello::parse("<rpc-reply/>").is_err());
    }

    #[test]
    fn broken_xml_is_an_error() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "not xml",
            "<a>&bogus;</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/junos/",
                $name
            ))
        };
    }

    /// Every file in tests/fixtures/junos must be covered here.
    const FIXTURES: &[(&str, &str)] = &[
        (
            "factory__get-lldp-neighbors-information.xml",
            fixture!("factory__get-lldp-neighbors-information.xml"),
        ),
        (
            "facts__personality_ex_get-interface-information.xml",
            fixture!("facts__personality_ex_get-interface-information.xml"),
        ),
        ("get-configuration.xml", fixture!("get-configuration.xml")),
        ("get-rpc-error.xml", fixture!("get-rpc-error.xml")),
        (
            "load-configuration-error.xml",
            fixture!("load-configuration-error.xml"),
        ),
        (
            "show-configuration-interfaces.xml",
            fixture!("show-configuration-interfaces.xml"),
        ),
        (
            "utils__commit-configuration.xml",
            fixture!("utils__commit-configuration.xml"),
        ),
    ];

    #[test]
    fn every_fixture_file_is_listed_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junos");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".xml"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = FIXTURES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
        for (name, xml) in FIXTURES {
            RpcReply::parse(xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    fn reply(name: &str) -> RpcReply {
        let (_, xml) = FIXTURES.iter().find(|(n, _)| *n == name).unwrap();
        RpcReply::parse(xml).unwrap()
    }

    #[test]
    fn lldp_neighbors_reply_has_no_errors() {
        let r = reply("factory__get-lldp-neighbors-information.xml");
        assert!(r.errors.is_empty() && !r.ok && r.message_id.is_none());
        let mut neighbors = Vec::new();
        r.root.find_all("lldp-neighbor-information", &mut neighbors);
        assert_eq!(neighbors.len(), 3);
        assert_eq!(
            neighbors[2].child_text("lldp-local-port-id").as_deref(),
            Some("xe-0/0/13")
        );
        assert_eq!(
            neighbors[2]
                .child_text("lldp-remote-system-name")
                .as_deref(),
            Some("leaf-02")
        );
    }

    #[test]
    fn interface_information_reply() {
        let r = reply("facts__personality_ex_get-interface-information.xml");
        assert!(r.errors.is_empty());
        let logical = r.root.find("logical-interface").unwrap();
        assert_eq!(logical.child_text("name").as_deref(), Some("bme0.32768"));
        let mut physical = Vec::new();
        r.root.find_all("physical-interface", &mut physical);
        assert!(physical.len() > 50);
        // junos:emit attribute, prefix dropped.
        assert_eq!(r.root.find("ifa-local").unwrap().attr("emit"), Some("emit"));
    }

    #[test]
    fn get_configuration_reply() {
        let r = reply("get-configuration.xml");
        assert!(r.errors.is_empty());
        let config = r.root.child("configuration").unwrap();
        assert_eq!(config.attr("commit-user"), Some("rick"));
        assert_eq!(
            config.path(&["system", "host-name"]).unwrap().text(),
            "firefly"
        );
        let mut names = Vec::new();
        config
            .child("interfaces")
            .unwrap()
            .find_all("interface", &mut names);
        let names: Vec<String> = names.iter().filter_map(|i| i.child_text("name")).collect();
        assert_eq!(names, ["ge-0/0/0", "ge-0/0/1"]);
    }

    #[test]
    fn commit_results_xnm_errors() {
        let r = reply("get-rpc-error.xml");
        assert!(r.has_failures());
        assert_eq!(r.errors.len(), 2);
        let first = &r.errors[0];
        assert_eq!(first.severity, ErrorSeverity::Error);
        assert_eq!(first.source_daemon.as_deref(), Some("dcd"));
        assert_eq!(
            first.edit_path.as_deref(),
            Some("[edit interfaces ge-0/0/1]")
        );
        assert_eq!(first.statement.as_deref(), Some("unit 2"));
        assert_eq!(
            first.message.as_deref(),
            Some("Only unit 0 is valid for this encapsulation")
        );
        assert_eq!(
            r.errors[1].message.as_deref(),
            Some("configuration check-out failed")
        );
        assert_eq!(
            describe(&r.failures()),
            "Only unit 0 is valid for this encapsulation [edit interfaces ge-0/0/1] unit 2; configuration check-out failed"
        );
    }

    #[test]
    fn load_configuration_errors_with_bom_and_message_id() {
        let r = reply("load-configuration-error.xml");
        assert_eq!(
            r.message_id.as_deref(),
            Some("urn:uuid:15ceca00-904e-11e4-94ad-5c514f91ab3f")
        );
        assert_eq!(r.failures().len(), 2);
        assert_eq!(r.errors[0].message.as_deref(), Some("syntax error"));
        assert_eq!(r.errors[0].info("bad-element"), Some("system1"));
        assert_eq!(r.errors[1].info("bad-element"), Some("}"));
        assert_eq!(
            r.errors[0].to_string(),
            "syntax error (bad element system1)"
        );
    }

    #[test]
    fn empty_reply_is_not_an_error() {
        let r = reply("show-configuration-interfaces.xml");
        assert!(r.errors.is_empty() && !r.ok);
        assert_eq!(
            r.message_id.as_deref(),
            Some("urn:uuid:e0a7abe3-fffa-11e5-b78e-b8e85604f858")
        );
    }

    #[test]
    fn commit_configuration_rpc_errors() {
        let r = reply("utils__commit-configuration.xml");
        let f = r.failures();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].error_type.as_deref(), Some("protocol"));
        assert_eq!(f[0].tag.as_deref(), Some("operation-failed"));
        assert_eq!(
            f[0].message.as_deref(),
            Some("interface-range 'axp' is not defined")
        );
        assert_eq!(
            f[1].to_string(),
            "operation-failed: interface-ranges expansion failed"
        );
    }

    #[test]
    fn warnings_are_not_failures() {
        // Junos answers `delete` of a missing statement with a warning.
        let r = RpcReply::parse(
            r#"<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="4">
              <load-configuration-results>
                <rpc-error><error-type>protocol</error-type><error-tag>operation-failed</error-tag>
                  <error-severity>warning</error-severity><error-message>statement not found</error-message></rpc-error>
                <xnm:warning xmlns:xnm="http://xml.juniper.net/xnm/1.1/xnm"><message>statement not found</message></xnm:warning>
                <load-success/>
              </load-configuration-results></rpc-reply>"#,
        )
        .unwrap();
        assert_eq!(r.errors.len(), 2);
        assert!(!r.has_failures());
        assert_eq!(r.warnings().len(), 2);
        assert_eq!(r.warnings()[1].to_string(), "warning: statement not found");
    }

    #[test]
    fn ok_reply() {
        let r = RpcReply::parse(r#"<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="101"><ok/></rpc-reply>"#).unwrap();
        assert!(r.ok && r.errors.is_empty());
        assert_eq!(r.message_id.as_deref(), Some("101"));
        assert!(RpcReply::parse("<hello/>").is_err());
    }
}

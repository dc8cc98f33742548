//! The XML of the replies, shaped after real Junos replies (from py-junos-eznc's
//! test-suite, copied to `tests/fixtures/junos/`): `rpc-reply` with the NETCONF and `junos` namespaces and
//! the request's `message-id`; errors as `rpc-error` (`utils__commit-configuration.xml`), load
//! errors inside `load-configuration-results` (`load-configuration-error.xml`), commit errors as
//! `xnm:error` inside `commit-results` (`get-rpc-error.xml`). Like Junos, error messages are
//! written on their own line between newlines, so clients must trim them.

use super::config::{LoadIssue, Severity};
use super::state::{CommitErrorFault, CommitLogEntry, LockHolder, PendingConfirm};
use super::xml::escape;

pub const NETCONF_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
pub const JUNOS_NS: &str = "http://xml.juniper.net/junos/21.4R3/junos";
pub const XNM_NS: &str = "http://xml.juniper.net/xnm/1.1/xnm";
pub const BASE_10: &str = "urn:ietf:params:netconf:base:1.0";
pub const BASE_11: &str = "urn:ietf:params:netconf:base:1.1";
pub const JUNOS_CAP: &str = "http://xml.juniper.net/netconf/junos/1.0";

/// The server hello, as Junos prints it (comments included: clients must skip them).
pub fn hello(session_id: u32, user: &str, base11: bool) -> String {
    let mut caps = vec![BASE_10];
    if base11 {
        caps.push(BASE_11);
    }
    caps.extend([
        "urn:ietf:params:netconf:capability:candidate:1.0",
        "urn:ietf:params:netconf:capability:confirmed-commit:1.0",
        "urn:ietf:params:netconf:capability:validate:1.0",
        "urn:ietf:params:netconf:capability:url:1.0?scheme=http,ftp,file",
        "urn:ietf:params:xml:ns:netconf:base:1.0",
        "urn:ietf:params:xml:ns:netconf:capability:candidate:1.0",
        "urn:ietf:params:xml:ns:netconf:capability:confirmed-commit:1.0",
        "urn:ietf:params:xml:ns:netconf:capability:validate:1.0",
        "urn:ietf:params:xml:ns:netconf:capability:url:1.0?scheme=http,ftp,file",
        "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring",
        JUNOS_CAP,
        "http://xml.juniper.net/dmi/system/1.0",
    ]);
    let mut out = String::from(
        "<!-- No zombies were killed during the creation of this user interface -->\n",
    );
    out.push_str(&format!(
        "<!-- user {}, class super-user -->\n",
        escape(user).replace("--", "- -")
    ));
    out.push_str(&format!(
        "<hello xmlns=\"{NETCONF_NS}\">\n  <capabilities>\n"
    ));
    for cap in caps {
        out.push_str(&format!("    <capability>{}</capability>\n", escape(cap)));
    }
    out.push_str(&format!(
        "  </capabilities>\n  <session-id>{session_id}</session-id>\n</hello>"
    ));
    out
}

/// Wraps a reply body; `attrs` are the request's attributes to echo (`message-id`, ...).
pub fn rpc_reply(attrs: &[(String, String)], body: &str) -> String {
    let mut open = format!("<rpc-reply xmlns=\"{NETCONF_NS}\" xmlns:junos=\"{JUNOS_NS}\"");
    for (k, v) in attrs {
        if k != "xmlns" && !k.starts_with("xmlns:") {
            open.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
    }
    format!("{open}>\n{body}\n</rpc-reply>")
}

/// A top-level `rpc-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub error_type: &'static str,
    pub tag: &'static str,
    pub message: String,
    /// Inner XML of `<error-info>`.
    pub info: Option<String>,
}

impl RpcError {
    pub fn new(tag: &'static str, message: impl Into<String>) -> RpcError {
        RpcError {
            error_type: "protocol",
            tag,
            message: message.into(),
            info: None,
        }
    }

    pub fn with_info(mut self, info: String) -> RpcError {
        self.info = Some(info);
        self
    }

    pub fn xml(&self) -> String {
        let mut out = format!(
            "<rpc-error>\n<error-type>{}</error-type>\n<error-tag>{}</error-tag>\n<error-severity>error</error-severity>\n<error-message>\n{}\n</error-message>\n",
            self.error_type,
            self.tag,
            escape(&self.message)
        );
        if let Some(info) = &self.info {
            out.push_str(&format!("<error-info>\n{info}\n</error-info>\n"));
        }
        out.push_str("</rpc-error>");
        out
    }

    /// `<lock>` refused because another session holds the lock (message as Junos prints it).
    pub fn locked_by(holder: &LockHolder, now_secs: i64) -> RpcError {
        let since = chrono::DateTime::from_timestamp(holder.since, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d %H:%M:%S UTC");
        let idle = (now_secs - holder.last_active).max(0);
        let message = format!(
            "configuration database locked by:\n  {} terminal  (pid {}) on since {since}, idle {:02}:{:02}:{:02}\n      exclusive",
            holder.user,
            holder.process.pid,
            idle / 3600,
            idle / 60 % 60,
            idle % 60
        );
        RpcError::new("lock-denied", message)
            .with_info(format!("<session-id>{}</session-id>", holder.session))
    }

    pub fn database_modified() -> RpcError {
        RpcError::new("lock-denied", "configuration database modified")
    }

    pub fn bad_element(tag: &'static str, message: impl Into<String>, element: &str) -> RpcError {
        RpcError::new(tag, message)
            .with_info(format!("<bad-element>{}</bad-element>", escape(element)))
    }
}

/// `<load-configuration-results>`: errors exactly as `load-configuration-error.xml`
/// (severity, bad-element, message), warnings as Junos prints `statement not found`.
pub fn load_results(issues: &[LoadIssue]) -> String {
    let mut out = String::from("<load-configuration-results>\n");
    for issue in issues {
        match issue.severity {
            Severity::Error => out.push_str(&format!(
                "<rpc-error>\n<error-severity>error</error-severity>\n<error-info>\n<bad-element>{}</bad-element>\n</error-info>\n<error-message>{}</error-message>\n</rpc-error>\n",
                escape(&issue.bad_element),
                escape(&issue.message)
            )),
            Severity::Warning => {
                out.push_str("<rpc-error>\n<error-type>protocol</error-type>\n<error-tag>operation-failed</error-tag>\n<error-severity>warning</error-severity>\n");
                if let Some(path) = &issue.edit_path {
                    out.push_str(&format!("<error-path>{}</error-path>\n", escape(path)));
                }
                out.push_str(&format!(
                    "<error-message>\n{}\n</error-message>\n<error-info>\n<bad-element>{}</bad-element>\n</error-info>\n</rpc-error>\n",
                    escape(&issue.message),
                    escape(&issue.bad_element)
                ));
            }
        }
    }
    if !issues.iter().any(|i| i.severity == Severity::Error) {
        out.push_str("<load-success/>\n");
    }
    out.push_str("</load-configuration-results>");
    out
}

pub fn commit_success(check: bool) -> String {
    let what = if check {
        "commit-check-success"
    } else {
        "commit-success"
    };
    format!("<commit-results>\n<routing-engine>\n<name>re0</name>\n<{what}/>\n</routing-engine>\n</commit-results>")
}

/// A failed commit, as `get-rpc-error.xml`: the error, then `configuration check-out failed`.
pub fn commit_error(fault: &CommitErrorFault) -> String {
    let open = format!("<xnm:error xmlns=\"{XNM_NS}\" xmlns:xnm=\"{XNM_NS}\">\n");
    let mut out = format!("<commit-results>\n{open}");
    if let Some(path) = &fault.edit_path {
        out.push_str(&format!(
            "<source-daemon>dcd</source-daemon>\n<edit-path>{}</edit-path>\n",
            escape(path)
        ));
    }
    if let Some(st) = &fault.statement {
        out.push_str(&format!("<statement>{}</statement>\n", escape(st)));
    }
    out.push_str(&format!(
        "<message>{}</message>\n</xnm:error>\n{open}<message>\nconfiguration check-out failed\n</message>\n</xnm:error>\n</commit-results>",
        escape(&fault.message)
    ));
    out
}

/// `<configuration-information>` with a `show | compare` diff.
pub fn configuration_output(diff: &str) -> String {
    format!(
        "<configuration-information>\n<configuration-output>\n{}</configuration-output>\n</configuration-information>",
        escape(diff)
    )
}

pub fn configuration_text(text: &str) -> String {
    format!(
        "<configuration-text xmlns=\"{XNM_NS}\">\n{}</configuration-text>",
        escape(text)
    )
}

pub fn configuration_set(text: &str) -> String {
    format!(
        "<configuration-set xmlns=\"{XNM_NS}\">\n{}</configuration-set>",
        escape(text)
    )
}

/// `<get-commit-information/>` (`show system commit`): the commit history, newest first, as
/// `<commit-history>` entries; the newest says `commit confirmed, rollback in Nmins` while
/// its confirmation is pending. Element names follow `show system commit | display xml` as
/// far as we know it; mesa reads the entry's text, not particular elements.
pub fn commit_information(log: &[CommitLogEntry], pending: Option<&PendingConfirm>) -> String {
    let mut out = String::from("<commit-information>\n");
    for (seq, entry) in log.iter().rev().take(50).enumerate() {
        out.push_str(&format!(
            "<commit-history>\n<sequence-number>{seq}</sequence-number>\n<user>{}</user>\n\
             <client>netconf</client>\n<date-time>{}</date-time>\n",
            escape(&entry.user),
            escape(&entry.time)
        ));
        if seq == 0 && entry.kind == "commit" {
            if let Some(p) = pending {
                out.push_str(&format!(
                    "<comment>commit confirmed, rollback in {}mins</comment>\n",
                    p.minutes
                ));
            }
        }
        if let Some(text) = &entry.log {
            out.push_str(&format!("<log>{}</log>\n", escape(text)));
        }
        out.push_str("</commit-history>\n");
    }
    out.push_str("</commit-information>");
    out
}

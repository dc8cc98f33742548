//! Is a confirmed commit waiting for its confirmation? Read from `<get-commit-information/>`
//! (`show system commit`), whose answer is less direct than it looks:
//! - the comment `commit confirmed, rollback in N mins` stays on the entry after the commit
//!   was confirmed, and a `commit check` from the CLI confirms without adding an entry, so
//!   the comment alone never proves "pending";
//! - Junos 23.1+ models add a `commit-confirmed` leaf to the entry; where the switch reports
//!   it, it is used, still bounded by the deadline;
//! - otherwise the newest entry's time plus its N minutes is the rollback deadline: past it
//!   (with a minute for clock skew) the commit was confirmed, since a rollback would have
//!   added a newer entry. Before it, the commit may be pending and is treated as such.

use super::rpc::Element;

/// Slack for the clocks of mesa and the switch disagreeing.
const CLOCK_SKEW_SECS: i64 = 60;

/// A confirmed commit that may be waiting for its confirmation (the newest history entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommit {
    /// The Junos user who committed.
    pub user: String,
    /// Its commit log, empty when none was given.
    pub log: String,
    /// Unix seconds of the rollback deadline, when the entry tells its time and minutes.
    pub deadline: Option<i64>,
}

impl PendingCommit {
    /// mesa's own commits carry logs starting with `mesa:`.
    pub fn is_mesa(&self) -> bool {
        self.log.trim_start().starts_with("mesa:")
    }
}

/// The pending confirmed commit in a `get-commit-information` reply, judged at `now` (Unix
/// seconds).
pub fn pending(reply: &Element, now: i64) -> Option<PendingCommit> {
    let newest = reply.find("commit-history")?;
    let leaf = newest
        .child("commit-confirmed")
        .map(|l| !matches!(l.text().trim(), "false" | "no" | "0"));
    let comment = newest
        .child_text("comment")
        .filter(|c| c.contains("rollback in"));
    match (leaf, &comment) {
        (Some(false), _) | (None, None) => return None,
        _ => {}
    }
    let minutes = comment.as_deref().and_then(rollback_minutes);
    let deadline = match (committed_at(newest), minutes) {
        (Some(at), Some(m)) => Some(at + m * 60),
        _ => None,
    };
    if deadline.is_some_and(|d| now > d + CLOCK_SKEW_SECS) {
        return None;
    }
    Some(PendingCommit {
        user: newest
            .child_text("user")
            .unwrap_or_else(|| "an unknown user".into()),
        log: newest.child_text("log").unwrap_or_default(),
        deadline,
    })
}

/// `N` of `commit confirmed, rollback in N mins` (also `Nmins`).
fn rollback_minutes(comment: &str) -> Option<i64> {
    let rest = comment.split_once("rollback in")?.1.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The entry's time: `junos:seconds`, else the `YYYY-MM-DD HH:MM:SS UTC` text.
fn committed_at(entry: &Element) -> Option<i64> {
    let dt = entry.child("date-time")?;
    if let Some(secs) = dt.attr("seconds").and_then(|s| s.trim().parse().ok()) {
        return Some(secs);
    }
    let text = dt.text();
    let text = text.trim().strip_suffix("UTC")?.trim();
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::netconf::rpc::parse;

    const AT: i64 = 1_620_299_046; // 2021-05-06 11:04:06 UTC

    fn entry(extra: &str, log: &str) -> String {
        format!(
            "<rpc-reply xmlns:junos=\"http://xml.juniper.net/junos/21.4R3/junos\"><commit-information>\
             <commit-history><sequence-number>0</sequence-number><user>alice</user><client>cli</client>\
             <date-time junos:seconds=\"{AT}\">2021-05-06 11:04:06 UTC</date-time>{extra}<log>{log}</log>\
             </commit-history><commit-history><sequence-number>1</sequence-number><user>bob</user>\
             <date-time junos:seconds=\"1\">1970-01-01 00:00:01 UTC</date-time></commit-history>\
             </commit-information></rpc-reply>"
        )
    }

    fn at(xml: &str, now: i64) -> Option<PendingCommit> {
        pending(&parse(xml).unwrap(), now)
    }

    #[test]
    fn comment_only_shape_is_pending_until_its_deadline() {
        let xml = entry(
            "<comment>commit confirmed, rollback in 5mins</comment>",
            "mesa: AP_CONNECTED ap-1",
        );
        let p = at(&xml, AT + 10).expect("pending within the 5 minutes");
        assert_eq!(p.user, "alice");
        assert!(p.is_mesa());
        assert_eq!(p.deadline, Some(AT + 300));
        assert!(at(&xml, AT + 300 + CLOCK_SKEW_SECS).is_some());
        // The comment stays after a confirmation (or a CLI `commit check`): past the
        // deadline with no rollback entry after it, it was confirmed.
        assert_eq!(at(&xml, AT + 300 + CLOCK_SKEW_SECS + 1), None);
        // `rollback in 5 mins` spelled with a space, and a date-time without seconds.
        let xml = entry(
            "<comment>commit confirmed, rollback in 5 mins</comment>",
            "x",
        )
        .replace(&format!(" junos:seconds=\"{AT}\""), "");
        assert_eq!(at(&xml, AT + 10).unwrap().deadline, Some(AT + 300));
        assert_eq!(at(&xml, AT + 1000), None);
    }

    #[test]
    fn junos_23_leaf_decides_where_present() {
        let with_leaf = entry(
            "<comment>commit confirmed, rollback in 5mins</comment><commit-confirmed/>",
            "risky",
        );
        let p = at(&with_leaf, AT + 10).expect("leaf says pending");
        assert!(!p.is_mesa());
        assert_eq!(
            at(&with_leaf, AT + 10_000),
            None,
            "still bounded by the deadline"
        );
        let leaf_false = entry(
            "<comment>commit confirmed, rollback in 5mins</comment><commit-confirmed>false</commit-confirmed>",
            "risky",
        );
        assert_eq!(at(&leaf_false, AT + 10), None);
        // A leaf without a comment: pending, deadline unknown.
        let bare = entry("<commit-confirmed/>", "mesa: x");
        assert_eq!(at(&bare, AT + 10_000).unwrap().deadline, None);
    }

    #[test]
    fn plain_commits_and_empty_histories_are_not_pending() {
        assert_eq!(at(&entry("", "mesa: x"), AT), None);
        assert_eq!(
            at(&entry("<comment>weekly change</comment>", "x"), AT),
            None
        );
        assert_eq!(at("<rpc-reply><commit-information/></rpc-reply>", AT), None);
    }
}

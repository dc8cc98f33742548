//! The platform-neutral message for one [`Decision`]: what happened, to which port and AP,
//! why (guard reason with its numbers), the configuration diff and a link to the AP in the
//! Mist dashboard. Every platform renders this one value in its own dialect.
//!
//! Values here are raw (unescaped, but reduced to one line where they are labels or values):
//! escaping belongs to the renderer, because each dialect escapes differently.

use std::collections::BTreeSet;

use crate::model::{Decision, Outcome, Severity};

use super::escape::one_line;

/// Lines of diff shown before cutting (a port change is rarely more than 20).
pub const DIFF_MAX_LINES: usize = 40;
/// Characters of diff shown before cutting; Slack refuses a section text above 3,000.
pub const DIFF_MAX_CHARS: usize = 2_000;

/// `outcome_label` of messages from `[[relay]]` rules (Mist events passed on, not decisions).
pub const RELAY_LABEL: &str = "relay";

/// Characters of outcome text (reason, error) kept.
pub const OUTCOME_MAX_CHARS: usize = 1_000;

/// One labelled value (site, switch, port, AP...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// The head of a diff and how much of it was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub text: String,
    pub cut_lines: usize,
}

impl Diff {
    /// `"… 12 more lines cut"`, when anything was cut.
    pub fn cut_note(&self) -> Option<String> {
        match self.cut_lines {
            0 => None,
            1 => Some("… 1 more line cut".to_string()),
            n => Some(format!("… {n} more lines cut")),
        }
    }
}

/// Keeps whole lines from the head of `text` within both bounds. A first line longer than
/// `max_chars` is itself cut (with `…`) rather than showing nothing.
pub fn truncate_diff(text: &str, max_lines: usize, max_chars: usize) -> Diff {
    let text = text.trim_end_matches(['\n', '\r']);
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = String::new();
    let mut count = 0;
    for line in &lines {
        let needed = line.chars().count() + usize::from(count > 0);
        if count >= max_lines || kept.chars().count() + needed > max_chars {
            break;
        }
        if count > 0 {
            kept.push('\n');
        }
        kept.push_str(line);
        count += 1;
    }
    if count == 0 && !lines.is_empty() && max_lines > 0 {
        kept = lines[0].chars().take(max_chars.saturating_sub(1)).collect();
        kept.push('…');
        count = 1;
    }
    Diff {
        text: kept,
        cut_lines: lines.len() - count,
    }
}

/// Everything a person needs to act on one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub severity: Severity,
    /// `Outcome::label()`.
    pub outcome_label: &'static str,
    /// One line: icon, outcome word and target, e.g. `✅ Applied: ge-0/0/12 on sw-a → ap`.
    pub headline: String,
    /// `Outcome::summary()`: the reason or error in full.
    pub outcome: String,
    /// The numbers behind a guard's hold, as `(name, value)`.
    pub numbers: Vec<(String, String)>,
    pub facts: Vec<Fact>,
    /// Site name (or id) for subtitles.
    pub site: String,
    /// The full diff as the backend reported it; renderers cut it to their own limits.
    pub diff: Option<String>,
    /// The AP in the Mist dashboard.
    pub link: Option<String>,
    /// What the link says; None: the AP wording of decisions.
    pub link_text: Option<String>,
    /// One line per item of a summary (a relayed storm); renderers show it as a list.
    pub list: Vec<String>,
    pub event_id: String,
}

impl Message {
    /// A notice that is not a decision (maintenance holds): headline and one detail line.
    pub fn announcement(site_id: &str, headline: String, detail: String) -> Message {
        Message {
            severity: Severity::Info,
            outcome_label: "announcement",
            headline,
            outcome: detail,
            numbers: Vec::new(),
            facts: Vec::new(),
            site: site_id.to_string(),
            diff: None,
            link: None,
            link_text: None,
            list: Vec::new(),
            event_id: String::new(),
        }
    }

    /// `dashboard` is the base from [`dashboard_base`] (None when it cannot be derived).
    pub fn from_decision(decision: &Decision, dashboard: Option<&str>) -> Message {
        let event = &decision.event;
        let site_name = event
            .site_name
            .as_deref()
            .or_else(|| decision.changes.iter().find_map(|c| c.site_name.as_deref()))
            .map(one_line)
            .filter(|s| !s.is_empty());
        let site_id = one_line(&event.site_id);
        let ap_name = event
            .ap_name
            .as_deref()
            .or_else(|| decision.changes.iter().find_map(|c| c.ap.name.as_deref()))
            .map(one_line)
            .filter(|s| !s.is_empty());

        let switches: BTreeSet<String> = decision
            .changes
            .iter()
            .map(|c| match &c.switch.mgmt_addr {
                Some(addr) => format!("{} ({})", one_line(&c.switch.name), one_line(addr)),
                None => one_line(&c.switch.name),
            })
            .collect();
        let ports: Vec<String> = decision
            .changes
            .iter()
            .map(|c| format!("{} → {}", c.port, c.profile))
            .collect();

        let mut facts = Vec::new();
        let mut fact = |label: &'static str, value: String| {
            if !value.is_empty() {
                facts.push(Fact { label, value });
            }
        };
        fact(
            "Event",
            format!("{} ({})", event.kind, event.source.as_str()),
        );
        fact(
            "Site",
            match &site_name {
                Some(name) => format!("{name} ({site_id})"),
                None => site_id.clone(),
            },
        );
        fact(
            if switches.len() > 1 {
                "Switches"
            } else {
                "Switch"
            },
            join(&switches, ", "),
        );
        fact(
            if ports.len() > 1 { "Ports" } else { "Port" },
            ports.join(", "),
        );
        fact(
            "AP",
            match &ap_name {
                Some(name) => format!("{name} ({})", event.ap_mac.colon()),
                None => event.ap_mac.colon(),
            },
        );
        fact("Backend", one_line(&decision.backend));
        fact("Event id", one_line(&event.id));

        let link = dashboard.and_then(|base| {
            ap_link(
                base,
                event.org_id.as_deref()?,
                &event.site_id,
                event.ap_mac.as_str(),
            )
        });

        Message {
            severity: decision.severity(),
            outcome_label: decision.outcome.label(),
            headline: headline(decision, ap_name.as_deref()),
            outcome: capped(&one_line(&decision.outcome.summary()), OUTCOME_MAX_CHARS),
            numbers: hold_numbers(decision),
            facts,
            site: site_name.unwrap_or(site_id),
            diff: decision.diff.clone().filter(|d| !d.trim().is_empty()),
            link,
            link_text: None,
            list: Vec::new(),
            event_id: one_line(&event.id),
        }
    }

    /// A message about mesa itself rather than one event (e.g. the Mist API budget at 80 %):
    /// `label` stands where an outcome label would, for routing.
    pub fn notice(
        severity: Severity,
        label: &'static str,
        headline: &str,
        text: &str,
        facts: Vec<Fact>,
    ) -> Message {
        Message {
            severity,
            outcome_label: label,
            headline: one_line(headline),
            outcome: capped(&one_line(text), OUTCOME_MAX_CHARS),
            numbers: Vec::new(),
            facts,
            site: "all sites".to_string(),
            diff: None,
            link: None,
            link_text: None,
            list: Vec::new(),
            event_id: String::new(),
        }
    }

    /// The link's words, `default` unless the message says otherwise.
    pub fn link_text<'a>(&'a self, default: &'a str) -> &'a str {
        self.link_text.as_deref().unwrap_or(default)
    }

    /// One line for notification previews and clients without formatting.
    pub fn summary(&self) -> String {
        format!("{} — site {} — {}", self.headline, self.site, self.outcome)
    }

    /// `down=41 · total=52`, empty when the decision carried no numbers.
    pub fn numbers_line(&self) -> String {
        self.numbers
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// The diff cut to the given bounds.
    pub fn diff(&self, max_lines: usize, max_chars: usize) -> Option<Diff> {
        self.diff
            .as_deref()
            .map(|d| truncate_diff(d, max_lines, max_chars))
    }

    /// Plain text with every detail, one per line (Adaptive Card `fallbackText`).
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\nOutcome: {}", self.headline, self.outcome);
        if !self.numbers.is_empty() {
            out.push_str(&format!("\nNumbers: {}", self.numbers_line()));
        }
        for fact in &self.facts {
            out.push_str(&format!("\n{}: {}", fact.label, fact.value));
        }
        for item in &self.list {
            out.push_str(&format!("\n- {item}"));
        }
        if let Some(link) = &self.link {
            out.push_str(&format!("\nMist: {link}"));
        }
        out
    }
}

/// Cuts a long reason or error (a Junos error can run for pages) at a character boundary.
fn capped(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn join(items: &BTreeSet<String>, sep: &str) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(sep)
}

fn headline(decision: &Decision, ap_name: Option<&str>) -> String {
    let (icon, word) = match &decision.outcome {
        Outcome::Applied => ("✅", "Applied".to_string()),
        Outcome::AlreadyInPlace => ("☑️", "Already in place".to_string()),
        Outcome::Skipped { guard, .. } => ("⏸️", format!("Held by {}", one_line(guard))),
        Outcome::Rejected { .. } => ("🚫", "Rejected".to_string()),
        Outcome::Failed { .. } => ("❌", "Failed".to_string()),
    };
    let target = match decision.changes.as_slice() {
        [] => {
            let ap = ap_name
                .map(str::to_string)
                .unwrap_or_else(|| decision.event.ap_mac.colon());
            format!("AP {ap} ({})", decision.event.kind)
        }
        [one] => format!(
            "{} on {} → {}",
            one.port,
            one_line(&one.switch.name),
            one.profile
        ),
        many => {
            let switches: BTreeSet<String> =
                many.iter().map(|c| one_line(&c.switch.name)).collect();
            format!("{} ports on {}", many.len(), join(&switches, ", "))
        }
    };
    format!("{icon} {word}: {target}")
}

/// The numbers of the guard that held the decision (or of any hold, if the outcome does not
/// name the guard), flattened to `(name, value)` pairs in the guard's own order.
fn hold_numbers(decision: &Decision) -> Vec<(String, String)> {
    let holds = decision.verdicts.iter().filter(|v| !v.proceed);
    let verdict = match &decision.outcome {
        Outcome::Skipped { guard, .. } => holds
            .clone()
            .find(|v| &v.guard == guard)
            .or_else(|| holds.clone().next()),
        _ => None,
    };
    let Some(verdict) = verdict else {
        return Vec::new();
    };
    match &verdict.numbers {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (one_line(k), one_line(&scalar(v))))
            .collect(),
        other => vec![("numbers".to_string(), one_line(&scalar(other)))],
    }
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `https://manage.<cloud>` for `https://api.<cloud>`: api.mist.com → manage.mist.com,
/// api.eu.mist.com → manage.eu.mist.com, api.gc1.mist.com → manage.gc1.mist.com... None for
/// anything that is not an `api.` host (a simulator, a proxy): no link beats a wrong one.
pub fn dashboard_base(api_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(api_url).ok()?;
    let host = url.host_str()?;
    let cloud = host.strip_prefix("api.")?;
    if cloud.is_empty() {
        return None;
    }
    Some(format!("https://manage.{cloud}"))
}

/// The AP's page: `<base>/admin/?org_id=<org>#!ap/detail/<device_id>/<site_id>` where Mist
/// device ids are `00000000-0000-0000-1000-<mac>`. Ids that are not UUID-shaped give no link,
/// so nothing from an event can smuggle text into a URL.
pub fn ap_link(base: &str, org_id: &str, site_id: &str, mac: &str) -> Option<String> {
    let uuid_like = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    if !uuid_like(org_id) || !uuid_like(site_id) || !uuid_like(mac) {
        return None;
    }
    Some(format!(
        "{base}/admin/?org_id={org_id}#!ap/detail/00000000-0000-0000-1000-{mac}/{site_id}"
    ))
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::model::*;

    fn decision(outcome: Outcome) -> Decision {
        let mac = Mac::parse("5c5b35aabbcc").unwrap();
        Decision {
            event: ApEvent {
                id: "ev-1".into(),
                kind: EventKind::ApDisconnected,
                ap_mac: mac.clone(),
                ap_name: Some("ap-lobby".into()),
                org_id: Some("6f4bf402-45f9-4b6b-a2e0-1a2b3c4d5e6f".into()),
                site_id: "978c48e6-6ef6-11e6-8bbf-02e208b2d34f".into(),
                site_name: Some("Campus North".into()),
                timestamp: crate::model::EventTime::from_secs(1_700_000_000),
                source: Source::Webhook,
                received_at: crate::clock::now(),
                known_port: None,
            },
            lookups: vec![],
            verdicts: vec![
                GuardVerdict::proceed("lldp", "AP gone from port"),
                GuardVerdict::hold("outage", "site outage: 41 of 52 APs down within 30s")
                    .with_numbers(json!({"down": 41, "total": 52, "window_s": 30})),
            ],
            changes: vec![PortChange {
                switch: SwitchRef {
                    name: "sw-a".into(),
                    site_id: "978c48e6-6ef6-11e6-8bbf-02e208b2d34f".into(),
                    mac: None,
                    mgmt_addr: Some("10.0.0.2".into()),
                },
                port: InterfaceName::parse("ge-0/0/12").unwrap(),
                profile: Profile::Secured,
                ap: ApRef {
                    mac,
                    name: Some("ap-lobby".into()),
                },
                site_name: Some("Campus North".into()),
                reason: "AP disconnected".into(),
            }],
            outcome,
            diff: None,
            backend: "netconf".into(),
            decided_at: crate::clock::now(),
            duration_ms: 12,
            will_retry: false,
        }
    }

    #[test]
    fn guard_hold_carries_reason_and_numbers() {
        let d = decision(Outcome::Skipped {
            guard: "outage".into(),
            reason: "site outage: 41 of 52 APs down within 30s".into(),
        });
        let m = Message::from_decision(&d, Some("https://manage.mist.com"));
        assert_eq!(m.headline, "⏸️ Held by outage: ge-0/0/12 on sw-a → secured");
        assert_eq!(
            m.outcome,
            "skipped by outage: site outage: 41 of 52 APs down within 30s"
        );
        assert_eq!(m.numbers_line(), "down=41 · total=52 · window_s=30");
        assert_eq!(m.severity, Severity::Warning);
        let facts: Vec<_> = m
            .facts
            .iter()
            .map(|f| (f.label, f.value.as_str()))
            .collect();
        assert_eq!(
            facts,
            vec![
                ("Event", "AP_DISCONNECTED (webhook)"),
                (
                    "Site",
                    "Campus North (978c48e6-6ef6-11e6-8bbf-02e208b2d34f)"
                ),
                ("Switch", "sw-a (10.0.0.2)"),
                ("Port", "ge-0/0/12 → secured"),
                ("AP", "ap-lobby (5c:5b:35:aa:bb:cc)"),
                ("Backend", "netconf"),
                ("Event id", "ev-1"),
            ]
        );
        assert!(m.summary().contains("site Campus North"));
    }

    #[test]
    fn failures_carry_the_error_and_no_numbers() {
        let m = Message::from_decision(
            &decision(Outcome::Failed {
                error: "commit failed:\nconfiguration database locked".into(),
            }),
            None,
        );
        assert_eq!(
            m.outcome,
            "failed: commit failed: configuration database locked"
        );
        assert!(m.numbers.is_empty());
        assert_eq!(m.link, None);
        let long = Message::from_decision(
            &decision(Outcome::Failed {
                error: "e".repeat(5000),
            }),
            None,
        );
        assert_eq!(long.outcome.chars().count(), OUTCOME_MAX_CHARS);
        assert!(long.outcome.ends_with('…'));
    }

    #[test]
    fn dashboard_for_each_cloud() {
        for (api, manage) in [
            ("https://api.mist.com", "https://manage.mist.com"),
            ("https://api.mist.com/", "https://manage.mist.com"),
            ("https://api.eu.mist.com", "https://manage.eu.mist.com"),
            ("https://api.gc1.mist.com", "https://manage.gc1.mist.com"),
            ("https://api.gc2.mist.com", "https://manage.gc2.mist.com"),
            ("https://api.ac2.mist.com", "https://manage.ac2.mist.com"),
            ("https://api.ac5.mist.com", "https://manage.ac5.mist.com"),
        ] {
            assert_eq!(dashboard_base(api).as_deref(), Some(manage), "{api}");
        }
        assert_eq!(dashboard_base("http://127.0.0.1:8080"), None);
        assert_eq!(dashboard_base("not a url"), None);
    }

    #[test]
    fn ap_link_uses_the_device_id_and_refuses_odd_ids() {
        let m = Message::from_decision(
            &decision(Outcome::Applied),
            Some("https://manage.eu.mist.com"),
        );
        assert_eq!(
            m.link.as_deref(),
            Some(
                "https://manage.eu.mist.com/admin/?org_id=6f4bf402-45f9-4b6b-a2e0-1a2b3c4d5e6f\
                 #!ap/detail/00000000-0000-0000-1000-5c5b35aabbcc/978c48e6-6ef6-11e6-8bbf-02e208b2d34f"
            )
        );
        assert_eq!(
            ap_link("https://manage.mist.com", "x|<evil>", "s", "5c5b35aabbcc"),
            None
        );
        let mut no_org = decision(Outcome::Applied);
        no_org.event.org_id = None;
        assert_eq!(
            Message::from_decision(&no_org, Some("https://manage.mist.com")).link,
            None
        );
    }

    #[test]
    fn diff_keeps_the_head_and_counts_the_cut() {
        let diff: String = (1..=100).map(|i| format!("+ line {i}\n")).collect();
        let cut = truncate_diff(&diff, 40, 10_000);
        assert_eq!(cut.text.lines().count(), 40);
        assert!(cut.text.starts_with("+ line 1\n+ line 2\n"));
        assert!(cut.text.ends_with("+ line 40"));
        assert_eq!(cut.cut_lines, 60);
        assert_eq!(cut.cut_note().as_deref(), Some("… 60 more lines cut"));

        let by_chars = truncate_diff(&diff, 1000, 50);
        assert!(by_chars.text.chars().count() <= 50);
        assert_eq!(by_chars.text.lines().count() + by_chars.cut_lines, 100);

        let whole = truncate_diff("[edit]\n+ a\n", 40, 2000);
        assert_eq!(
            whole,
            Diff {
                text: "[edit]\n+ a".into(),
                cut_lines: 0
            }
        );
        assert_eq!(whole.cut_note(), None);

        let long_line = truncate_diff(&"x".repeat(100), 40, 10);
        assert_eq!(long_line.text, format!("{}…", "x".repeat(9)));
        assert_eq!(long_line.cut_lines, 0);
    }

    #[test]
    fn user_text_is_kept_on_one_line() {
        let mut d = decision(Outcome::Applied);
        d.event.ap_name = Some("ap\nfake line".into());
        let m = Message::from_decision(&d, None);
        assert!(m.facts.iter().all(|f| !f.value.contains('\n')));
        assert!(!m.headline.contains('\n'));
    }
}

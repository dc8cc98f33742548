//! A `[[relay]]` rule ready to match: globs compiled, lists in the form events are compared
//! in. An empty list matches everything; every non-empty list must match.

use std::time::Duration;

use super::config::RelayRuleConfig;
use super::event::{Level, RelayEvent};

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    topics: Vec<String>,
    /// None for a glob that did not compile: it matches nothing.
    types: Vec<Option<glob::Pattern>>,
    severities: Vec<String>,
    sites: Vec<String>,
    device_types: Vec<String>,
    pub targets: Vec<String>,
    pub group_within: Duration,
    pub max_per_minute: u32,
}

impl Rule {
    /// From a validated configuration entry; a glob that does not compile (configuration
    /// validation refuses those) matches nothing rather than everything.
    pub fn from_config(config: &RelayRuleConfig) -> Rule {
        Rule {
            name: config.name.clone(),
            topics: config
                .topics
                .iter()
                .map(|t| super::event::normalise_topic(t))
                .collect(),
            types: config
                .types
                .iter()
                .map(|t| glob::Pattern::new(t).ok())
                .collect(),
            severities: config
                .severities
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            sites: config.sites.clone(),
            device_types: config.device_types.clone(),
            targets: config.notify.clone(),
            group_within: config.group_within.get(),
            max_per_minute: config.max_per_minute,
        }
    }

    pub fn matches(&self, event: &RelayEvent) -> bool {
        let any_or = |list: &[String], pred: &dyn Fn(&String) -> bool| {
            list.is_empty() || list.iter().any(pred)
        };
        any_or(&self.topics, &|t| *t == event.topic)
            && (self.types.is_empty()
                || self.types.iter().flatten().any(|p| p.matches(&event.kind)))
            && any_or(&self.severities, &|s| severity_matches(s, event))
            && any_or(&self.sites, &|s| {
                event.site_id.as_deref() == Some(s.as_str())
                    || event.site_name.as_deref() == Some(s.as_str())
            })
            && any_or(&self.device_types, &|d| {
                event.device_type.as_deref() == Some(d.as_str())
            })
    }

    /// The topics a `mesa relay test` sample is made for: the rule's, else the known ones.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// A type the sample can carry: the first glob without wildcards, if any.
    pub fn literal_type(&self) -> Option<String> {
        self.types
            .iter()
            .flatten()
            .map(|p| p.as_str())
            .find(|p| !p.contains(['*', '?', '[']))
            .map(str::to_string)
    }

    pub fn severity_words(&self) -> &[String] {
        &self.severities
    }

    pub fn site_filter(&self) -> &[String] {
        &self.sites
    }

    pub fn device_types(&self) -> &[String] {
        &self.device_types
    }
}

/// `info` / `warn` / `critical` match the event's level; `major` / `minor` only alarms that
/// say so.
fn severity_matches(word: &str, event: &RelayEvent) -> bool {
    match word {
        "major" | "minor" => event
            .severity_word
            .as_deref()
            .is_some_and(|w| w.eq_ignore_ascii_case(word)),
        other => Level::from_mist(other) == Some(event.level),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::event::parse_body;

    fn rule(toml: &str) -> Rule {
        let cfg: RelayRuleConfig =
            toml::from_str(&format!("name = \"r\"\nnotify = [\"t\"]\n{toml}")).unwrap();
        Rule::from_config(&cfg)
    }

    fn event(body: &str) -> RelayEvent {
        parse_body(body.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn every_list_must_match_and_empty_means_any() {
        let down = event(
            r#"{"topic":"device-updowns","events":[{"ap":"5c5b35000001","type":"AP_DISCONNECTED","site_id":"s1","site_name":"HQ","timestamp":1}]}"#,
        );
        let alarm = event(
            r#"{"topic":"alarms","events":[{"type":"rogue_ap","severity":"major","site_id":"s2","timestamp":1}]}"#,
        );
        assert!(rule("").matches(&down) && rule("").matches(&alarm));
        assert!(rule("types = [\"AP_*\"]").matches(&down));
        assert!(!rule("types = [\"SW_*\"]").matches(&down));
        assert!(rule("severities = [\"warn\"]").matches(&down));
        assert!(!rule("severities = [\"critical\"]").matches(&down));
        assert!(rule("severities = [\"critical\"]").matches(&alarm));
        assert!(rule("severities = [\"major\"]").matches(&alarm));
        assert!(!rule("severities = [\"minor\"]").matches(&alarm));
        assert!(rule("sites = [\"HQ\"]").matches(&down));
        assert!(rule("sites = [\"s2\"]").matches(&alarm));
        assert!(!rule("sites = [\"s2\"]").matches(&down));
        assert!(rule("device_types = [\"ap\"]").matches(&down));
        assert!(!rule("device_types = [\"ap\"]").matches(&alarm));
        assert!(rule("topics = [\"device_updowns\"]").matches(&down));
        assert!(!rule("topics = [\"alarms\"]").matches(&down));
    }
}

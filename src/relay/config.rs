//! `[[relay]]` rules as written in the configuration file, and the checks that stop mesa
//! before start when one cannot work: an unknown target name, a bad glob, a severity or
//! device type Mist never sends. Durations are checked by their type (`relay[0].group_within`).

use serde::{Deserialize, Serialize};

use crate::config::{Config, Duration};

/// Severity words a rule may name: Mist's info / warn / critical, and the alarm severities
/// major / minor (which also count as critical / warn).
pub const SEVERITIES: &[&str] = &["info", "warn", "critical", "major", "minor"];

/// Device types Mist names in events (`device_type`), plus `mxedge` for mxedge-events.
pub const DEVICE_TYPES: &[&str] = &["ap", "switch", "gateway", "mxedge"];

/// One `[[relay]]` rule. Every list is "any" when empty; all non-empty lists must match.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayRuleConfig {
    pub name: String,
    /// Webhook topics (`alarms`, `audits`, `device-updowns`, `device-events`,
    /// `mxedge-events`, or any other Mist sends).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Globs on the event `type` (`AP_*`, `*_DISCONNECTED`); case-sensitive like Mist's.
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub severities: Vec<String>,
    /// Site ids or names.
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub device_types: Vec<String>,
    /// Names of `[[notify]]` targets.
    pub notify: Vec<String>,
    /// Events of one site and topic arriving within this window become one summary message;
    /// `"0s"` sends each at once.
    #[serde(default = "default_group_within")]
    pub group_within: Duration,
    /// Messages this rule may send per minute; the events of more wait and leave as one
    /// summary at the next free place (beyond 5,000 waiting they are dropped, counted).
    #[serde(default = "default_max_per_minute")]
    pub max_per_minute: u32,
}

fn default_group_within() -> Duration {
    Duration::from_secs(60)
}

fn default_max_per_minute() -> u32 {
    20
}

/// The first problem of the relay configuration as `(key, why)`.
pub fn validate(config: &Config) -> Result<(), (String, String)> {
    let mut names: Vec<&str> = Vec::new();
    for (i, entry) in config.notify.iter().enumerate() {
        let Some(name) = &entry.name else { continue };
        let key = format!("notify[{i}].name");
        if name.trim().is_empty() {
            return Err((key, "empty; leave it out or give a name".into()));
        }
        if names.contains(&name.as_str()) {
            return Err((key, format!("{name:?} is used by another [[notify]] entry")));
        }
        names.push(name);
    }
    if config.ingest.relay_queue == 0 && !config.relay.is_empty() {
        return Err((
            "ingest.relay_queue".into(),
            "must be at least 1 when [[relay]] rules exist".into(),
        ));
    }
    let mut rules: Vec<&str> = Vec::new();
    for (i, rule) in config.relay.iter().enumerate() {
        let key = |field: &str| format!("relay[{i}].{field}");
        if rule.name.trim().is_empty() {
            return Err((key("name"), "required".into()));
        }
        if rules.contains(&rule.name.as_str()) {
            return Err((
                key("name"),
                format!("{:?} is used by another [[relay]] rule", rule.name),
            ));
        }
        rules.push(&rule.name);
        if rule.topics.iter().any(|t| t.trim().is_empty()) {
            return Err((key("topics"), "empty topic".into()));
        }
        for (j, pattern) in rule.types.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(pattern) {
                return Err((
                    format!("relay[{i}].types[{j}]"),
                    format!("bad glob {pattern:?}: {e}"),
                ));
            }
        }
        for severity in &rule.severities {
            if !SEVERITIES.contains(&severity.as_str()) {
                return Err((
                    key("severities"),
                    format!("unknown severity {severity:?}; expected one of {SEVERITIES:?}"),
                ));
            }
        }
        for device_type in &rule.device_types {
            if !DEVICE_TYPES.contains(&device_type.as_str()) {
                return Err((
                    key("device_types"),
                    format!(
                        "unknown device type {device_type:?}; expected one of {DEVICE_TYPES:?}"
                    ),
                ));
            }
        }
        if rule.notify.is_empty() {
            return Err((key("notify"), "name at least one [[notify]] target".into()));
        }
        for target in &rule.notify {
            if !names.contains(&target.as_str()) {
                let known = if names.is_empty() {
                    "no [[notify]] entry has a name".to_string()
                } else {
                    format!("named targets are {names:?}")
                };
                return Err((key("notify"), format!("unknown target {target:?}; {known}")));
            }
        }
        if rule.max_per_minute == 0 {
            return Err((key("max_per_minute"), "must be at least 1".into()));
        }
        if rule.group_within.get() > std::time::Duration::from_secs(3600) {
            return Err((key("group_within"), "at most 1h".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const TARGETS: &str = r#"
[[notify]]
kind = "slack"
url = "https://hooks.slack.com/services/T/B/X"
name = "noc"

[[notify]]
kind = "teams"
url = "https://example.webhook.office.com/x"
"#;

    fn load(rules: &str) -> Result<Config, String> {
        Config::from_toml(&format!("{TARGETS}\n{rules}"), Path::new("mesa.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_rule_loads_with_defaults() {
        let config = load(
            r#"
[[relay]]
name = "critical-alarms"
topics = ["alarms"]
types = ["*_down", "rogue_*"]
severities = ["critical", "major"]
sites = ["HQ"]
device_types = ["switch"]
notify = ["noc"]
"#,
        )
        .unwrap();
        assert_eq!(config.relay[0].group_within.as_secs(), 60);
        assert_eq!(config.relay[0].max_per_minute, 20);
        assert!(config.notify[1].decisions && config.notify[1].name.is_none());
    }

    #[test]
    fn errors_name_the_file_the_key_and_why() {
        let cases = [
            (
                "[[relay]]\nname = \"r\"\nnotify = [\"pager\"]",
                "mesa.toml: relay[0].notify: unknown target \"pager\"; named targets are [\"noc\"]",
            ),
            (
                "[[relay]]\nname = \"r\"\nnotify = [\"noc\"]\ntypes = [\"AP_[\"]",
                "mesa.toml: relay[0].types[0]: bad glob \"AP_[\"",
            ),
            (
                "[[relay]]\nname = \"r\"\nnotify = [\"noc\"]\ngroup_within = \"soon\"",
                "mesa.toml: relay[0].group_within: bad duration \"soon\"",
            ),
            (
                "[[relay]]\nname = \"r\"\nnotify = [\"noc\"]\nseverities = [\"loud\"]",
                "mesa.toml: relay[0].severities: unknown severity \"loud\"",
            ),
            (
                "[[relay]]\nname = \"r\"\nnotify = [\"noc\"]\n[[relay]]\nname = \"r\"\nnotify = [\"noc\"]",
                "mesa.toml: relay[1].name: \"r\" is used by another [[relay]] rule",
            ),
            (
                "[[relay]]\nname = \"r\"\nnotify = []",
                "mesa.toml: relay[0].notify: name at least one [[notify]] target",
            ),
            (
                "[[relay]]\nname = \"r\"\nnotify = [\"noc\"]\ncolour = \"red\"",
                "mesa.toml: relay[0].colour: unknown field `colour`",
            ),
        ];
        for (rules, expected) in cases {
            let error = load(rules).unwrap_err();
            assert!(error.starts_with(expected), "{rules}\n→ {error}");
        }
    }

    #[test]
    fn notify_names_are_unique() {
        let text = format!("{TARGETS}\n[[notify]]\nkind = \"gchat\"\nurl = \"https://chat.googleapis.com/x\"\nname = \"noc\"\n");
        let error = Config::from_toml(&text, Path::new("mesa.toml")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "mesa.toml: notify[2].name: \"noc\" is used by another [[notify]] entry"
        );
    }
}

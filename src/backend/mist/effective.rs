//! What decides a Mist switch port's usage, read from the device (schema `device_switch`):
//!
//! - `port_config.<port>` (or a range key covering it) sets `usage`;
//! - `local_port_config.<port>` (schema `junos_local_port_config`, a helpdesk override)
//!   replaces it, unless the `port_config` entry keeps `no_local_overwrite` at its default,
//!   `true`, which blocks local overrides;
//! - `dynamic_usage` on the `port_config` entry hands the port to Mist's dynamic port rules,
//!   which assign a usage at run time from what is plugged in: a usage written by mesa does
//!   not stay there.
//!
//! Without a `port_config` entry on the device the site or org switch template decides (not
//! visible here), including whether a local override applies. A new device-level entry keeps
//! `no_local_overwrite` at `true`, so what mesa writes there takes effect.

use serde_json::{Map, Value};

use super::port_config::entry_for;
use crate::model::InterfaceName;

/// Where the port's usage comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `port_config.<key>`.
    PortConfig(String),
    /// `local_port_config.<key>`, allowed by `no_local_overwrite: false`.
    Local(String),
    /// No device-level entry: the switch template decides.
    Template,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The usage in force; `None` when the template decides.
    pub usage: Option<String>,
    pub source: Source,
    /// `dynamic_usage` of the `port_config` entry in force: dynamic rules may reassign it.
    pub dynamic: Option<String>,
    /// A `local_port_config` key covering the port that does not apply.
    pub local_ignored: Option<String>,
}

impl Effective {
    /// Where to write so that the usage takes effect.
    pub fn writes_local(&self) -> bool {
        matches!(self.source, Source::Local(_))
    }

    /// `port_config.ge-0/0/12 = "ap"`, for messages.
    pub fn describe(&self) -> String {
        let usage = self.usage.as_deref().unwrap_or("(none)");
        match &self.source {
            Source::PortConfig(key) => format!("port_config.{key} usage \"{usage}\""),
            Source::Local(key) => format!("local_port_config.{key} usage \"{usage}\""),
            Source::Template => "no device-level entry (the switch template decides)".to_string(),
        }
    }
}

/// An object member of the device, or an empty map when absent or `null`. `Err` names a
/// member that is there but not an object.
pub fn section(device: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, String> {
    match device.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(format!("{key} is not an object")),
    }
}

pub fn effective(
    ports: &Map<String, Value>,
    local: &Map<String, Value>,
    port: &InterfaceName,
) -> Effective {
    let local_entry = entry_for(local, port);
    let Some((key, entry)) = entry_for(ports, port) else {
        return Effective {
            usage: None,
            source: Source::Template,
            dynamic: None,
            local_ignored: local_entry.map(|(k, _)| k.to_string()),
        };
    };
    let allows_local = entry
        .get("no_local_overwrite")
        .and_then(Value::as_bool)
        .is_some_and(|blocks| !blocks);
    if let (true, Some((local_key, local_entry))) = (allows_local, local_entry) {
        return Effective {
            usage: usage_of(local_entry),
            source: Source::Local(local_key.to_string()),
            dynamic: None,
            local_ignored: None,
        };
    }
    Effective {
        usage: usage_of(entry),
        source: Source::PortConfig(key.to_string()),
        dynamic: entry
            .get("dynamic_usage")
            .and_then(Value::as_str)
            .filter(|d| !d.trim().is_empty())
            .map(str::to_string),
        local_ignored: local_entry.map(|(k, _)| k.to_string()),
    }
}

fn usage_of(entry: &Value) -> Option<String> {
    entry
        .get("usage")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn port(name: &str) -> InterfaceName {
        InterfaceName::parse(name).unwrap()
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn local_overrides_apply_only_when_allowed() {
        let local = map(json!({"ge-0/0/1-3": {"usage": "camera", "note": "helpdesk"}}));
        let blocked = map(json!({"ge-0/0/2": {"usage": "secured"}}));
        let e = effective(&blocked, &local, &port("ge-0/0/2"));
        assert_eq!(e.usage.as_deref(), Some("secured"));
        assert_eq!(e.local_ignored.as_deref(), Some("ge-0/0/1-3"));
        assert!(!e.writes_local());

        let allowed = map(json!({"ge-0/0/0-7": {"usage": "secured", "no_local_overwrite": false}}));
        let e = effective(&allowed, &local, &port("ge-0/0/2"));
        assert_eq!(e.usage.as_deref(), Some("camera"));
        assert_eq!(e.source, Source::Local("ge-0/0/1-3".into()));
        assert!(e.writes_local());
        // A port of the range without a local entry keeps port_config.
        let e = effective(&allowed, &local, &port("ge-0/0/5"));
        assert_eq!(e.source, Source::PortConfig("ge-0/0/0-7".into()));

        let e = effective(&Map::new(), &local, &port("ge-0/0/2"));
        assert_eq!(e.source, Source::Template);
        assert_eq!(e.usage, None);
    }

    #[test]
    fn dynamic_usage_is_reported() {
        let ports = map(
            json!({"ge-0/0/4": {"usage": "default", "dynamic_usage": "dynamic"},
                               "ge-0/0/5": {"usage": "default", "dynamic_usage": null}}),
        );
        let e = effective(&ports, &Map::new(), &port("ge-0/0/4"));
        assert_eq!(e.dynamic.as_deref(), Some("dynamic"));
        assert_eq!(
            e.describe(),
            "port_config.ge-0/0/4 usage \"default\"".to_string()
        );
        assert_eq!(
            effective(&ports, &Map::new(), &port("ge-0/0/5")).dynamic,
            None
        );
    }
}

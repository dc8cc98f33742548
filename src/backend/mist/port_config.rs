//! Edits of a Mist switch's `port_config` (schema `wired_port_config` in mist.openapi.json:
//! an object whose keys are port names *or ranges and lists* such as
//! `"ge-0/0/8-16,ge-1/0/0-47"`, and whose values are `junos_port_config` entries, where
//! `usage` is the only required field). Pure functions over the JSON map, so the backend
//! stays a thin GET → edit → PUT.
//!
//! A port can be configured by its own key or by a range key covering it (the spec's
//! `Deviceswitch` example does exactly that). To change one port of a range without touching
//! its neighbours, the port is cut out of the range key (`ge-0/0/8-16` becomes
//! `ge-0/0/8-11,ge-0/0/13-16`, same entry) and gets its own key: no two keys ever cover the
//! same port, whatever Mist's rule for overlaps is.

use serde_json::{Map, Value};

use crate::model::InterfaceName;

/// One port's edit: whether the map changed and what changed, for the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEdit {
    pub changed: bool,
    pub diff: String,
}

/// Sets `usage` on `port` (keeping the other fields of its entry, e.g. `description`), or
/// with an empty `usage` removes the port's override so the switch template applies again.
/// `Err` explains why the map cannot be edited safely.
pub fn set_usage(
    ports: &mut Map<String, Value>,
    port: &InterfaceName,
    usage: &str,
) -> Result<PortEdit, String> {
    set_usage_in("port_config", ports, port, usage)
}

/// [`set_usage`] on any map of that shape (`port_config`, `local_port_config`); `section`
/// names it in the diff.
pub fn set_usage_in(
    section: &str,
    ports: &mut Map<String, Value>,
    port: &InterfaceName,
    usage: &str,
) -> Result<PortEdit, String> {
    let name = port.as_str();
    let (exact, covering) = lookup(ports, port);
    let current: Option<(&str, &Value)> = match (&exact, covering.first()) {
        (Some(entry), _) => Some((name, entry)),
        (None, Some(key)) => ports.get(key.as_str()).map(|e| (key.as_str(), e)),
        (None, None) => None,
    };
    let current_usage = current
        .and_then(|(_, entry)| entry.get("usage"))
        .and_then(Value::as_str);
    let unchanged = if usage.is_empty() {
        current.is_none()
    } else {
        current_usage == Some(usage)
    };
    if unchanged {
        return Ok(PortEdit {
            changed: false,
            diff: String::new(),
        });
    }
    let before = match current {
        Some((key, entry)) if key == name => compact(entry),
        Some((key, entry)) => format!("{} (from \"{key}\")", compact(entry)),
        None => "(none)".to_string(),
    };
    let base = current.map(|(_, entry)| entry.clone());
    let mut notes = Vec::new();
    for key in covering {
        if let Some(note) = cut_out(ports, &key, port)? {
            notes.push(note);
        }
    }
    let after = if usage.is_empty() {
        ports.remove(name);
        "(none: switch template applies)".to_string()
    } else {
        let mut entry = match base {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        entry.insert("usage".into(), Value::String(usage.to_string()));
        let entry = Value::Object(entry);
        let shown = compact(&entry);
        ports.insert(name.to_string(), entry);
        shown
    };
    let mut diff = format!("{section}.{name}: {before} -> {after}");
    for note in notes {
        diff.push_str("; ");
        diff.push_str(&note);
    }
    Ok(PortEdit {
        changed: true,
        diff,
    })
}

/// The entry that configures `port`: its own key, else the first range/list key covering it.
pub fn entry_for<'a>(
    ports: &'a Map<String, Value>,
    port: &InterfaceName,
) -> Option<(&'a str, &'a Value)> {
    if let Some((key, entry)) = ports.get_key_value(port.as_str()) {
        return Some((key.as_str(), entry));
    }
    ports
        .iter()
        .find(|(k, _)| k.split(',').any(|item| covers(item, port)))
        .map(|(k, v)| (k.as_str(), v))
}

/// The port's own entry, and the range/list keys that cover it.
fn lookup(ports: &Map<String, Value>, port: &InterfaceName) -> (Option<Value>, Vec<String>) {
    let exact = ports.get(port.as_str()).cloned();
    let covering = ports
        .keys()
        .filter(|k| k.as_str() != port.as_str())
        .filter(|k| k.split(',').any(|item| covers(item, port)))
        .cloned()
        .collect();
    (exact, covering)
}

/// `ge-0/0/12` → (`ge-0/0`, 12).
fn split_port(name: &str) -> Option<(&str, u32)> {
    let (head, last) = name.trim().rsplit_once('/')?;
    Some((head, last.parse().ok()?))
}

/// One item of a key: `ge-0/0/3` or `ge-0/0/8-16` → (`ge-0/0`, first, last).
fn parse_item(item: &str) -> Option<(&str, u32, u32)> {
    let (head, tail) = item.trim().rsplit_once('/')?;
    match tail.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then_some((head, a, b))
        }
        None => {
            let n = tail.parse().ok()?;
            Some((head, n, n))
        }
    }
}

fn covers(item: &str, port: &InterfaceName) -> bool {
    match (parse_item(item), split_port(port.as_str())) {
        (Some((head, a, b)), Some((p_head, n))) => head == p_head && (a..=b).contains(&n),
        _ => false,
    }
}

fn render_item(head: &str, a: u32, b: u32) -> String {
    if a == b {
        format!("{head}/{a}")
    } else {
        format!("{head}/{a}-{b}")
    }
}

/// Rewrites range key `key` without `port` (same entry); the key goes away when nothing is
/// left of it. Returns a note for the diff.
fn cut_out(
    ports: &mut Map<String, Value>,
    key: &str,
    port: &InterfaceName,
) -> Result<Option<String>, String> {
    let Some((_, n)) = split_port(port.as_str()) else {
        return Ok(None);
    };
    let mut items = Vec::new();
    for item in key.split(',') {
        match parse_item(item) {
            Some((head, a, b)) if covers(item, port) => {
                if a < n {
                    items.push(render_item(head, a, n - 1));
                }
                if n < b {
                    items.push(render_item(head, n + 1, b));
                }
            }
            _ => items.push(item.trim().to_string()),
        }
    }
    let Some(entry) = ports.remove(key) else {
        return Ok(None);
    };
    if items.is_empty() {
        return Ok(Some(format!("key \"{key}\" removed")));
    }
    let new_key = items.join(",");
    if ports.contains_key(&new_key) {
        // Put the map back as it was: the caller refuses the whole batch.
        ports.insert(key.to_string(), entry);
        return Err(format!(
            "cannot take {port} out of port_config key \"{key}\": key \"{new_key}\" already exists"
        ));
    }
    ports.insert(new_key.clone(), entry);
    Ok(Some(format!("key \"{key}\" became \"{new_key}\"")))
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
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
            _ => unreachable!(),
        }
    }

    #[test]
    fn sets_usage_and_keeps_other_fields() {
        let mut ports = map(
            json!({"ge-0/0/12": {"usage": "secured", "description": "room 12"},
                                   "ge-0/0/13": {"usage": "secured"}}),
        );
        let edit = set_usage(&mut ports, &port("ge-0/0/12"), "ap").unwrap();
        assert!(edit.changed);
        assert_eq!(
            edit.diff,
            r#"port_config.ge-0/0/12: {"description":"room 12","usage":"secured"} -> {"description":"room 12","usage":"ap"}"#
        );
        assert_eq!(ports["ge-0/0/13"], json!({"usage": "secured"}));
        let again = set_usage(&mut ports, &port("ge-0/0/12"), "ap").unwrap();
        assert!(!again.changed);
        assert!(again.diff.is_empty());
    }

    #[test]
    fn new_port_and_removal() {
        let mut ports = Map::new();
        let edit = set_usage(&mut ports, &port("ge-0/0/1"), "ap").unwrap();
        assert_eq!(
            edit.diff,
            r#"port_config.ge-0/0/1: (none) -> {"usage":"ap"}"#
        );
        let edit = set_usage(&mut ports, &port("ge-0/0/1"), "").unwrap();
        assert!(edit.changed);
        assert!(ports.is_empty());
        assert!(
            !set_usage(&mut ports, &port("ge-0/0/1"), "")
                .unwrap()
                .changed
        );
    }

    #[test]
    fn range_keys_are_split_not_overlapped() {
        // The `Deviceswitch` example of mist.openapi.json.
        let mut ports = map(json!({"ge-0/0/0": {"aggregated": true, "usage": "uplink"},
                                   "ge-0/0/8-16,ge-1/0/0-47": {"usage": "ap"}}));
        assert!(
            !set_usage(&mut ports, &port("ge-1/0/5"), "ap")
                .unwrap()
                .changed
        );
        let edit = set_usage(&mut ports, &port("ge-0/0/12"), "secured").unwrap();
        assert!(edit.changed);
        assert_eq!(
            ports,
            map(json!({"ge-0/0/0": {"aggregated": true, "usage": "uplink"},
                       "ge-0/0/8-11,ge-0/0/13-16,ge-1/0/0-47": {"usage": "ap"},
                       "ge-0/0/12": {"usage": "secured"}}))
        );
        assert!(edit.diff.contains("(from \"ge-0/0/8-16,ge-1/0/0-47\")"));
        // Ends of a range, then removal of an override inside a range.
        set_usage(&mut ports, &port("ge-1/0/0"), "").unwrap();
        set_usage(&mut ports, &port("ge-1/0/47"), "").unwrap();
        assert_eq!(
            ports.get("ge-0/0/8-11,ge-0/0/13-16,ge-1/0/1-46"),
            Some(&json!({"usage": "ap"}))
        );
        assert!(!ports.contains_key("ge-1/0/0"));
    }
}

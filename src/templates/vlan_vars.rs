//! The VLAN values of `[templates.vars]`, checked before mesa starts: what Junos would refuse
//! at load time is an error, what it would silently ignore is a warning.
//!
//! - `native_vlan` becomes `native-vlan-id`, a number (0–4094 in Juniper's YANG): a VLAN
//!   name there fails at load on every switch.
//! - `ap_vlans`, `access_vlan`, `guest_vlan`, `server_fail_vlan`, `server_reject_vlan` go
//!   where Junos takes a VLAN name or id: a name without blanks or quotes, or 1–4094.
//! - With `mac_radius = "restrict"` (the default: MAC RADIUS only, no 802.1X) Junos uses no
//!   guest VLAN ("Understanding Guest VLANs"): `guest_vlan` then does nothing.

use std::collections::BTreeMap;

/// Keys naming one VLAN by name or id.
const VLAN_KEYS: &[&str] = &[
    "access_vlan",
    "guest_vlan",
    "server_fail_vlan",
    "server_reject_vlan",
];

/// Checks the vars; `Ok` holds the warnings, `Err` the first problem (key and why).
pub fn check(vars: &BTreeMap<String, toml::Value>) -> Result<Vec<String>, (String, String)> {
    if let Some(v) = vars.get("native_vlan") {
        native_vlan(v).map_err(|why| ("native_vlan".to_string(), why))?;
    }
    if let Some(v) = vars.get("ap_vlans") {
        let toml::Value::Array(items) = v else {
            return Err((
                "ap_vlans".into(),
                "must be a list of VLAN names or ids, e.g. [10, 20]".into(),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            vlan(item).map_err(|why| (format!("ap_vlans[{i}]"), why))?;
        }
    }
    for key in VLAN_KEYS {
        if let Some(v) = vars.get(*key) {
            vlan(v).map_err(|why| (key.to_string(), why))?;
        }
    }
    let mut warnings = Vec::new();
    let restrict = match vars.get("mac_radius") {
        None => true,
        Some(toml::Value::String(s)) => s == "restrict",
        Some(_) => false,
    };
    if restrict && vars.contains_key("guest_vlan") {
        warnings.push(
            "[templates.vars] guest_vlan does nothing with mac_radius = \"restrict\" (the default): \
             Junos then authenticates by MAC only and uses no guest VLAN. Set server_reject_vlan \
             for clients RADIUS rejects, or mac_radius = \"\" for 802.1X with MAC RADIUS as fallback."
                .to_string(),
        );
    }
    Ok(warnings)
}

fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn native_vlan(v: &toml::Value) -> Result<(), String> {
    let id = match v {
        toml::Value::Integer(i) => Some(*i),
        toml::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match id {
        Some(0..=4094) => Ok(()),
        Some(_) => Err(format!(
            "{} is out of range: native-vlan-id is 0-4094",
            shown(v)
        )),
        None => Err(format!(
            "{} is not a number: Junos native-vlan-id takes the VLAN id (0-4094), not its name",
            shown(v)
        )),
    }
}

fn vlan(v: &toml::Value) -> Result<(), String> {
    match v {
        toml::Value::Integer(1..=4094) => Ok(()),
        toml::Value::Integer(_) => Err(format!("VLAN id {} is out of range 1-4094", shown(v))),
        toml::Value::String(s) => match s.parse::<i64>() {
            Ok(1..=4094) => Ok(()),
            Ok(_) => Err(format!("VLAN id {} is out of range 1-4094", shown(v))),
            Err(_) if s.is_empty() => Err("empty VLAN name".into()),
            Err(_)
                if s.chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '\\') =>
            {
                Err(format!("VLAN name {} has blanks or quotes", shown(v)))
            }
            Err(_) => Ok(()),
        },
        _ => Err(format!("{} is neither a VLAN name nor an id", shown(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> BTreeMap<String, toml::Value> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn native_vlan_must_be_a_number() {
        assert!(check(&vars("native_vlan = 1")).is_ok());
        assert!(check(&vars("native_vlan = \"100\"")).is_ok());
        let (key, why) = check(&vars("native_vlan = \"AP-MGMT\"")).unwrap_err();
        assert_eq!(key, "native_vlan");
        assert!(
            why.contains("not a number") && why.contains("AP-MGMT"),
            "{why}"
        );
        assert!(check(&vars("native_vlan = 4095")).is_err());
    }

    #[test]
    fn vlan_names_and_ids() {
        assert!(check(&vars(
            "ap_vlans = [10, \"ap-data\", \"20\"]\nguest_vlan = \"GUEST\"\nmac_radius = \"\""
        ))
        .is_ok());
        let (key, _) = check(&vars("ap_vlans = [10, 5000]")).unwrap_err();
        assert_eq!(key, "ap_vlans[1]");
        let (key, _) = check(&vars("ap_vlans = 10")).unwrap_err();
        assert_eq!(key, "ap_vlans");
        let (key, why) = check(&vars("server_reject_vlan = \"bad name\"")).unwrap_err();
        assert_eq!(key, "server_reject_vlan");
        assert!(why.contains("blanks"), "{why}");
        assert!(check(&vars("access_vlan = 0")).is_err());
        assert!(check(&vars("server_fail_vlan = true")).is_err());
    }

    #[test]
    fn guest_vlan_with_restrict_is_a_warning() {
        let w = check(&vars("guest_vlan = \"GUEST\"")).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("server_reject_vlan"), "{w:?}");
        let w = check(&vars("guest_vlan = \"GUEST\"\nmac_radius = \"restrict\"")).unwrap();
        assert_eq!(w.len(), 1);
        assert!(check(&vars("guest_vlan = \"GUEST\"\nmac_radius = \"\""))
            .unwrap()
            .is_empty());
        assert!(check(&vars("server_reject_vlan = \"REJ\""))
            .unwrap()
            .is_empty());
    }
}

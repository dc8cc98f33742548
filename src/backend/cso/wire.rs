//! The CSO objects mesa reads and writes, as `src/sim/cso.rs` documents them. There is no
//! public CSO OpenAPI in the reference folder, so decoding is lenient: a list may come bare
//! or wrapped in an object under its resource name (`{"device": [...]}`), unknown fields are
//! ignored, and an entry that does not decode is skipped rather than failing the whole list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A device of `GET /data-view-central/device`. `parent_uuid` is its site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Device {
    pub uuid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fq_name: Vec<String>,
    #[serde(default)]
    pub parent_uuid: Option<String>,
    #[serde(default)]
    pub site_uuid: Option<String>,
}

impl Device {
    /// The site the device belongs to: `parent_uuid`, else `site_uuid`.
    pub fn site(&self) -> Option<&str> {
        self.parent_uuid
            .as_deref()
            .or(self.site_uuid.as_deref())
            .filter(|s| !s.is_empty())
    }
}

/// A port profile of `GET /tssm/port-profile`, or a LAN segment of
/// `POST /topology-service/lan-segment/_filter`: named objects with a uuid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Named {
    pub uuid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fq_name: Vec<String>,
    #[serde(default)]
    pub vlan_id: Option<u32>,
}

impl Named {
    /// Its name for people: `name`, else the last `fq_name` element, else the uuid.
    pub fn label(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(self.fq_name.last().map(String::as_str))
            .unwrap_or(&self.uuid)
    }

    /// Named `wanted` (its `fq_name` contains it, or its `name` is it), or, for a number, a
    /// segment with that VLAN id.
    pub fn is(&self, wanted: &str) -> bool {
        self.fq_name.iter().any(|n| n == wanted)
            || self.name.as_deref() == Some(wanted)
            || wanted
                .parse::<u32>()
                .is_ok_and(|id| self.vlan_id == Some(id))
    }
}

/// One port's association as `GET /tssm/port-config-association?device_uuid=` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Association {
    pub port_name: String,
    #[serde(default)]
    pub port_profile_uuid: Option<String>,
    #[serde(default)]
    pub lan_segment_uuids: Vec<String>,
    #[serde(default)]
    pub native_lan_segment_uuid: Option<String>,
    /// `deployed` once on the switch; `pending` when applied in CSO but not deployed.
    #[serde(default)]
    pub deploy_status: Option<String>,
}

/// One port of `POST /tssm/apply-port-config-association`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortAssociation {
    pub port_name: String,
    pub port_profile_uuid: String,
    pub lan_segment_uuids: Vec<String>,
    pub native_lan_segment_uuid: Option<String>,
}

impl PortAssociation {
    /// CSO already has exactly this, deployed.
    pub fn matches(&self, current: &Association) -> bool {
        let mut have = current.lan_segment_uuids.clone();
        have.sort();
        have.dedup();
        let mut want = self.lan_segment_uuids.clone();
        want.sort();
        want.dedup();
        current.port_profile_uuid.as_deref() == Some(self.port_profile_uuid.as_str())
            && have == want
            && current.native_lan_segment_uuid == self.native_lan_segment_uuid
            && current.deploy_status.as_deref() == Some("deployed")
    }
}

/// The entries of a list answer, decoded one by one.
pub fn list<T: serde::de::DeserializeOwned>(value: Value, resource: &str) -> Vec<T> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => {
            let plural = format!("{resource}s");
            match map
                .remove(resource)
                .or_else(|| map.remove(&plural))
                .or_else(|| map.remove(&resource.replace('-', "_")))
            {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_bare_wrapped_and_with_odd_entries() {
        let wrapped = json!({"device": [{"uuid": "u1", "fq_name": ["t", "sw1"]}, {"nope": 1}]});
        let devices: Vec<Device> = list(wrapped, "device");
        assert_eq!(devices.len(), 1);
        let bare: Vec<Named> = list(json!([{"uuid": "p1", "name": "ap-trunk"}]), "port-profile");
        assert_eq!(bare[0].label(), "ap-trunk");
        let underscored: Vec<Named> = list(json!({"lan_segment": [{"uuid": "s"}]}), "lan-segment");
        assert_eq!(underscored.len(), 1);
    }

    #[test]
    fn association_match_ignores_order_and_needs_deploy() {
        let want = PortAssociation {
            port_name: "ge-0/0/1".into(),
            port_profile_uuid: "p".into(),
            lan_segment_uuids: vec!["a".into(), "b".into()],
            native_lan_segment_uuid: Some("a".into()),
        };
        let mut have = Association {
            port_name: "ge-0/0/1".into(),
            port_profile_uuid: Some("p".into()),
            lan_segment_uuids: vec!["b".into(), "a".into()],
            native_lan_segment_uuid: Some("a".into()),
            deploy_status: Some("deployed".into()),
        };
        assert!(want.matches(&have));
        have.deploy_status = Some("pending".into());
        assert!(!want.matches(&have));
    }
}
